//! The ladder pick: which stored snapshots a restore tries, in which order. The exact
//! key first; then, rung by rung, the newest snapshots whose key starts with the rung.
//! A fallback rung may hold unreadable or empty snapshots (see [`crate::supersede`]):
//! a few are passed over, but a store full of them must not stall the restore.

use crate::Key;
use crate::key::ExplainLine;

/// Stored snapshots a restore tries per rung of the ladder, newest first, before moving
/// on.
pub const TRIES_PER_RUNG: usize = 8;

/// The rungs to fall back on, best first: every rung of the ladder but the exact key.
pub fn fallback_rungs(key: &Key) -> impl Iterator<Item = &str> {
    key.ladder
        .iter()
        .filter(move |r| **r != key.key)
        .map(String::as_str)
}

/// The keys to try on one rung, given what the store lists under it with each one's
/// last-modified time: the newest [`TRIES_PER_RUNG`], without the exact key (tried
/// first, on its own). Equal times keep the listing's order.
pub fn tries_on_rung<T: Ord>(exact: &str, mut listed: Vec<(String, T)>) -> Vec<String> {
    listed.sort_by(|a, b| b.1.cmp(&a.1));
    listed
        .into_iter()
        .take(TRIES_PER_RUNG)
        .map(|(k, _)| k)
        .filter(|k| k != exact)
        .collect()
}

/// The warning for a fallback across a change of CARGO_HOME, given the key inputs the
/// snapshot recorded and this job's. Registry units hash the absolute path of their
/// sources under CARGO_HOME, so it is a key input; a fallback can still cross a change
/// of it, and then they all rebuild. A snapshot that recorded no inputs says nothing.
pub fn cargo_home_moved(saved: &[ExplainLine], now: &[ExplainLine]) -> Option<String> {
    let home = |lines: &[ExplainLine]| {
        lines
            .iter()
            .find(|l| l.input == "cargo_home")
            .map(|l| l.value.clone())
    };
    let (saved, now) = (home(saved)?, home(now)?);
    (saved != now).then(|| {
        format!(
            "the snapshot was saved with CARGO_HOME at {saved}, this job's is at {now}: \
             registry units hash that path and will rebuild; keep CARGO_HOME at one path"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::Segment;

    fn home(value: &str) -> Vec<ExplainLine> {
        vec![ExplainLine {
            input: "cargo_home".into(),
            segment: Segment::Config,
            value: value.into(),
            digest: String::new(),
        }]
    }

    #[test]
    fn a_fallback_across_a_cargo_home_change_is_told() {
        assert_eq!(
            cargo_home_moved(&home("/a/.cargo"), &home("/a/.cargo")),
            None
        );
        let w = cargo_home_moved(&home("/a/.cargo"), &home("/b/.cargo")).unwrap();
        assert!(w.contains("/a/.cargo") && w.contains("/b/.cargo"), "{w}");
        // A snapshot written before inputs were recorded says nothing.
        assert_eq!(cargo_home_moved(&[], &home("/b/.cargo")), None);
    }

    #[test]
    fn fallback_rungs_skip_the_exact_key() {
        let key = Key {
            key: "p-k-s".into(),
            ladder: vec!["p-k-s".into(), "p-k".into(), "p-".into()],
        };
        assert_eq!(fallback_rungs(&key).collect::<Vec<_>>(), ["p-k", "p-"]);
    }

    #[test]
    fn newest_first_capped_and_without_the_exact_key() {
        let listed: Vec<(String, u64)> = (0..12).map(|i| (format!("k{i}"), i)).collect();
        let tries = tries_on_rung("k10", listed);
        // The 8 newest are k11..k4; k10 was tried already.
        assert_eq!(tries, ["k11", "k9", "k8", "k7", "k6", "k5", "k4"]);
        let ties = vec![
            ("a".to_string(), 1),
            ("b".to_string(), 1),
            ("c".to_string(), 2),
        ];
        assert_eq!(tries_on_rung("x", ties), ["c", "a", "b"]);
    }
}
