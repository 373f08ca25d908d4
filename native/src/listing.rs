//! Lists a root directory for the planner: relative paths, kinds, sizes and hard-link
//! identities. Symlinks are listed, never followed.

use std::path::Path;

use anyhow::{Context, Result};
use stash_core::layout::STATE_DIR;
use stash_core::{Entry, EntryKind};

pub fn list(root: &Path) -> Result<Vec<Entry>> {
    let mut out = Vec::new();
    if !root.exists() {
        return Ok(out);
    }
    let walker = walkdir::WalkDir::new(root)
        .follow_links(false)
        .min_depth(1)
        .into_iter()
        .filter_entry(|e| !(e.depth() == 1 && e.file_name() == STATE_DIR));
    for item in walker {
        let item = item.with_context(|| format!("listing {}", root.display()))?;
        let meta = item
            .metadata()
            .with_context(|| format!("reading {}", item.path().display()))?;
        let rel = item
            .path()
            .strip_prefix(root)
            .expect("walkdir yields children of root");
        let Some(path) = rel_string(rel) else {
            tracing::warn!("skipping non-UTF-8 path {}", item.path().display());
            continue;
        };
        let kind = if meta.file_type().is_symlink() {
            EntryKind::Symlink
        } else if meta.is_dir() {
            EntryKind::Dir
        } else {
            EntryKind::File
        };
        out.push(Entry {
            path,
            kind,
            size: if kind == EntryKind::File {
                meta.len()
            } else {
                0
            },
            link_id: link_id(&meta),
        });
    }
    Ok(out)
}

pub fn rel_string(rel: &Path) -> Option<String> {
    let parts: Option<Vec<&str>> = rel.components().map(|c| c.as_os_str().to_str()).collect();
    Some(parts?.join("/"))
}

#[cfg(unix)]
fn link_id(meta: &std::fs::Metadata) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    (meta.is_file() && meta.nlink() > 1).then(|| meta.ino())
}

#[cfg(not(unix))]
fn link_id(_: &std::fs::Metadata) -> Option<u64> {
    None
}
