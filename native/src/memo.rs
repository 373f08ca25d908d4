//! Pack objects (an id, or a patch's `<id>.<base>`) remembered by the stat of their
//! files, so a save after a restore (or a second save) learns the id of every unchanged
//! pack without reading a byte.
//!
//! A pack's tar is a function of its files' paths, kinds, modes, sizes, nanosecond
//! mtimes, link targets and contents; the memo trusts that content does not change
//! without the size or the mtime changing, as Cargo's own freshness checks do.

use std::collections::HashMap;
use std::path::Path;

use anyhow::Result;
use filetime::FileTime;

use crate::pack::HashWriter;

// Ids of store layout v2 (BLAKE3); a memo of another layout is simply not found.
const FILE: &str = "memo-v2.json";

#[derive(Default, serde::Serialize, serde::Deserialize)]
pub struct Memo {
    ids: HashMap<String, String>,
}

/// What the stat of a group of files says, without reading them.
pub struct Stat {
    pub digest: String,
    pub files: u64,
    pub bytes: u64,
}

impl Memo {
    pub fn load(state_dir: &Path) -> Memo {
        crate::state::load(state_dir, FILE).unwrap_or_default()
    }

    pub fn store(&self, state_dir: &Path) -> Result<()> {
        crate::state::store(state_dir, FILE, self)
    }

    pub fn get(&self, stat: &Stat) -> Option<&str> {
        self.ids.get(&stat.digest).map(String::as_str)
    }

    pub fn insert(&mut self, stat: Stat, id: String) {
        self.ids.insert(stat.digest, id);
    }
}

/// Digest of everything but the content of `paths` under `root`; `None` if one is gone.
///
/// The paths are taken in the plan's order (components compared one by one) whatever
/// order they come in: a save lists a group in plan order, a restore in its tar's order,
/// which puts a library's `.rmeta` first.
pub fn stat(root_name: &str, root: &Path, paths: &[String]) -> Option<Stat> {
    use std::io::Write;
    let mut h = HashWriter::new(std::io::sink());
    let (mut files, mut bytes) = (0, 0);
    writeln!(h, "{root_name}").ok()?;
    let mut paths: Vec<&String> = paths.iter().collect();
    paths.sort_by(|a, b| a.split('/').cmp(b.split('/')));
    for p in paths {
        let full = root.join(p);
        let m = std::fs::symlink_metadata(&full).ok()?;
        let t = FileTime::from_last_modification_time(&m);
        let link = if m.file_type().is_symlink() {
            std::fs::read_link(&full)
                .ok()?
                .to_string_lossy()
                .into_owned()
        } else {
            String::new()
        };
        if m.is_file() {
            files += 1;
            bytes += m.len();
        }
        writeln!(
            h,
            "{p}\0{}\0{}\0{}\0{}\0{}\0{link}",
            if m.is_dir() {
                "d"
            } else if link.is_empty() {
                "f"
            } else {
                "l"
            },
            if m.is_dir() { 0 } else { m.len() },
            t.unix_seconds(),
            t.nanoseconds(),
            mode(&m)
        )
        .ok()?;
    }
    Some(Stat {
        digest: h.finish().0,
        files,
        bytes,
    })
}

#[cfg(unix)]
fn mode(m: &std::fs::Metadata) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    m.permissions().mode() & 0o7777
}

#[cfg(not(unix))]
fn mode(_: &std::fs::Metadata) -> u32 {
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_groups_stat_does_not_depend_on_the_order_of_its_paths() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("deps")).unwrap();
        let paths: Vec<String> = [
            "deps/liba-0123456789abcdef.rlib",
            "deps/liba-0123456789abcdef.rmeta",
        ]
        .map(String::from)
        .into();
        for (i, p) in paths.iter().enumerate() {
            std::fs::write(dir.path().join(p), vec![b'x'; i + 1]).unwrap();
        }
        let plan_order = stat("target", dir.path(), &paths).unwrap();
        let tar_order: Vec<String> = paths.iter().rev().cloned().collect();
        let restored = stat("target", dir.path(), &tar_order).unwrap();
        assert_eq!(plan_order.digest, restored.digest);
        assert_eq!((restored.files, restored.bytes), (2, 3));
        // A change of size is still seen.
        std::fs::write(dir.path().join(&paths[0]), b"yy").unwrap();
        assert_ne!(
            stat("target", dir.path(), &paths).unwrap().digest,
            plan_order.digest
        );
    }
}
