//! The upload pipeline of a save, for either layer: each group is packed (tar -> zstd)
//! into a temp file, stored as a patch against the restored snapshot's pack when that
//! pays, and put in the store unless the store has it already. The memo lets an
//! unchanged group skip packing altogether.

use std::collections::BTreeSet;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use futures::StreamExt;
use stash_core::bases::{self, NewPack};
use stash_core::manifest::{ExpansionCap, object_name, parse_object_name};
use stash_core::output::SaveOutput;
use stash_core::{Group, PackRef};

use crate::commands::Ctx;
use crate::error::describe;
use crate::memo::{self, Memo};
use crate::pack::{self, CountWriter};
use crate::relocation::{self, Scan};
use crate::store::{LAYOUT, Store};
use crate::workspace::Workspace;

/// zstd level of packs (zstd's default).
const ZSTD_LEVEL: i32 = 3;

/// The packs of a save, and the `(root, path)` of every file they hold.
pub type Uploaded = (Vec<PackRef>, BTreeSet<(String, String)>);

/// Uploads every group's pack (in parallel, largest first) and tallies the bytes.
/// Returns the packs and the `(root, path)` of every file they hold.
pub async fn upload_all(
    ctx: &Ctx,
    store: &Store,
    ws: &Workspace,
    mut work: Vec<Job>,
    (mut previous, distrust, verdicts): (Vec<PackRef>, &BTreeSet<String>, Verdicts),
    out: &mut SaveOutput,
) -> Result<Uploaded> {
    // A base that failed at restore is no base.
    previous.retain(|p| !p.needs_any(distrust));
    let total: u64 = work.iter().map(|j| j.group.bytes).sum();
    // Largest first, so one big pack does not finish alone at the end.
    work.sort_by_key(|j| std::cmp::Reverse(j.group.bytes));
    let shared = Arc::new(Shared::new(store, ws, total, previous, verdicts, distrust));
    std::fs::create_dir_all(&shared.tmp_dir)
        .with_context(|| format!("creating {}", shared.tmp_dir.display()))?;
    let bar = ctx.report.bar(total, "saving");
    let results: Vec<Result<Saved, GroupError>> = futures::stream::iter(work)
        .map(|job| {
            let (store, bar, shared) = (store.clone(), bar.clone(), shared.clone());
            async move {
                let bytes = job.group.bytes;
                let r = save_group(store, job, shared).await;
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
async fn save_group(store: Store, job: Job, shared: Arc<Shared>) -> Result<Saved, GroupError> {
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
    let stat = {
        let (dir, paths) = (dir.clone(), paths.clone());
        tokio::task::spawn_blocking(move || memo::stat(root, &dir, &paths))
            .await
            .map_err(|e| local(e.into()))?
    };
    let known = stat
        .as_ref()
        .and_then(|s| shared.memo.lock().unwrap().get(s).map(str::to_string));
    let reused = known
        .as_deref()
        .and_then(parse_object_name)
        .and_then(|(id, _)| shared.verdicts.get(id).cloned());
    let path_bound = match (scan, reused) {
        (None, _) => None,
        (Some(_), Some(v)) => v,
        (Some(scan), None) => scan_for_paths(scan, (&dir, &paths), deps, &shared)
            .await
            .map_err(local)?,
    };
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
    if let (Some(object), Some(s)) = (known, &stat)
        && let Some((id, base)) =
            bases::reusable_known(&object, !shared.previous.is_empty(), &shared.distrust)
        // An old pack is uploaded again so a concurrent `gc` sees it as young (docs/stores.md).
        && let Some(size) = store.reusable(id, base).await.map_err(GroupError::Store)?
    {
        let pack = pack(id, base, s.files, s.bytes, size);
        return Ok(Saved {
            pack,
            paths,
            uploaded: false,
        });
    }

    let (tmp, info, stored) = pack_group(&shared, (&dir, &paths), group.bytes)
        .await
        .map_err(local)?;
    // Remember the object only if nothing changed while packing.
    let unchanged = stat
        .filter(|s| memo::stat(root, &dir, &paths).is_some_and(|after| after.digest == s.digest));
    let new = NewPack {
        id: &info.id,
        root,
        group: &group.name,
        unit: group.unit.as_deref(),
        bytes: info.bytes,
    };
    let base = bases::pick(&new, &shared.previous).map(str::to_string);
    let result = store_pack(&store, &info, (&tmp, stored), base, &shared).await;
    let _ = tokio::fs::remove_file(&tmp).await;
    let put = result.map_err(GroupError::Store)?;
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
    let threads = if bytes * u64::from(shared.cores) > shared.total {
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
    base: Option<String>,
    shared: &Shared,
) -> Result<Stored> {
    let id = info.id.as_str();
    let found = |base, size| Stored {
        base,
        size,
        uploaded: false,
    };
    let trusted = |object: &str| !shared.distrust.contains(object);
    if trusted(id)
        && let Some(size) = store.reusable(id, None).await?
    {
        return Ok(found(None, size));
    }
    if let Some(base) = base {
        if trusted(&object_name(id, Some(&base)))
            && let Some(size) = store.reusable(id, Some(&base)).await?
        {
            return Ok(found(Some(base), size));
        }
        match make_patch(store, info, &base, tmp, shared).await {
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

/// Writes the patch of the packed group in `tmp` against the stored pack `base`, next
/// to `tmp`, and proves it rebuilds the group's tar; returns its path and size. Only a
/// base young enough for a save to reference (see [`Store::reusable_pack`]) is used, so
/// `gc` cannot take it meanwhile.
async fn make_patch(
    store: &Store,
    info: &pack::PackInfo,
    base: &str,
    tmp: &Path,
    shared: &Shared,
) -> Result<(PathBuf, u64)> {
    let _one = shared.patching.acquire().await?;
    if store.reusable_pack(base).await?.is_none() {
        bail!("base pack {base} is gone or too old to reference");
    }
    let stored_base = store.open_pack(base).await?;
    // Encoding is CPU work like compressing: it takes an encoder's place.
    let _cpu = shared.encoders.acquire().await?;
    let (base, full, id) = (base.to_string(), tmp.to_path_buf(), info.id.clone());
    let out = tmp.with_extension("patch");
    let written = out.clone();
    let dir = shared.tmp_dir.clone();
    // As far as a restore would read it: a larger base gives no patch.
    let limit = bases::base_tar_limit(ExpansionCap::of(info.bytes, info.files));
    let made = tokio::task::spawn_blocking(move || -> Result<u64> {
        let base_tar = pack::patch::read_to_file(stored_base, &base, limit, &dir)?;
        let open =
            |p: &Path| std::fs::File::open(p).with_context(|| format!("opening {}", p.display()));
        let new_tar = zstd::Decoder::new(open(&full)?)?;
        let file =
            std::fs::File::create(&out).with_context(|| format!("creating {}", out.display()))?;
        let size = pack::patch::encode(&base_tar, new_tar, io::BufWriter::new(file))?;
        // A faulty patch would break this unit in every restore of the snapshot.
        pack::patch::verify(&base_tar, io::BufReader::new(open(&out)?), &id)?;
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

/// What every group's task shares.
struct Shared {
    memo: std::sync::Mutex<Memo>,
    tmp_dir: PathBuf,
    next: AtomicU64,
    cores: u32,
    /// Bytes of all groups of this save.
    total: u64,
    encoders: tokio::sync::Semaphore,
    /// Compressors between packs: at most one per encoder permit.
    frames: std::sync::Mutex<Vec<pack::Frames>>,
    /// The restored snapshot's packs, bases for patches; empty without a restore and
    /// with `--no-patches`, and then no pack is stored as (or reuses) a patch.
    previous: Vec<PackRef>,
    verdicts: Verdicts,
    /// Time spent in relocation scans, summed over units (`-v` reports it).
    scan_nanos: Arc<AtomicU64>,
    /// One base tar in memory at a time.
    patching: tokio::sync::Semaphore,
    /// Objects never reused: the restore found them missing or corrupt.
    distrust: BTreeSet<String>,
}

impl Shared {
    fn new(
        store: &Store,
        ws: &Workspace,
        total: u64,
        previous: Vec<PackRef>,
        verdicts: Verdicts,
        distrust: &BTreeSet<String>,
    ) -> Shared {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Shared {
            memo: std::sync::Mutex::new(Memo::load(&ws.state_dir())),
            // Packs are written next to where they end up, so publishing one is a rename.
            tmp_dir: match &store.local {
                Some(dir) => dir.join(LAYOUT).join("tmp"),
                None => ws.state_dir().join("upload"),
            },
            next: AtomicU64::new(0),
            total,
            frames: std::sync::Mutex::new(Vec::new()),
            cores: cores as u32,
            encoders: tokio::sync::Semaphore::new(cores),
            previous,
            verdicts,
            scan_nanos: Arc::new(AtomicU64::new(0)),
            patching: tokio::sync::Semaphore::new(1),
            distrust: distrust.clone(),
        }
    }

    /// After the last group: drops a bucket's temp dir (a local store's is shared with
    /// other saves), reports the scan time and keeps the memo for the next save.
    fn finish(&self, store: &Store, ws: &Workspace) {
        if store.local.is_none() {
            let _ = std::fs::remove_dir_all(&self.tmp_dir);
        }
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
