//! Which restored units did this job use? Cargo reads every used unit's fingerprint
//! files, even in a no-op build (DESIGN §1); restore sets their atime to a sentinel and
//! save looks for fingerprints whose atime moved. Only stats are taken here: reading a
//! fingerprint would mark it used.

use std::collections::BTreeSet;
use std::path::Path;

use filetime::FileTime;
use stash_core::Group;

use crate::pack::is_fingerprint;

/// 1970-01-01T00:00:01Z: older than any mtime, so `relatime` updates it on the next read.
pub const SENTINEL_ATIME: FileTime = FileTime::from_unix_time(1, 0);

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

/// Units of `groups` that were used: any fingerprint file read or written since restore.
/// A unit without fingerprint files counts as used (nothing proves otherwise). `None`
/// when no fingerprint was touched at all: no build ran, which proves nothing unused.
pub fn used_units(root: &Path, groups: &[Group]) -> Option<BTreeSet<String>> {
    let mut any_touched = false;
    let used = groups
        .iter()
        .filter(|g| g.unit.is_some())
        .filter(|g| {
            let mut fingerprints = g.paths.iter().filter(|p| is_fingerprint(p)).peekable();
            if fingerprints.peek().is_none() {
                return true;
            }
            let touched = fingerprints.any(|p| match std::fs::symlink_metadata(root.join(p)) {
                Ok(m) if m.is_file() => FileTime::from_last_access_time(&m) != SENTINEL_ATIME,
                _ => false,
            });
            any_touched |= touched;
            touched
        })
        .map(|g| g.name.clone())
        .collect();
    any_touched.then_some(used)
}
