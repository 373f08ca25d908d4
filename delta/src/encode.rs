//! The encoder: one sequential pass over the new data, block by block.
//!
//! The scan keeps a current *run*: an alignment `delta` (new byte `i` pairs with base byte
//! `i + delta`) and a score, +1 per equal byte and -1 per different byte, compared 8 bytes
//! at a time. A run ends where its score peaked, once the score has fallen [`DROP`] below
//! that peak; its bytes go to the difference stream as `new - base`, which is mostly zeros
//! plus, where relocated pointers all moved by the same constant, the same few bytes over
//! and over: zstd squeezes both. Bytes outside runs go to the extra stream verbatim.
//!
//! New alignments come from the base [`Index`], probed at anchors in every chunk the current
//! run does not match perfectly (or everywhere, when there is no run). A candidate replaces
//! the run only if it matches clearly more of the next [`LOOK`] bytes, and it is then
//! extended backwards over the bytes no run claimed yet, as far as it matches at least half
//! of them. The thresholds were tuned on a relinked debug binary and an rlib.
//!
//! A base not in memory is seen through a window ([`WINDOW_LEN`]) placed, before each
//! block, so that the base position the block is expected to start at (the last
//! alignment, else the previous guess plus a block) has a quarter of the window before it.
//! The window moves only when the block would come near one of its ends, and the index is
//! rebuilt for it then: about two passes over the base in all. Positions in the scan are
//! the window's; ops' seeks are differences, so the patch is the same format. The limit:
//! an alignment that jumps by more than about a quarter of a window back (content of that
//! size inserted) or three quarters forward (removed) is not followed, and what follows is
//! stored as extra bytes.

use std::io::{self, Read, Write};

use crate::format::{
    BLOCK_LEN, BlockHeader, CTRL, EXTRA, LITS, Op, RUNS, StreamLen, header_bytes, max_ctrl_len,
};
use crate::index::{Candidate, GROUP, Index, SPAN, Scratch, WINDOW};
use crate::zeros;
use crate::{Base, Stats};

/// Bytes compared at once; the index's groups of hashed positions are chunks.
const CHUNK: usize = GROUP;
/// A run ends when its score falls this far below its best.
const DROP: i64 = 48;
/// A shorter run is not worth an op: its bytes become extra bytes. Also what keeps the
/// control stream within [`max_ctrl_len`].
pub(crate) const MIN_RUN: usize = 16;
/// Bytes compared to judge a candidate alignment against the current one.
const LOOK: usize = 256;
/// How many more of those bytes a candidate must match to replace the current run.
const MARGIN: u32 = 16;
/// The index is probed in chunks where the current run matches fewer bytes than this. Only
/// perfect chunks are skipped (and their positions never hashed): probing imperfect ones
/// too finds better alignments inside relocated code (8% smaller patches than probing
/// chunks matching 4 bytes or fewer, for 15% more time).
const PROBE_BELOW: u32 = 8;
/// With no run, the last alignment resumes at a chunk matching at least this many bytes.
const RESUME_AT: u32 = 7;

/// Encodes `new` (read sequentially, in blocks) as a patch against `base`, written to `out`.
///
/// Memory: the index (at most `base.len() / 8` bytes) plus a few buffers of one block
/// (4 MiB) each.
pub fn encode<R: Read, W: Write>(base: &[u8], new: R, out: W) -> io::Result<Stats> {
    encode_from(base, new, out)
}

/// [`encode`] against any [`Base`]. A base not in memory (a [`crate::SeekBase`] over a
/// file) is read through a window of at most [`WINDOW_LEN`] bytes that follows where the
/// new data aligns: memory is the window, its index and the block buffers, whatever the
/// base's size. New data that matches base bytes further away than about half a window
/// from where the previous bytes aligned is stored as extra bytes instead.
pub fn encode_from<B: Base, R: Read, W: Write>(base: B, new: R, out: W) -> io::Result<Stats> {
    encode_with(base, new, out, BLOCK_LEN, WINDOW_LEN)
}

