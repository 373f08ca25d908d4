//! A sparse hash index of the base: where to look for a new alignment.
//!
//! Positions are sampled by content, not by offset: a position is an *anchor* when the hash
//! of the [`WINDOW`] bytes starting there has its top [`ANCHOR_BITS`] bits clear. The same
//! bytes are an anchor in the new data too, so the encoder only has to probe the table at
//! new-side anchors (one position in 2^ANCHOR_BITS) and still finds most exact matches of
//! `WINDOW + 2^ANCHOR_BITS` bytes or more. With offset sampling it would have to probe every
//! position, each probe being a cache miss in a table of MiBs.
//!
//! Lookups are batched: the encoder collects a span's anchors first, then reads their
//! slots in one loop, so the cache misses overlap instead of stalling the scan one by one.

/// Bytes hashed per position.
pub(crate) const WINDOW: usize = 16;
/// One position in 2^ANCHOR_BITS is an anchor, on average.
const ANCHOR_BITS: u32 = 5;
/// Base bytes per table slot, log2: 2^ANCHOR_BITS * 2 bytes per 4-byte slot keeps the table
/// between base_len/16 and base_len/8 bytes (1 to 2 expected anchors per slot). Colliding
/// anchors overwrite each other, which loses a few alignments but bounds memory.
const BYTES_PER_SLOT_LOG2: u32 = ANCHOR_BITS + 1;

const K1: u64 = 0x9E37_79B9_7F4A_7C15;

/// Positions hashed per batch: anchors are collected for a span, then looked up together.
pub(crate) const SPAN: usize = 2048;
/// The new side chooses which positions to hash in groups of this many.
pub(crate) const GROUP: usize = 8;

/// Hash of `data[pos..pos + WINDOW]`; only its high bits are well mixed, and only those
/// are used. One multiply per position: this runs on every byte of both inputs.
#[inline(always)]
fn window_hash(data: &[u8], pos: usize) -> u64 {
    let w: &[u8; WINDOW] = data[pos..pos + WINDOW].try_into().unwrap();
    let a = u64::from_le_bytes(w[..8].try_into().unwrap());
    let b = u64::from_le_bytes(w[8..].try_into().unwrap());
    (a ^ b.rotate_left(29)).wrapping_mul(K1)
}

#[inline(always)]
fn is_anchor(hash: u64) -> bool {
    hash >> (64 - ANCHOR_BITS) == 0
}

#[derive(Clone, Copy, Default)]
struct Anchor {
    pos: u32,
    hash: u64,
}

/// Scratch space for one span's anchors.
pub(crate) struct Scratch(Vec<Anchor>);

impl Scratch {
    pub fn new() -> Self {
        // GROUP slack: a group's slots are borrowed before its anchors are counted.
        Scratch(vec![Anchor::default(); SPAN + GROUP])
    }

    /// The anchors among positions `from..to` (at most [`SPAN`] of them) of `data`, only
    /// in the groups of [`GROUP`] positions that `wanted` accepts (by first position).
    /// Written without a branch per position: an anchor is one position in 32 at random,
    /// which a branch would mispredict every time.
    fn collect(
        &mut self,
        data: &[u8],
        (from, to): (usize, usize),
        mut wanted: impl FnMut(usize) -> bool,
    ) -> &[Anchor] {
        let to = to.min((data.len() + 1).saturating_sub(WINDOW));
        let mut count = 0;
        for group in (from..to).step_by(GROUP) {
            if !wanted(group) {
                continue;
            }
            if group + GROUP <= to {
                // The common case, on fixed-size arrays: no bounds checks, fully unrolled.
                let bytes: &[u8; GROUP + WINDOW - 1] =
                    data[group..group + GROUP + WINDOW - 1].try_into().unwrap();
                let slots: &mut [Anchor; GROUP] =
                    (&mut self.0[count..count + GROUP]).try_into().unwrap();
                let mut found = 0;
                for k in 0..GROUP {
                    let hash = window_hash(bytes, k);
                    slots[found] = Anchor {
                        pos: (group + k) as u32,
                        hash,
                    };
                    found += usize::from(is_anchor(hash));
                }
                count += found;
                continue;
            }
            for pos in group..to {
                let hash = window_hash(data, pos);
                self.0[count] = Anchor {
                    pos: pos as u32,
                    hash,
                };
                count += usize::from(is_anchor(hash));
            }
        }
        &self.0[..count]
    }
}

/// A new-side anchor and a base anchor with the same first 8 bytes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Candidate {
    pub pos: usize,
    pub base_pos: usize,
}

