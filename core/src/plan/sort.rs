//! The one sort routine of the core: a stable merge sort of indices through a `dyn`
//! comparison.
//!
//! Each `sort_by` call with its own element type or closure is its own copy of std's
//! sort code (driftsort or ipnsort, 3-6 KB each in wasm); the plan and the key needed
//! five. This one is compiled once, and being stable it orders exactly as
//! `slice::sort_by` did, ties included, so plans and keys do not change.

use std::cmp::Ordering;

/// The indices `0..n` in the order `cmp` gives, ties in index order.
pub(crate) fn order(n: usize, cmp: &dyn Fn(usize, usize) -> Ordering) -> Vec<usize> {
    let mut src: Vec<usize> = (0..n).collect();
    let mut dst = vec![0; n];
    let mut width = 1;
    while width < n {
        let mut lo = 0;
        while lo < n {
            let mid = (lo + width).min(n);
            let hi = (lo + 2 * width).min(n);
            merge(&src, &mut dst, (lo, mid, hi), cmp);
            lo = hi;
        }
        std::mem::swap(&mut src, &mut dst);
        width *= 2;
    }
    src
}

/// Merges the sorted runs `src[lo..mid]` and `src[mid..hi]` into `dst[lo..hi]`; on a
/// tie the left run's element goes first, which is what makes the sort stable.
fn merge(
    src: &[usize],
    dst: &mut [usize],
    (lo, mid, hi): (usize, usize, usize),
    cmp: &dyn Fn(usize, usize) -> Ordering,
) {
    let (mut i, mut j) = (lo, mid);
    for slot in &mut dst[lo..hi] {
        let take_left = j >= hi || (i < mid && cmp(src[j], src[i]) != Ordering::Less);
        if take_left {
            *slot = src[i];
            i += 1;
        } else {
            *slot = src[j];
            j += 1;
        }
    }
}

/// `v` sorted stably by `cmp`, as `v.sort_by(cmp)` would leave it.
pub(crate) fn sorted_by<T: Default>(mut v: Vec<T>, cmp: impl Fn(&T, &T) -> Ordering) -> Vec<T> {
    let order = order(v.len(), &|a, b| cmp(&v[a], &v[b]));
    // Each index comes once, so every element is taken exactly once.
    order
        .into_iter()
        .map(|i| std::mem::take(&mut v[i]))
        .collect()
}

/// `v` sorted and without repeats, as `sort` then `dedup` would leave it.
pub(crate) fn sorted_unique<T: Ord + Default>(v: Vec<T>) -> Vec<T> {
    let mut v = sorted_by(v, T::cmp);
    v.dedup();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_as_std_stable_sort_does() {
        let mut seed: u32 = 7;
        for n in [0, 1, 2, 3, 5, 16, 17, 100, 1000, 1025] {
            let v: Vec<(u32, usize)> = (0..n)
                .map(|i| {
                    seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                    (seed >> 28, i)
                })
                .collect();
            // Equal first fields: stability shows in the second.
            let ours = sorted_by(v.clone(), |a, b| a.0.cmp(&b.0));
            let mut want = v;
            want.sort_by_key(|a| a.0);
            assert_eq!(ours, want, "n = {n}");
        }
        assert_eq!(
            sorted_unique(vec!["b", "a", "b", "c", "a"]),
            ["a", "b", "c"]
        );
    }
}
