//! The upload pipeline of a save, for either layer: each group is packed (tar -> zstd)
//! into a temp file, stored as a patch when that pays (against a sibling unit of the
//! same save, or the restored snapshot's pack of the same unit), and put in the store
//! unless the store has it already. The memo lets an unchanged group skip packing
//! altogether.

use std::collections::BTreeSet;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use futures::StreamExt;
use futures::channel::oneshot;
use futures::future::{FutureExt, Shared as SharedFuture};
use stash_core::bases::{self, Candidate, NewPack};
use stash_core::manifest::{ExpansionCap, object_name, parse_object_name};
use stash_core::output::SaveOutput;
use stash_core::{Group, PackRef};

use crate::commands::Ctx;
use crate::error::describe;
use crate::kept;
use crate::memo::{self, Memo};
use crate::pack::{self, CountWriter};
use crate::relocation::{self, Scan};
use crate::store::{LAYOUT, Store};
use crate::workspace::Workspace;

/// Packs of at most this many compressed bytes go up without a HEAD first: on a link of
/// 400 Mbit/s and 40 ms (cross region) a round trip moves 2 MB, so asking costs about
/// what sending does. bat's first save makes 150 fewer requests.
const ASK_FIRST_BYTES: u64 = 1 << 20;

/// zstd level of packs (zstd's default).
const ZSTD_LEVEL: i32 = 3;

/// The packs of a save, and the `(root, path)` of every file they hold.
pub type Uploaded = (Vec<PackRef>, BTreeSet<(String, String)>);

/// What a save may build its packs on: the restored snapshot's packs (empty without a
/// restore or with `--no-patches`), the objects its restore found bad, the relocation
/// verdicts of restored packs, and whether it stores patches at all (not with
/// `--no-patches`, nor for the registry layer).
pub struct Bases<'a> {
    pub previous: Vec<PackRef>,
    pub distrust: &'a BTreeSet<String>,
    pub verdicts: Verdicts,
    pub patches: bool,
}

/// Uploads every group's pack (in parallel, largest first) and tallies the bytes.
/// Returns the packs and the `(root, path)` of every file they hold.
pub async fn upload_all(
    ctx: &Ctx,
    store: &Store,
    ws: &Workspace,
    mut work: Vec<Job>,
    mut on: Bases<'_>,
    out: &mut SaveOutput,
) -> Result<Uploaded> {
    // A base that failed at restore is no base.
    on.previous.retain(|p| !p.needs_any(on.distrust));
    let total: u64 = work.iter().map(|j| j.group.bytes).sum();
    // Largest first, so one big pack does not finish alone at the end, and a sibling
    // base starts before the units patched against it.
    work.sort_by_key(|j| std::cmp::Reverse(j.group.bytes));
    // On a local disk a save is CPU-bound and bytes are cheap: sibling patches cost bat's
    // first save 50 % more time for 13 % fewer bytes. Over a network every restore
    // downloads those bytes (docs/format.md, "Patches").
    let memo = Memo::load(&ws.state_dir());
    let (work, stats) = stat_all(work).await?;
    // What is left to pack once the memo's groups are reused: after a restore, a few
    // changed units, each of which may then use every core.
    let new: Vec<bool> = stats
        .iter()
        .map(|s| s.as_ref().is_none_or(|s| memo.get(s).is_none()))
        .collect();
    let to_pack = work
        .iter()
        .zip(&new)
        .filter(|(_, new)| **new)
        .map(|(j, _)| j.group.bytes)
        .sum();
    let roles = sibling_roles(&work, &new, on.patches && store.local.is_none());
    let shared = Arc::new(Shared::new(store, ws, (memo, to_pack), on));
    std::fs::create_dir_all(&shared.tmp_dir)
        .with_context(|| format!("creating {}", shared.tmp_dir.display()))?;
    let bar = ctx.report.bar(total, "saving");
    let results: Vec<Result<Saved, GroupError>> =
        futures::stream::iter(work.into_iter().zip(stats).zip(roles))
            .map(|((job, stat), role)| {
                let (store, bar, shared) = (store.clone(), bar.clone(), shared.clone());
                async move {
                    let bytes = job.group.bytes;
                    let r = save_group(store, (job, stat), role, shared).await;
                    bar.inc(bytes);
                    r
                }
            })
            .buffer_unordered(ctx.jobs)
            .collect()
            .await;
    bar.finish_and_clear();
    shared.finish(store, ws);
    tally(results, out)
}

/// The memo's view of each group's files (see [`memo::stat`]), read before any is packed.
async fn stat_all(work: Vec<Job>) -> Result<(Vec<Job>, Vec<Option<memo::Stat>>)> {
    let stat = move || {
        let stats = work
            .iter()
            .map(|j| memo::stat(j.root, &j.dir, &j.group.paths))
            .collect();
        (work, stats)
    };
    Ok(tokio::task::spawn_blocking(stat).await?)
}

