//! The download pipeline of a restore, for either layer: every pack of a snapshot is
//! fetched (`--jobs` at a time; the command bounds the whole by the store's deadline),
//! rebuilt from its base when it is a patch, verified and moved into place; then the
//! snapshot's hard links are recreated. A pack that fails is counted and warned about,
//! and the others restore.

use std::collections::{BTreeSet, HashMap};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result};
use filetime::FileTime;
use futures::StreamExt;
use stash_core::layout::STATE_DIR;
use stash_core::output::RestoreOutput;
use stash_core::{Manifest, PackRef, Root, manifest};

use crate::commands::Ctx;
use crate::error::describe;
use crate::pack;
use crate::store::Store;

/// Objects of the packs that did not restore (a patch's base too, which may be the
/// culprit): the save after this restore uploads them again and replaces the snapshot.
pub fn failed_objects(results: &Unpacked) -> Vec<String> {
    let mut out: Vec<String> = results
        .iter()
        .filter(|(_, r)| r.is_err())
        .flat_map(|(p, _)| p.objects())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Each pack of a snapshot and what restoring it wrote, or why it failed.
pub type Unpacked = Vec<(PackRef, Result<Vec<pack::Staged>>)>;

/// Downloads, verifies and moves every pack of a snapshot into place, then recreates its
/// hard links. A pack that fails is counted and warned about; the others restore.
pub async fn unpack_snapshot(
    ctx: &Ctx,
    store: &Store,
    manifest: &Manifest,
    root_of: &(dyn Fn(&str) -> PathBuf + Sync),
    back: i128,
    out: &mut RestoreOutput,
) -> Unpacked {
    // Leftovers of an interrupted restore go first; ours go at the end.
    let clear_staging = || {
        let roots: BTreeSet<PathBuf> = manifest.packs.iter().map(|p| root_of(&p.root)).collect();
        for root in roots {
            let _ = pack::remove_any(&staging_of(&root));
        }
    };
    clear_staging();
    let downloaded = Arc::new(AtomicU64::new(0));
    let results = download_all(ctx, store, manifest, root_of, back, &downloaded).await;
    clear_staging();
    let (restored, dir_mtimes) = tally(&results, out);
    out.bytes_downloaded += downloaded.load(Ordering::Relaxed);
    relink_all(manifest, root_of, &restored, &dir_mtimes, out);
    results
}

/// Restores every pack, `ctx.jobs` at a time, counting the bytes downloaded.
async fn download_all(
    ctx: &Ctx,
    store: &Store,
    manifest: &Manifest,
    root_of: &(dyn Fn(&str) -> PathBuf + Sync),
    back: i128,
    downloaded: &Arc<AtomicU64>,
) -> Unpacked {
    let bar = ctx.report.bar(manifest.stored_bytes(), "restoring");
    let decoders = Arc::new(tokio::sync::Semaphore::new(PATCH_DECODES));
    // Most work first, so one big pack does not finish alone at the end: content bytes,
    // not stored ones, since a small patch can rebuild a large pack.
    let mut packs = manifest.packs.clone();
    // A pack is staged under its id: one listed twice (only a forged manifest does that)
    // would race with itself in one staging dir, so each id restores once per directory
    // (`build` is the target dir when no build-dir is set).
    let mut seen = std::collections::HashSet::new();
    packs.retain(|p| seen.insert((root_of(&p.root), p.id.clone())));
    packs.sort_by_key(|p| std::cmp::Reverse(p.bytes));
    let results: Unpacked = futures::stream::iter(packs)
        .map(|p| {
            let (store, root, downloaded, bar, decoders) = (
                store.clone(),
                root_of(&p.root),
                downloaded.clone(),
                bar.clone(),
                decoders.clone(),
            );
            async move {
                let r = restore_pack(&store, &p, root, downloaded, &decoders, back).await;
                bar.inc(p.stored);
                (p, r)
            }
        })
        .buffer_unordered(ctx.jobs)
        .collect()
        .await;
    bar.finish_and_clear();
    results
}

/// `(root, path)` of a file or directory of the snapshot.
type Place = (String, String);

/// Counts what the packs wrote and warns about each that failed. Returns the files
/// restored and the packed mtime of each directory.
fn tally(
    results: &Unpacked,
    out: &mut RestoreOutput,
) -> (BTreeSet<Place>, HashMap<Place, FileTime>) {
    let mut restored = BTreeSet::new();
    let mut dir_mtimes = HashMap::new();
    for (p, r) in results {
        match r {
            Ok(staged) => {
                out.packs += 1;
                for s in staged {
                    match s.kind {
                        pack::Kind::File => {
                            out.files += 1;
                            out.bytes_written += s.size;
                            restored.insert((p.root.clone(), s.path.clone()));
                        }
                        pack::Kind::Dir => {
                            dir_mtimes.insert((p.root.clone(), s.path.clone()), s.mtime);
                        }
                        pack::Kind::Symlink => {}
                    }
                }
            }
            Err(e) => {
                out.packs_failed += 1;
                out.warnings.push(format!(
                    "skipped pack {} ({}): {}",
                    &p.id[..12],
                    p.group,
                    describe(e)
                ));
            }
        }
    }
    (restored, dir_mtimes)
}

/// Recreates the snapshot's hard links whose target was restored.
fn relink_all(
    manifest: &Manifest,
    root_of: &(dyn Fn(&str) -> PathBuf + Sync),
    restored: &BTreeSet<Place>,
    dir_mtimes: &HashMap<Place, FileTime>,
    out: &mut RestoreOutput,
) {
    for link in &manifest.links {
        if !restored.contains(&(link.root.clone(), link.target.clone())) {
            continue; // Its pack was skipped: leave the artifact out rather than dangle.
        }
        let root = root_of(&link.root);
        relink(&root, &link.path, &link.target)
            .with_context(|| format!("linking {}", link.path))
            .unwrap_or_else(|e| out.warnings.push(describe(&e)));
        // Linking touched the parent; give it back its packed mtime so the pack's
        // content (and id) is unchanged for the next save.
        if let Some((parent, _)) = link.path.rsplit_once('/')
            && let Some(t) = dir_mtimes.get(&(link.root.clone(), parent.to_string()))
        {
            let _ = filetime::set_file_mtime(root.join(parent), *t);
        }
    }
}

/// Packs are staged inside the root they go to, so moving them in is a rename.
fn staging_of(root: &Path) -> PathBuf {
    root.join(STATE_DIR).join("staging")
}

/// Patches decoded at once: each holds a few block buffers (its base is on disk).
const PATCH_DECODES: usize = 2;

/// Restores one pack into `root` through its staging dir: a whole pack streams from the
/// store; a patch first reads its base to a file, then decodes against it.
async fn restore_pack(
    store: &Store,
    p: &PackRef,
    root: PathBuf,
    downloaded: Arc<AtomicU64>,
    decoders: &tokio::sync::Semaphore,
    back: i128,
) -> Result<Vec<pack::Staged>> {
    // A manifest that understates its sizes cannot make a restore write a huge base.
    let base_limit = stash_core::bases::base_tar_limit(p.expansion_cap());
    let base = match &p.base {
        Some(b) => Some((
            b.clone(),
            decoders.acquire().await?,
            store.open_pack(b).await?,
        )),
        None => None,
    };
    let staging = staging_of(&root).join(&p.id);
    let id = p.id.clone();
    let limits = pack::Limits {
        cap: p.expansion_cap(),
        back,
    };
    // A registry snapshot may only write where Cargo keeps downloads, never bin/ or
    // config; a target snapshot never our own state (see `manifest::may_write`).
    let allow: pack::Allow = match Root::parse(&p.root) {
        Some(Root::CargoHome) => |path, kind| {
            manifest::may_write(Root::CargoHome, path)
                && (kind != pack::Kind::Symlink || manifest::may_symlink(Root::CargoHome))
        },
        Some(Root::Target | Root::Build) => |path, _| manifest::may_write(Root::Target, path),
        None => |_, _| false,
    };
    let count = move |inner| CountReader {
        inner,
        count: downloaded.clone(),
    };
    let Some((base_id, _memory, base)) = base else {
        let source = store.open_pack(&p.object()).await?;
        return tokio::task::spawn_blocking(move || {
            pack::restore(count(source), &root, &staging, &id, allow, limits)
        })
        .await?;
    };
    let (dir, counted) = (staging_of(&root), count.clone());
    let base_tar = tokio::task::spawn_blocking(move || {
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        pack::patch::read_to_file(counted(base), &base_id, base_limit, &dir)
    })
    .await??;
    // Opened only now: an idle download could time out while the base was read.
    let source = store.open_pack(&p.object()).await?;
    tokio::task::spawn_blocking(move || {
        let tar = pack::patch::decode(base_tar, count(source));
        pack::restore_tar(tar, &root, &staging, &id, allow, limits)
    })
    .await?
}

/// Counts the bytes read from the store (`bytes_downloaded`).
struct CountReader<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for CountReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Recreates `path` as a hard link of `target`, both inside `root`.
fn relink(root: &Path, path: &str, target: &str) -> Result<()> {
    let target_path = root.join(target);
    let meta = std::fs::symlink_metadata(&target_path)?;
    if !meta.is_file() {
        anyhow::bail!("link target {target} is not a regular file");
    }
    pack::ensure_real_dirs(root, path)?;
    let dest = root.join(path);
    // Never a directory, which may hold other units' files.
    if std::fs::symlink_metadata(&dest).is_ok_and(|m| m.is_dir()) {
        anyhow::bail!("{path} is a directory, which a link may not replace");
    }
    if pack::remove_non_dir(&dest)? {
        anyhow::bail!("{path} is a directory, which a link may not replace");
    }
    std::fs::hard_link(&target_path, &dest)?;
    Ok(())
}
