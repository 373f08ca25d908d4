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
    /// The registry layer, when restored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<Box<RestoreOutput>>,
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
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SaveOutput {
    pub version: u32,
    pub layer: String,
    pub key: String,
    /// `saved`, `already-saved`, `skipped-exact-hit`.
    pub outcome: String,
    pub packs: u64,
    pub packs_uploaded: u64,
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
