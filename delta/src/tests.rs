//! Round trips, damaged patches and compression quality on synthetic data.

use std::io::Cursor;

use crate::encode::{encode_with, encode_with_block_len};
use crate::{Error, SeekBase, Stats, decode, decode_from, encode, encode_from_within};

/// A small deterministic generator (xorshift64*), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

fn patch_with(base: &[u8], new: &[u8], block_len: usize) -> (Vec<u8>, Stats) {
    let mut patch = Vec::new();
    let stats = encode_with_block_len(base, new, &mut patch, block_len).unwrap();
    assert_eq!(stats.patch_len, patch.len() as u64);
    assert_eq!(stats.new_len, new.len() as u64);
    (patch, stats)
}

/// Encodes, decodes and checks the result, with the real block size and a tiny one (which
/// exercises the block boundaries everywhere). Returns the patch length (real blocks).
fn round_trip(base: &[u8], new: &[u8]) -> usize {
    let mut patch_len = 0;
    for block_len in [crate::format::BLOCK_LEN, 4096, 1000] {
        let (patch, _) = patch_with(base, new, block_len);
        let mut rebuilt = Vec::new();
        let written = decode(base, &patch[..], &mut rebuilt).unwrap();
        assert_eq!(written, new.len() as u64);
        assert!(
            rebuilt == new,
            "round trip differs (block length {block_len})"
        );
        if block_len == crate::format::BLOCK_LEN {
            patch_len = patch.len();
        }
    }
    patch_len
}

/// Random-looking "machine code" with 8-byte little-endian pointers every 16–48 bytes,
/// pointing into a range starting at `address_base`: the shape of a linked binary.
fn binary_like(rng: &mut Rng, len: usize) -> (Vec<u8>, Vec<usize>) {
    let mut data = Vec::with_capacity(len);
    let mut pointers = Vec::new();
    while data.len() + 8 <= len {
        let code = 16 + rng.below(32);
        // Code bytes from a small alphabet, like real opcodes: compressible but not trivial.
        data.extend((0..code).map(|_| {
            [0x48, 0x89, 0x8b, 0xe8, 0x0f, 0x85, 0xc3, 0x24][rng.below(8)] ^ (rng.below(4) as u8)
        }));
        pointers.push(data.len());
        let address = 0x40_0000u64 + rng.below(1 << 22) as u64;
        data.extend_from_slice(&address.to_le_bytes());
    }
    data.truncate(len);
    pointers.retain(|&p| p + 8 <= len);
    (data, pointers)
}

/// `data` with every pointer at or after `from` moved by `by`.
fn relocate(data: &[u8], pointers: &[usize], from: usize, by: u64) -> Vec<u8> {
    let mut out = data.to_vec();
    for &p in pointers.iter().filter(|&&p| p >= from) {
        let value = u64::from_le_bytes(out[p..p + 8].try_into().unwrap());
        out[p..p + 8].copy_from_slice(&value.wrapping_add(by).to_le_bytes());
    }
    out
}

#[test]
fn empty_inputs() {
    let data = Rng(1).bytes(5000);
    round_trip(&[], &[]);
    round_trip(&data, &[]);
    round_trip(&[], &data);
    round_trip(&[], &data[..7]);
    round_trip(&data[..3], &data[..20]);
}

#[test]
fn identical_input_is_tiny() {
    let (data, _) = binary_like(&mut Rng(2), 300_000);
    let len = round_trip(&data, &data);
    assert!(len < 200, "identical input gave a {len}-byte patch");
}

#[test]
fn random_edits_insertions_and_deletions() {
    let mut rng = Rng(3);
    let (base, _) = binary_like(&mut rng, 200_000);
    for round in 0..8 {
        let mut new = base.clone();
        for _ in 0..(1 + round * 5) {
            let at = rng.below(new.len());
            match rng.below(3) {
                0 => new[at] = rng.next() as u8,
                1 => {
                    let len = rng.below(500);
                    let insert = rng.bytes(len);
                    new.splice(at..at, insert);
                }
                _ => {
                    let end = (at + rng.below(500)).min(new.len());
                    new.drain(at..end);
                }
            }
        }
        let len = round_trip(&base, &new);
        assert!(len < base.len() / 10, "round {round}: {len}-byte patch");
    }
}

#[test]
fn shifted_copy_with_relocated_pointers() {
    let mut rng = Rng(4);
    let (base, pointers) = binary_like(&mut rng, 500_000);
    // New code inserted at 100 kB; everything after it moved, and so did pointers to it.
    let moved = relocate(&base, &pointers, 0, 0x1230);
    let mut new = moved[..100_000].to_vec();
    new.extend(rng.bytes(3000));
    new.extend_from_slice(&moved[100_000..]);
    round_trip(&base, &new);
}

