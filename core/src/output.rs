//! `--json` output of every command: a wire format. Fields are added, never renamed or
//! removed; `version` changes only if that promise has to be broken.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::key::{ExplainLine, Key};
use crate::layout::Category;
use crate::plan::CategoryStats;

/// The `version` field of every document.
pub const OUTPUT_VERSION: u32 = 1;

/// `--json` output of `key`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct KeyOutput {
    /// [`OUTPUT_VERSION`].
    pub version: u32,
    /// Key and ladder of the target dir layer.
    pub target: Key,
    /// Key and ladder of the registry layer.
    pub registry: Key,
    /// Every input of the keys, with `--explain`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub explain: Vec<ExplainLine>,
}

/// What a restore found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HitKind {
    /// A snapshot at the exact key.
    Exact,
    /// A snapshot at a wider rung of the ladder.
    Fallback,
    /// No snapshot.
    Miss,
}

/// `--json` output of `restore`, one per layer.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RestoreOutput {
    /// [`OUTPUT_VERSION`].
    pub version: u32,
    /// `target` or `registry`.
    pub layer: String,
    /// The exact key looked up.
    pub key: String,
    /// What the lookup found.
    pub hit: HitKind,
    /// Key of the snapshot restored, when not a miss.
    pub restored_key: Option<String>,
    /// Packs of the restored snapshot.
    pub packs: u64,
    /// Packs that could not be restored (a warning names each).
    pub packs_failed: u64,
    /// Files written.
    pub files: u64,
    /// Bytes downloaded (compressed).
    pub bytes_downloaded: u64,
    /// Bytes written (file content).
    pub bytes_written: u64,
    /// Wall time of the layer's restore.
    pub seconds: f64,
    /// Cache problems met, as printed.
    pub warnings: Vec<String>,
    /// Content-gated mtime restore of the checkout; absent when not attempted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtime: Option<MtimeOutput>,
    /// How far every restored time was moved back because the saving machine's clock
    /// ran ahead of this one's (milliseconds); absent when it did not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock_shift_ms: Option<u64>,
    /// The registry layer, when restored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<Box<RestoreOutput>>,
    /// Requests to the store by the whole command (both layers); absent in `registry`
    /// and when no store was opened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<RequestCounts>,
    /// Units left out because their artifacts embed a path that moved since the save:
    /// Cargo rebuilds them (and, by its own cascade, their dependents).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub path_bound: Vec<PathBoundUnit>,
}

impl RestoreOutput {
    /// The output of a restore of `layer` at `key` before it found anything: a miss
    /// with nothing counted. Each layer's output starts here, so the registry's never
    /// carries the target's values.
    pub fn miss(layer: &str, key: &str) -> RestoreOutput {
        RestoreOutput {
            version: OUTPUT_VERSION,
            layer: layer.to_string(),
            key: key.to_string(),
            hit: HitKind::Miss,
            restored_key: None,
            packs: 0,
            packs_failed: 0,
            files: 0,
            bytes_downloaded: 0,
            bytes_written: 0,
            seconds: 0.0,
            warnings: Vec::new(),
            mtime: None,
            clock_shift_ms: None,
            registry: None,
            path_bound: Vec::new(),
            requests: None,
        }
    }
}

/// A unit a restore left out because its artifacts embed a path that moved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathBoundUnit {
    /// `<profile dir>/<hash>`.
    pub unit: String,
    /// The unit's crate name.
    pub name: String,
    /// The evidence the save's scan found.
    pub why: String,
}

/// What a restore did to the checkout's mtimes.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct MtimeOutput {
    /// Tracked entries whose saved mtime was given back (content proven equal).
    pub restored: u64,
    /// Changed or new entries stamped with the restore time.
    pub touched: u64,
    /// Why nothing was touched, when nothing was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    /// The git metadata build scripts watch (`.git/index`, `HEAD`, refs); absent when the
    /// snapshot recorded none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git: Option<GitMtimeOutput>,
}

/// What a restore did to the mtimes of the git metadata build scripts watch.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct GitMtimeOutput {
    /// Git files whose saved mtime was given back (same repository state and meaning).
    pub restored: u64,
    /// Git files stamped with the restore time.
    pub touched: u64,
    /// Why no git file got its mtime back, when the repository state decided it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Requests a command made to its store, by kind (see docs/cli.md).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestCounts {
    /// Downloads (whole objects or ranges).
    pub get: u64,
    /// Existence and age checks.
    pub head: u64,
    /// Uploads; a multipart upload counts its start, each part and its completion.
    pub put: u64,
    /// Listing pages of up to 1,000 objects.
    pub list: u64,
    /// Deletions.
    pub delete: u64,
}

impl RequestCounts {
    /// Requests of every kind.
    pub fn total(&self) -> u64 {
        self.get + self.head + self.put + self.list + self.delete
    }
}

impl std::fmt::Display for RequestCounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} requests: {} GET, {} HEAD, {} PUT, {} LIST, {} DELETE",
            self.total(),
            self.get,
            self.head,
            self.put,
            self.list,
            self.delete
        )
    }
}