/// [`encode_from`] holding at most `window_len` bytes of the base (clamped to at least
/// two blocks and at most [`WINDOW_LEN`]): less memory, for new data that follows its
/// base closely (matches further away are stored as extra bytes).
pub fn encode_from_within<B: Base, R: Read, W: Write>(
    base: B,
    new: R,
    out: W,
    window_len: usize,
) -> io::Result<Stats> {
    let window_len = window_len.clamp(2 * BLOCK_LEN, WINDOW_LEN);
    encode_with(base, new, out, BLOCK_LEN, window_len)
}

/// The largest window of a base not in memory the encoder holds.
pub const WINDOW_LEN: usize = 80 << 20;

/// [`encode`] with a chosen block length (tests use small blocks to cross many boundaries).
#[cfg(test)]
pub(crate) fn encode_with_block_len<R: Read, W: Write>(
    base: &[u8],
    new: R,
    out: W,
    block_len: usize,
) -> io::Result<Stats> {
    encode_with(base, new, out, block_len, WINDOW_LEN)
}

/// [`encode_from`] with a chosen block and window length (tests use small ones).
pub(crate) fn encode_with<B: Base, R: Read, W: Write>(
    mut base: B,
    new: R,
    out: W,
    block_len: usize,
    window_len: usize,
) -> io::Result<Stats> {
    assert!(block_len > 0 && block_len <= crate::format::MAX_BLOCK_LEN);
    // The index holds positions in the window as u32.
    assert!(window_len >= 2 * block_len && window_len < u32::MAX as usize);
    let base_len = base.size();
    if let Some(whole) = base.as_slice() {
        if whole.len() >= u32::MAX as usize {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "stash-delta: base of 4 GiB or more in memory",
            ));
        }
        return encode_window(Whole(whole), base_len, new, out, block_len);
    }
    let window = Sliding::new(&mut base, base_len, window_len)?;
    encode_window(window, base_len, new, out, block_len)
}

/// The part of the base the scan sees; positions in it are relative to its start.
trait Window {
    fn data(&self) -> &[u8];
    /// The base offset of `data()[0]`.
    fn start(&self) -> u64;
    /// Where the window should start for a block whose first byte aligns with the base at
    /// `guess`, if it must move.
    fn next_start(&self, guess: u64, block_len: usize) -> Option<u64>;
    fn move_to(&mut self, start: u64) -> io::Result<()>;
}

/// A base in memory: the window is all of it.
struct Whole<'a>(&'a [u8]);

impl Window for Whole<'_> {
    fn data(&self) -> &[u8] {
        self.0
    }
    fn start(&self) -> u64 {
        0
    }
    fn next_start(&self, _: u64, _: usize) -> Option<u64> {
        None
    }
    fn move_to(&mut self, _: u64) -> io::Result<()> {
        unreachable!("a whole base never moves")
    }
}

/// Up to `len` bytes of a base read from elsewhere.
struct Sliding<'a, B> {
    base: &'a mut B,
    base_len: u64,
    len: usize,
    start: u64,
    data: Vec<u8>,
}

impl<'a, B: Base> Sliding<'a, B> {
    fn new(base: &'a mut B, base_len: u64, len: usize) -> io::Result<Self> {
        let mut window = Sliding {
            base,
            base_len,
            len,
            start: 0,
            data: Vec::new(),
        };
        window.fill(0)?;
        Ok(window)
    }

    /// Reads `data[from..]` for the current start.
    fn fill(&mut self, from: usize) -> io::Result<()> {
        let end = (self.base_len - self.start).min(self.len as u64) as usize;
        self.data.resize(end, 0);
        self.base
            .read_at(self.start + from as u64, &mut self.data[from..])
    }
}

impl<B: Base> Window for Sliding<'_, B> {
    fn data(&self) -> &[u8] {
        &self.data
    }
    fn start(&self) -> u64 {
        self.start
    }

    /// Moves when the block would come within an eighth of a window of either end, to
    /// where a quarter of the window lies before `guess`: the scan mostly moves forward.
    fn next_start(&self, guess: u64, block_len: usize) -> Option<u64> {
        let len = self.len as u64;
        if self.base_len <= len {
            return None;
        }
        let (start, end) = (self.start, self.start + len);
        let inside = guess >= start + len / 8 || start == 0;
        let room = guess + block_len as u64 + len / 8 <= end || end >= self.base_len;
        if inside && room {
            return None;
        }
        let wanted = guess.saturating_sub(len / 4).min(self.base_len - len);
        (wanted != start).then_some(wanted)
    }

    fn move_to(&mut self, start: u64) -> io::Result<()> {
        let kept = if start > self.start && start < self.start + self.data.len() as u64 {
            let from = (start - self.start) as usize;
            self.data.copy_within(from.., 0);
            self.data.len() - from
        } else {
            0
        };
        self.start = start;
        self.fill(kept)
    }
}

