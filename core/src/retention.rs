//! What `gc` deletes and how long a save may lean on a stored pack. The two are one
//! rule seen from both sides: a save references a stored pack only while it is younger
//! than [`PACK_REFRESH_AFTER_S`] (else it uploads it again, renewing its age), and `gc`
//! leaves unreferenced packs alone for a grace period above that, so a save in flight
//! never publishes a snapshot whose packs `gc` took meanwhile (docs/stores.md).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::key_parts::rung_of;

/// Age in seconds under which a save references a stored pack instead of uploading it.
pub const PACK_REFRESH_AFTER_S: u64 = 24 * 3600;

/// The shortest `--grace` while saves may run: [`PACK_REFRESH_AFTER_S`] plus an hour for
/// the save's own duration, which `CARGO_STASH_DEADLINE` (default 10m) bounds.
pub const GRACE_FLOOR_S: u64 = PACK_REFRESH_AFTER_S + 3600;

// Whatever a save may still reference, gc's smallest grace keeps.
const _: () = assert!(GRACE_FLOOR_S > PACK_REFRESH_AFTER_S);

/// Whether a save may reference a stored object written `age_s` seconds ago.
pub fn may_reference(age_s: i64) -> bool {
    age_s < PACK_REFRESH_AFTER_S as i64
}

/// Whether `grace_s` is safe: at or above the floor, or the user promised that no save
/// writes to the store during this `gc`.
pub fn grace_allowed(grace_s: u64, no_concurrent_saves: bool) -> bool {
    grace_s >= GRACE_FLOOR_S || no_concurrent_saves
}

/// What `gc` does with a stored pack (or patch, or half-written object).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PackFate {
    /// A remaining snapshot references it (a patch's base included): kept.
    Referenced,
    /// Unreferenced but younger than the grace period: maybe a save in flight.
    InGrace,
    /// Unreferenced and past the grace period.
    Delete,
}

/// The fate of a pack written `age_s` seconds ago under a grace period of `grace_s`.
pub fn pack_fate(referenced: bool, age_s: i64, grace_s: u64) -> PackFate {
    if referenced {
        PackFate::Referenced
    } else if age_s < grace_s as i64 {
        PackFate::InGrace
    } else {
        PackFate::Delete
    }
}

/// Why `gc` deletes a snapshot (a wire value of `gc --json`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeleteReason {
    /// Older than `--max-age`.
    MaxAge,
    /// Past the newest `--keep` of its layer and rung.
    Keep,
}

impl DeleteReason {
    /// The wire value, for human output.
    pub fn as_str(self) -> &'static str {
        match self {
            DeleteReason::MaxAge => "max-age",
            DeleteReason::Keep => "keep",
        }
    }
}

impl std::fmt::Display for DeleteReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One stored snapshot as listed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listed {
    /// `target` or `registry`.
    pub layer: String,
    /// The snapshot's key.
    pub key: String,
    /// Seconds since the manifest was written.
    pub age_seconds: i64,
}

/// The retention rules: none set keeps everything.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rules {
    /// Delete snapshots older than this many seconds.
    pub max_age_s: Option<u64>,
    /// Keep this many newest snapshots per layer and restore rung.
    pub keep: Option<usize>,
}