/// `--json` output of `save`, one per layer.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SaveOutput {
    /// [`OUTPUT_VERSION`].
    pub version: u32,
    /// `target` or `registry`.
    pub layer: String,
    /// The key saved at.
    pub key: String,
    /// What the save did at the key.
    pub outcome: SaveOutcome,
    /// When `saved` replaced a stored snapshot at the same key: why (see
    /// `supersede::Why`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaced: Option<String>,
    /// Packs of the snapshot.
    pub packs: u64,
    /// Packs the store did not have, uploaded.
    pub packs_uploaded: u64,
    /// Of the packs uploaded, those stored as patches against a pack of the restored
    /// snapshot.
    #[serde(default)]
    pub packs_patched: u64,
    /// Compressed bytes uploaded.
    pub bytes_uploaded: u64,
    /// Compressed bytes of packs the store already had.
    pub bytes_skipped: u64,
    /// Content bytes of the snapshot.
    pub bytes_total: u64,
    /// Wall time of the layer's save.
    pub seconds: f64,
    /// Cache problems met, as printed.
    pub warnings: Vec<String>,
    /// Units left out because this job's builds did not use them.
    #[serde(default)]
    pub units_unused: u64,
    /// Why unused units were kept, when usage could not be told.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage_note: Option<String>,
    /// The registry layer (CARGO_HOME's crates, index, git databases), when saved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<Box<SaveOutput>>,
    /// Requests to the store by the whole command (both layers); absent in `registry`
    /// and when no store was opened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<RequestCounts>,
}

/// What a save did at its key.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SaveOutcome {
    /// A snapshot was published (created, or replacing one found wanting).
    Saved,
    /// The store already holds an as-good snapshot at the key: nothing published.
    AlreadySaved,
    /// The restore was an exact hit that covers every unit built: nothing to add.
    SkippedExactHit,
    /// The target dir holds no built unit: nothing published.
    NothingToSave,
    /// A cache problem stopped the save (it warned and exited 0).
    #[default]
    Failed,
}

impl SaveOutcome {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            SaveOutcome::Saved => "saved",
            SaveOutcome::AlreadySaved => "already-saved",
            SaveOutcome::SkippedExactHit => "skipped-exact-hit",
            SaveOutcome::NothingToSave => "nothing-to-save",
            SaveOutcome::Failed => "failed",
        }
    }
}

impl SaveOutput {
    /// The output of a save of `layer` at `key` before it did anything.
    pub fn start(layer: &str, key: &str) -> SaveOutput {
        SaveOutput {
            version: OUTPUT_VERSION,
            layer: layer.to_string(),
            key: key.to_string(),
            outcome: SaveOutcome::Failed,
            replaced: None,
            packs: 0,
            packs_uploaded: 0,
            packs_patched: 0,
            bytes_uploaded: 0,
            bytes_skipped: 0,
            bytes_total: 0,
            seconds: 0.0,
            warnings: Vec::new(),
            units_unused: 0,
            usage_note: None,
            registry: None,
            requests: None,
        }
    }
}

/// `--json` output of `clean`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CleanOutput {
    /// [`OUTPUT_VERSION`].
    pub version: u32,
    /// `--dry-run`: counted, nothing removed.
    pub dry_run: bool,
    /// Root name -> the absolute path it stands for.
    pub roots: BTreeMap<String, String>,
    /// What the plan found, by category.
    pub categories: BTreeMap<Category, CategoryStats>,
    /// Paths removed (or that would be).
    pub removed_paths: u64,
    /// Bytes removed (or that would be).
    pub bytes_removed: u64,
}

/// `cargo stash stats`: what the build after a restore made of it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StatsOutput {
    /// [`OUTPUT_VERSION`].
    pub version: u32,
    /// What the restore found.
    pub hit: HitKind,
    /// Key of the snapshot restored, when not a miss.
    pub restored_key: Option<String>,
    /// Units by what the build made of them.
    pub units: UnitCounts,
    /// Units the build compiled: rebuilt restored units and new ones, with the cause.
    pub built: Vec<BuiltUnit>,
    /// How many built units each cause accounts for.
    pub reasons: BTreeMap<crate::stats::Reason, u64>,
    /// Content bytes of the restored units Cargo reused.
    pub bytes_fresh: u64,
    /// One line per cause: what it means and what to change.
    pub advice: Vec<String>,
}

/// Unit counts of `stats`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct UnitCounts {
    /// Units the restore wrote.
    pub restored: u64,
    /// Restored and reused as they were.
    pub fresh: u64,
    /// Restored, then compiled again.
    pub rebuilt: u64,
    /// Not in the snapshot, compiled by this job.
    pub new: u64,
    /// Restored and not used by this job (left out of the next save).
    pub unused: u64,
    /// Left out by the restore because they embed a path that moved, then built.
    #[serde(default)]
    pub path_bound: u64,
}

/// A unit the build compiled, and why.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BuiltUnit {
    /// `<profile dir>/<hash>`.
    pub unit: String,
    /// The unit's crate name.
    pub name: String,
    /// Whether it was restored, new or left out.
    pub status: BuiltStatus,
    /// What made Cargo compile it.
    pub reason: crate::stats::Reason,
}