fn encode_window<V: Window, R: Read, W: Write>(
    mut window: V,
    base_len: u64,
    mut new: R,
    out: W,
    block_len: usize,
) -> io::Result<Stats> {
    let mut scratch = Scratch::new();
    let mut index = Index::build(window.data(), &mut scratch);
    let mut out = CountingWriter {
        inner: out,
        count: 0,
    };
    out.write_all(&header_bytes(base_len))?;

    let mut state = Carry::default();
    let mut streams = Streams::default();
    let mut writer = BlockWriter::new()?;
    let mut block = Vec::with_capacity(block_len);
    let mut candidates = Vec::new();
    let mut stats = Stats {
        index_bytes: index.memory_bytes() as u64,
        ..Stats::default()
    };
    // Where the next block's first byte is expected in the base.
    let mut guess = 0u64;
    loop {
        block.clear();
        (&mut new).take(block_len as u64).read_to_end(&mut block)?;
        if block.is_empty() {
            break;
        }
        if let Some(start) = window.next_start(guess, block.len()) {
            let shift = start as i64 - window.start() as i64;
            window.move_to(start)?;
            state.rebase(shift);
            index.rebuild(window.data(), &mut scratch);
        }
        streams.clear();
        let base = window.data();
        let mut scan = BlockScan::new(base, &index, &block, &mut state, &mut streams);
        scan.run(&mut scratch, &mut candidates);
        let compressed = writer.write(&mut out, block.len(), &streams)?;
        stats.add_block(&block, &streams, compressed);
        guess = match state.run.or(state.last) {
            Some(delta) => (window.start() as i64 + delta).max(0) as u64,
            None => guess + block.len() as u64,
        };
    }
    out.write_all(&0u32.to_le_bytes())?;
    out.write_all(&stats.new_len.to_le_bytes())?;
    out.flush()?;
    stats.patch_len = out.count;
    Ok(stats)
}

impl Stats {
    fn add_block(&mut self, block: &[u8], streams: &Streams, compressed: [StreamLen; 4]) {
        self.new_len += block.len() as u64;
        self.ctrl_patch_bytes += u64::from(compressed[CTRL].z);
        self.diff_patch_bytes += u64::from(compressed[RUNS].z) + u64::from(compressed[LITS].z);
        self.extra_patch_bytes += u64::from(compressed[EXTRA].z);
        self.blocks += 1;
        self.ops += streams.ops;
        self.diff_bytes += streams.diff.len() as u64;
        self.extra_bytes += streams.extra.len() as u64;
    }
}

/// What the scan of one block hands to the next. Base positions are the window's.
#[derive(Default)]
struct Carry {
    /// The decoder's base cursor after the ops written so far.
    cursor: i64,
    /// The alignment of the run that was still good at the end of the previous block,
    /// relative to the next block's start.
    run: Option<i64>,
    /// The last alignment that was used, relative to the next block's start.
    last: Option<i64>,
}

impl Carry {
    /// The window moved `shift` bytes further into the base.
    fn rebase(&mut self, shift: i64) {
        self.cursor -= shift;
        self.run = self.run.map(|delta| delta - shift);
        self.last = self.last.map(|delta| delta - shift);
    }
}

/// The streams of one block (the difference bytes are split when the block is written).
#[derive(Default)]
struct Streams {
    ctrl: Vec<u8>,
    diff: Vec<u8>,
    extra: Vec<u8>,
    ops: u64,
}

impl Streams {
    fn clear(&mut self) {
        self.ctrl.clear();
        self.diff.clear();
        self.extra.clear();
        self.ops = 0;
    }
}

#[derive(Clone, Copy)]
struct Run {
    start: usize,
    delta: i64,
    score: i64,
    best: i64,
    best_end: usize,
}