/// Which snapshots (indexes into `snapshots`, ascending) the rules delete, and why. A
/// snapshot goes when any rule says so; `max-age` is named when both do. `--keep` counts
/// per rung ([`crate::key_parts::KeyParts::rung`]), so a lockfile change that makes a
/// new key still ages out the old ones, while other configs are ranked apart.
pub fn doomed(snapshots: &[Listed], rules: Rules) -> Vec<(usize, DeleteReason)> {
    let mut out = BTreeMap::new();
    if let Some(max) = rules.max_age_s {
        for (i, s) in snapshots.iter().enumerate() {
            if s.age_seconds > max as i64 {
                out.insert(i, DeleteReason::MaxAge);
            }
        }
    }
    if let Some(keep) = rules.keep {
        let mut groups: BTreeMap<(&str, String), Vec<usize>> = BTreeMap::new();
        for (i, s) in snapshots.iter().enumerate() {
            groups
                .entry((s.layer.as_str(), rung_of(&s.key)))
                .or_default()
                .push(i);
        }
        for mut members in groups.into_values() {
            members.sort_by_key(|&i| (snapshots[i].age_seconds, &snapshots[i].key));
            for &i in members.iter().skip(keep) {
                out.entry(i).or_insert(DeleteReason::Keep);
            }
        }
    }
    out.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use DeleteReason::*;

    fn snap(layer: &str, key: &str, age: i64) -> Listed {
        Listed {
            layer: layer.into(),
            key: key.into(),
            age_seconds: age,
        }
    }

    fn rules(max_age_s: Option<u64>, keep: Option<usize>) -> Rules {
        Rules { max_age_s, keep }
    }

    const C1: &str = "stash1-linux-x64-t_1-c1c1c1c1c1";
    const C2: &str = "stash1-linux-x64-t_1-c2c2c2c2c2";

    #[test]
    fn keep_counts_per_rung_and_layer() {
        let s = [
            snap("target", &format!("{C1}-d1d1d1d1d1"), 10),
            snap("target", &format!("{C1}-d2d2d2d2d2"), 20),
            snap("target", &format!("{C1}-d3d3d3d3d3-sfx"), 30),
            snap("target", &format!("{C2}-d1d1d1d1d1"), 40),
            snap("registry", "stash1-registry-d1d1d1d1d1", 50),
        ];
        assert_eq!(doomed(&s, rules(None, Some(2))), vec![(2, Keep)]);
        assert_eq!(doomed(&s, rules(None, Some(0))).len(), 5);
    }

    #[test]
    fn max_age_and_keep_combine() {
        let s = [
            snap("target", &format!("{C1}-d1d1d1d1d1"), 10),
            snap("target", &format!("{C1}-d2d2d2d2d2"), 100_000),
            snap("target", &format!("{C1}-d3d3d3d3d3"), 5),
        ];
        let p = doomed(&s, rules(Some(86_400), Some(1)));
        assert_eq!(p, vec![(0, Keep), (1, MaxAge)]);
        assert!(doomed(&s, rules(None, None)).is_empty());
    }

    /// Issue 15: under a user prefix `stash2`, two configs are two rungs.
    #[test]
    fn keep_ranks_configs_apart_under_a_prefix_like_a_head() {
        let s = [
            snap("target", &format!("stash2-{C1}-d1d1d1d1d1"), 10),
            snap("target", &format!("stash2-{C2}-d1d1d1d1d1"), 20),
            snap("target", &format!("stash2-{C2}-d2d2d2d2d2"), 30),
        ];
        assert_eq!(doomed(&s, rules(None, Some(1))), vec![(2, Keep)]);
    }

    #[test]
    fn references_and_grace_agree() {
        assert!(may_reference(0));
        assert!(!may_reference(PACK_REFRESH_AFTER_S as i64));
        assert!(grace_allowed(GRACE_FLOOR_S, false));
        assert!(!grace_allowed(GRACE_FLOOR_S - 1, false));
        assert!(grace_allowed(0, true));
    }

    #[test]
    fn only_unreferenced_packs_past_the_grace_period_go() {
        assert_eq!(pack_fate(true, 1_000_000, 10), PackFate::Referenced);
        assert_eq!(pack_fate(false, 9, 10), PackFate::InGrace);
        assert_eq!(pack_fate(false, 10, 10), PackFate::Delete);
        assert_eq!(pack_fate(false, 0, 0), PackFate::Delete);
    }

    #[test]
    fn reasons_are_their_wire_values() {
        for r in [MaxAge, Keep] {
            assert_eq!(serde_json::to_value(r).unwrap(), r.as_str());
        }
    }
}
