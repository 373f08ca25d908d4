//! The patch byte format, its limits and its error type.
//!
//! ```text
//! patch   := header block* end
//! header  := "STWD" version:u8 base_len:u64
//! block   := new_len:u32 (nonzero) diff_len:u32
//!            (raw:u32 z:u32) for each of ctrl, runs, lits, extra
//!            frame[z] for each of ctrl, runs, lits, extra
//! end     := 0:u32 total_new_len:u64
//! ```
//!
//! All integers are little-endian. Each frame is one zstd frame holding `raw` bytes; an
//! empty stream has no frame (`z` = 0).
//!
//! The control stream (`ctrl`) is a sequence of operations, each three LEB128 varints:
//! `seek` (zigzag-encoded signed), `diff_len`, `extra_len`. An operation moves the base
//! cursor by `seek`, outputs `diff_len` bytes `base[cursor + k] + diff[k]` (wrapping) while
//! advancing the cursor, then outputs `extra_len` bytes copied from the `extra` stream. The
//! base cursor carries over from block to block and starts at 0. Blocks are independent
//! otherwise, which keeps both sides' memory bounded by the block size.
//!
//! The block's `diff_len` difference bytes are mostly zeros, which zstd's fast levels
//! model poorly when they are sparse; they are stored as `runs`, pairs of varints (zero
//! bytes, then nonzero bytes), and `lits`, the nonzero bytes (see `zeros.rs`).

use std::io;

pub(crate) const MAGIC: [u8; 4] = *b"STWD";
pub(crate) const VERSION: u8 = 1;
pub(crate) const HEADER_LEN: usize = 13;
pub(crate) const BLOCK_HEADER_LEN: usize = 40;

/// How many bytes of new data the encoder puts in one block.
pub(crate) const BLOCK_LEN: usize = 4 << 20;
/// The largest block a decoder accepts: a corrupt length can make it allocate no more.
pub(crate) const MAX_BLOCK_LEN: usize = 16 << 20;

/// The largest zero-run stream `diff_len` difference bytes may have: a pair takes 2 bytes
/// and covers at least 2 bytes, except the first; varints longer than a byte cover more.
pub(crate) fn max_runs_len(diff_len: usize) -> usize {
    2 * diff_len + 64
}

/// The largest control stream a block of `new_len` bytes may have. The encoder never emits
/// an operation whose difference run is shorter than [`crate::encode::MIN_RUN`] except the
/// first of a block, so its controls stay far below this (at most 18 bytes per op).
pub(crate) fn max_ctrl_len(new_len: usize) -> usize {
    2 * new_len + 64
}

/// Why a patch could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading the patch or writing the output failed.
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
    /// The patch does not start with the stash-delta magic.
    #[error("not a stash-delta patch (bad magic)")]
    BadMagic,
    /// The patch was written by a newer, incompatible version of the format.
    #[error("unsupported stash-delta patch version {0}")]
    UnsupportedVersion(u8),
    /// The patch was made against a base of a different length.
    #[error("patch expects a base of {expected} bytes, got {actual}")]
    BaseMismatch {
        /// The base length the patch was made against.
        expected: u64,
        /// The length of the base given.
        actual: u64,
    },
    /// The patch ended before its end marker.
    #[error("patch is truncated")]
    Truncated,
    /// The patch is internally inconsistent (damaged, or not made against this base).
    #[error("corrupt patch: {0}")]
    Corrupt(&'static str),
}

/// The lengths at the start of a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BlockHeader {
    pub new_len: u32,
    /// Difference bytes of the block (the rest are extra bytes).
    pub diff_len: u32,
    /// The streams, indexed by [`CTRL`], [`RUNS`], [`LITS`], [`EXTRA`].
    pub streams: [StreamLen; 4],
}

pub(crate) const CTRL: usize = 0;
pub(crate) const RUNS: usize = 1;
pub(crate) const LITS: usize = 2;
pub(crate) const EXTRA: usize = 3;

/// Raw and compressed length of one stream of a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct StreamLen {
    pub raw: u32,
    pub z: u32,
}

impl BlockHeader {
    pub fn to_bytes(self) -> [u8; BLOCK_HEADER_LEN] {
        let streams = self.streams.iter().flat_map(|s| [s.raw, s.z]);
        let fields = [self.new_len, self.diff_len].into_iter().chain(streams);
        let mut out = [0u8; BLOCK_HEADER_LEN];
        for (chunk, field) in out.chunks_exact_mut(4).zip(fields) {
            chunk.copy_from_slice(&field.to_le_bytes());
        }
        out
    }

    /// Parses the bytes after a nonzero `new_len` and checks every length against the
    /// format's limits, so nothing later allocates or reads more than a valid block could.
    pub fn parse(new_len: u32, rest: &[u8; BLOCK_HEADER_LEN - 4]) -> Result<Self, Error> {
        let field = |k: usize| u32::from_le_bytes(rest[4 * k..4 * k + 4].try_into().unwrap());
        let stream = |k: usize| StreamLen {
            raw: field(1 + 2 * k),
            z: field(2 + 2 * k),
        };
        let header = BlockHeader {
            new_len,
            diff_len: field(0),
            streams: [stream(0), stream(1), stream(2), stream(3)],
        };
        header.validate()?;
        Ok(header)
    }

