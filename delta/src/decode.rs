//! The decoder: reads a patch block by block and writes each rebuilt block.
//!
//! Nothing in the patch is trusted: every length is checked against the format's limits
//! before anything is allocated for it (see [`BlockHeader::parse`]), and every op against
//! the base and the streams before it is applied.

use std::io::{self, Read, Write};

use crate::Base;
use crate::format::{
    BLOCK_HEADER_LEN, BlockHeader, CTRL, EXTRA, Error, HEADER_LEN, LITS, Op, RUNS, StreamLen,
    check_header,
};
use crate::zeros;

/// Rebuilds the new bytes from `base` and a patch made by [`crate::encode`] against the
/// same base, writing them sequentially to `out`. Returns how many bytes it wrote.
///
/// Memory: a few buffers of one block (at most 16 MiB each for a valid header). A damaged
/// patch gives an [`Error`]; one made against a different base of the same length gives
/// wrong bytes, so callers should verify the output (cargo-stash checks pack ids).
pub fn decode<R: Read, W: Write>(base: &[u8], patch: R, out: W) -> Result<u64, Error> {
    decode_from(base, patch, out)
}

/// [`decode`] against a base read where needed (a [`crate::SeekBase`] over a file): only
/// the base bytes each op uses are read, so memory does not grow with the base.
pub fn decode_from<B: Base, R: Read, W: Write>(
    mut base: B,
    mut patch: R,
    mut out: W,
) -> Result<u64, Error> {
    let mut header = [0u8; HEADER_LEN];
    read_exact(&mut patch, &mut header)?;
    check_header(&header, base.size())?;

    let mut decompressor = zstd::bulk::Decompressor::new()?;
    let mut bufs = Buffers::default();
    let mut cursor = 0u64;
    let mut total = 0u64;
    loop {
        let mut len = [0u8; 4];
        read_exact(&mut patch, &mut len)?;
        let new_len = u32::from_le_bytes(len);
        if new_len == 0 {
            let mut declared = [0u8; 8];
            read_exact(&mut patch, &mut declared)?;
            if u64::from_le_bytes(declared) != total {
                return Err(Error::Corrupt("total length does not match the blocks"));
            }
            out.flush()?;
            return Ok(total);
        }
        let mut rest = [0u8; BLOCK_HEADER_LEN - 4];
        read_exact(&mut patch, &mut rest)?;
        let header = BlockHeader::parse(new_len, &rest)?;
        bufs.read_streams(&mut patch, &mut decompressor, &header)?;
        bufs.apply(&mut base, &mut cursor)?;
        out.write_all(&bufs.output)?;
        total += u64::from(new_len);
    }
}

#[derive(Default)]
struct Buffers {
    frame: Vec<u8>,
    ctrl: Vec<u8>,
    runs: Vec<u8>,
    lits: Vec<u8>,
    diff: Vec<u8>,
    extra: Vec<u8>,
    output: Vec<u8>,
    /// The base bytes of one op.
    base: Vec<u8>,
}

impl Buffers {
    fn read_streams<R: Read>(
        &mut self,
        patch: &mut R,
        decompressor: &mut zstd::bulk::Decompressor<'static>,
        header: &BlockHeader,
    ) -> Result<(), Error> {
        let streams = [
            (header.streams[CTRL], &mut self.ctrl),
            (header.streams[RUNS], &mut self.runs),
            (header.streams[LITS], &mut self.lits),
            (header.streams[EXTRA], &mut self.extra),
        ];
        for (len, data) in streams {
            read_stream(patch, decompressor, len, &mut self.frame, data)?;
        }
        let diff_len = header.diff_len as usize;
        zeros::expand(&self.runs, &self.lits, diff_len, &mut self.diff)
    }

    /// Runs the ops of the block, moving the base `cursor`, into `self.output`.
    fn apply<B: Base>(&mut self, base: &mut B, cursor: &mut u64) -> Result<(), Error> {
        self.output.clear();
        let base_len = base.size();
        let (mut ctrl_pos, mut diff_pos, mut extra_pos) = (0, 0, 0);
        while let Some(op) = Op::read(&self.ctrl, &mut ctrl_pos)? {
            *cursor = seek(*cursor, op.seek, base_len)?;
            let diff_len = checked_len(op.diff_len, self.diff.len() - diff_pos)?;
            if diff_len as u64 > base_len - *cursor {
                return Err(Error::Corrupt("difference run past the end of the base"));
            }
            let extra_len = checked_len(op.extra_len, self.extra.len() - extra_pos)?;

            // At most the block's difference bytes: the header bounded those.
            self.base.resize(diff_len, 0);
            base.read_at(*cursor, &mut self.base)?;
            let diff = &self.diff[diff_pos..diff_pos + diff_len];
            add_diff(&mut self.output, diff, &self.base);
            self.output
                .extend_from_slice(&self.extra[extra_pos..extra_pos + extra_len]);
            *cursor += diff_len as u64;
            diff_pos += diff_len;
            extra_pos += extra_len;
        }
        // The header checked that the streams add up to the block length.
        if diff_pos != self.diff.len() || extra_pos != self.extra.len() {
            return Err(Error::Corrupt("ops do not use all of the block's bytes"));
        }
        Ok(())
    }
}

/// Appends `base + diff`, byte-wise wrapping.
fn add_diff(output: &mut Vec<u8>, diff: &[u8], base: &[u8]) {
    let start = output.len();
    output.extend_from_slice(diff);
    for (out, b) in output[start..].iter_mut().zip(base) {
        *out = out.wrapping_add(*b);
    }
}

fn seek(cursor: u64, by: i64, base_len: u64) -> Result<u64, Error> {
    let target = (cursor as i64)
        .checked_add(by)
        .ok_or(Error::Corrupt("seek overflows"))?;
    if target < 0 || target as u64 > base_len {
        return Err(Error::Corrupt("seek outside the base"));
    }
    Ok(target as u64)
}

fn checked_len(len: u64, available: usize) -> Result<usize, Error> {
    if len > available as u64 {
        return Err(Error::Corrupt("op needs more bytes than its stream holds"));
    }
    Ok(len as usize)
}

/// Reads one compressed stream of `len` into `data`, through the scratch buffer `frame`.
/// `len` was validated, so neither buffer grows past the block limits.
fn read_stream<R: Read>(
    patch: &mut R,
    decompressor: &mut zstd::bulk::Decompressor<'static>,
    len: StreamLen,
    frame: &mut Vec<u8>,
    data: &mut Vec<u8>,
) -> Result<(), Error> {
    data.clear();
    if len.raw == 0 {
        return Ok(());
    }
    frame.clear();
    frame.resize(len.z as usize, 0);
    read_exact(patch, frame)?;
    data.reserve(len.raw as usize);
    // The Vec's capacity bounds the output: a frame claiming more fails instead of growing it.
    let written = decompressor
        .decompress_to_buffer(frame.as_slice(), data)
        .map_err(|_| Error::Corrupt("damaged zstd frame"))?;
    if written != len.raw as usize {
        return Err(Error::Corrupt("zstd frame holds fewer bytes than declared"));
    }
    Ok(())
}

fn read_exact<R: Read>(patch: &mut R, buf: &mut [u8]) -> Result<(), Error> {
    patch.read_exact(buf).map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => Error::Truncated,
        _ => Error::Io(e),
    })
}