/// How `stats` counts a unit the build compiled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BuiltStatus {
    /// Restored, then compiled again.
    Rebuilt,
    /// Not in the snapshot.
    New,
    /// Left out by the restore because it embeds a path that moved.
    PathBound,
}

impl BuiltStatus {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            BuiltStatus::Rebuilt => "rebuilt",
            BuiltStatus::New => "new",
            BuiltStatus::PathBound => "path-bound",
        }
    }
}

/// `--json` output of `ls`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LsOutput {
    /// [`OUTPUT_VERSION`].
    pub version: u32,
    /// The snapshots found.
    pub snapshots: Vec<ListedSnapshot>,
}

/// One snapshot of `ls`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ListedSnapshot {
    /// `target` or `registry`.
    pub layer: String,
    /// The snapshot's key.
    pub key: String,
    /// Compressed bytes of the snapshot's packs (shared packs counted in each snapshot).
    pub stored_bytes: u64,
    /// Content bytes the snapshot restores.
    pub bytes: u64,
    /// Packs the snapshot references.
    pub packs: u64,
    /// Size of the manifest object, bytes.
    pub manifest_bytes: u64,
    /// RFC 3339 time the snapshot was published.
    pub saved: String,
    /// Seconds since it was published.
    pub age_seconds: i64,
    /// Why the manifest could not be read, if it could not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `--json` output of a command that failed (exit 1, 2 or 4, or 3 with `--strict`):
/// printed on stdout so a caller parsing it always gets a document. Fields are only
/// ever added.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorOutput {
    /// [`OUTPUT_VERSION`].
    pub version: u32,
    /// The exit code.
    pub exit_code: u8,
    /// What failed, then each cause, as the human message prints them.
    pub error: String,
    /// The causes of `error`, outermost first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub causes: Vec<String>,
    /// What to change, when the error knows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

/// `--json` output of `gc`. Fields are only ever added.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GcOutput {
    /// [`OUTPUT_VERSION`].
    pub version: u32,
    /// `--dry-run`: counted, nothing deleted.
    pub dry_run: bool,
    /// Snapshots deleted (or, with `--dry-run`, that would be).
    pub snapshots_deleted: Vec<DeletedSnapshot>,
    /// Snapshots kept.
    pub snapshots_kept: u64,
    /// Packs deleted (or that would be): unreferenced and older than the grace period.
    pub packs_deleted: u64,
    /// Stored bytes of the objects deleted (or that would be).
    pub bytes_freed: u64,
    /// Unreferenced packs younger than the grace period: maybe a save in flight.
    pub packs_in_grace: u64,
    /// Packs a kept snapshot references.
    pub packs_kept: u64,
    /// Half-written objects a killed save left in a local store (`<name>#<n>`, which
    /// listings never show), deleted once older than the grace period.
    pub staging_deleted: u64,
    /// Wall time of the command.
    pub seconds: f64,
    /// Cache problems met, as printed.
    pub warnings: Vec<String>,
    /// Requests to the store by kind (see docs/cli.md).
    pub requests: RequestCounts,
}

/// A snapshot `gc` deleted (or would).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DeletedSnapshot {
    /// `target` or `registry`.
    pub layer: String,
    /// The snapshot's key.
    pub key: String,
    /// Seconds since it was published.
    pub age_seconds: i64,
    /// The retention rule that dropped it.
    pub reason: crate::retention::DeleteReason,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The wire values docs/cli.md promises, and `as_str` agrees with serde.
    #[test]
    fn wire_values_are_the_documented_ones() {
        use SaveOutcome::*;
        let outcomes = [Saved, AlreadySaved, SkippedExactHit, NothingToSave, Failed];
        let names: Vec<_> = outcomes.iter().map(|o| o.as_str()).collect();
        assert_eq!(
            names,
            [
                "saved",
                "already-saved",
                "skipped-exact-hit",
                "nothing-to-save",
                "failed"
            ]
        );
        for o in outcomes {
            assert_eq!(serde_json::to_value(o).unwrap(), o.as_str());
        }
        use BuiltStatus::*;
        for (s, name) in [
            (Rebuilt, "rebuilt"),
            (New, "new"),
            (PathBound, "path-bound"),
        ] {
            assert_eq!(serde_json::to_value(s).unwrap(), name);
            assert_eq!(s.as_str(), name);
        }
    }

    /// Issue 15: the registry's output was a clone of the target's with fields reset.
    #[test]
    fn a_fresh_restore_output_carries_nothing() {
        let out = serde_json::to_value(RestoreOutput::miss("registry", "k")).unwrap();
        assert_eq!(
            out,
            serde_json::json!({"version": OUTPUT_VERSION, "layer": "registry", "key": "k",
                "hit": "miss", "restored_key": null, "packs": 0, "packs_failed": 0,
                "files": 0, "bytes_downloaded": 0, "bytes_written": 0, "seconds": 0.0,
                "warnings": []})
        );
    }
}