/// Adds each group's result to the output: a local problem leaves its pack out with a
/// warning, a store problem fails the save.
fn tally(results: Vec<Result<Saved, GroupError>>, out: &mut SaveOutput) -> Result<Uploaded> {
    let mut packs = Vec::new();
    let mut stored_paths = BTreeSet::new();
    for r in results {
        match r {
            Ok(s) => {
                stored_paths.extend(s.paths.iter().map(|p| (s.pack.root.clone(), p.clone())));
                if s.uploaded {
                    out.packs_uploaded += 1;
                    out.packs_patched += u64::from(s.pack.base.is_some());
                    out.bytes_uploaded += s.pack.stored;
                } else {
                    out.bytes_skipped += s.pack.stored;
                }
                out.bytes_total += s.pack.bytes;
                packs.push(s.pack);
            }
            Err(GroupError::Local(e)) => out
                .warnings
                .push(format!("left out of the snapshot: {}", describe(&e))),
            Err(GroupError::Store(e)) => return Err(e),
        }
    }
    packs.sort_by(|a, b| (&a.root, &a.group).cmp(&(&b.root, &b.group)));
    Ok((packs, stored_paths))
}

/// A group's part in patches between units of this save (see `bases::siblings`).
enum Role {
    Alone,
    /// Stored whole; tells its siblings so once it is in the store.
    Base(oneshot::Sender<SiblingBase>),
    /// Patched against its sibling base if that ends up whole in the store.
    Patch(SharedFuture<oneshot::Receiver<SiblingBase>>),
}

/// A pack of this save stored whole, which siblings may be patched against: its id, and
/// its packed file while a bucket upload keeps it (a local store has it in place).
#[derive(Clone)]
struct SiblingBase {
    id: String,
    local: Option<Arc<TmpPack>>,
    /// A twin from this save rather than the restored snapshot's pack: it aligns with
    /// the new pack almost byte for byte, so a small window of it does.
    sibling: bool,
}

/// How much of a sibling base the encoder holds: twins align almost byte for byte, and
/// the smaller window keeps a save with patches far under 200 MB (bat's two 70 MB
/// binaries: a 5.2 MB patch instead of 4.1 MB, about 55 MB less memory).
const SIBLING_WINDOW: usize = 16 << 20;

/// The role of each of `work` (largest first): which units are patched against which.
/// Only groups to pack (`new`, not known to the memo) take part: a twin restored and
/// unchanged is already stored, and a rebuilt unit's patch against the restored
/// snapshot is made first ([`patch_first`]).
fn sibling_roles(work: &[Job], new: &[bool], patches: bool) -> Vec<Role> {
    let mut roles: Vec<Role> = work.iter().map(|_| Role::Alone).collect();
    if !patches {
        return roles;
    }
    // Indexes into `work` of the candidates.
    let (at, candidates): (Vec<usize>, Vec<Candidate>) = work
        .iter()
        .enumerate()
        .filter(|(i, _)| new[*i])
        .map(|(i, j)| {
            let candidate = Candidate {
                root: j.root,
                group: &j.group.name,
                unit: j.group.unit.as_deref(),
                bytes: j.group.bytes,
            };
            (i, candidate)
        })
        .unzip();
    let kin = bases::siblings(&candidates);
    let mut waiting: std::collections::HashMap<usize, SharedFuture<_>> = Default::default();
    for (c, base) in kin.iter().enumerate() {
        let (i, Some(b)) = (at[c], base.map(|b| at[b])) else {
            continue;
        };
        let rx = waiting.entry(b).or_insert_with(|| {
            let (tx, rx) = oneshot::channel();
            roles[b] = Role::Base(tx);
            rx.shared()
        });
        roles[i] = Role::Patch(rx.clone());
    }
    roles
}

/// A packed group's temp file, removed when the last user drops it.
struct TmpPack(PathBuf);

