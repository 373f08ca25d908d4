//! Which restored units did this job use? Cargo reads every used unit's fingerprint
//! files, even in a no-op build (docs/format.md, "Unused units"). A restore sets their atime to
//! [`SENTINEL_ATIME_S`]; before a save, a unit whose fingerprint atime moved was used.
//! The rule lives here so the binary and the wasm module (the GitHub Action) agree; the
//! atimes themselves are the caller's to gather and set.

use std::collections::BTreeSet;

use crate::Group;
use crate::output::HitKind;

/// 1970-01-01T00:00:01Z, in seconds: older than any mtime, so `relatime` updates it on
/// the next read.
pub const SENTINEL_ATIME_S: i64 = 1;

/// Whether `path` (relative, `/`-separated) is a fingerprint file or directory: under
/// `.fingerprint/` (the classic layout) or `fingerprint/` (the new build-dir layout).
pub fn is_fingerprint(path: &str) -> bool {
    path.split('/')
        .any(|c| c == ".fingerprint" || c == "fingerprint")
}

/// Units of `groups` that were used, given `touched`: whether a fingerprint file's atime
/// moved off the sentinel (read or written since the restore). A unit without
/// fingerprint files counts as used (nothing proves otherwise). `None` when no
/// fingerprint was touched at all: no build ran, which proves nothing unused, so the
/// caller keeps every unit (saving right after a restore must not empty the cache).
pub fn used_units(groups: &[Group], touched: impl Fn(&str) -> bool) -> Option<BTreeSet<String>> {
    let mut any_touched = false;
    let used = groups
        .iter()
        .filter(|g| g.unit.is_some())
        .filter(|g| {
            let mut fingerprints = g.paths.iter().filter(|p| is_fingerprint(p)).peekable();
            if fingerprints.peek().is_none() {
                return true;
            }
            let hit = fingerprints.any(|p| touched(p));
            any_touched |= hit;
            hit
        })
        .map(|g| g.name.clone())
        .collect();
    any_touched.then_some(used)
}

/// What a save knows of the restore earlier in its job, as the restore recorded it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RestoreSeen<'a> {
    /// How the restore matched its key.
    pub hit: HitKind,
    /// The key of the snapshot restored, when not a miss.
    pub restored_key: Option<&'a str>,
    /// Whether this filesystem updates atime, so fingerprints can tell used units.
    pub atime_works: bool,
    /// How many objects of the snapshot failed to restore.
    pub packs_failed: usize,
}

/// The note a save gives when [`used_units`] proves nothing: every unit kept.
pub const NOTHING_TOUCHED: &str = "no unit was built or read since the restore: every unit kept";

/// Whether a save may leave out the units this job did not use, or why not (the save's
/// `usage_note`). Usage is only known after a restore in this job that restored
/// something, on a filesystem that updates atime, unless `--keep-unused` asks to keep all.
pub fn prune_policy(keep_unused: bool, restore: Option<&RestoreSeen<'_>>) -> Result<(), String> {
    if keep_unused {
        return Err("--keep-unused: every unit kept".into());
    }
    match restore {
        None => Err("no restore in this job: every unit kept".into()),
        Some(r) if r.hit == HitKind::Miss => {
            Err("the restore was a miss: every unit was built by this job".into())
        }
        Some(r) if !r.atime_works => Err("this filesystem does not update atime (noatime?): \
             unused units cannot be told, every unit kept"
            .into()),
        Some(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(name: &str, paths: &[&str]) -> Group {
        Group {
            name: name.into(),
            unit: Some(name.into()),
            paths: paths.iter().map(|p| p.to_string()).collect(),
            bytes: 0,
        }
    }

    fn groups() -> Vec<Group> {
        vec![
            unit(
                "debug/a",
                &["debug/.fingerprint/a-1/lib-a", "debug/deps/liba.rlib"],
            ),
            unit(
                "debug/b",
                &["debug/.fingerprint/b-2/lib-b", "debug/deps/libb.rlib"],
            ),
            unit("debug/c", &["debug/deps/libc.rlib"]),
            Group {
                name: "batch-0".into(),
                unit: None,
                paths: vec!["debug/.fingerprint/x".into()],
                bytes: 0,
            },
        ]
    }

    #[test]
    fn a_unit_is_used_when_any_fingerprint_moved_and_without_fingerprints() {
        let used = used_units(&groups(), |p| p.contains("a-1")).unwrap();
        assert_eq!(
            used,
            BTreeSet::from(["debug/a".to_string(), "debug/c".to_string()])
        );
    }

    #[test]
    fn nothing_touched_proves_nothing() {
        assert_eq!(used_units(&groups(), |_| false), None);
    }

    #[test]
    fn pruning_needs_a_restore_that_hit_where_atime_works() {
        let seen = |hit, atime_works| RestoreSeen {
            hit,
            restored_key: Some("k"),
            atime_works,
            packs_failed: 0,
        };
        assert_eq!(
            prune_policy(false, Some(&seen(HitKind::Fallback, true))),
            Ok(())
        );
        assert_eq!(
            prune_policy(false, Some(&seen(HitKind::Exact, true))),
            Ok(())
        );
        let why = |keep, r: Option<&RestoreSeen>| prune_policy(keep, r).unwrap_err();
        assert!(why(true, Some(&seen(HitKind::Exact, true))).starts_with("--keep-unused"));
        assert!(why(false, None).starts_with("no restore in this job"));
        assert!(why(false, Some(&seen(HitKind::Miss, true))).contains("miss"));
        assert!(why(false, Some(&seen(HitKind::Exact, false))).contains("noatime"));
    }

    #[test]
    fn both_layouts_are_fingerprints() {
        assert!(is_fingerprint("debug/.fingerprint/a-1/lib-a"));
        assert!(is_fingerprint("build/a/0123/fingerprint/lib-a"));
        assert!(!is_fingerprint("debug/deps/libfingerprints.rlib"));
    }
}
