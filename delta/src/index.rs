//! A sparse hash index of the base: where to look for a new alignment.
//!
//! Positions are sampled by content, not by offset: a position is an *anchor* when the hash
//! of the [`WINDOW`] bytes starting there has its top [`ANCHOR_BITS`] bits clear. The same
//! bytes are an anchor in the new data too, so the encoder only has to probe the table at
//! new-side anchors (one position in 2^ANCHOR_BITS) and still finds every exact match of
//! about `WINDOW + 2^ANCHOR_BITS` bytes. With offset sampling it would have to probe every
//! position, each probe being a cache miss in a table of tens of MiB.

/// Bytes hashed per position.
pub(crate) const WINDOW: usize = 16;
/// One position in 2^ANCHOR_BITS is an anchor, on average.
const ANCHOR_BITS: u32 = 4;
/// Table slots per expected anchor, as a power of two divisor: 2^ANCHOR_BITS * 2 base bytes
/// per slot keeps the table between base_len/8 and base_len/4 bytes. Colliding anchors
/// overwrite each other, which loses a few alignments but bounds memory.
const BYTES_PER_SLOT_LOG2: u32 = ANCHOR_BITS + 1;

const K1: u64 = 0x9E37_79B9_7F4A_7C15;
const K2: u64 = 0xC2B2_AE3D_27D4_EB4F;

/// Hash of `data[pos..pos + WINDOW]`; only its high bits are well mixed, and only those
/// are used.
#[inline(always)]
pub(crate) fn window_hash(data: &[u8], pos: usize) -> u64 {
    let w: &[u8; WINDOW] = data[pos..pos + WINDOW].try_into().unwrap();
    let a = u64::from_le_bytes(w[..8].try_into().unwrap());
    let b = u64::from_le_bytes(w[8..].try_into().unwrap());
    a.wrapping_mul(K1) ^ b.rotate_left(29).wrapping_mul(K2)
}

#[inline(always)]
pub(crate) fn is_anchor(hash: u64) -> bool {
    hash >> (64 - ANCHOR_BITS) == 0
}

pub(crate) struct Index {
    /// Base position + 1 of the last anchor hashed to each slot; 0 = empty.
    slots: Vec<u32>,
    /// Shift that takes the slot number from the bits just below the anchor bits.
    shift: u32,
}

impl Index {
    /// Indexes every anchor of `base`. `base` must be shorter than `u32::MAX` bytes.
    pub fn build(base: &[u8]) -> Index {
        let bits = slot_bits(base.len());
        let mut index = Index {
            slots: vec![0; 1 << bits],
            shift: 64 - ANCHOR_BITS - bits,
        };
        let Some(last) = base.len().checked_sub(WINDOW) else {
            return index;
        };
        for pos in 0..=last {
            let hash = window_hash(base, pos);
            if is_anchor(hash) {
                let slot = index.slot(hash);
                index.slots[slot] = pos as u32 + 1;
            }
        }
        index
    }

    #[inline(always)]
    fn slot(&self, hash: u64) -> usize {
        // The anchor bits are all zero for an anchor, so the slot uses the bits below them.
        ((hash >> self.shift) as usize) & (self.slots.len() - 1)
    }

    /// The base position of an anchor with this hash, if one was indexed. It may be a hash
    /// collision: the caller verifies the bytes.
    #[inline(always)]
    pub fn lookup(&self, hash: u64) -> Option<usize> {
        let stored = self.slots[self.slot(hash)];
        (stored != 0).then(|| stored as usize - 1)
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
        let index = Index::build(&base);
        assert!(index.memory_bytes() <= base.len() / 4 + 1024);
        let mut found = 0;
        let mut anchors = 0;
        for pos in 0..=base.len() - WINDOW {
            let hash = window_hash(&base, pos);
            if is_anchor(hash) {
                anchors += 1;
                if let Some(p) = index.lookup(hash) {
                    found += usize::from(base[p..p + WINDOW] == base[pos..pos + WINDOW]);
                }
            }
        }
        assert!(anchors > base.len() / 32, "{anchors} anchors");
        assert!(
            found * 10 > anchors * 6,
            "{found} of {anchors} anchors found"
        );
    }

    #[test]
    fn tiny_bases() {
        for len in [0, 1, WINDOW - 1, WINDOW] {
            let index = Index::build(&vec![7u8; len]);
            assert!(index.memory_bytes() > 0);
        }
    }
}
