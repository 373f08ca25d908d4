//! The download pipeline of a restore, for either layer: every pack of a snapshot is
//! fetched (`--jobs` at a time; the command bounds the whole by the store's deadline),
//! rebuilt from its base when it is a patch (each base downloaded once, however many
//! packs are patches against it), verified and moved into place; then the snapshot's
//! hard links are recreated. A pack that fails is counted and warned about, and the
//! others restore.

use std::collections::{BTreeSet, HashMap};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result};
use filetime::FileTime;
use futures::StreamExt;
use stash_core::layout::STATE_DIR;
use stash_core::output::RestoreOutput;
use stash_core::{Manifest, PackRef, Root, bases, downloads, manifest};

use crate::commands::Ctx;
use crate::error::describe;
use crate::kept::{Keep, Keeping};
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
    (back, keep): (i128, Option<Arc<Keep>>),
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
    let results = download_all(ctx, store, manifest, root_of, (back, keep), &downloaded).await;
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
    (back, keep): (i128, Option<Arc<Keep>>),
    downloaded: &Arc<AtomicU64>,
) -> Unpacked {
    let bar = ctx.report.bar(manifest.stored_bytes(), "restoring");
    let decoders = Arc::new(tokio::sync::Semaphore::new(PATCH_DECODES));
    // A pack is staged under its id: one listed twice (only a forged manifest does that)
    // would race with itself in one staging dir, so each id restores once per directory
    // (`build` is the target dir when no build-dir is set).
    let mut packs = manifest.packs.clone();
    let mut seen = std::collections::HashSet::new();
    packs.retain(|p| seen.insert((root_of(&p.root), p.id.clone())));
    let fetches: Vec<Fetch> = bases::fetches(&packs)
        .into_iter()
        .map(|f| Fetch::of(f, &packs, root_of))
        .collect();
    // Most work first (content bytes, since a small patch can rebuild a large pack), with
    // the small ones spread between the big ones over a network.
    let sizes: Vec<(u64, u64)> = fetches.iter().map(|f| (f.bytes(), f.stored())).collect();
    let mut slots: Vec<Option<Fetch>> = fetches.into_iter().map(Some).collect();
    let fetches: Vec<Fetch> = downloads::order(&sizes, store.local.is_none())
        .into_iter()
        .filter_map(|i| slots[i].take())
        .collect();
    let unpacked: Vec<Unpacked> = futures::stream::iter(fetches)
        .map(|f| {
            let (store, downloaded, bar, decoders, keep) = (
                store.clone(),
                downloaded.clone(),
                bar.clone(),
                decoders.clone(),
                keep.clone(),
            );
            async move {
                let stored = f.stored();
                let keep = keep.as_deref();
                let r = match f {
                    Fetch::Whole(p, root) => {
                        let r = restore_whole(&store, &p, root, (downloaded, keep), back).await;
                        vec![(p, r)]
                    }
                    Fetch::Shared(shared) => {
                        let _permit = decoders.acquire().await;
                        restore_shared(&store, shared, (downloaded, keep), back).await
                    }
                };
                bar.inc(stored);
                r
            }
        })
        .buffer_unordered(ctx.jobs)
        .collect()
        .await;
    bar.finish_and_clear();
    unpacked.into_iter().flatten().collect()
}

/// One download of a restore: a whole pack, or a base shared by patches.
enum Fetch {
    Whole(PackRef, PathBuf),
    Shared(SharedBase),
}

/// A base downloaded once for the patches against it, and for its own pack when the
/// snapshot holds it whole; each pack with the root it goes to.
struct SharedBase {
    base: String,
    whole: Option<(PackRef, PathBuf)>,
    patches: Vec<(PackRef, PathBuf)>,
}

impl Fetch {
    fn of(f: bases::Fetch, packs: &[PackRef], root_of: &(dyn Fn(&str) -> PathBuf + Sync)) -> Fetch {
        let with_root = |i: usize| (packs[i].clone(), root_of(&packs[i].root));
        match f {
            bases::Fetch::Whole(i) => {
                let (p, root) = with_root(i);
                Fetch::Whole(p, root)
            }
            bases::Fetch::Shared {
                base,
                whole,
                patches,
            } => Fetch::Shared(SharedBase {
                base,
                whole: whole.map(with_root),
                patches: patches.into_iter().map(with_root).collect(),
            }),
        }
    }

    fn packs(&self) -> Box<dyn Iterator<Item = &PackRef> + '_> {
        match self {
            Fetch::Whole(p, _) => Box::new(std::iter::once(p)),
            Fetch::Shared(s) => Box::new(s.whole.iter().chain(&s.patches).map(|(p, _)| p)),
        }
    }

    /// Content bytes of its packs.
    fn bytes(&self) -> u64 {
        self.packs().map(|p| p.bytes).sum()
    }

    /// Stored bytes of its packs, for the progress bar.
    fn stored(&self) -> u64 {
        self.packs().map(|p| p.stored).sum()
    }
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

/// Bases held at once, each in a temporary file, with its patches decoding against it.
const PATCH_DECODES: usize = 2;

