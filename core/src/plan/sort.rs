//! Sorting helpers of the core, over std's stable sort.
//!
//! An earlier hand-written merge sort compiled one sort routine instead of one per
//! element type: measured, it saved 14.5 KB of the wasm module (230 KB -> 215 KB after
//! wasm-opt). Under the 400 KB budget that is not worth a sort of our own.

use std::cmp::Ordering;

/// The indices `0..n` in the order `cmp` gives, ties in index order.
pub(crate) fn order(n: usize, cmp: &dyn Fn(usize, usize) -> Ordering) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| cmp(a, b));
    order
}

/// `v` sorted stably by `cmp`.
pub(crate) fn sorted_by<T>(mut v: Vec<T>, cmp: impl Fn(&T, &T) -> Ordering) -> Vec<T> {
    v.sort_by(cmp);
    v
}

/// `v` sorted and without repeats.
pub(crate) fn sorted_unique<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
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
