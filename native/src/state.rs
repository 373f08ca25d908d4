//! State handed from `restore` to `save` in the same job, kept inside the target dir
//! (never packed): the key computed at restore and what was hit, so save neither
//! recomputes the key nor re-saves an exact hit.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use stash_core::output::HitKind;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct State {
    pub key: String,
    pub hit: HitKind,
    pub restored_key: Option<String>,
    /// Unix seconds when the restore finished.
    pub restored_at: u64,
    /// Whether fingerprint atimes can tell used units from unused ones here.
    #[serde(default)]
    pub atime_works: bool,
    /// When the restore started, `[seconds, nanoseconds]`: fingerprints written later
    /// belong to units this job rebuilt.
    #[serde(default)]
    pub started: (i64, u32),
    /// Objects (`<id>` or `<id>.<base>`) of the restored snapshot that failed to
    /// download or verify: the save replaces them and the snapshot naming them.
    #[serde(default)]
    pub failed: Vec<String>,
    /// Set by `save`: the record stays for `stats`, but a later save (the next job on a
    /// runner that keeps the target dir) must not take it for a restore of its own job.
    #[serde(default)]
    pub saved: bool,
    /// Objects the restore downloaded, by name (`<id>` or `<id>.<base>`): what the store
    /// said of them. The save counts them as present without asking again.
    #[serde(default)]
    pub seen: BTreeMap<String, Seen>,
}

/// A stored object as a download or a HEAD reported it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen {
    /// Unix seconds when the object was written.
    pub modified: i64,
    pub size: u64,
}

const FILE: &str = "state.json";

impl State {
    pub fn load(dir: &Path) -> Option<State> {
        let text = std::fs::read(dir.join(FILE)).ok()?;
        serde_json::from_slice(&text).ok()
    }

    pub fn store(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let tmp = dir.join(format!("{FILE}.tmp"));
        std::fs::write(&tmp, serde_json::to_vec_pretty(self)?)
            .with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, dir.join(FILE)).context("saving restore state")
    }
}

pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The fingerprint JSON of every restored unit, so `stats` can say why a unit rebuilt.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct RestoredUnits {
    /// `<root>:<unit id>` -> (package name, fingerprint file name -> its JSON).
    pub units: std::collections::BTreeMap<
        String,
        (
            String,
            std::collections::BTreeMap<String, serde_json::Value>,
        ),
    >,
    /// Units the restore left out as path-bound (their ids are `<profile dir>/<hash>`).
    #[serde(default)]
    pub path_bound: Vec<stash_core::output::PathBoundUnit>,
}

const UNITS_FILE: &str = "restored-units.json";

impl RestoredUnits {
    pub fn load(dir: &Path) -> RestoredUnits {
        std::fs::read(dir.join(UNITS_FILE))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    pub fn store(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir)?;
        std::fs::write(dir.join(UNITS_FILE), serde_json::to_vec(self)?)
            .context("saving restored units")
    }
}