impl Drop for TmpPack {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A group in the store, and whether this save uploaded it.
struct Saved {
    pack: PackRef,
    paths: Arc<Vec<String>>,
    uploaded: bool,
}

/// A local problem leaves one pack out; a store problem aborts the save.
enum GroupError {
    Local(anyhow::Error),
    Store(anyhow::Error),
}

/// Where a group's pack comes from: the memo (no read at all) or one pass of
/// tar -> zstd into a temp file, hashing the tar on the way; only then is the store asked.
async fn save_group(
    store: Store,
    (job, stat): (Job, Option<memo::Stat>),
    role: Role,
    shared: Arc<Shared>,
) -> Result<Saved, GroupError> {
    let Job {
        root,
        dir,
        group,
        deps,
        scan,
    } = job;
    let paths = Arc::new(group.paths);
    let name = group.name.clone();
    let local = |e: anyhow::Error| GroupError::Local(e.context(format!("packing {name}")));
    let known = stat
        .as_ref()
        .and_then(|s| shared.memo.lock().unwrap().get(s).map(str::to_string));
    let reuse = match (&known, &stat) {
        (Some(object), Some(_)) => reuse_known(&store, object, &shared).await?,
        _ => None,
    };
    let unit = (group.name.as_str(), group.unit.as_deref(), group.bytes);
    let early = reuse
        .is_none()
        .then(|| likely_base(root, unit, &shared))
        .flatten();
    let first = patch_first(&role, early.as_deref(), group.bytes, &shared);
    // The relocation scan, the packing and the download of a likely patch base do not
    // wait for each other.
    let (path_bound, made, ()) = tokio::join!(
        verdict(scan, known.as_deref(), (&dir, &paths), deps, &shared),
        async {
            let files = (&dir, &paths);
            match (&reuse, &first) {
                (Some(_), _) => None,
                (None, Some(first)) => Some(Made::Patch(
                    patch_from_files(&store, &shared, files, group.bytes, &first.0).await,
                    first.clone(),
                )),
                (None, None) => Some(Made::Whole(pack_group(&shared, files, group.bytes).await)),
            }
        },
        async {
            if let Some(b) = &early {
                let limit = ExpansionCap::of(group.bytes, paths.len() as u64);
                prefetch_base(&store, b, limit, &shared).await;
            }
        },
    );
    let path_bound = path_bound.map_err(local)?;
    let pack = |id: &str, base: Option<&str>, files, bytes, stored| PackRef {
        id: id.to_string(),
        root: root.into(),
        group: group.name.clone(),
        unit: group.unit.clone(),
        files,
        bytes,
        stored,
        base: base.map(str::to_string),
        path_bound: path_bound.clone(),
    };
    if let (Some((id, base, size)), Some(s)) = (reuse, &stat) {
        if let (Role::Base(tx), None) = (role, &base) {
            let _ = tx.send(SiblingBase {
                id: id.clone(),
                local: None,
                sibling: true,
            });
        }
        let pack = pack(&id, base.as_deref(), s.files, s.bytes, size);
        return Ok(Saved {
            pack,
            paths,
            uploaded: false,
        });
    }
    let Some(made) = made else {
        unreachable!("a group not reused is packed");
    };
    let (info, put) = match made {
        Made::Patch(made, first) => {
            let files = (&dir, &paths);
            let put = put_first_patch(&store, &shared, (files, group.bytes), first, made).await;
            if let Some(b) = &early {
                shared.release_base(b);
            }
            put.map_err(|e| match e {
                GroupError::Local(e) => local(e),
                store => store,
            })?
        }
        Made::Whole(packed) => {
            let (tmp, info, stored) = packed.map_err(local)?;
            let unit = (root, group.name.as_str(), group.unit.as_deref());
            let put = put_new(&store, &shared, role, unit, (tmp, &info, stored), early).await?;
            (info, put)
        }
    };
    // Remember the object only if nothing changed while packing.
    let unchanged = stat
        .filter(|s| memo::stat(root, &dir, &paths).is_some_and(|after| after.digest == s.digest));
    if let Some(s) = unchanged {
        let object = object_name(&info.id, put.base.as_deref());
        shared.memo.lock().unwrap().insert(s, object);
    }
    Ok(Saved {
        pack: pack(
            &info.id,
            put.base.as_deref(),
            info.files,
            info.bytes,
            put.size,
        ),
        paths,
        uploaded: put.uploaded,
    })
}

/// How a group not reused was made ready: packed whole, or as a patch straight from its
/// files ([`patch_first`]).
enum Made {
    Whole(Result<(PathBuf, pack::PackInfo, u64)>),
    /// With the base and the estimated whole size it was made for ([`patch_first`]).
    Patch(Result<(TmpPack, pack::PackInfo, u64)>, (String, u64)),
}

/// The base, and the estimated whole size, of a group whose patch is made first: a unit
/// rebuilt since the restored snapshot, whose previous build is stored whole there
/// (`bases::whole_estimate`). Its patch will most likely pay, so compressing it whole
/// first would be wasted. Siblings of this save are left to [`put_new`]: their base is
/// not stored yet.
fn patch_first(
    role: &Role,
    early: Option<&str>,
    bytes: u64,
    shared: &Shared,
) -> Option<(String, u64)> {
    let base = early.filter(|_| matches!(role, Role::Alone))?;
    let estimate = bases::whole_estimate(&shared.previous, base, bytes)?;
    Some((base.to_string(), estimate))
}

/// Makes the patch of a group's files against the stored pack `base` without packing the
/// group (`pack::patch::encode_from_files`); returns the patch's temp file, what the
/// group holds and the patch's size.
async fn patch_from_files(
    store: &Store,
    shared: &Arc<Shared>,
    (dir, paths): (&Arc<PathBuf>, &Arc<Vec<String>>),
    bytes: u64,
    base: &str,
) -> Result<(TmpPack, pack::PackInfo, u64)> {
    let limit = bases::base_tar_limit(ExpansionCap::of(bytes, paths.len() as u64));
    let base_tar = base_tar(store, BasePack::Stored(base), limit, shared).await?;
    let window = stash_delta::WINDOW_LEN;
    let _memory = shared.window_permits(&base_tar, window).await?;
    let _cpu = shared.encoders.acquire().await?;
    let n = shared.next.fetch_add(1, Ordering::Relaxed);
    let out = TmpPack(
        shared
            .tmp_dir
            .join(format!("{}-{n}.patch", std::process::id())),
    );
    let (dir, paths, path) = (dir.clone(), paths.clone(), out.0.clone());
    let made = tokio::task::spawn_blocking(move || {
        let file =
            std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?;
        let write_tar = |w: &mut dyn io::Write| pack::write_tar(&dir, &paths, w);
        pack::patch::encode_from_files(&base_tar, write_tar, file, window)
    })
    .await?;
    let (info, size) = made?;
    Ok((out, info, size))
}

/// Stores a group whose patch was made first: the patch when it pays against the
/// estimated whole size; else the group is packed after all, and the patch is stored
/// only if it pays against the real size. A patch that could not be made leaves the
/// group to be packed and stored whole.
async fn put_first_patch(
    store: &Store,
    shared: &Arc<Shared>,
    (files, bytes): ((&Arc<PathBuf>, &Arc<Vec<String>>), u64),
    (base, estimate): (String, u64),
    made: Result<(TmpPack, pack::PackInfo, u64)>,
) -> Result<(pack::PackInfo, Stored), GroupError> {
    let made = made
        .inspect_err(|e| tracing::info!("patch not made, packing whole: {e:#}"))
        .ok();
    if let Some((patch, info, size)) = &made
        && bases::patch_pays(*size, estimate)
    {
        let put = put_patch(store, shared, &info.id, &base, (patch, *size)).await;
        return Ok((info.clone(), put.map_err(GroupError::Store)?));
    }
    let (tmp, info, stored) = pack_group(shared, files, bytes)
        .await
        .map_err(GroupError::Local)?;
    let tmp = TmpPack(tmp);
    let put = match made {
        Some((patch, made, size)) if made.id == info.id && bases::patch_pays(size, stored) => {
            put_patch(store, shared, &info.id, &base, (&patch, size)).await
        }
        _ => store_pack(store, &info, (&tmp.0, stored), None, shared).await,
    };
    Ok((info, put.map_err(GroupError::Store)?))
}

/// Puts the patch of pack `id` against `base` (in `patch`, `size` bytes) unless the
/// store holds it already.
async fn put_patch(
    store: &Store,
    shared: &Shared,
    id: &str,
    base: &str,
    (patch, size): (&TmpPack, u64),
) -> Result<Stored> {
    let object = object_name(id, Some(base));
    // As for a new pack (see `store_pack`): a small patch goes up without asking.
    let ask = size > ASK_FIRST_BYTES || store.knows(&object);
    if ask
        && !shared.distrust.contains(&object)
        && let Some(size) = store.reusable(id, Some(base)).await?
    {
        return Ok(Stored {
            base: Some(base.to_string()),
            size,
            uploaded: false,
        });
    }
    store.publish_pack(&object, &patch.0).await?;
    Ok(Stored {
        base: Some(base.to_string()),
        size,
        uploaded: true,
    })
}

/// Puts a newly packed group (its temp file `tmp`, `stored` bytes) in the store, as a
/// patch when that pays (see [`choose_base`]), and tells its siblings when it went up
/// whole. `early` is the base read ahead for it, let go of here.
async fn put_new(
    store: &Store,
    shared: &Shared,
    role: Role,
    (root, group, unit): (&str, &str, Option<&str>),
    (tmp, info, stored): (PathBuf, &pack::PackInfo, u64),
    early: Option<String>,
) -> Result<Stored, GroupError> {
    let tmp = Arc::new(TmpPack(tmp));
    let new = NewPack {
        id: &info.id,
        root,
        group,
        unit,
        bytes: info.bytes,
    };
    let previous = bases::pick(&new, &shared.previous);
    let (base, tell) = choose_base(role, previous, &info.id).await;
    let held = base.as_ref().map(|b| b.id.clone());
    if let Some(b) = &held {
        shared.hold_base(b);
    }
    let put = store_pack(store, info, (&tmp.0, stored), base, shared).await;
    for b in early.iter().chain(&held) {
        shared.release_base(b);
    }
    let put = put.map_err(GroupError::Store)?;
    if let (Some(tx), None) = (tell, &put.base) {
        // A local store took the file in place; a bucket's upload left it here.
        let local = store.local.is_none().then(|| tmp.clone());
        let _ = tx.send(SiblingBase {
            id: info.id.clone(),
            local,
            sibling: true,
        });
    }
    Ok(put)
}

/// The stored object a group whose files the memo knows (`object`) may reference as it
/// is: `(id, base, stored size)`.
async fn reuse_known(
    store: &Store,
    object: &str,
    shared: &Shared,
) -> Result<Option<(String, Option<String>, u64)>, GroupError> {
    let Some((id, base)) = bases::reusable_known(object, shared.patches, &shared.distrust) else {
        return Ok(None);
    };
    // An old pack is uploaded again so a concurrent `gc` sees it as young (docs/stores.md).
    let size = store.reusable(id, base).await.map_err(GroupError::Store)?;
    Ok(size.map(|size| (id.to_string(), base.map(str::to_string), size)))
}

/// The restored snapshot's pack a group to pack would be patched against (its id is not
/// known yet), held for it (see [`Shared::hold_base`]) so it can be read ahead.
fn likely_base(
    root: &str,
    (group, unit, bytes): (&str, Option<&str>, u64),
    shared: &Shared,
) -> Option<String> {
    let new = NewPack {
        id: "",
        root,
        group,
        unit,
        bytes,
    };
    let base = bases::pick(&new, &shared.previous)?;
    shared.hold_base(base);
    Some(base.to_string())
}

/// Reads the pack `base` a new group (of expansion cap `cap`) would be patched against
/// into a temporary file while the group is packed, so a patch does not wait for it. A
/// failed read is tried again, and reported, by the patch itself.
async fn prefetch_base(store: &Store, base: &str, cap: ExpansionCap, shared: &Shared) {
    let limit = bases::base_tar_limit(cap);
    if let Err(e) = base_tar(store, BasePack::Stored(base), limit, shared).await {
        tracing::debug!("base {base} not read ahead: {e:#}");
    }
}

/// Which paths a unit's artifacts embed (`None` for a batch): the verdict of the
/// restored pack it still is (`known`), else a new relocation scan.
async fn verdict(
    scan: Option<Arc<Scan>>,
    known: Option<&str>,
    files: (&Arc<PathBuf>, &Arc<Vec<String>>),
    deps: Vec<String>,
    shared: &Shared,
) -> Result<Option<stash_core::relocation::PathBound>> {
    let reused = known
        .and_then(parse_object_name)
        .and_then(|(id, _)| shared.verdicts.get(id).cloned());
    match (scan, reused) {
        (None, _) => Ok(None),
        (Some(_), Some(v)) => Ok(v),
        (Some(scan), None) => scan_for_paths(scan, files, deps, shared).await,
    }
}

/// The base a new pack `id` is tried as a patch against, and who to tell when it goes up
/// whole: a sibling stored whole costs a restore nothing more, so it wins; otherwise
/// the restored snapshot's pack (`previous`), if any.
async fn choose_base(
    role: Role,
    previous: Option<&str>,
    id: &str,
) -> (Option<SiblingBase>, Option<oneshot::Sender<SiblingBase>>) {
    let previous = previous.map(|id| SiblingBase {
        id: id.to_string(),
        local: None,
        sibling: false,
    });
    match role {
        Role::Alone => (previous, None),
        Role::Base(tx) => (previous, Some(tx)),
        Role::Patch(sibling) => match sibling.await {
            Ok(s) if s.id != id => (Some(s), None),
            _ => (previous, None),
        },
    }
}

/// The relocation scan of a unit whose pack was not scanned before: which paths its
/// artifacts embed. Time summed for `-v`.
async fn scan_for_paths(
    scan: Arc<Scan>,
    (dir, paths): (&Arc<PathBuf>, &Arc<Vec<String>>),
    deps: Vec<String>,
    shared: &Shared,
) -> Result<Option<stash_core::relocation::PathBound>> {
    let (dir, paths) = (dir.clone(), paths.clone());
    let nanos = shared.scan_nanos.clone();
    // Scanning is CPU work that holds a unit's sections in memory: it takes an
    // encoder's place, so scans, compression and patches together stay within the
    // cores (and bat's delta save under 200 MB).
    let _cpu = shared.encoders.acquire().await?;
    let verdict = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let verdict = relocation::scan_unit(&scan, &dir, &paths, &deps);
        nanos.fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
        verdict
    })
    .await?;
    Ok(verdict)
}

