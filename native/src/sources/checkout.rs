//! The checkout's tracked files: lists them (git's list, or a walk without git), hashes
//! them in parallel, and applies an mtime plan.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};
use filetime::FileTime;
use sha2::{Digest, Sha256};
use stash_core::sources::{self, MtimeAction, MtimePlan, SourceEntry, SourceKind, SourceManifest};

use super::git::git_meta;
use crate::pack::{HashWriter, hex};

/// The checkout root: git's top level, else the workspace root.
pub fn checkout_root(workspace_root: &Path) -> PathBuf {
    let out = Command::new("git")
        .args(["rev-parse", "--show-toplevel"])
        .current_dir(workspace_root)
        .output();
    match out {
        Ok(o) if o.status.success() => PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()),
        _ => workspace_root.to_path_buf(),
    }
}

/// Tracked files that exist in the work tree, relative to `root`.
fn tracked_files(root: &Path, skip: &[PathBuf]) -> Result<Vec<String>> {
    let out = Command::new("git")
        .args(["ls-files", "-z", "--cached"])
        .current_dir(root)
        .output();
    if let Ok(o) = out
        && o.status.success()
    {
        return Ok(o
            .stdout
            .split(|b| *b == 0)
            .filter(|p| !p.is_empty())
            .filter_map(|p| std::str::from_utf8(p).ok().map(str::to_string))
            .filter(|p| std::fs::symlink_metadata(root.join(p)).is_ok_and(|m| !m.is_dir()))
            .collect());
    }
    // No git: everything but build output and VCS data.
    let walker = walkdir::WalkDir::new(root)
        .min_depth(1)
        .into_iter()
        .filter_entry(|e| e.file_name() != ".git" && !skip.iter().any(|s| e.path() == s));
    let mut files = Vec::new();
    for e in walker {
        let e = e.with_context(|| format!("listing {}", root.display()))?;
        if !e.file_type().is_dir()
            && let Some(rel) = crate::listing::rel_string(e.path().strip_prefix(root)?)
        {
            files.push(rel);
        }
    }
    files.sort();
    Ok(files)
}

/// Size, hash and mtime of every tracked file and directory under `root`.
pub fn scan(root: &Path, skip: &[PathBuf]) -> Result<SourceManifest> {
    let files = tracked_files(root, skip)?;
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let chunk = files.len().div_ceil(threads).max(1);
    let mut entries: Vec<SourceEntry> = std::thread::scope(|s| {
        let handles: Vec<_> = files
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || {
                    part.iter()
                        .map(|f| file_entry(root, f))
                        .collect::<Result<Vec<_>>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("hashing thread panicked"))
            .collect::<Result<Vec<Vec<_>>>>()
    })?
    .into_iter()
    .flatten()
    .collect();
    for (dir, hash) in sources::directories(&files, |b| hex(&Sha256::digest(b))) {
        let meta = std::fs::metadata(root.join(&dir)).with_context(|| format!("reading {dir}"))?;
        let t = FileTime::from_last_modification_time(&meta);
        entries.push(SourceEntry {
            path: dir,
            kind: SourceKind::Dir,
            size: 0,
            hash,
            mtime_s: t.unix_seconds(),
            mtime_ns: t.nanoseconds(),
        });
    }
    Ok(SourceManifest {
        root: root.display().to_string(),
        entries,
        git: git_meta(root, skip),
    })
}

fn file_entry(root: &Path, rel: &str) -> Result<SourceEntry> {
    let path = root.join(rel);
    let meta =
        std::fs::symlink_metadata(&path).with_context(|| format!("reading {}", path.display()))?;
    let (kind, hash) = if meta.file_type().is_symlink() {
        let target = std::fs::read_link(&path)?;
        (
            SourceKind::Symlink,
            hex(&Sha256::digest(target.as_os_str().as_encoded_bytes())),
        )
    } else {
        let mut hasher = HashWriter::new(std::io::sink());
        let mut f =
            std::fs::File::open(&path).with_context(|| format!("opening {}", path.display()))?;
        std::io::copy(&mut f, &mut hasher)
            .with_context(|| format!("reading {}", path.display()))?;
        (SourceKind::File, hasher.finish().0)
    };
    let t = FileTime::from_last_modification_time(&meta);
    Ok(SourceEntry {
        path: rel.to_string(),
        kind,
        size: meta.len(),
        hash,
        mtime_s: t.unix_seconds(),
        mtime_ns: t.nanoseconds(),
    })
}

/// Applies a plan. Files first, directories last, deepest first, so setting a file's
/// time does not disturb its directory's.
pub fn apply(root: &Path, plan: &MtimePlan) -> Result<()> {
    let now = FileTime::now();
    let mut ordered: Vec<&(String, MtimeAction)> = plan.actions.iter().collect();
    ordered.sort_by_key(|(p, _)| {
        let is_dir = root.join(p).is_dir();
        (is_dir, std::cmp::Reverse(p.matches('/').count()))
    });
    for (rel, action) in ordered {
        let t = match action {
            MtimeAction::Restore { mtime_s, mtime_ns } => {
                FileTime::from_unix_time(*mtime_s, *mtime_ns)
            }
            MtimeAction::Touch => now,
        };
        let path = root.join(rel);
        filetime::set_symlink_file_times(&path, now, t)
            .with_context(|| format!("setting mtime of {}", path.display()))?;
    }
    Ok(())
}
