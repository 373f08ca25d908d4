//! State handed from `restore` to `save` in the same job, kept inside the target dir
//! (never packed): the key computed at restore and what was hit, so save neither
//! recomputes the key nor re-saves an exact hit.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use serde::de::DeserializeOwned;
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
        load(dir, FILE)
    }

    pub fn store(&self, dir: &Path) -> Result<()> {
        store(dir, FILE, self)
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
    /// Unit (`<root>:<group>` in the file) -> (package name, fingerprint file name ->
    /// its JSON).
    pub units: std::collections::BTreeMap<
        stash_core::UnitId,
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
        load(dir, UNITS_FILE).unwrap_or_default()
    }

    pub fn store(&self, dir: &Path) -> Result<()> {
        store(dir, UNITS_FILE, self)
    }
}

/// Reads a state file of `dir`; `None` when it is missing or unreadable, which every
/// caller takes as "no record": state only ever saves work, never decides freshness.
pub fn load<T: DeserializeOwned>(dir: &Path, name: &str) -> Option<T> {
    let bytes = std::fs::read(dir.join(name)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Writes a state file of `dir` whole or not at all: into a temporary file of the same
/// folder, renamed over the old one. A job killed mid-write, or a reader at the same
/// time, sees the old file or the new one, never a truncated mix. The temporary name is
/// this process's own, so two writers never share one.
pub fn store<T: Serialize>(dir: &Path, name: &str, value: &T) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let write = || -> Result<()> {
        std::fs::write(&tmp, serde_json::to_vec(value)?)?;
        std::fs::rename(&tmp, dir.join(name))?;
        Ok(())
    };
    write()
        .inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })
        .with_context(|| format!("saving {}", dir.join(name).display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(group: &str) -> stash_core::UnitId {
        stash_core::UnitId::new(stash_core::Root::Target, group)
    }

    /// The file is replaced, not rewritten in place: a reader holding the old file (a
    /// hard link stands in for one) still sees it whole, and no temporary file is left.
    #[test]
    fn state_files_are_replaced_whole() {
        let dir = tempfile::tempdir().unwrap();
        let units = |name: &str| RestoredUnits {
            units: [(unit(name), (name.to_string(), Default::default()))].into(),
            path_bound: Vec::new(),
        };
        units("old").store(dir.path()).unwrap();
        let held = dir.path().join("held");
        std::fs::hard_link(dir.path().join(UNITS_FILE), &held).unwrap();
        units("new").store(dir.path()).unwrap();
        let old: RestoredUnits = serde_json::from_slice(&std::fs::read(&held).unwrap()).unwrap();
        assert!(old.units.contains_key(&unit("old")), "rewritten in place");
        assert!(
            RestoredUnits::load(dir.path())
                .units
                .contains_key(&unit("new"))
        );
        let mut names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["held", UNITS_FILE]);
    }

    #[test]
    fn a_damaged_state_file_reads_as_none() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE), b"{\"key\": \"k\", \"hi").unwrap();
        assert!(State::load(dir.path()).is_none());
        assert!(load::<State>(dir.path(), "absent.json").is_none());
    }
}