/// An op whose diff run is known but whose extra bytes run to the next run's start.
struct PendingOp {
    seek: i64,
    diff_len: usize,
}

struct BlockScan<'a> {
    base: &'a [u8],
    index: &'a Index,
    new: &'a [u8],
    carry: &'a mut Carry,
    out: &'a mut Streams,
    run: Option<Run>,
    pending: Option<PendingOp>,
    /// New bytes before this are covered by emitted or pending ops' diff runs.
    assigned: usize,
}

impl<'a> BlockScan<'a> {
    fn new(
        base: &'a [u8],
        index: &'a Index,
        new: &'a [u8],
        carry: &'a mut Carry,
        out: &'a mut Streams,
    ) -> Self {
        let run = carry.run.map(|delta| Run {
            start: 0,
            delta,
            score: 0,
            best: 0,
            best_end: 0,
        });
        BlockScan {
            base,
            index,
            new,
            carry,
            out,
            run,
            pending: None,
            assigned: 0,
        }
    }

    fn run(&mut self, scratch: &mut Scratch, candidates: &mut Vec<Candidate>) {
        let n = self.new.len();
        let mut i = 0;
        // The candidates of the span that starts at `i`, for the alignment it started with.
        let (mut span_end, mut span_delta) = (0, None);
        let (mut first, mut end) = (0, 0);
        while i + CHUNK <= n {
            let delta = self.run.map(|run| run.delta);
            // Candidates found without a run are a superset; and without a run, chunks
            // the last alignment matches resume it before any candidate is needed.
            if i >= span_end || (delta.is_some() && span_delta.is_some() && delta != span_delta) {
                span_end = i + SPAN;
                span_delta = delta;
                (first, end) = (0, 0);
                self.find_candidates((i, span_end), delta, scratch, candidates);
            }
            while end < candidates.len() && candidates[end].pos < i + CHUNK {
                end += 1;
            }
            let chunk_candidates = &candidates[first..end];
            first = end;
            match self.run {
                Some(run) => self.step_run(i, run, chunk_candidates),
                None => self.step_without_run(i, chunk_candidates),
            }
            i += CHUNK;
        }
        // The last few bytes (fewer than a chunk) stay extra bytes.
        self.carry.run = None;
        if let Some(run) = self.run.take() {
            self.finish_run(run.start, run.best_end, run.delta);
            self.carry.last = Some(run.delta);
            if run.best_end == i {
                self.carry.run = Some(run.delta + n as i64);
            }
        }
        // Local positions restart at 0 in the next block: the same base byte is n further.
        self.carry.last = self.carry.last.map(|delta| delta + n as i64);
        self.flush_pending(n);
    }

    /// Looks up the anchors of `span` that could change the alignment `delta`. The chunks
    /// `delta` matches perfectly are not probed, so their positions need no hashing: most
    /// of a typical input. A span is redone from where the alignment changes.
    fn find_candidates(
        &self,
        span: (usize, usize),
        delta: Option<i64>,
        scratch: &mut Scratch,
        candidates: &mut Vec<Candidate>,
    ) {
        let (new, base) = (self.new, self.base);
        let wanted = |chunk: usize| match delta {
            Some(delta) => eq8(new, chunk, base, chunk as i64 + delta) < PROBE_BELOW,
            None => true,
        };
        candidates.clear();
        self.index
            .candidates(base, new, span, delta, wanted, scratch, candidates);
    }

    fn step_run(&mut self, i: usize, mut run: Run, candidates: &[Candidate]) {
        let eq = eq8(self.new, i, self.base, i as i64 + run.delta);
        run.score += 2 * eq as i64 - CHUNK as i64;
        if run.score > run.best {
            run.best = run.score;
            run.best_end = i + CHUNK;
        }
        self.run = Some(run);
        if eq < PROBE_BELOW && self.probe(i, candidates) {
            return;
        }
        if run.best - run.score > DROP {
            self.run = None;
            self.finish_run(run.start, run.best_end, run.delta);
            self.carry.last = Some(run.delta);
        }
    }

