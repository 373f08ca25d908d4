//! The source manifest and content-gated mtime restore (docs/format.md, "Source mtimes
//! and clocks").
//!
//! Cargo decides whether a workspace crate is fresh by comparing source mtimes with its
//! fingerprint, and a fresh `git clone` gives every file a new mtime. Restoring the
//! saved mtime of each file whose content is proven unchanged, and stamping every other
//! file with "now", keeps unchanged crates fresh and never hides a change.
//!
//! Git metadata gets the same treatment under a stricter rule ([`git_plan`]). Crates that
//! embed the git version list `.git` files as inputs: git-version's `git_version!` reads
//! `index` and `logs/HEAD`, vergen and shadow-rs build scripts `HEAD`, the branch's ref
//! file and often `refs/heads`, hand-written ones `packed-refs`. A fresh clone rewrites
//! all of them (the index's stat cache differs byte for byte) so these crates always
//! rebuilt. A git file gets its saved mtime back only when the repository is in the same
//! state — same commit, branch, tags, shallow boundary, untracked files, and every tracked
//! entry proven unchanged — and the file's *semantic* digest is equal (for the index the
//! staged entries, not the stat cache; for a reflog its newest entry). Otherwise every git
//! file is stamped "now", so a crate that embeds `git describe --dirty` never stays fresh
//! with a stale string.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
/// What a tracked entry is.
pub enum SourceKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link.
    Symlink,
}

/// One tracked file or directory of the checkout.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceEntry {
    /// Relative to the checkout root, `/`-separated; `""` is the root itself.
    pub path: String,
    /// File, directory or symlink.
    pub kind: SourceKind,
    /// Bytes of a file (0 for the others).
    pub size: u64,
    /// sha256 of the content (file), the link target (symlink), or the sorted names of
    /// tracked children (directory).
    pub hash: String,
    /// Modification time: seconds since the Unix epoch.
    pub mtime_s: i64,
    /// Modification time: nanoseconds within the second.
    pub mtime_ns: u32,
}

/// Every tracked entry of a checkout at save time, and where the checkout was.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceManifest {
    /// Absolute path of the checkout root.
    pub root: String,
    /// Every tracked entry, sorted by path.
    pub entries: Vec<SourceEntry>,
    /// The git metadata build scripts watch; absent without git (and in manifests written
    /// before it existed, which restore as before: git files untouched).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git: Option<GitMeta>,
}

/// The repository's state and the metadata files crates list as build inputs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitMeta {
    /// HEAD, branch, tags, shallow and untracked state.
    pub state: GitState,
    /// Sorted by path.
    pub files: Vec<GitFile>,
}

/// What a version string computed from git can depend on beyond the tracked files. Every
/// field must be equal for any git file to get its saved mtime back.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitState {
    /// The commit HEAD resolves to (`git rev-parse HEAD`); empty in a repo without commits.
    pub head: String,
    /// The branch HEAD points to (`refs/heads/main`); `None` when detached, as CI
    /// checkouts of a commit often are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// sha256 of every tag and its target: `git describe` output follows tags.
    pub tags: String,
    /// sha256 of the shallow boundary (commit counts and describe follow it); `""` when
    /// the clone is complete.
    pub shallow: String,
    /// sha256 of the untracked, not ignored paths (build output dirs excluded): some
    /// crates count them as dirty.
    pub untracked: String,
}

/// One file or directory under the git dir, named as `git rev-parse --git-path` takes it
/// (`HEAD`, `index`, `logs/HEAD`, `refs/heads/main`), so worktrees and submodules, whose
/// `.git` is a file, resolve it to their own git dir or the common dir.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitFile {
    /// The `--git-path` name (`HEAD`, `index`, `refs/heads/main`).
    pub path: String,
    /// File or directory (`refs/` and the dirs under it).
    pub kind: SourceKind,
    /// What the file means, not its bytes: `index` the sha256 of `git ls-files -s -v -z`;
    /// a reflog (`logs/...`) its newest entry's new commit; `packed-refs` its sorted ref
    /// lines; a directory the sorted names of its children; any other file its content.
    pub digest: String,
    /// Modification time: seconds since the Unix epoch.
    pub mtime_s: i64,
    /// Modification time: nanoseconds within the second.
    pub mtime_ns: u32,
}