/// Packs a group of `bytes` content bytes into a new temp file; returns its path, what
/// it holds and its size. A failed pack leaves no file behind.
async fn pack_group(
    shared: &Arc<Shared>,
    (dir, paths): (&Arc<PathBuf>, &Arc<Vec<String>>),
    bytes: u64,
) -> Result<(PathBuf, pack::PackInfo, u64)> {
    let n = shared.next.fetch_add(1, Ordering::Relaxed);
    // Other saves may share a local store's tmp dir.
    let tmp = shared
        .tmp_dir
        .join(format!("{}-{n}.zst", std::process::id()));
    match pack_into(shared, (dir, paths), bytes, &tmp).await {
        Ok((info, stored)) => Ok((tmp, info, stored)),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Packs the group into `tmp`, with an encoder's permit.
async fn pack_into(
    shared: &Arc<Shared>,
    (dir, paths): (&Arc<PathBuf>, &Arc<Vec<String>>),
    bytes: u64,
    tmp: &Path,
) -> Result<(pack::PackInfo, u64)> {
    // Compression is CPU-bound: one encoder per core, however many uploads are in flight.
    let _permit = shared.encoders.acquire().await?;
    let (dir, paths, tmp, kits) = (
        dir.clone(),
        paths.clone(),
        tmp.to_path_buf(),
        shared.clone(),
    );
    // One thread per pack is cheapest; a pack larger than a core's share of the
    // whole would finish alone at the end, so it gets every core.
    let threads = if bytes * u64::from(shared.cores) > shared.to_pack {
        shared.cores as usize
    } else {
        1
    };
    tokio::task::spawn_blocking(move || {
        let reused = kits.frames.lock().unwrap().pop();
        let mut frames = reused.unwrap_or_else(|| pack::Frames::new(ZSTD_LEVEL));
        let res = pack_to_file(&dir, &paths, &tmp, &mut frames, threads);
        kits.frames.lock().unwrap().push(frames);
        res
    })
    .await
    .map_err(anyhow::Error::from)
    .and_then(|r| r)
}

/// Where a packed group ended up in the store.
struct Stored {
    /// The pack it is a patch against, if it is one.
    base: Option<String>,
    /// Bytes of the object.
    size: u64,
    uploaded: bool,
}

/// Puts a packed group (`tmp`, `stored` bytes) in the store unless it is there already,
/// as a patch against `base` when that is at most half the size.
async fn store_pack(
    store: &Store,
    info: &pack::PackInfo,
    (tmp, stored): (&Path, u64),
    base: Option<SiblingBase>,
    shared: &Shared,
) -> Result<Stored> {
    let id = info.id.as_str();
    let found = |base, size| Stored {
        base,
        size,
        uploaded: false,
    };
    let trusted = |object: &str| !shared.distrust.contains(object);
    // A new pack is rarely stored already (its content is new), and a small one costs
    // about one round trip to upload: as much as asking. It goes up without asking,
    // unless the store's answer is known already.
    let ask = stored > ASK_FIRST_BYTES || store.knows(id);
    if trusted(id)
        && ask
        && let Some(size) = store.reusable(id, None).await?
    {
        return Ok(found(None, size));
    }
    if let Some(SiblingBase {
        id: base,
        local,
        sibling,
    }) = base
    {
        if trusted(&object_name(id, Some(&base)))
            && let Some(size) = store.reusable(id, Some(&base)).await?
        {
            return Ok(found(Some(base), size));
        }
        let base_pack = match local {
            Some(file) => BasePack::Local(&base, file),
            None => BasePack::Stored(&base),
        };
        let window = if sibling {
            SIBLING_WINDOW
        } else {
            stash_delta::WINDOW_LEN
        };
        match make_patch(store, info, (base_pack, window), tmp, shared).await {
            Ok((patch, size)) if bases::patch_pays(size, stored) => {
                let published = store
                    .publish_pack(&object_name(id, Some(&base)), &patch)
                    .await;
                let _ = tokio::fs::remove_file(&patch).await;
                published?;
                return Ok(Stored {
                    base: Some(base),
                    size,
                    uploaded: true,
                });
            }
            Ok((patch, size)) => {
                tracing::debug!("pack {id} stored whole: its patch is {size} of {stored} bytes");
                let _ = tokio::fs::remove_file(&patch).await;
            }
            Err(e) => tracing::info!("pack {id} stored whole, not patched: {e:#}"),
        }
    }
    store.publish_pack(id, tmp).await?;
    Ok(Stored {
        base: None,
        size: stored,
        uploaded: true,
    })
}

/// Where a patch's base is read from.
enum BasePack<'a> {
    /// A pack in the store, by id.
    Stored(&'a str),
    /// A pack this save just uploaded (its id), still in its temp file.
    Local(&'a str, Arc<TmpPack>),
}

impl BasePack<'_> {
    fn id(&self) -> &str {
        match self {
            BasePack::Stored(id) | BasePack::Local(id, _) => id,
        }
    }
}

/// Writes the patch of the packed group in `tmp` against the pack `base`, next to `tmp`,
/// and proves it rebuilds the group's tar; returns its path and size. Only a stored base
/// young enough for a save to reference (see [`Store::reusable_pack`]) is used, so `gc`
/// cannot take it meanwhile; a local one was just uploaded.
async fn make_patch(
    store: &Store,
    info: &pack::PackInfo,
    (base, window): (BasePack<'_>, usize),
    tmp: &Path,
    shared: &Shared,
) -> Result<(PathBuf, u64)> {
    // As far as a restore would read it: a larger base gives no patch.
    let limit = bases::base_tar_limit(ExpansionCap::of(info.bytes, info.files));
    let base_tar = base_tar(store, base, limit, shared).await?;
    let _memory = shared.window_permits(&base_tar, window).await?;
    // Encoding is CPU work like compressing: it takes an encoder's place (the download
    // of the base did not).
    let _cpu = shared.encoders.acquire().await?;
    let (full, id) = (tmp.to_path_buf(), info.id.clone());
    // A faulty patch would break this unit in every restore of the snapshot: it is
    // decoded and checked before it is stored, beside the encoder when cores are free.
    let beside = bases::check_while_writing(shared.to_pack);
    let out = tmp.with_extension("patch");
    let written = out.clone();
    let made = tokio::task::spawn_blocking(move || -> Result<u64> {
        let open =
            |p: &Path| std::fs::File::open(p).with_context(|| format!("opening {}", p.display()));
        let new_tar = zstd::Decoder::new(open(&full)?)?;
        let file =
            std::fs::File::create(&out).with_context(|| format!("creating {}", out.display()))?;
        let started = Instant::now();
        let size = if beside {
            pack::patch::encode_verified(&base_tar, new_tar, file, window, &id)?
        } else {
            let size = pack::patch::encode(&base_tar, new_tar, io::BufWriter::new(file), window)?;
            pack::patch::verify(&base_tar, io::BufReader::new(open(&out)?), &id)?;
            size
        };
        tracing::debug!(
            "patch of {id}: {size} bytes, made and checked in {:.2}s",
            started.elapsed().as_secs_f64()
        );
        Ok(size)
    })
    .await
    .map_err(anyhow::Error::from)
    .and_then(|r| r);
    match made {
        Ok(size) => Ok((written, size)),
        Err(e) => {
            let _ = std::fs::remove_file(&written);
            Err(e)
        }
    }
}

/// The tar of `base` in an unnamed temporary file, at most `limit` bytes. Each base is
/// read once per save: the units patched against one base (a binary and its sibling
/// after a dependency bump) and the read-ahead share it, each reading at its own place
/// (`pack::patch::At`).
async fn base_tar(
    store: &Store,
    base: BasePack<'_>,
    limit: u64,
    shared: &Shared,
) -> Result<std::fs::File> {
    let id = base.id().to_string();
    let cell = shared.base_cell(&id);
    let file = cell
        .get_or_try_init(|| read_base(store, base, &id, limit, shared))
        .await?;
    if file.metadata()?.len() > limit {
        bail!("base pack {id} holds more than {} MiB", limit >> 20);
    }
    Ok(file.try_clone()?)
}

/// Reads the stored or local pack `id` into a temporary file as its tar.
async fn read_base(
    store: &Store,
    base: BasePack<'_>,
    id: &str,
    limit: u64,
    shared: &Shared,
) -> Result<std::fs::File> {
    let (source, _keep): (Box<dyn io::Read + Send>, _) = match base {
        BasePack::Stored(base) => {
            if store.reusable_pack(base).await?.is_none() {
                bail!("base pack {base} is gone or too old to reference");
            }
            if let Some(file) = read_kept(base, limit, shared).await {
                return Ok(file);
            }
            (store.open_pack(base).await?, None)
        }
        BasePack::Local(_, file) => {
            let f = std::fs::File::open(&file.0)
                .with_context(|| format!("opening {}", file.0.display()))?;
            (
                Box::new(io::BufReader::with_capacity(1 << 20, f)),
                Some(file),
            )
        }
    };
    let (dir, id) = (shared.tmp_dir.clone(), id.to_string());
    tokio::task::spawn_blocking(move || pack::patch::read_to_file(source, &id, limit, &dir)).await?
}

/// The tar of pack `id` from the copy this job's restore kept (see `crate::kept`), if
/// it has one and it is what it claims to be.
async fn read_kept(id: &str, limit: u64, shared: &Shared) -> Option<std::fs::File> {
    let kept = kept::open(&shared.kept_dir, id)?;
    let (dir, id) = (shared.tmp_dir.clone(), id.to_string());
    let read = tokio::task::spawn_blocking(move || {
        let source = io::BufReader::with_capacity(1 << 20, kept);
        pack::patch::read_to_file(source, &id, limit, &dir)
            .inspect_err(|e| tracing::info!("kept pack {id} not used: {e:#}"))
    });
    read.await.ok()?.ok()
}

/// A base's tar, read once by whichever of its users comes first.
type BaseCell = Arc<tokio::sync::OnceCell<std::fs::File>>;

/// What every group's task shares.
struct Shared {
    memo: std::sync::Mutex<Memo>,
    tmp_dir: PathBuf,
    /// Packs this job's restore kept for patches (`crate::kept`).
    kept_dir: PathBuf,
    next: AtomicU64,
    cores: u32,
    /// Bytes of the groups the memo does not know: about what this save packs.
    to_pack: u64,
    encoders: tokio::sync::Semaphore,
    /// Compressors between packs: at most one per encoder permit.
    frames: std::sync::Mutex<Vec<pack::Frames>>,
    /// The restored snapshot's packs, bases for patches; empty without a restore and
    /// with `--no-patches`.
    previous: Vec<PackRef>,
    verdicts: Verdicts,
    /// Time spent in relocation scans, summed over units (`-v` reports it).
    scan_nanos: Arc<AtomicU64>,
    /// MiB the patches being encoded may hold (`bases::patch_budget_mib`).
    patch_memory: (tokio::sync::Semaphore, u32),
    /// The tar of each patch base in use, by pack id (see [`base_tar`]), with how many
    /// groups hold it: the last to let go removes it, and its file goes with the last
    /// handle, so disk for bases stays bounded by the groups in flight.
    bases: std::sync::Mutex<std::collections::HashMap<String, (BaseCell, usize)>>,
    /// Objects never reused: the restore found them missing or corrupt.
    distrust: BTreeSet<String>,
    /// Whether packs may be stored as (or reuse) patches.
    patches: bool,
}

impl Shared {
    fn new(store: &Store, ws: &Workspace, (memo, to_pack): (Memo, u64), on: Bases<'_>) -> Shared {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Shared {
            memo: std::sync::Mutex::new(memo),
            // Packs are written next to where they end up, so publishing one is a rename.
            tmp_dir: match &store.local {
                Some(dir) => dir.join(LAYOUT).join("tmp"),
                None => ws.state_dir().join("upload"),
            },
            kept_dir: kept::dir(&ws.state_dir()),
            next: AtomicU64::new(0),
            to_pack,
            frames: std::sync::Mutex::new(Vec::new()),
            cores: cores as u32,
            encoders: tokio::sync::Semaphore::new(cores),
            previous: on.previous,
            verdicts: on.verdicts,
            scan_nanos: Arc::new(AtomicU64::new(0)),
            patch_memory: {
                let budget = bases::patch_budget_mib(to_pack);
                (tokio::sync::Semaphore::new(budget as usize), budget)
            },
            bases: Default::default(),
            distrust: on.distrust.clone(),
            patches: on.patches,
        }
    }

    /// Room for a patch holding at most `window` bytes of `base`
    /// (`bases::patch_cost_mib`).
    async fn window_permits(
        &self,
        base: &std::fs::File,
        window: usize,
    ) -> Result<tokio::sync::SemaphorePermit<'_>> {
        let held = base.metadata()?.len().min(window as u64);
        let (memory, budget) = &self.patch_memory;
        let permits = memory.acquire_many(bases::patch_cost_mib(held, *budget));
        Ok(permits.await?)
    }

    /// Where base `id`'s tar is (or will be) read.
    fn base_cell(&self, id: &str) -> BaseCell {
        let mut bases = self.bases.lock().unwrap();
        bases.entry(id.to_string()).or_default().0.clone()
    }

    /// Keeps base `id`'s tar (once read) until [`Shared::release_base`].
    fn hold_base(&self, id: &str) {
        self.bases
            .lock()
            .unwrap()
            .entry(id.to_string())
            .or_default()
            .1 += 1;
    }

    /// Lets go of base `id`; the last holder removes it.
    fn release_base(&self, id: &str) {
        let mut bases = self.bases.lock().unwrap();
        if let Some(entry) = bases.get_mut(id) {
            entry.1 = entry.1.saturating_sub(1);
            if entry.1 == 0 {
                bases.remove(id);
            }
        }
    }

    /// After the last group: drops a bucket's temp dir (a local store's is shared with
    /// other saves), reports the scan time and keeps the memo for the next save.
    fn finish(&self, store: &Store, ws: &Workspace) {
        if store.local.is_none() {
            let _ = std::fs::remove_dir_all(&self.tmp_dir);
        }
        kept::clear(&self.kept_dir);
        let scanned = self.scan_nanos.load(Ordering::Relaxed);
        if scanned > 0 {
            tracing::info!(
                "relocation scan: {:.2}s summed over units",
                scanned as f64 / 1e9
            );
        }
        if let Err(e) = self.memo.lock().unwrap().store(&ws.state_dir()) {
            tracing::debug!("memo not written: {e:#}");
        }
    }
}

/// What the relocation scan found in each restored pack, by pack id: a pack reused
/// unchanged is not scanned again.
pub type Verdicts = std::collections::HashMap<String, Option<stash_core::relocation::PathBound>>;

/// One group to save, and what its relocation scan needs.
pub struct Job {
    pub root: &'static str,
    pub dir: Arc<PathBuf>,
    pub group: Group,
    /// rustc's dep-info files of the unit (not packed, read by the relocation scan).
    pub deps: Vec<String>,
    /// Set for units: what the relocation scan looks for.
    pub scan: Option<Arc<Scan>>,
}

/// Packs the group into `tmp`; returns what it holds and the bytes written.
fn pack_to_file(
    dir: &Path,
    paths: &[String],
    tmp: &Path,
    frames: &mut pack::Frames,
    threads: usize,
) -> Result<(pack::PackInfo, u64)> {
    let file = std::fs::File::create(tmp).with_context(|| format!("creating {}", tmp.display()))?;
    let mut out = CountWriter {
        inner: io::BufWriter::with_capacity(1 << 20, file),
        count: 0,
    };
    let info = pack::encode_with(dir, paths, frames, threads, &mut out)?;
    out.inner.flush().context("writing pack")?;
    Ok((info, out.count))
}