/// What a restore may write in a root: a registry snapshot only where Cargo keeps
/// downloads, never bin/ or config; a target snapshot never our own state (see
/// `manifest::may_write`).
fn allowed_in(root: &str) -> pack::Allow {
    match Root::parse(root) {
        Some(Root::CargoHome) => |path, kind| {
            manifest::may_write(Root::CargoHome, path)
                && (kind != pack::Kind::Symlink || manifest::may_symlink(Root::CargoHome))
        },
        Some(Root::Target | Root::Build) => |path, _| manifest::may_write(Root::Target, path),
        None => |_, _| false,
    }
}

/// How pack `p` unpacks into `root`: its staging dir, the id its tar must hash to, where
/// it may write, and its expansion cap with the clock shift `back`.
fn unpack_rules(
    p: &PackRef,
    root: &Path,
    back: i128,
) -> (PathBuf, String, pack::Allow, pack::Limits) {
    let limits = pack::Limits {
        cap: p.expansion_cap(),
        back,
        in_place: Root::parse(&p.root).is_some_and(manifest::may_write_in_place),
    };
    let staging = staging_of(root).join(&p.id);
    (staging, p.id.clone(), allowed_in(&p.root), limits)
}

/// Restores a whole pack into `root` through its staging dir, streaming it from the store.
async fn restore_whole(
    store: &Store,
    p: &PackRef,
    root: PathBuf,
    (downloaded, keep): (Arc<AtomicU64>, Option<&Keep>),
    back: i128,
) -> Result<Vec<pack::Staged>> {
    let source = store.open_pack(&p.object()).await?;
    let (staging, id, allow, limits) = unpack_rules(p, &root, back);
    let source = CountReader {
        inner: source,
        count: downloaded,
    };
    let mut source = keeping(keep, &p.object(), source);
    tokio::task::spawn_blocking(move || {
        let staged = pack::restore(&mut source, &root, &staging, &id, allow, limits)?;
        source.finish();
        Ok(staged)
    })
    .await?
}

/// `source`, copied for the next save when it is a pack to keep.
fn keeping<R: Read>(keep: Option<&Keep>, object: &str, source: R) -> Keeping<R> {
    match keep {
        Some(keep) => keep.reader(object, source),
        None => Keeping::plain(source),
    }
}

/// Downloads a base once into a temporary file, restores its own pack from there when
/// the snapshot holds it whole, then rebuilds each patch against it. A base that fails
/// fails every pack that needs it.
async fn restore_shared(
    store: &Store,
    shared: SharedBase,
    (downloaded, keep): (Arc<AtomicU64>, Option<&Keep>),
    back: i128,
) -> Unpacked {
    let SharedBase {
        base,
        whole,
        patches,
    } = shared;
    // A manifest that understates its sizes cannot make a restore write a huge base:
    // no more than its own pack or its patches may expand to.
    let limit = patches
        .iter()
        .map(|(p, _)| stash_core::bases::base_tar_limit(p.expansion_cap()))
        .chain(whole.iter().map(|(p, _)| p.expansion_cap().tar))
        .max()
        .unwrap_or(0);
    let count = move |inner| CountReader {
        inner,
        count: downloaded.clone(),
    };
    let dir = match whole.iter().chain(&patches).next() {
        Some((_, root)) => staging_of(root),
        None => return Vec::new(),
    };
    let base_tar = async {
        let source = count(store.open_pack(&base).await?);
        let mut source = keeping(keep, &base, source);
        let id = base.clone();
        tokio::task::spawn_blocking(move || {
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            let file = pack::patch::read_to_file(&mut source, &id, limit, &dir)?;
            source.finish();
            Ok::<_, anyhow::Error>(file)
        })
        .await?
    }
    .await;
    let base_tar = match base_tar {
        Ok(file) => file,
        Err(e) => {
            let fail = |(p, _): (PackRef, PathBuf)| (p, Err(anyhow::anyhow!("{e:#}")));
            return whole.into_iter().chain(patches).map(fail).collect();
        }
    };
    let mut out = Vec::new();
    if let Some((p, root)) = whole {
        let r = restore_from_base(&base_tar, None, &p, root, back).await;
        out.push((p, r));
    }
    for (p, root) in patches {
        // Opened only now: an idle download could time out while the base was read.
        let r = match store.open_pack(&p.object()).await {
            Ok(source) => restore_from_base(&base_tar, Some(count(source)), &p, root, back).await,
            Err(e) => Err(e),
        };
        out.push((p, r));
    }
    out
}

/// Restores `p` from the base tar in `base`: the tar itself when `patch` is `None` (`p`
/// is the base's own pack), else the tar `patch` rebuilds out of it.
async fn restore_from_base(
    base: &std::fs::File,
    patch: Option<CountReader<Box<dyn Read + Send>>>,
    p: &PackRef,
    root: PathBuf,
    back: i128,
) -> Result<Vec<pack::Staged>> {
    // Each use reads the file from its start: one at a time, they share its offset.
    let mut file = base.try_clone().context("reopening the base")?;
    file.seek(SeekFrom::Start(0)).context("reading the base")?;
    let (staging, id, allow, limits) = unpack_rules(p, &root, back);
    tokio::task::spawn_blocking(move || match patch {
        None => pack::restore_tar(
            io::BufReader::with_capacity(1 << 20, file),
            &root,
            &staging,
            &id,
            allow,
            limits,
        ),
        Some(patch) => {
            let tar = pack::patch::decode(file, patch);
            pack::restore_tar(tar, &root, &staging, &id, allow, limits)
        }
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