/// What to do with one entry of the current checkout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "action")]
pub enum MtimeAction {
    /// Content proven equal: give back the saved mtime.
    Restore {
        /// Saved mtime: seconds since the Unix epoch.
        mtime_s: i64,
        /// Saved mtime: nanoseconds within the second.
        mtime_ns: u32,
    },
    /// Changed or new: stamp with the restore time, which [`skew_shift`] makes newer
    /// than any restored artifact.
    Touch,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
/// The mtimes a restore gives the checkout's tracked entries.
pub struct MtimePlan {
    /// Paths relative to the checkout root and their action.
    pub actions: Vec<(String, MtimeAction)>,
    /// Entries given their saved mtime.
    pub restored: u64,
    /// Entries stamped with the restore time.
    pub touched: u64,
}

/// Decides the mtime of every current entry. Only an entry with the same kind, size and
/// hash as the saved one gets its saved mtime back; nothing is ever guessed.
pub fn mtime_plan(saved: &SourceManifest, current: &[SourceEntry]) -> MtimePlan {
    let by_path: BTreeMap<&str, &SourceEntry> =
        saved.entries.iter().map(|e| (e.path.as_str(), e)).collect();
    let mut plan = MtimePlan::default();
    for cur in current {
        let same = by_path
            .get(cur.path.as_str())
            .filter(|old| old.kind == cur.kind && old.size == cur.size && old.hash == cur.hash)
            .map(|old| (old.mtime_s, old.mtime_ns));
        let action = decide(same, &mut plan.restored, &mut plan.touched);
        plan.actions.push((cur.path.clone(), action));
    }
    plan
}

/// The saved mtime of an entry proven equal, else "now"; counted either way.
fn decide(same: Option<(i64, u32)>, restored: &mut u64, touched: &mut u64) -> MtimeAction {
    match same {
        Some((mtime_s, mtime_ns)) => {
            *restored += 1;
            MtimeAction::Restore { mtime_s, mtime_ns }
        }
        None => {
            *touched += 1;
            MtimeAction::Touch
        }
    }
}

/// A point in time as a file records it: seconds and nanoseconds since the epoch.
pub type Stamp = (i64, u32);

/// How far below "now" the newest restored instant is put when the saving machine's
/// clock ran ahead: one second, the coarsest mtime common filesystems keep.
const SKEW_MARGIN_NS: i128 = 1_000_000_000;

/// How many nanoseconds to move every restored time (artifacts and restored source
/// mtimes alike) back, given the newest of them and the restoring machine's `now`;
/// `None` when the newest is already in the past.
///
/// Why a shift, and of everything restored. Cargo calls a unit stale when an input listed
/// in its dep-info is newer than the unit's dep-info file, or a dependency's output is
/// newer than the unit's own outputs. Changed or new files are stamped `now`, so `now`
/// must be later than every restored artifact, whatever the saving machine's clock said.
/// Clamping each artifact to `now` would collapse their order (a dependency rebuilt
/// later would no longer look newer) and leave restored sources ahead of their
/// artifacts; stamping changed files at "newest artifact + 1" instead would keep them in
/// the future, so every later build rebuilds them again until the clock catches up. A
/// uniform shift keeps every comparison among saved times as the saving machine made it,
/// and puts all of them before `now`.
pub fn skew_shift(newest: Stamp, now: Stamp) -> Option<i128> {
    let back = nanos(newest) - nanos(now) + SKEW_MARGIN_NS;
    (nanos(newest) >= nanos(now)).then_some(back)
}

/// The shift a restore applies before unpacking (nanoseconds, 0 for none), given the
/// snapshot's `created` (Unix seconds) and when the restore started. Everything the
/// saving machine dated is at most a second past its `created`: when that is in our
/// future its clock ran ahead, and packs land already shifted back, so even a restore
/// cut short (the deadline, a kill) leaves no artifact newer than the checkout's files.
/// Only a `created` already past our current second counts: one within it is the
/// ordinary case of a save just before (a test, a quick pipeline), and a shift then
/// would only date artifacts before inputs a restore does not put back (a path
/// dependency outside the checkout), rebuilding them; the shift after unpacking
/// ([`skew_shift`] of what was restored) covers the rest.
pub fn upfront_shift(created_s: u64, started: Stamp) -> i128 {
    let created = i64::try_from(created_s).unwrap_or(i64::MAX);
    if created > started.0 {
        skew_shift((created.saturating_add(1), 0), started).unwrap_or(0)
    } else {
        0
    }
}

/// `t` moved `back` nanoseconds into the past.
pub fn shifted(t: Stamp, back: i128) -> Stamp {
    let n = nanos(t) - back;
    (
        n.div_euclid(1_000_000_000) as i64,
        n.rem_euclid(1_000_000_000) as u32,
    )
}

fn nanos((s, ns): Stamp) -> i128 {
    i128::from(s) * 1_000_000_000 + i128::from(ns)
}

impl MtimeAction {
    /// The saved time this action gives back, if any.
    pub fn saved(&self) -> Option<Stamp> {
        match *self {
            MtimeAction::Restore { mtime_s, mtime_ns } => Some((mtime_s, mtime_ns)),
            MtimeAction::Touch => None,
        }
    }

