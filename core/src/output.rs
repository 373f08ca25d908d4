//! `--json` output of every command: a wire format. Fields are added, never renamed or
//! removed; `version` changes only if that promise has to be broken.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::key::{ExplainLine, Key};
use crate::layout::Category;
use crate::plan::CategoryStats;

pub const OUTPUT_VERSION: u32 = 1;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct KeyOutput {
    pub version: u32,
    pub target: Key,
    pub registry: Key,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub explain: Vec<ExplainLine>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HitKind {
    Exact,
    Fallback,
    Miss,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RestoreOutput {
    pub version: u32,
    pub layer: String,
    pub key: String,
    pub hit: HitKind,
    /// Key of the snapshot restored, when not a miss.
    pub restored_key: Option<String>,
    pub packs: u64,
    pub packs_failed: u64,
    pub files: u64,
    /// Bytes downloaded (compressed).
    pub bytes_downloaded: u64,
    /// Bytes written (file content).
    pub bytes_written: u64,
    pub seconds: f64,
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

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathBoundUnit {
    /// `<profile dir>/<hash>`.
    pub unit: String,
    pub name: String,
    /// The evidence the save's scan found.
    pub why: String,
}

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
    pub get: u64,
    pub head: u64,
    pub put: u64,
    pub list: u64,
    pub delete: u64,
}

impl RequestCounts {
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

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SaveOutput {
    pub version: u32,
    pub layer: String,
    pub key: String,
    /// `saved`, `already-saved`, `skipped-exact-hit`, `nothing-to-save`, `failed`.
    pub outcome: String,
    /// When `saved` replaced a stored snapshot at the same key: why (see
    /// `supersede::Why`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaced: Option<String>,
    pub packs: u64,
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
    pub seconds: f64,
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

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CleanOutput {
    pub version: u32,
    pub dry_run: bool,
    pub roots: BTreeMap<String, String>,
    pub categories: BTreeMap<Category, CategoryStats>,
    pub removed_paths: u64,
    pub bytes_removed: u64,
}

/// `cargo stash stats`: what the build after a restore made of it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StatsOutput {
    pub version: u32,
    pub hit: HitKind,
    pub restored_key: Option<String>,
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

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct UnitCounts {
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

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BuiltUnit {
    /// `<profile dir>/<hash>`.
    pub unit: String,
    pub name: String,
    /// `rebuilt`, `new` or `path-bound`.
    pub status: String,
    pub reason: crate::stats::Reason,
}

/// `--json` output of a command that failed (exit 1, 2 or 4, or 3 with `--strict`):
/// printed on stdout so a caller parsing it always gets a document. Fields are only
/// ever added.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorOutput {
    pub version: u32,
    /// The exit code.
    pub exit_code: u8,
    /// What failed, then each cause, as the human message prints them.
    pub error: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub causes: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}
