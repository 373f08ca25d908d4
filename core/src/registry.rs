//! The registry layer: what of CARGO_HOME a job needs to build offline, pruned to the
//! lockfile. `registry/src` is left out (Cargo re-extracts it from `registry/cache`, and
//! registry units never check its mtimes); `bin/`, credentials and config never leave
//! the machine.

use std::collections::BTreeSet;

use crate::error::KeyError;
use crate::key::reduce_lockfile;
use crate::layout::{Entry, EntryKind};
use crate::plan::{Group, Plan, batches};

/// The only subtrees of CARGO_HOME a registry snapshot may hold, on save and on restore.
pub const ALLOWED: [&str; 3] = ["registry/index/", "registry/cache/", "git/db/"];

/// Whether `path` (relative to CARGO_HOME) is under one of [`ALLOWED`].
pub fn is_allowed(path: &str) -> bool {
    ALLOWED.iter().any(|p| path.starts_with(p))
}

/// `(name, version)` of every registry or git package of a Cargo.lock.
pub fn lock_packages(lockfile: &str) -> Result<BTreeSet<(String, String)>, KeyError> {
    Ok(reduce_lockfile(lockfile)?
        .lines()
        .filter_map(|l| {
            let mut parts = l.split(' ');
            Some((parts.next()?.to_string(), parts.next()?.to_string()))
        })
        .collect())
}

/// Groups the registry files of a CARGO_HOME listing: one pack per `.crate` (so a
/// dependency bump uploads one crate), index and git databases batched. With a lockfile,
/// crates and index entries of packages it does not name are left out.
pub fn plan(
    entries: &[Entry],
    lock: Option<&BTreeSet<(String, String)>>,
    batch_bytes: u64,
) -> Plan {
    let names: Option<BTreeSet<&str>> = lock.map(|l| l.iter().map(|(n, _)| n.as_str()).collect());
    let mut out = Plan::default();
    let mut index = Vec::new();
    let mut git = Vec::new();
    let mut sorted: Vec<&Entry> = entries
        .iter()
        .filter(|e| e.kind != EntryKind::Dir)
        .collect();
    sorted.sort_by(|a, b| a.path.split('/').cmp(b.path.split('/')));
    for e in sorted {
        let file = e.path.rsplit('/').next().unwrap_or_default();
        if e.path.starts_with("registry/cache/") {
            let wanted = match (lock, crate_file(file)) {
                (Some(lock), Some(nv)) => lock.contains(&nv),
                (Some(_), None) => false,
                (None, _) => true,
            };
            if wanted {
                out.groups.push(Group {
                    name: format!("crate:{file}"),
                    unit: None,
                    paths: vec![e.path.clone()],
                    bytes: e.size,
                });
            } else {
                out.dropped.push(e.path.clone());
            }
        } else if e.path.starts_with("registry/index/") {
            let in_cache = e.path.contains("/.cache/");
            let wanted = !in_cache
                || names
                    .as_ref()
                    .is_none_or(|n| n.contains(file.to_lowercase().as_str()));
            if wanted {
                index.push(e);
            } else {
                out.dropped.push(e.path.clone());
            }
        } else if e.path.starts_with("git/db/") {
            git.push(e);
        }
    }
    for (label, files) in [("index", index), ("git", git)] {
        for mut g in batches(&files, batch_bytes) {
            g.name = format!("{label}-{}", g.name);
            out.groups.push(g);
        }
    }
    out
}

/// `serde-1.0.219.crate` -> (`serde`, `1.0.219`); versions may hold `-` (pre-releases).
fn crate_file(file: &str) -> Option<(String, String)> {
    let stem = file.strip_suffix(".crate")?;
    let split = stem
        .match_indices('-')
        .find(|(i, _)| stem[i + 1..].starts_with(|c: char| c.is_ascii_digit()))?
        .0;
    Some((stem[..split].to_string(), stem[split + 1..].to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(path: &str) -> Entry {
        Entry {
            path: path.into(),
            kind: EntryKind::File,
            size: 10,
            link_id: None,
        }
    }

    #[test]
    fn keeps_only_locked_crates_and_their_index_entries() {
        let lock: BTreeSet<_> = [
            ("serde".to_string(), "1.0.219".to_string()),
            ("bzip2-sys".into(), "0.1.13+1.0.8".into()),
        ]
        .into();
        let entries = [
            f("registry/cache/idx/serde-1.0.219.crate"),
            f("registry/cache/idx/serde-1.0.200.crate"),
            f("registry/cache/idx/bzip2-sys-0.1.13+1.0.8.crate"),
            f("registry/index/idx/config.json"),
            f("registry/index/idx/.cache/se/rd/serde"),
            f("registry/index/idx/.cache/to/ki/tokio"),
            f("registry/src/idx/serde-1.0.219/src/lib.rs"),
            f("git/db/repo-abc/HEAD"),
            f("bin/cargo-stash"),
            f("credentials.toml"),
        ];
        let p = plan(&entries, Some(&lock), 1 << 20);
        let crates: Vec<_> = p
            .groups
            .iter()
            .filter(|g| g.name.starts_with("crate:"))
            .map(|g| g.name.as_str())
            .collect();
        assert_eq!(
            crates,
            [
                "crate:bzip2-sys-0.1.13+1.0.8.crate",
                "crate:serde-1.0.219.crate"
            ]
        );
        let all: Vec<&String> = p.groups.iter().flat_map(|g| &g.paths).collect();
        assert!(all.contains(&&"registry/index/idx/.cache/se/rd/serde".to_string()));
        assert!(all.contains(&&"git/db/repo-abc/HEAD".to_string()));
        assert!(!all.iter().any(|p| p.contains("tokio")
            || p.contains("src/")
            || p.starts_with("bin")
            || p.contains("credentials")));
        assert!(all.iter().all(|p| is_allowed(p)));
    }

    #[test]
    fn crate_file_names_split_at_the_version() {
        assert_eq!(
            crate_file("zstd-sys-2.0.15+zstd.1.5.7.crate"),
            Some(("zstd-sys".into(), "2.0.15+zstd.1.5.7".into()))
        );
        assert_eq!(
            crate_file("a-b-c-0.1.0-beta.1.crate"),
            Some(("a-b-c".into(), "0.1.0-beta.1".into()))
        );
        assert_eq!(crate_file("README"), None);
    }
}