    /// The same action with a restored time moved `back` (see [`skew_shift`]).
    pub fn shifted(self, back: i128) -> MtimeAction {
        match self.saved() {
            Some(t) => {
                let (mtime_s, mtime_ns) = shifted(t, back);
                MtimeAction::Restore { mtime_s, mtime_ns }
            }
            None => self,
        }
    }
}

/// What to do with each git metadata file, and why when the state differs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
/// The mtimes a restore gives the git metadata files.
pub struct GitPlan {
    /// Git paths (see [`GitFile::path`]) and their action.
    pub actions: Vec<(String, MtimeAction)>,
    /// Files given their saved mtime.
    pub restored: u64,
    /// Files stamped with the restore time.
    pub touched: u64,
    /// Why no git file got its saved mtime back, when none did for a reason other than
    /// its own content.
    pub reason: Option<String>,
}

/// Decides the mtime of every current git metadata file.
///
/// `sources` is the plan of the tracked files and `saved_entries` how many the save
/// recorded: only when every one of them is restored (nothing changed, nothing missing,
/// nothing new) and the [`GitState`] is equal does a file with an equal digest get its
/// saved mtime back. Otherwise every current git file is stamped "now": a clone made
/// before the saved artifacts were built would otherwise look older than them.
/// Without a saved record (an older manifest) or without git, nothing is touched.
pub fn git_plan(
    saved: Option<&GitMeta>,
    current: Option<&GitMeta>,
    sources: &MtimePlan,
    saved_entries: usize,
) -> GitPlan {
    let mut plan = GitPlan::default();
    let (saved, current) = match (saved, current) {
        (Some(s), Some(c)) => (s, c),
        (None, _) => {
            plan.reason = Some("the snapshot holds no git metadata".into());
            return plan;
        }
        (Some(_), None) => {
            plan.reason = Some("no git repository here".into());
            return plan;
        }
    };
    let reason = if sources.touched > 0 || sources.restored as usize != saved_entries {
        Some(format!(
            "the work tree differs from the saved one ({} tracked entries changed, new or missing)",
            sources.touched + (saved_entries as u64).abs_diff(sources.restored)
        ))
    } else {
        state_difference(&saved.state, &current.state)
    };
    let by_path: BTreeMap<&str, &GitFile> =
        saved.files.iter().map(|f| (f.path.as_str(), f)).collect();
    for cur in &current.files {
        let same = by_path
            .get(cur.path.as_str())
            .filter(|old| reason.is_none() && old.kind == cur.kind && old.digest == cur.digest)
            .map(|old| (old.mtime_s, old.mtime_ns));
        let action = decide(same, &mut plan.restored, &mut plan.touched);
        plan.actions.push((cur.path.clone(), action));
    }
    plan.reason = reason;
    plan
}

/// The first difference between two repository states, said for a human.
fn state_difference(saved: &GitState, current: &GitState) -> Option<String> {
    let short = |s: &str| s.chars().take(12).collect::<String>();
    let branch = |b: &Option<String>| b.clone().unwrap_or_else(|| "a detached HEAD".into());
    if saved.head != current.head {
        Some(format!(
            "HEAD is at {} but was at {} when saved",
            short(&current.head),
            short(&saved.head)
        ))
    } else if saved.branch != current.branch {
        Some(format!(
            "HEAD is on {} but was on {} when saved",
            branch(&current.branch),
            branch(&saved.branch)
        ))
    } else if saved.tags != current.tags {
        Some("the tags differ from the saved ones".into())
    } else if saved.shallow != current.shallow {
        Some("the clone's depth (shallow boundary) differs from the saved one".into())
    } else if saved.untracked != current.untracked {
        Some("the untracked files differ from the saved ones".into())
    } else {
        None
    }
}

/// The newest entry's new commit of a reflog: what a reflog says about the build, where
/// its bytes also hold clone times and user names.
pub fn reflog_head(text: &str) -> &str {
    text.lines()
        .rev()
        .find_map(|l| l.split_whitespace().nth(1))
        .unwrap_or("")
}

/// The ref lines of a `packed-refs` file, sorted, without its `#` header (which varies
/// with the git version).
pub fn packed_refs_lines(text: &str) -> String {
    let mut lines: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .collect();
    lines.sort_unstable();
    lines.join("\n")
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
mod upfront_tests {
    use super::*;

    #[test]
    fn only_a_created_past_our_current_second_shifts_upfront() {
        assert_eq!(upfront_shift(100, (100, 999_999_999)), 0);
        assert_eq!(upfront_shift(99, (100, 0)), 0);
        // Created at 105 means dated up to 106; shifted to before now, with the margin.
        assert_eq!(upfront_shift(105, (100, 0)), 6_000_000_000 + SKEW_MARGIN_NS);
        assert!(upfront_shift(u64::MAX, (100, 0)) > 0);
    }
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
    fn a_saving_clock_ahead_moves_the_restored_timeline_before_now() {
        let now = (1_000, 500);
        // An hour ahead: the newest restored time lands one second before now.
        let back = skew_shift((4_600, 700), now).unwrap();
        assert_eq!(shifted((4_600, 700), back), (999, 500));
        // Every other restored time moves by the same amount: their order is kept.
        assert_eq!(shifted((4_599, 900), back), (998, 700));
        // Exactly now is not in the past: a file stamped now would tie with it.
        assert_eq!(skew_shift(now, now), Some(1_000_000_000));
    }

    #[test]
    fn a_saving_clock_behind_or_equal_leaves_restored_times_alone() {
        assert_eq!(skew_shift((1_000, 499), (1_000, 500)), None);
        assert_eq!(skew_shift((-3_600, 0), (1_000, 0)), None);
        let restore = MtimeAction::Restore {
            mtime_s: 5,
            mtime_ns: 0,
        };
        assert_eq!(
            restore.shifted(1),
            MtimeAction::Restore {
                mtime_s: 4,
                mtime_ns: 999_999_999
            }
        );
        assert_eq!(MtimeAction::Touch.shifted(1), MtimeAction::Touch);
    }

    #[test]
    fn only_proven_equal_entries_get_their_mtime_back() {
        let saved = SourceManifest {
            root: "/ci/checkout".into(),
            entries: vec![entry("a.rs", "h1", 100), entry("b.rs", "h2", 200)],
            git: None,
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
            git: None,
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

    fn git_file(path: &str, digest: &str, t: i64) -> GitFile {
        GitFile {
            path: path.into(),
            kind: SourceKind::File,
            digest: digest.into(),
            mtime_s: t,
            mtime_ns: 7,
        }
    }

    fn git_meta(t: i64, index: &str) -> GitMeta {
        GitMeta {
            state: GitState {
                head: "c0ffee".repeat(6),
                branch: Some("refs/heads/main".into()),
                tags: "t".into(),
                shallow: String::new(),
                untracked: "u".into(),
            },
            files: vec![
                git_file("HEAD", "ref: refs/heads/main", t),
                git_file("index", index, t + 1),
                git_file("logs/HEAD", "c0ffee", t + 2),
            ],
        }
    }

    /// The plan of a work tree whose `n` tracked entries all proved unchanged.
    fn unchanged(n: u64) -> MtimePlan {
        MtimePlan {
            actions: Vec::new(),
            restored: n,
            touched: 0,
        }
    }

    fn restored_paths(plan: &GitPlan) -> Vec<&str> {
        plan.actions
            .iter()
            .filter(|(_, a)| matches!(a, MtimeAction::Restore { .. }))
            .map(|(p, _)| p.as_str())
            .collect()
    }

    #[test]
    fn git_files_get_their_mtime_back_when_the_state_and_their_meaning_are_equal() {
        let saved = git_meta(100, "entries");
        // A fresh clone: same meaning, newer files.
        let current = git_meta(900, "entries");
        let plan = git_plan(Some(&saved), Some(&current), &unchanged(5), 5);
        assert_eq!(plan.reason, None);
        assert_eq!((plan.restored, plan.touched), (3, 0));
        assert_eq!(
            plan.actions[1],
            (
                "index".to_string(),
                MtimeAction::Restore {
                    mtime_s: 101,
                    mtime_ns: 7
                }
            )
        );
    }

    #[test]
    fn a_file_whose_meaning_differs_is_stamped_now_and_the_others_restored() {
        let saved = git_meta(100, "entries");
        let mut current = git_meta(900, "other staged entries");
        current.files.push(git_file("packed-refs", "new", 900));
        let plan = git_plan(Some(&saved), Some(&current), &unchanged(5), 5);
        assert_eq!(restored_paths(&plan), ["HEAD", "logs/HEAD"]);
        assert_eq!(plan.touched, 2);
        assert_eq!(plan.reason, None);
    }

    #[test]
    fn any_change_of_the_repository_state_stamps_every_git_file_now() {
        let saved = git_meta(100, "entries");
        type Change = fn(&mut GitState);
        let changes: [(&str, Change); 6] = [
            ("HEAD is at", |s| s.head = "beef".repeat(10)),
            ("detached HEAD", |s| s.branch = None),
            ("tags", |s| s.tags = "v2".into()),
            ("shallow", |s| s.shallow = "depth 1".into()),
            ("untracked", |s| s.untracked = "scratch.txt".into()),
            ("on refs/heads/dev", |s| {
                s.branch = Some("refs/heads/dev".into())
            }),
        ];
        for (why, change) in changes {
            let mut current = git_meta(900, "entries");
            change(&mut current.state);
            let plan = git_plan(Some(&saved), Some(&current), &unchanged(5), 5);
            assert_eq!((plan.restored, plan.touched), (0, 3), "{why}");
            let reason = plan.reason.unwrap();
            assert!(reason.contains(why), "{why}: {reason}");
        }
    }

    #[test]
    fn a_changed_new_or_missing_tracked_entry_keeps_dirty_stamps_honest() {
        let saved = git_meta(100, "entries");
        let current = git_meta(900, "entries");
        let changed = MtimePlan {
            actions: Vec::new(),
            restored: 4,
            touched: 1,
        };
        for (sources, recorded) in [(changed, 5), (unchanged(4), 5), (unchanged(5), 4)] {
            let plan = git_plan(Some(&saved), Some(&current), &sources, recorded);
            assert_eq!((plan.restored, plan.touched), (0, 3));
            assert!(plan.reason.unwrap().contains("work tree differs"));
        }
    }

    #[test]
    fn without_a_saved_record_or_without_git_nothing_is_touched() {
        let meta = git_meta(1, "entries");
        for (saved, current) in [(None, Some(&meta)), (Some(&meta), None), (None, None)] {
            let plan = git_plan(saved, current, &unchanged(5), 5);
            assert!(plan.actions.is_empty());
            assert!(plan.reason.is_some());
        }
    }

    #[test]
    fn a_manifest_without_git_metadata_still_reads() {
        let old = r#"{"root":"/r","entries":[{"path":"a","kind":"file","size":1,
            "hash":"h","mtime_s":1,"mtime_ns":2}]}"#;
        let m: SourceManifest = serde_json::from_str(old).unwrap();
        assert_eq!(m.git, None);
        assert!(
            !String::from_utf8(serde_json::to_vec(&m).unwrap())
                .unwrap()
                .contains("git")
        );
    }

    #[test]
    fn reflogs_and_packed_refs_are_read_for_their_meaning() {
        let clone_a = "0000000000000000000000000000000000000000 1111111111111111111111111111111111111111 A <a@x> 1700000000 +0000\tclone: from /tmp/a\n";
        let clone_b = "0000000000000000000000000000000000000000 1111111111111111111111111111111111111111 B <b@y> 1800000000 +0100\tclone: from /srv/b\n";
        assert_eq!(reflog_head(clone_a), reflog_head(clone_b));
        assert_eq!(reflog_head(clone_a), "1".repeat(40));
        let moved = format!(
            "{clone_a}1111111111111111111111111111111111111111 2222222222222222222222222222222222222222 A <a@x> 1700000001 +0000\tcommit: x\n"
        );
        assert_eq!(reflog_head(&moved), "2".repeat(40));
        assert_eq!(reflog_head(""), "");

        let old_git = "# pack-refs with: peeled fully-peeled \nbbb refs/tags/v1\naaa refs/remotes/origin/main\n";
        let new_git = "# pack-refs with: peeled fully-peeled sorted \naaa refs/remotes/origin/main\nbbb refs/tags/v1\n";
        assert_eq!(packed_refs_lines(old_git), packed_refs_lines(new_git));
        assert_ne!(
            packed_refs_lines(new_git),
            packed_refs_lines("aaa refs/remotes/origin/main\n")
        );
    }
}