#[test]
fn new_longer_and_shorter_than_base() {
    let mut rng = Rng(5);
    let (base, _) = binary_like(&mut rng, 100_000);
    let mut longer = base.clone();
    longer.extend(rng.bytes(50_000));
    longer.extend_from_slice(&base[..30_000]);
    round_trip(&base, &longer);
    round_trip(&base, &base[20_000..70_000]);
    round_trip(&base, &base[..99_999]);
    round_trip(&base[..1000], &base);
    // Base contents in a different order.
    let mut shuffled = base[60_000..].to_vec();
    shuffled.extend_from_slice(&base[..60_000]);
    round_trip(&base, &shuffled);
}

#[test]
fn multiple_real_blocks() {
    // Just over two real blocks, with the alignment changing across the boundaries.
    let mut rng = Rng(6);
    let block = crate::format::BLOCK_LEN;
    let (base, pointers) = binary_like(&mut rng, block + block / 2);
    let mut new = relocate(&base, &pointers, block / 3, 77);
    new.splice(block / 2..block / 2, rng.bytes(1234));
    new.extend_from_slice(&base[..block / 2 + 100]);
    let (patch, stats) = patch_with(&base, &new, block);
    assert_eq!(stats.blocks, 3);
    let mut rebuilt = Vec::new();
    decode(&base, &patch[..], &mut rebuilt).unwrap();
    assert!(rebuilt == new);
}

#[test]
fn zero_and_repetitive_data() {
    let zeros = vec![0u8; 100_000];
    let mut new = zeros.clone();
    new[500] = 1;
    round_trip(&zeros, &new);
    let pattern: Vec<u8> = (0..100_000).map(|i| (i % 7) as u8).collect();
    round_trip(&zeros, &pattern);
    round_trip(&pattern, &pattern[3..]);
}

/// The point of the codec: a relocated binary patches to a small fraction of what zstd
/// alone makes of it, where an exact-match delta would not.
#[test]
fn relocated_input_patches_far_smaller_than_zstd() {
    let mut rng = Rng(7);
    let (base, pointers) = binary_like(&mut rng, 1_000_000);
    let moved = relocate(&base, &pointers, 0, 0x40);
    let mut new = moved[..400_000].to_vec();
    new.extend(rng.bytes(2000));
    new.extend_from_slice(&moved[400_000..]);
    let patch_len = round_trip(&base, &new);
    let zstd_len = zstd::bulk::compress(&new, 3).unwrap().len();
    assert!(
        patch_len * 10 < zstd_len,
        "patch {patch_len} bytes, zstd -3 {zstd_len} bytes"
    );
}

fn decode_result(base: &[u8], patch: &[u8]) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    decode(base, patch, &mut out).map(|_| out)
}

#[test]
fn damaged_patches_error_instead_of_panicking() {
    let mut rng = Rng(8);
    let (base, pointers) = binary_like(&mut rng, 20_000);
    let mut new = relocate(&base, &pointers, 5000, 3);
    new.splice(9000..9000, rng.bytes(300));
    let (patch, _) = patch_with(&base, &new, 4096);
    assert_eq!(decode_result(&base, &patch).unwrap(), new);

    for len in 0..patch.len() {
        assert!(matches!(
            decode_result(&base, &patch[..len]),
            Err(Error::Truncated | Error::Corrupt(_))
        ));
    }
    // Every single-byte change must fail or give some output, never panic or hang.
    for pos in 0..patch.len() {
        for flip in [0x01u8, 0x80, 0xff] {
            let mut damaged = patch.clone();
            damaged[pos] ^= flip;
            let _ = decode_result(&base, &damaged);
        }
    }
    for _ in 0..2000 {
        let mut damaged = patch.clone();
        for _ in 0..1 + rng.below(8) {
            let pos = rng.below(damaged.len());
            damaged[pos] = rng.next() as u8;
        }
        let _ = decode_result(&base, &damaged);
    }
    assert!(matches!(
        decode_result(&base[1..], &patch),
        Err(Error::BaseMismatch { .. })
    ));
    assert!(matches!(
        decode_result(&base, b"not a patch at all"),
        Err(Error::BadMagic)
    ));
}