    fn step_without_run(&mut self, i: usize, candidates: &[Candidate]) {
        if let Some(delta) = self.carry.last {
            let eq = eq8(self.new, i, self.base, i as i64 + delta);
            if eq >= RESUME_AT {
                let score = 2 * eq as i64 - CHUNK as i64;
                self.run = Some(Run {
                    start: i,
                    delta,
                    score,
                    best: score,
                    best_end: i + CHUNK,
                });
                return;
            }
        }
        self.probe(i, candidates);
    }

    /// Tries the candidates of chunk `i` (anchors whose first bytes match the base);
    /// switches to the first alignment that beats the current run. Returns whether it did.
    fn probe(&mut self, i: usize, candidates: &[Candidate]) -> bool {
        for candidate in candidates {
            let delta = candidate.base_pos as i64 - candidate.pos as i64;
            if self.is_better(candidate.pos, candidate.base_pos, delta) {
                self.switch(i + CHUNK, delta);
                return true;
            }
        }
        false
    }

    fn is_better(&self, j: usize, pos: usize, delta: i64) -> bool {
        let current = self.run.map(|run| run.delta);
        if current == Some(delta) || self.base[pos..pos + WINDOW] != self.new[j..j + WINDOW] {
            return false;
        }
        let end = (j + LOOK).min(self.new.len());
        let candidate = count_eq(self.new, j, end, self.base, delta);
        let current = current.map_or(0, |d| count_eq(self.new, j, end, self.base, d));
        candidate >= current + MARGIN && 2 * candidate as usize >= end - j
    }

    /// Ends the current run where the candidate takes over and starts a run with `delta`
    /// that reaches back as far as it pays, ending at `end`.
    fn switch(&mut self, end: usize, delta: i64) {
        if let Some(run) = self.run.take() {
            let run_end = run.best_end.min(end - CHUNK).max(run.start);
            self.finish_run(run.start, run_end, run.delta);
        }
        let (start, score) = self.extend_back(end, delta);
        self.run = Some(Run {
            start,
            delta,
            score,
            best: score,
            best_end: end,
        });
    }

    /// The start of the best-scoring stretch with `delta` that ends at `end` and begins
    /// after the bytes already assigned, in whole chunks; and its score.
    fn extend_back(&self, end: usize, delta: i64) -> (usize, i64) {
        let (mut best_start, mut best, mut score) = (end, 0i64, 0i64);
        let mut q = end;
        while q >= self.assigned + CHUNK && q as i64 - CHUNK as i64 + delta >= 0 {
            q -= CHUNK;
            score += 2 * eq8(self.new, q, self.base, q as i64 + delta) as i64 - CHUNK as i64;
            if score > best {
                (best_start, best) = (q, score);
            } else if best - score > 2 * DROP {
                break;
            }
        }
        (best_start, best)
    }

    /// Records the run `start..end` with alignment `delta`, or leaves its bytes as extra
    /// bytes if it is too short to pay for an op.
    fn finish_run(&mut self, start: usize, end: usize, delta: i64) {
        if end < start + MIN_RUN {
            return;
        }
        let base_start = start as i64 + delta;
        debug_assert!(base_start >= 0 && end as i64 + delta <= self.base.len() as i64);
        debug_assert!(start >= self.assigned);
        self.flush_pending(start);
        let base = &self.base[base_start as usize..base_start as usize + (end - start)];
        let new = &self.new[start..end];
        self.out
            .diff
            .extend(new.iter().zip(base).map(|(n, b)| n.wrapping_sub(*b)));
        self.pending = Some(PendingOp {
            seek: base_start - self.carry.cursor,
            diff_len: end - start,
        });
        self.carry.cursor = end as i64 + delta;
        self.assigned = end;
    }

    /// Writes the pending op (or an op of only extra bytes) with the extra bytes up to
    /// `until`.
    fn flush_pending(&mut self, until: usize) {
        let (seek, diff_len) = self
            .pending
            .take()
            .map_or((0, 0), |op| (op.seek, op.diff_len));
        let extra_len = until - self.assigned;
        if diff_len == 0 && extra_len == 0 {
            return;
        }
        let op = Op {
            seek,
            diff_len: diff_len as u64,
            extra_len: extra_len as u64,
        };
        op.write(&mut self.out.ctrl);
        self.out.ops += 1;
        self.out
            .extra
            .extend_from_slice(&self.new[self.assigned..until]);
        self.assigned = until;
    }
}