    fn validate(&self) -> Result<(), Error> {
        let new_len = self.new_len as usize;
        let diff_len = self.diff_len as usize;
        let raw = |k: usize| self.streams[k].raw as usize;
        if new_len == 0 || new_len > MAX_BLOCK_LEN {
            return Err(Error::Corrupt("block length out of range"));
        }
        // Every output byte is either a difference byte or an extra byte.
        if diff_len as u64 + raw(EXTRA) as u64 != new_len as u64 {
            return Err(Error::Corrupt(
                "stream lengths do not add up to the block length",
            ));
        }
        if raw(CTRL) > max_ctrl_len(new_len)
            || raw(RUNS) > max_runs_len(diff_len)
            || raw(LITS) > diff_len
        {
            return Err(Error::Corrupt("stream too long for its block"));
        }
        for stream in self.streams {
            stream.validate()?;
        }
        Ok(())
    }
}

impl StreamLen {
    fn validate(self) -> Result<(), Error> {
        // A single-shot zstd frame never exceeds the compress bound of its content.
        let bound = zstd::zstd_safe::compress_bound(self.raw as usize);
        if (self.raw == 0) != (self.z == 0) || self.z as usize > bound {
            return Err(Error::Corrupt("compressed stream length out of range"));
        }
        Ok(())
    }
}

pub(crate) fn header_bytes(base_len: u64) -> [u8; HEADER_LEN] {
    let mut out = [0u8; HEADER_LEN];
    out[..4].copy_from_slice(&MAGIC);
    out[4] = VERSION;
    out[5..].copy_from_slice(&base_len.to_le_bytes());
    out
}

/// Checks magic, version and base length; a patch applied to the wrong base fails here
/// when the lengths differ (same-length bases are the caller's to identify).
pub(crate) fn check_header(bytes: &[u8; HEADER_LEN], base_len: u64) -> Result<(), Error> {
    if bytes[..4] != MAGIC {
        return Err(Error::BadMagic);
    }
    if bytes[4] != VERSION {
        return Err(Error::UnsupportedVersion(bytes[4]));
    }
    let expected = u64::from_le_bytes(bytes[5..].try_into().unwrap());
    if expected != base_len {
        return Err(Error::BaseMismatch {
            expected,
            actual: base_len,
        });
    }
    Ok(())
}

/// One control operation: see the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Op {
    pub seek: i64,
    pub diff_len: u64,
    pub extra_len: u64,
}

impl Op {
    pub fn write(self, out: &mut Vec<u8>) {
        write_varint(out, zigzag(self.seek));
        write_varint(out, self.diff_len);
        write_varint(out, self.extra_len);
    }

    /// Reads the next op from `ctrl` at `*pos`; `None` at the end of the stream.
    pub fn read(ctrl: &[u8], pos: &mut usize) -> Result<Option<Op>, Error> {
        if *pos == ctrl.len() {
            return Ok(None);
        }
        let seek = unzigzag(read_varint(ctrl, pos)?);
        let diff_len = read_varint(ctrl, pos)?;
        let extra_len = read_varint(ctrl, pos)?;
        Ok(Some(Op {
            seek,
            diff_len,
            extra_len,
        }))
    }
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

pub(crate) fn write_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

pub(crate) fn read_varint(buf: &[u8], pos: &mut usize) -> Result<u64, Error> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *buf
            .get(*pos)
            .ok_or(Error::Corrupt("stream ends inside a varint"))?;
        *pos += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(Error::Corrupt("varint too long"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ops_round_trip() {
        let ops = [
            Op {
                seek: 0,
                diff_len: 0,
                extra_len: 0,
            },
            Op {
                seek: -1,
                diff_len: 127,
                extra_len: 128,
            },
            Op {
                seek: i64::MIN,
                diff_len: u64::MAX,
                extra_len: 1,
            },
            Op {
                seek: i64::MAX,
                diff_len: 1 << 40,
                extra_len: 300,
            },
        ];
        let mut buf = Vec::new();
        for op in ops {
            op.write(&mut buf);
        }
        let mut pos = 0;
        for op in ops {
            assert_eq!(Op::read(&buf, &mut pos).unwrap(), Some(op));
        }
        assert_eq!(Op::read(&buf, &mut pos).unwrap(), None);
    }

    #[test]
    fn block_header_round_trip_and_limits() {
        let stream = |raw, z| StreamLen { raw, z };
        let header = BlockHeader {
            new_len: 100,
            diff_len: 60,
            streams: [
                stream(6, 15),
                stream(10, 19),
                stream(20, 29),
                stream(40, 49),
            ],
        };
        let bytes = header.to_bytes();
        let rest: &[u8; BLOCK_HEADER_LEN - 4] = bytes[4..].try_into().unwrap();
        assert_eq!(BlockHeader::parse(100, rest).unwrap(), header);
        assert!(BlockHeader::parse(101, rest).is_err());
        assert!(BlockHeader::parse((MAX_BLOCK_LEN + 1) as u32, rest).is_err());
    }
}