#[test]
fn huge_declared_lengths_are_rejected_before_allocating() {
    let base = vec![1u8; 1000];
    let (patch, _) = patch_with(&base, &base, 4096);
    // The first block header follows the 13-byte file header; its 10 fields are u32s.
    for field in 0..10 {
        let mut damaged = patch.clone();
        let at = crate::format::HEADER_LEN + 4 * field;
        damaged[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(
            matches!(decode_result(&base, &damaged), Err(Error::Corrupt(_))),
            "field {field}"
        );
    }
}

#[test]
fn garbage_after_a_valid_header_is_rejected() {
    let base = Rng(9).bytes(3000);
    let mut rng = Rng(10);
    for _ in 0..500 {
        let mut patch = crate::format::header_bytes(base.len() as u64).to_vec();
        let len = rng.below(200);
        patch.extend(rng.bytes(len));
        assert!(decode_result(&base, &patch).is_err());
    }
}

#[test]
fn public_encode_matches_default_block_len() {
    let (base, _) = binary_like(&mut Rng(11), 50_000);
    let mut patch = Vec::new();
    let stats = encode(&base, &base[100..], &mut patch).unwrap();
    assert_eq!(stats.blocks, 1);
    assert_eq!(decode_result(&base, &patch).unwrap(), &base[100..]);
}

/// A chosen window (here asked for 0 bytes: clamped to two blocks) gives a patch that
/// decodes to the new data, read from a base behind a seekable reader.
#[test]
fn a_chosen_window_round_trips() {
    let (base, pointers) = binary_like(&mut Rng(13), 200_000);
    let new = relocate(&base, &pointers, 50_000, 24);
    let mut patch = Vec::new();
    let base_reader = SeekBase::new(Cursor::new(base.clone())).unwrap();
    encode_from_within(base_reader, &new[..], &mut patch, 0).unwrap();
    assert!(patch.len() * 4 < new.len(), "patch {} bytes", patch.len());
    assert_eq!(decode_result(&base, &patch).unwrap(), new);
}

/// New data spliced from random pieces of the base (some with bytes changed or moved by a
/// constant), random bytes and zeros, at random sizes: the encoder's corner cases.
#[test]
fn random_splices_round_trip() {
    let mut rng = Rng(12);
    for _ in 0..150 {
        let base_len = rng.below(40_000);
        let (mut base, _) = binary_like(&mut rng, base_len);
        if rng.below(4) == 0 {
            base.extend(vec![0u8; rng.below(5000)]);
        }
        let mut new = Vec::new();
        for _ in 0..rng.below(12) {
            let len = rng.below(6000);
            match rng.below(4) {
                0 => new.extend(rng.bytes(len)),
                1 => new.extend(vec![0u8; len]),
                _ if !base.is_empty() => {
                    let at = rng.below(base.len());
                    let mut piece = base[at..(at + len).min(base.len())].to_vec();
                    let by = rng.below(3) as u8;
                    for k in (0..piece.len()).step_by(1 + rng.below(40)) {
                        piece[k] = piece[k].wrapping_add(by);
                    }
                    new.extend(piece);
                }
                _ => {}
            }
        }
        round_trip(&base, &new);
    }
}

/// Patches against a base held in a file larger than the encoder's window and the
/// decoder's blocks (small ones here, so the test is fast): the window follows the
/// alignment, so edits, insertions and deletions all over a base of many windows still
/// give a small patch, and decoding from the file rebuilds the new data.
#[test]
fn a_base_larger_than_the_window_round_trips_from_a_file() {
    let mut rng = Rng(13);
    let (base, pointers) = binary_like(&mut rng, 2_000_000);
    let mut new = relocate(&base, &pointers, 700_000, 0x40);
    for _ in 0..40 {
        let at = rng.below(new.len());
        match rng.below(3) {
            0 => new[at] = rng.next() as u8,
            1 => {
                let len = rng.below(3000);
                let insert = rng.bytes(len);
                new.splice(at..at, insert);
            }
            _ => {
                let end = (at + rng.below(3000)).min(new.len());
                new.drain(at..end);
            }
        }
    }
    for (block_len, window_len) in [(4096, 16 << 10), (16 << 10, 64 << 10)] {
        let file = SeekBase::new(Cursor::new(base.clone())).unwrap();
        let mut patch = Vec::new();
        let stats = encode_with(file, &new[..], &mut patch, block_len, window_len).unwrap();
        assert_eq!(stats.new_len, new.len() as u64);
        let file = SeekBase::new(Cursor::new(base.clone())).unwrap();
        let mut rebuilt = Vec::new();
        decode_from(file, &patch[..], &mut rebuilt).unwrap();
        assert!(
            rebuilt == new,
            "round trip differs ({block_len}, {window_len})"
        );
        // The same patch decodes against the base in memory: the format is unchanged.
        assert_eq!(decode_result(&base, &patch).unwrap(), new);
        assert!(
            patch.len() < new.len() / 10,
            "{} -byte patch with a {window_len}-byte window",
            patch.len()
        );
    }
}

/// A file base that fits in one window gives the very patch the same base in memory does.
#[test]
fn a_file_base_within_the_window_patches_like_memory() {
    let mut rng = Rng(14);
    let (base, pointers) = binary_like(&mut rng, 300_000);
    let new = relocate(&base, &pointers, 1000, 0x10);
    let (in_memory, _) = patch_with(&base, &new, 4096);
    let file = SeekBase::new(Cursor::new(base.clone())).unwrap();
    let mut from_file = Vec::new();
    encode_with(file, &new[..], &mut from_file, 4096, 1 << 20).unwrap();
    assert!(in_memory == from_file);
}

/// A patch whose ops read past the end of a file base fails, like one in memory.
#[test]
fn a_file_base_shorter_than_the_patch_says_is_an_error() {
    let (base, _) = binary_like(&mut Rng(15), 100_000);
    let (patch, _) = patch_with(&base, &base, 4096);
    let short = SeekBase::new(Cursor::new(base[..50_000].to_vec())).unwrap();
    let err = decode_from(short, &patch[..], &mut Vec::new()).unwrap_err();
    assert!(matches!(err, Error::BaseMismatch { .. }), "{err}");
}