/// How many of `new[i..i + 8]` equal `base[b..b + 8]`; 0 if that is not all inside `base`.
#[inline(always)]
fn eq8(new: &[u8], i: usize, base: &[u8], b: i64) -> u32 {
    if b < 0 || b as u64 + CHUNK as u64 > base.len() as u64 {
        return 0;
    }
    let b = b as usize;
    let x = load8(new, i) ^ load8(base, b);
    // Sets the high bit of every nonzero byte of `x`, without carries between bytes.
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    let nonzero = (((x & LOW7) + LOW7) | x) & !LOW7;
    CHUNK as u32 - nonzero.count_ones()
}

#[inline(always)]
fn load8(data: &[u8], pos: usize) -> u64 {
    u64::from_le_bytes(data[pos..pos + 8].try_into().unwrap())
}

/// How many of `new[from..to]` equal the base bytes at alignment `delta`.
fn count_eq(new: &[u8], from: usize, to: usize, base: &[u8], delta: i64) -> u32 {
    let mut count = 0;
    let mut i = from;
    while i + CHUNK <= to {
        count += eq8(new, i, base, i as i64 + delta);
        i += CHUNK;
    }
    for (k, byte) in new.iter().enumerate().take(to).skip(i) {
        let b = k as i64 + delta;
        count += u32::from(b >= 0 && (b as u64) < base.len() as u64 && base[b as usize] == *byte);
    }
    count
}

/// Compresses the streams of a block and writes them with the block header.
struct BlockWriter {
    compressor: zstd::bulk::Compressor<'static>,
    /// The difference bytes split into zero runs and nonzero bytes.
    runs: Vec<u8>,
    lits: Vec<u8>,
    frames: [Vec<u8>; 4],
}

impl BlockWriter {
    fn new() -> io::Result<Self> {
        Ok(BlockWriter {
            compressor: zstd::bulk::Compressor::new(3)?,
            runs: Vec::new(),
            lits: Vec::new(),
            frames: Default::default(),
        })
    }

    fn write<W: Write>(
        &mut self,
        out: &mut W,
        new_len: usize,
        streams: &Streams,
    ) -> io::Result<[StreamLen; 4]> {
        debug_assert!(streams.ctrl.len() <= max_ctrl_len(new_len));
        self.runs.clear();
        self.lits.clear();
        zeros::split(&streams.diff, &mut self.runs, &mut self.lits);
        let mut lens = [StreamLen::default(); 4];
        // In the order of the indices CTRL, RUNS, LITS, EXTRA.
        let raw = [&streams.ctrl, &self.runs, &self.lits, &streams.extra];
        for ((data, frame), len) in raw.iter().zip(&mut self.frames).zip(&mut lens) {
            frame.clear();
            if !data.is_empty() {
                frame.reserve(zstd::zstd_safe::compress_bound(data.len()));
                self.compressor.compress_to_buffer(data.as_slice(), frame)?;
            }
            *len = StreamLen {
                raw: data.len() as u32,
                z: frame.len() as u32,
            };
        }
        let header = BlockHeader {
            new_len: new_len as u32,
            diff_len: streams.diff.len() as u32,
            streams: lens,
        };
        out.write_all(&header.to_bytes())?;
        for frame in &self.frames {
            out.write_all(frame)?;
        }
        Ok(lens)
    }
}

struct CountingWriter<W> {
    inner: W,
    count: u64,
}

impl<W: Write> Write for CountingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let written = self.inner.write(buf)?;
        self.count += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eq8_counts_equal_bytes() {
        let a = [1u8, 2, 3, 4, 5, 6, 7, 8];
        let mut b = a;
        assert_eq!(eq8(&a, 0, &b, 0), 8);
        b[0] = 0x81;
        b[7] = 0;
        assert_eq!(eq8(&a, 0, &b, 0), 6);
        assert_eq!(eq8(&a, 0, &b, 1), 0);
        assert_eq!(eq8(&a, 0, &b, -1), 0);
        let zeros = [0u8; 8];
        let mixed = [0u8, 0x80, 0x7f, 0xff, 0, 1, 0, 0];
        assert_eq!(eq8(&zeros, 0, &mixed, 0), 4);
    }
}
