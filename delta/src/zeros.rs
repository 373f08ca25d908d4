//! Difference bytes as zero runs and nonzero bytes.
//!
//! Over 90% of the difference bytes are zeros, with the nonzero ones scattered a few at a
//! time (a relocated pointer's low bytes, a changed offset). zstd's fast levels spend most
//! of their output on the positions of those bytes among the zeros; written as varint pairs
//! (zeros, nonzeros) in one stream and the nonzero bytes in another, the same data
//! compresses 6-20% smaller at level 3, and zstd has a tenth of the bytes to read.

use crate::format::{Error, read_varint, write_varint};

/// Appends `diff` to `runs` (pairs: zero bytes, then nonzero bytes) and `lits` (the
/// nonzero bytes). A trailing zero run ends with a pair of 0 nonzero bytes.
pub(crate) fn split(diff: &[u8], runs: &mut Vec<u8>, lits: &mut Vec<u8>) {
    let mut pos = 0;
    while pos < diff.len() {
        let zeros_end = skip_zeros(diff, pos);
        let nonzero_end = diff[zeros_end..]
            .iter()
            .position(|&b| b == 0)
            .map_or(diff.len(), |n| zeros_end + n);
        write_varint(runs, (zeros_end - pos) as u64);
        write_varint(runs, (nonzero_end - zeros_end) as u64);
        lits.extend_from_slice(&diff[zeros_end..nonzero_end]);
        pos = nonzero_end;
    }
}

/// The first nonzero byte at or after `pos` (or the end), 8 bytes at a time.
fn skip_zeros(data: &[u8], mut pos: usize) -> usize {
    while let Some(word) = data.get(pos..pos + 8) {
        let word = u64::from_le_bytes(word.try_into().unwrap());
        if word != 0 {
            return pos + word.trailing_zeros() as usize / 8;
        }
        pos += 8;
    }
    pos + data[pos..].iter().take_while(|&&b| b == 0).count()
}

/// Rebuilds `diff_len` difference bytes into `out` (cleared first) from `runs` and `lits`,
/// which must describe exactly that many bytes and use all of `lits`.
pub(crate) fn expand(
    runs: &[u8],
    lits: &[u8],
    diff_len: usize,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    out.clear();
    let (mut runs_pos, mut lits_pos) = (0, 0);
    while runs_pos < runs.len() {
        let zeros = read_varint(runs, &mut runs_pos)?;
        let nonzeros = read_varint(runs, &mut runs_pos)?;
        let room = (diff_len - out.len()) as u64;
        if zeros > room || nonzeros > room - zeros || nonzeros > (lits.len() - lits_pos) as u64 {
            return Err(Error::Corrupt(
                "zero runs describe more bytes than the block has",
            ));
        }
        out.resize(out.len() + zeros as usize, 0);
        let end = lits_pos + nonzeros as usize;
        out.extend_from_slice(&lits[lits_pos..end]);
        lits_pos = end;
    }
    if out.len() != diff_len || lits_pos != lits.len() {
        return Err(Error::Corrupt(
            "zero runs describe fewer bytes than the block has",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(diff: &[u8]) {
        let (mut runs, mut lits) = (Vec::new(), Vec::new());
        split(diff, &mut runs, &mut lits);
        assert_eq!(lits.len(), diff.iter().filter(|&&b| b != 0).count());
        assert!(runs.len() <= crate::format::max_runs_len(diff.len()));
        let mut out = vec![9];
        expand(&runs, &lits, diff.len(), &mut out).unwrap();
        assert_eq!(out, diff);
    }

    #[test]
    fn splits_and_expands() {
        round_trip(&[]);
        round_trip(&[0]);
        round_trip(&[5]);
        round_trip(&[1, 0, 1, 0, 1, 0, 1]);
        round_trip(&[0, 1, 0, 1, 0, 1, 0]);
        let mut sparse = vec![0u8; 100_000];
        for k in (7..sparse.len()).step_by(97) {
            sparse[k] = k as u8 | 1;
        }
        round_trip(&sparse);
        round_trip(&[3u8; 1000]);
        assert_eq!(skip_zeros(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4], 0), 10);
        assert_eq!(skip_zeros(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0], 3), 10);
    }

    #[test]
    fn rejects_inconsistent_runs() {
        let (mut runs, mut lits) = (Vec::new(), Vec::new());
        split(&[0, 0, 7, 7, 0], &mut runs, &mut lits);
        let mut out = Vec::new();
        assert!(expand(&runs, &lits, 4, &mut out).is_err());
        assert!(expand(&runs, &lits, 6, &mut out).is_err());
        assert!(expand(&runs, &lits[..1], 5, &mut out).is_err());
        assert!(expand(&runs[..runs.len() - 1], &lits, 5, &mut out).is_err());
        assert!(expand(&[0x80; 20], &lits, 5, &mut out).is_err());
        expand(&runs, &lits, 5, &mut out).unwrap();
    }
}
