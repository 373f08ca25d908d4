//! Which restored units did this job use? The rule is stash-core's (`usage`); this
//! probes that atimes work and stats fingerprints. Only stats are taken here: reading a
//! fingerprint would mark it used.

use std::collections::BTreeSet;
use std::path::Path;

use filetime::FileTime;
use stash_core::Group;

/// The core's sentinel as a file time.
pub const SENTINEL_ATIME: FileTime =
    FileTime::from_unix_time(stash_core::usage::SENTINEL_ATIME_S, 0);

/// Whether this filesystem updates atime on read (not `noatime`), tried in `dir`.
pub fn atime_works(dir: &Path) -> bool {
    let probe = dir.join("atime-probe");
    let ok = (|| -> std::io::Result<bool> {
        std::fs::create_dir_all(dir)?;
        std::fs::write(&probe, b"probe")?;
        filetime::set_file_times(&probe, SENTINEL_ATIME, FileTime::now())?;
        std::fs::read(&probe)?;
        let meta = std::fs::metadata(&probe)?;
        Ok(FileTime::from_last_access_time(&meta) != SENTINEL_ATIME)
    })();
    let _ = std::fs::remove_file(&probe);
    ok.unwrap_or(false)
}

/// Units of `groups` that were used ([`stash_core::usage::used_units`]), from the
/// atimes of their fingerprint files under `root`.
pub fn used_units(root: &Path, groups: &[Group]) -> Option<BTreeSet<String>> {
    stash_core::usage::used_units(groups, |p| match std::fs::symlink_metadata(root.join(p)) {
        Ok(m) if m.is_file() => FileTime::from_last_access_time(&m) != SENTINEL_ATIME,
        _ => false,
    })
}