pub(crate) struct Index {
    /// Base position + 1 of the last anchor hashed to each slot; 0 = empty.
    slots: Vec<u32>,
    /// Shift that takes the slot number from the bits just below the anchor bits.
    shift: u32,
}

impl Index {
    /// Indexes every anchor of `base`. `base` must be shorter than `u32::MAX` bytes.
    pub fn build(base: &[u8], scratch: &mut Scratch) -> Index {
        let mut index = Index {
            slots: Vec::new(),
            shift: 0,
        };
        index.rebuild(base, scratch);
        index
    }

    /// Forgets the old anchors and indexes `base`'s, reusing the table when its size fits.
    pub fn rebuild(&mut self, base: &[u8], scratch: &mut Scratch) {
        let bits = slot_bits(base.len());
        if self.slots.len() == 1 << bits {
            self.slots.fill(0);
        } else {
            self.slots = vec![0; 1 << bits];
        }
        self.shift = 64 - ANCHOR_BITS - bits;
        for from in (0..base.len()).step_by(SPAN) {
            // The stores of a whole span go out together, so their cache misses overlap.
            for anchor in scratch.collect(base, (from, from + SPAN), |_| true) {
                let slot = self.slot(anchor.hash);
                self.slots[slot] = anchor.pos + 1;
            }
        }
    }

    #[inline(always)]
    fn slot(&self, hash: u64) -> usize {
        // The anchor bits are all zero for an anchor, so the slot uses the bits below them.
        ((hash >> self.shift) as usize) & (self.slots.len() - 1)
    }

    /// The anchors of `new[from..to]` (at most [`SPAN`] bytes, only in the groups of
    /// positions `wanted`) whose hash slot holds a base anchor with the same first 8 bytes
    /// at an alignment other than `current`, in position order, appended to `out`. The lookups of a span
    /// are independent loads, so their cache misses overlap instead of stalling the scan
    /// one by one.
    #[allow(clippy::too_many_arguments)]
    pub fn candidates(
        &self,
        base: &[u8],
        new: &[u8],
        span: (usize, usize),
        current: Option<i64>,
        wanted: impl FnMut(usize) -> bool,
        scratch: &mut Scratch,
        out: &mut Vec<Candidate>,
    ) {
        for anchor in scratch.collect(new, span, wanted) {
            let stored = self.slots[self.slot(anchor.hash)] as usize;
            let pos = anchor.pos as usize;
            // Slot 0 means empty. A candidate that confirms the current alignment is
            // dropped unread; the others' first bytes are compared here, where the base
            // reads of a whole span overlap, rather than one by one during the scan.
            if stored != 0
                && current != Some(stored as i64 - 1 - pos as i64)
                && base[stored - 1..stored + 7] == new[pos..pos + 8]
            {
                out.push(Candidate {
                    pos,
                    base_pos: stored - 1,
                });
            }
        }
    }

    pub fn memory_bytes(&self) -> usize {
        self.slots.len() * 4
    }
}

fn slot_bits(base_len: usize) -> u32 {
    let wanted = (base_len >> BYTES_PER_SLOT_LOG2).max(1);
    wanted.next_power_of_two().trailing_zeros().clamp(8, 30)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_anchors_of_the_base() {
        let base: Vec<u8> = (0..100_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let mut scratch = Scratch::new();
        let index = Index::build(&base, &mut scratch);
        assert!(index.memory_bytes() <= base.len() / 8 + 1024);
        let mut candidates = Vec::new();
        for from in (0..base.len()).step_by(SPAN) {
            index.candidates(
                &base,
                &base,
                (from, from + SPAN),
                None,
                |_| true,
                &mut scratch,
                &mut candidates,
            );
        }
        let anchors = (0..=base.len() - WINDOW)
            .filter(|&pos| is_anchor(window_hash(&base, pos)))
            .count();
        let found = candidates
            .iter()
            .filter(|c| base[c.base_pos..c.base_pos + WINDOW] == base[c.pos..c.pos + WINDOW])
            .count();
        assert!(anchors > base.len() / 64, "{anchors} anchors");
        assert!(
            found * 10 > anchors * 6,
            "{found} of {anchors} anchors found"
        );
        assert!(candidates.windows(2).all(|w| w[0].pos < w[1].pos));
    }

    #[test]
    fn tiny_inputs() {
        let mut scratch = Scratch::new();
        for len in [0, 1, WINDOW - 1, WINDOW] {
            let data = vec![7u8; len];
            let index = Index::build(&data, &mut scratch);
            assert!(index.memory_bytes() > 0);
            let mut out = Vec::new();
            index.candidates(
                &data,
                &data,
                (0, SPAN),
                None,
                |_| true,
                &mut scratch,
                &mut out,
            );
            assert!(out.len() <= 1);
        }
    }
}
