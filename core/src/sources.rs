//! The source manifest and content-gated mtime restore (DESIGN §5).
//!
//! Cargo decides whether a workspace crate is fresh by comparing source mtimes with its
//! fingerprint, and a fresh `git clone` gives every file a new mtime. Restoring the
//! saved mtime of each file whose content is proven unchanged, and stamping every other
//! file with "now", keeps unchanged crates fresh and never hides a change.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    File,
    Dir,
    Symlink,
}

/// One tracked file or directory of the checkout.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceEntry {
    /// Relative to the checkout root, `/`-separated; `""` is the root itself.
    pub path: String,
    pub kind: SourceKind,
    pub size: u64,
    /// sha256 of the content (file), the link target (symlink), or the sorted names of
    /// tracked children (directory).
    pub hash: String,
    pub mtime_s: i64,
    pub mtime_ns: u32,
}

/// Every tracked entry of a checkout at save time, and where the checkout was.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceManifest {
    /// Absolute path of the checkout root.
    pub root: String,
    pub entries: Vec<SourceEntry>,
}

/// What to do with one entry of the current checkout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "action")]
pub enum MtimeAction {
    /// Content proven equal: give back the saved mtime.
    Restore { mtime_s: i64, mtime_ns: u32 },
    /// Changed or new: stamp with the restore time, newer than any restored artifact.
    Touch,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MtimePlan {
    pub actions: Vec<(String, MtimeAction)>,
    pub restored: u64,
    pub touched: u64,
}

/// Decides the mtime of every current entry. Only an entry with the same kind, size and
/// hash as the saved one gets its saved mtime back; nothing is ever guessed.
pub fn mtime_plan(saved: &SourceManifest, current: &[SourceEntry]) -> MtimePlan {
    let by_path: BTreeMap<&str, &SourceEntry> =
        saved.entries.iter().map(|e| (e.path.as_str(), e)).collect();
    let mut plan = MtimePlan::default();
    for cur in current {
        let action = match by_path.get(cur.path.as_str()) {
            Some(old) if old.kind == cur.kind && old.size == cur.size && old.hash == cur.hash => {
                plan.restored += 1;
                MtimeAction::Restore {
                    mtime_s: old.mtime_s,
                    mtime_ns: old.mtime_ns,
                }
            }
            _ => {
                plan.touched += 1;
                MtimeAction::Touch
            }
        };
        plan.actions.push((cur.path.clone(), action));
    }
    plan
}

/// Directory entries for a list of tracked file paths: every ancestor, with its hash
/// computed from the sorted names of its tracked children.
pub fn directories(files: &[String], digest: impl Fn(&[u8]) -> String) -> Vec<(String, String)> {
    let mut children: BTreeMap<String, std::collections::BTreeSet<String>> = BTreeMap::new();
    children.entry(String::new()).or_default();
    for f in files {
        let mut path = f.as_str();
        while let Some((parent, name)) = path.rsplit_once('/') {
            children
                .entry(parent.to_string())
                .or_default()
                .insert(name.to_string());
            path = parent;
        }
        children
            .entry(String::new())
            .or_default()
            .insert(path.to_string());
    }
    children
        .into_iter()
        .map(|(dir, names)| {
            let joined = names.into_iter().collect::<Vec<_>>().join("\n");
            (dir, digest(joined.as_bytes()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str, hash: &str, t: i64) -> SourceEntry {
        SourceEntry {
            path: path.into(),
            kind: SourceKind::File,
            size: 10,
            hash: hash.into(),
            mtime_s: t,
            mtime_ns: 5,
        }
    }

    #[test]
    fn only_proven_equal_entries_get_their_mtime_back() {
        let saved = SourceManifest {
            root: "/ci/checkout".into(),
            entries: vec![entry("a.rs", "h1", 100), entry("b.rs", "h2", 200)],
        };
        let current = vec![
            entry("a.rs", "h1", 999),
            entry("b.rs", "CHANGED", 1),
            entry("new.rs", "h3", 1),
        ];
        let plan = mtime_plan(&saved, &current);
        assert_eq!(
            plan.actions,
            [
                (
                    "a.rs".to_string(),
                    MtimeAction::Restore {
                        mtime_s: 100,
                        mtime_ns: 5
                    }
                ),
                ("b.rs".to_string(), MtimeAction::Touch),
                ("new.rs".to_string(), MtimeAction::Touch),
            ]
        );
        assert_eq!((plan.restored, plan.touched), (1, 2));
    }

    #[test]
    fn a_size_or_kind_change_is_a_change_even_with_the_same_hash() {
        let saved = SourceManifest {
            root: "/r".into(),
            entries: vec![entry("a", "h", 1)],
        };
        let mut bigger = entry("a", "h", 1);
        bigger.size = 11;
        let mut dir = entry("a", "h", 1);
        dir.kind = SourceKind::Dir;
        assert_eq!(mtime_plan(&saved, &[bigger]).touched, 1);
        assert_eq!(mtime_plan(&saved, &[dir]).touched, 1);
    }

    #[test]
    fn directory_hashes_follow_their_children() {
        let d = |files: &[&str]| {
            directories(
                &files.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
                |b| String::from_utf8_lossy(b).replace('\n', ","),
            )
        };
        let dirs = d(&["Cargo.toml", "app/src/main.rs", "app/Cargo.toml"]);
        assert_eq!(
            dirs,
            [
                ("".to_string(), "Cargo.toml,app".to_string()),
                ("app".to_string(), "Cargo.toml,src".to_string()),
                ("app/src".to_string(), "main.rs".to_string()),
            ]
        );
        let added = d(&[
            "Cargo.toml",
            "app/src/main.rs",
            "app/src/lib.rs",
            "app/Cargo.toml",
        ]);
        assert_ne!(dirs[2], added[2]);
        assert_eq!(dirs[1], added[1]);
    }
}
