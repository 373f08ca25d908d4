//! stash-delta: a fast binary delta codec in the spirit of bsdiff.
//!
//! A pack that changed a little since the last save (a relinked debug binary, a rebuilt
//! rlib) is stored as a patch against its previous version, the *base*. Such files differ
//! every few bytes: relocated addresses and shifted DWARF offsets. Exact-match deltas
//! (zstd `--patch-from`) break their matches at every such byte; this codec instead pairs
//! long stretches of new data with the base at one alignment and stores the byte-wise
//! differences, which are mostly zeros and, where pointers all moved by the same amount,
//! the same few bytes repeated. zstd then compresses those very well.
//!
//! ```
//! let base = b"the quick brown fox jumps over the lazy dog".repeat(100);
//! let new = b"the quick brown cat jumps over the lazy dog".repeat(100);
//! let mut patch = Vec::new();
//! stash_delta::encode(&base, &new[..], &mut patch).unwrap();
//! let mut rebuilt = Vec::new();
//! stash_delta::decode(&base, &patch[..], &mut rebuilt).unwrap();
//! assert_eq!(rebuilt, new);
//! ```
//!
//! Both sides stream: the new data is read, and the rebuilt data written, in blocks of
//! 4 MiB. The base may be a slice or a file ([`SeekBase`], with [`encode_from`] and
//! [`decode_from`]): the decoder reads only the base bytes its ops use, and the encoder
//! holds a window of at most 80 MiB of a file base around where the new data aligns (see
//! `src/encode.rs`), so memory is bounded whatever the base's size: the window, an index
//! of at most an eighth of it (encoder only) and a few block-sized buffers.
//!
//! # Patch format (version 1)
//!
//! A 13-byte header (`STWD`, version, base length), then one record per block of new data:
//! a header of ten little-endian u32 lengths and four zstd frames (level 3): the *controls*
//! (ops of three varints: seek the base cursor, copy this many bytes as base + difference,
//! then this many extra bytes verbatim), the difference bytes as *zero runs* and *nonzero
//! bytes*, and the *extra bytes*. A zero length and the total length end the patch. Every
//! length is validated before use, so a damaged patch gives an [`Error`], never a panic or
//! a huge allocation. `src/format.rs` has the details.
//!
//! # How it finds alignments
//!
//! The base is indexed at content-defined anchors (a hash of 16 bytes with its top 5 bits
//! clear: one position in 32), and the new data is scanned 8 bytes at a time against the
//! current alignment; anchors are looked up only where that alignment is not perfect. See
//! `src/encode.rs` and `src/index.rs`.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod base;
mod decode;
mod encode;
mod format;
mod index;
mod zeros;

#[cfg(test)]
mod tests;

pub use base::{Base, SeekBase};
pub use decode::{decode, decode_from};
pub use encode::{WINDOW_LEN, encode, encode_from, encode_from_within};
pub use format::Error;

/// What [`encode`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Bytes of new data read.
    pub new_len: u64,
    /// Bytes of patch written.
    pub patch_len: u64,
    /// Blocks in the patch.
    pub blocks: u64,
    /// Control operations (one per run of differences, plus one per block at most).
    pub ops: u64,
    /// New bytes stored as differences from the base (before compression).
    pub diff_bytes: u64,
    /// New bytes stored verbatim (before compression).
    pub extra_bytes: u64,
    /// Patch bytes taken by the compressed control streams.
    pub ctrl_patch_bytes: u64,
    /// Patch bytes taken by the compressed difference streams.
    pub diff_patch_bytes: u64,
    /// Patch bytes taken by the compressed extra-byte streams.
    pub extra_patch_bytes: u64,
    /// Memory used by the index of the base.
    pub index_bytes: u64,
}
