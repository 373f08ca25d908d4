//! Packs a restore keeps for the next save's patches (docs/format.md, "Patches").
//!
//! A commit rebuilds the workspace's own units; the save after it patches each against
//! the restored build of the same unit, which it would otherwise download again (bat's
//! binary: 20 MB, most of a delta save's time over a far link). So a restore keeps, as
//! downloaded, the whole packs `stash_core::bases::kept_for_patches` names, in
//! `<target-dir>/.cargo-stash/bases/<id>.zst`. Nothing there is trusted: a save checks
//! a kept pack's BLAKE3 as it reads it, falls back to the store when it does not match,
//! and removes the folder when it is done.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// The folder of kept packs under a state dir.
pub fn dir(state_dir: &Path) -> PathBuf {
    state_dir.join("bases")
}

/// Removes the kept packs: a restore starts from none, a save is done with them.
pub fn clear(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
}

/// The kept pack `id`, if there is one (checked by whoever reads it).
pub fn open(dir: &Path, id: &str) -> Option<File> {
    File::open(path(dir, id)).ok()
}

fn path(dir: &Path, id: &str) -> PathBuf {
    dir.join(format!("{id}.zst"))
}

/// Which packs a restore keeps, and where.
pub struct Keep {
    pub dir: PathBuf,
    pub ids: BTreeSet<String>,
}

impl Keep {
    /// A reader that keeps a copy of pack `id`'s download if it is one to keep.
    pub fn reader<R: Read>(&self, id: &str, inner: R) -> Keeping<R> {
        let copy = self.ids.contains(id).then(|| {
            let part = self.dir.join(format!(".{id}.part"));
            std::fs::create_dir_all(&self.dir)
                .and_then(|()| File::create(&part))
                .map(|f| {
                    (
                        io::BufWriter::with_capacity(1 << 20, f),
                        part,
                        path(&self.dir, id),
                    )
                })
        });
        Keeping {
            inner,
            copy: copy.and_then(Result::ok),
        }
    }
}

/// A download copied to a file as it is read; the copy is kept only whole
/// ([`Keeping::finish`]), else removed.
pub struct Keeping<R> {
    inner: R,
    /// The copy being written, its temporary path and its final one.
    copy: Option<(io::BufWriter<File>, PathBuf, PathBuf)>,
}

impl<R: Read> Read for Keeping<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some((file, ..)) = &mut self.copy
            && file.write_all(&buf[..n]).is_err()
        {
            // A full disk loses the copy, not the restore.
            self.discard();
        }
        Ok(n)
    }
}

impl<R: Read> Keeping<R> {
    /// `inner` with no copy.
    pub fn plain(inner: R) -> Self {
        Keeping { inner, copy: None }
    }

    /// After a pack restored: reads what its unpacker left unread (a zstd stream may end
    /// before the download does) and keeps the copy.
    pub fn finish(mut self) {
        if self.copy.is_none() {
            return;
        }
        if io::copy(&mut self, &mut io::sink()).is_err() {
            return self.discard();
        }
        if let Some((file, part, kept)) = self.copy.take() {
            let done = file.into_inner().map_err(|e| e.into_error());
            if done.is_err() || std::fs::rename(&part, &kept).is_err() {
                let _ = std::fs::remove_file(&part);
            }
        }
    }

    fn discard(&mut self) {
        if let Some((_, part, _)) = self.copy.take() {
            let _ = std::fs::remove_file(part);
        }
    }
}

impl<R> Drop for Keeping<R> {
    fn drop(&mut self) {
        if let Some((_, part, _)) = self.copy.take() {
            let _ = std::fs::remove_file(part);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keep(dir: &Path, id: &str) -> Keep {
        Keep {
            dir: dir.join("bases"),
            ids: [id.to_string()].into(),
        }
    }

    #[test]
    fn a_pack_read_to_its_end_is_kept_whole() {
        let tmp = tempfile::tempdir().unwrap();
        let keep = keep(tmp.path(), "a");
        let data = vec![7u8; 3 << 20];
        let mut r = keep.reader("a", &data[..]);
        // The unpacker stops early; finish reads the rest.
        let mut head = [0u8; 1000];
        r.read_exact(&mut head).unwrap();
        r.finish();
        let mut kept = Vec::new();
        open(&keep.dir, "a")
            .unwrap()
            .read_to_end(&mut kept)
            .unwrap();
        assert_eq!(kept, data);
        // Only the packs to keep are copied.
        let mut other = keep.reader("b", &data[..]);
        io::copy(&mut other, &mut io::sink()).unwrap();
        other.finish();
        assert!(open(&keep.dir, "b").is_none());
    }

    #[test]
    fn a_pack_that_failed_leaves_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let keep = keep(tmp.path(), "a");
        let data = vec![1u8; 4096];
        let mut r = keep.reader("a", &data[..]);
        r.read_exact(&mut [0u8; 10]).unwrap();
        drop(r);
        assert!(open(&keep.dir, "a").is_none());
        assert_eq!(std::fs::read_dir(&keep.dir).unwrap().count(), 0);
    }
}
