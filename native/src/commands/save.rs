//! `cargo stash save`: sanitize the target dir and publish it as a snapshot. Packs go
//! first (only those the store lacks), the manifest last with create-if-absent (or an
//! atomic overwrite of a stored snapshot found wanting, see `stash_core::supersede`),
//! so no reader ever sees a manifest whose packs are missing.

use std::collections::BTreeSet;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use futures::StreamExt;
use object_store::buffered::BufWriter;
use stash_core::bases::{self, NewPack};
use stash_core::manifest::{ExpansionCap, MANIFEST_SCHEMA};
use stash_core::manifest::{object_name, parse_object_name};
use stash_core::output::{SaveOutcome, SaveOutput};
use stash_core::supersede::{self, Publish, Stored as AtKey};
use stash_core::usage::RestoreSeen;
use stash_core::{Group, Layer, Manifest, PackRef, PlanOptions, Root, key, plan, registry};
use tokio::io::AsyncWriteExt;

use super::{Ctx, Done};
use crate::cli::{KeyArgs, PlanArgs};
use crate::commands::clean::plan_options;
use crate::error::{describe, is_cache_problem};
use crate::memo::{self, Memo};
use crate::pack::{self, CountWriter};
use crate::relocation::{self, Scan};
use crate::report::human_bytes;
use crate::state::{RestoredUnits, State, unix_now};
use crate::store::{Found, LAYOUT, Store};
use crate::workspace::{Workspace, cargo_home};
use crate::{inputs, listing, sources, usage};

const ZSTD_LEVEL: i32 = 3;
/// Upload buffer per pack in flight; larger packs go up as multipart uploads.
const UPLOAD_BUFFER: usize = 8 << 20;

pub async fn run(
    ctx: &Ctx,
    key_args: &KeyArgs,
    plan_args: &PlanArgs,
    no_patches: bool,
) -> Result<Done> {
    let start = Instant::now();
    let (ws, inputs) = inputs::discover(ctx.global.manifest_path.as_deref(), key_args)?;
    let keys = key::compute(&inputs)?;
    let state = State::load(&ws.state_dir()).filter(|s| !s.saved);
    let key = keys.target.key.clone();
    if let Some(s) = state.as_ref().filter(|s| s.key != key) {
        tracing::info!("the key changed since restore ({} -> {key})", s.key);
    }
    let mut out = SaveOutput::start("target", &key);
    let store = match ctx.store() {
        Ok(store) => store,
        Err(err) if is_cache_problem(&err) => return cache_problem(ctx, err, &mut out),
        Err(err) => return Err(err),
    };
    let until = tokio::time::Instant::now() + store.deadline;
    if let Some(s) = &state {
        store.seen.lock().unwrap().extend(s.seen.clone());
    }
    let seen = state.as_ref().map(restore_seen);
    let exact_hit = supersede::skip_after_exact_hit(&key, seen.as_ref());
    // Objects this job's restore found missing or corrupt: never reused, and a snapshot
    // naming them is replaced.
    let distrust: BTreeSet<String> = state
        .as_ref()
        .map(|s| s.failed.iter().cloned().collect())
        .unwrap_or_default();
    let result = {
        let usage = stash_core::usage::prune_policy(plan_args.keep_unused, seen.as_ref());
        if let Err(note) = &usage {
            out.usage_note = Some(note.clone());
        }
        let mut scope = Scope {
            exact_hit,
            prune_unused: usage.is_ok(),
            previous: Vec::new(),
            distrust: distrust.clone(),
            verdicts: Default::default(),
        };
        // After an exact hit the save usually skips itself (see `exact_hit_covers`)
        // before it needs the restored snapshot's packs: no store request for them.
        let restored = state.as_ref().and_then(|s| s.restored_key.clone());
        if !exact_hit {
            scope
                .load_previous(&store, restored.as_deref(), no_patches)
                .await;
        }
        let work = save(
            ctx,
            &ws,
            &store,
            &keys,
            plan_args,
            (scope, restored, no_patches),
            &mut out,
        );
        store.within(until, "save", work).await
    };
    if result.is_ok() && !plan_args.no_registry {
        let mut reg = SaveOutput::start("registry", &keys.registry.key);
        let work = save_registry(ctx, &ws, &store, &keys.registry.key, &distrust, &mut reg);
        match store.within(until, "registry save", work).await {
            Ok(()) => out.registry = Some(Box::new(reg)),
            Err(e) => out
                .warnings
                .push(format!("registry layer not saved: {}", describe(&e))),
        }
    }
    out.seconds = start.elapsed().as_secs_f64();
    out.requests = Some(store.requests.snapshot());
    if let Err(err) = result {
        return cache_problem(ctx, err, &mut out);
    }
    // `stats` still needs the restore's record; the next save must not use it.
    if let Some(mut s) = state {
        s.saved = true;
        if let Err(e) = s.store(&ws.state_dir()) {
            tracing::debug!("restore record not updated: {e:#}");
        }
    }
    for w in &out.warnings {
        ctx.report.warn(w);
    }
    let human = match out.requests {
        Some(r) if ctx.global.verbose > 0 => format!("{}\n{r}", human(&out)),
        _ => human(&out),
    };
    ctx.report.result(&out, &human);
    Ok(Done::Ok)
}

/// The human report of a save.
fn human(out: &SaveOutput) -> String {
    let key = &out.key;
    let human = match out.outcome {
        SaveOutcome::Saved => format!(
            "saved {key}: {} packs ({} unused units left out), uploaded {} ({} new, {} as patches), skipped {} already stored, {:.1}s",
            out.packs,
            out.units_unused,
            human_bytes(out.bytes_uploaded),
            out.packs_uploaded,
            out.packs_patched,
            human_bytes(out.bytes_skipped),
            out.seconds
        ),
        SaveOutcome::AlreadySaved => {
            format!("already saved: {key} exists in the store; nothing uploaded")
        }
        SaveOutcome::NothingToSave => format!(
            "nothing to save for {key}: the target dir holds no built unit (build first); nothing published"
        ),
        _ => format!("exact hit on {key} at restore: nothing to save"),
    };
    let human = match &out.replaced {
        Some(why) => format!("{human}\nreplaced the stored snapshot: {why}"),
        None => human,
    };
    match &out.registry {
        Some(r) if r.outcome == SaveOutcome::Saved => format!(
            "{human}\nregistry {}: {} packs, uploaded {}",
            r.key,
            r.packs,
            human_bytes(r.bytes_uploaded)
        ),
        Some(r) => format!("{human}\nregistry {}: already saved", r.key),
        None => human,
    }
}

/// The restore this job recorded, as core's rules read it.
fn restore_seen(s: &State) -> RestoreSeen<'_> {
    RestoreSeen {
        hit: s.hit,
        restored_key: s.restored_key.as_deref(),
        atime_works: s.atime_works,
        packs_failed: s.failed.len(),
    }
}

/// Warns and reports the save as failed; the runner decides the exit code (`--strict`).
pub fn cache_problem(ctx: &Ctx, err: anyhow::Error, out: &mut SaveOutput) -> Result<Done> {
    ctx.report
        .warn(&format!("cache not saved: {}", describe(&err)));
    out.outcome = SaveOutcome::Failed;
    out.warnings.push(describe(&err));
    ctx.report
        .result(out, "cache not saved (the build is unaffected)");
    Ok(Done::CacheProblem { what: "save", err })
}

/// What this save may lean on from the restore before it.
struct Scope {
    /// The restore was an exact hit on this key with every pack restored.
    exact_hit: bool,
    /// Whether units this job did not use can be left out.
    prune_unused: bool,
    /// The packs of the snapshot restored in this job: bases for patches.
    previous: Vec<PackRef>,
    /// Objects the restore found missing or corrupt.
    distrust: BTreeSet<String>,
    /// Pack id -> relocation verdict of the restored snapshot, when it was scanned: an
    /// unchanged pack keeps its verdict without a new scan.
    verdicts: Verdicts,
}

/// The packs of the snapshot this job restored, if any, and whether its units were
/// scanned for paths; a save that cannot read them stores every pack whole.
async fn previous_packs(store: &Store, restored: Option<&str>) -> (Vec<PackRef>, bool) {
    let Some(key) = restored else {
        return (Vec::new(), false);
    };
    match store.manifest(Layer::Target, key).await {
        Ok(Some(m)) => (m.packs, m.anchors.is_some()),
        Ok(None) => (Vec::new(), false),
        Err(e) => {
            tracing::info!("packs stored whole: the restored snapshot is unreadable: {e:#}");
            (Vec::new(), false)
        }
    }
}

async fn save(
    ctx: &Ctx,
    ws: &Workspace,
    store: &Store,
    keys: &stash_core::KeySet,
    plan_args: &PlanArgs,
    (mut scope, restored, no_patches): (Scope, Option<String>, bool),
    out: &mut SaveOutput,
) -> Result<()> {
    let key = out.key.clone();
    let opts = plan_options(plan_args);
    let relocation = Arc::new(Scan::new(ws));
    let mut work: Vec<Job> = Vec::new();
    let mut links = Vec::new();
    let mut roots = std::collections::BTreeMap::new();
    for (name, dir) in ws.roots() {
        roots.insert(name.to_string(), dir.display().to_string());
        let entries = listing::list(&dir)?;
        let mut plan = plan::plan(&entries, &opts);
        if scope.prune_unused {
            match usage::used_units(&dir, &plan.groups) {
                Some(used) => {
                    let pruned = PlanOptions {
                        used_units: Some(used),
                        ..opts.clone()
                    };
                    plan = plan::plan(&entries, &pruned);
                    out.units_unused += plan.unused_units.len() as u64;
                }
                // Saving right after a restore (a failed job, say) must not empty the cache.
                None => out.usage_note = Some(stash_core::usage::NOTHING_TOUCHED.into()),
            }
        }
        let dir = Arc::new(dir);
        let mut dep_files = relocation::dep_files(&entries);
        for (path, target) in plan.links {
            links.push(stash_core::LinkRef {
                root: name.into(),
                path,
                target,
            });
        }
        work.extend(plan.groups.into_iter().map(|group| Job {
            root: name,
            dir: dir.clone(),
            deps: dep_files.remove(&group.name).unwrap_or_default(),
            scan: group.unit.is_some().then(|| relocation.clone()),
            group,
        }));
    }
    let built = content_groups(work.iter().map(|j| (j.root, &j.group)));
    if scope.exact_hit {
        if exact_hit_covers(ws, &built) {
            out.outcome = SaveOutcome::SkippedExactHit;
            return Ok(());
        }
        // A partial snapshot: its packs are patch bases, and its verdicts stand for the
        // units restored from it (their rustc dep-info is gone, so no new scan could).
        scope
            .load_previous(store, restored.as_deref(), no_patches)
            .await;
    }
    let (decision, carried) =
        decide(ctx, store, Layer::Target, &key, &built, &scope.distrust).await?;
    if let Some(outcome) = decision.outcome_without_publishing() {
        out.outcome = outcome;
        return Ok(());
    }
    // The checkout is read while the packs are made: neither depends on the other.
    let scan = {
        let skip: Vec<PathBuf> = ws.roots().into_iter().map(|(_, d)| d).collect();
        let root = ws.root.clone();
        tokio::task::spawn_blocking(move || sources::scan(&sources::checkout_root(&root), &skip))
    };
    let (packs, stored_paths) = upload_all(
        ctx,
        store,
        ws,
        work,
        (scope.previous, &scope.distrust, scope.verdicts),
        out,
    )
    .await?;
    let bound: Vec<&PackRef> = packs.iter().filter(|p| p.path_bound.is_some()).collect();
    if !bound.is_empty() {
        tracing::info!(
            "{} units are path-bound (rebuilt by a restore at another path)",
            bound.len()
        );
        for p in bound {
            let why = p.path_bound.as_ref().map_or("", |b| b.why.as_str());
            tracing::info!(
                "path-bound: {} ({}): {why}",
                p.unit.as_deref().unwrap_or("?"),
                p.group
            );
        }
    }
    // A link whose target was left out would dangle at restore.
    links.retain(|l| stored_paths.contains(&(l.root.clone(), l.target.clone())));
    let packs = supersede::snapshot_packs(packs, carried, &decision);
    out.packs = packs.len() as u64;
    let source_manifest = match scan.await.map_err(anyhow::Error::from).and_then(|r| r) {
        Ok(s) => Some(s),
        Err(e) => {
            out.warnings
                .push(format!("source mtimes not recorded: {}", describe(&e)));
            None
        }
    };
    let manifest = Manifest {
        schema: MANIFEST_SCHEMA,
        layer: Layer::Target.to_string(),
        key: key.clone(),
        created: unix_now(),
        tool: format!("cargo-stash {}", env!("CARGO_PKG_VERSION")),
        roots,
        packs,
        links,
        inputs: keys.explain.clone(),
        sources: source_manifest,
        anchors: Some(relocation.anchors.clone()),
    };
    finish_publish(store, &decision, manifest, out).await
}

/// `(root, group)` of the groups that make a snapshot worth publishing.
fn content_groups<'a>(
    groups: impl Iterator<Item = (&'a str, &'a Group)>,
) -> BTreeSet<(String, String)> {
    groups
        .filter(|(_, g)| supersede::is_content(&g.name))
        .map(|(root, g)| (root.to_string(), g.name.clone()))
        .collect()
}

/// What to do at `key`: reads the stored snapshot, checks that the objects it names are
/// there (unless the units already decide), and applies `stash_core::supersede`.
async fn decide(
    ctx: &Ctx,
    store: &Store,
    layer: Layer,
    key: &str,
    built: &BTreeSet<(String, String)>,
    distrust: &BTreeSet<String>,
) -> Result<(Publish, Vec<PackRef>)> {
    if built.is_empty() {
        return Ok((Publish::Nothing, Vec::new()));
    }
    let found = store.read_manifest(layer, key).await?;
    let manifest = match &found {
        Found::Missing => return Ok((supersede::decide(&AtKey::Absent, built), Vec::new())),
        Found::Bad(e) => {
            tracing::info!("replacing {key}: {e:#}");
            let decision = supersede::decide(&AtKey::Unreadable, built);
            return Ok((decision, Vec::new()));
        }
        Found::Newer(_) => return Ok((supersede::decide(&AtKey::Newer, built), Vec::new())),
        Found::Good(m) => m,
    };
    let mut bad = distrust.clone();
    let objects: BTreeSet<String> = manifest
        .packs
        .iter()
        .flat_map(PackRef::objects)
        .filter(|o| !bad.contains(o))
        .collect();
    let heads: Vec<(String, Result<bool>)> = futures::stream::iter(objects)
        .map(|o| async move {
            let there = store.head(&Store::pack_path(&o)).await.map(|m| m.is_some());
            (o, there)
        })
        .buffer_unordered(ctx.jobs)
        .collect()
        .await;
    for (object, there) in heads {
        if !there? {
            bad.insert(object);
        }
    }
    let decision = supersede::decide(
        &AtKey::Readable {
            manifest,
            bad_objects: &bad,
        },
        built,
    );
    Ok((decision, supersede::carried_over(manifest, &bad, built)))
}

impl Scope {
    /// The packs of the snapshot restored in this job (bases for patches unless
    /// `no_patches`) and, when it was scanned, their relocation verdicts.
    async fn load_previous(&mut self, store: &Store, restored: Option<&str>, no_patches: bool) {
        let (previous, scanned) = previous_packs(store, restored).await;
        if scanned {
            self.verdicts = previous
                .iter()
                .map(|p| (p.id.clone(), p.path_bound.clone()))
                .collect();
        }
        if !no_patches {
            self.previous = previous;
        }
    }
}

/// Whether this job's content groups all came from the exact-hit snapshot it restored:
/// then there is nothing to add and the save skips itself (`stash_core::supersede`).
fn exact_hit_covers(ws: &Workspace, built: &BTreeSet<(String, String)>) -> bool {
    let restored = RestoredUnits::load(&ws.state_dir());
    let units: BTreeSet<(String, String)> = restored
        .units
        .keys()
        .filter_map(|k| k.split_once(':'))
        .map(|(root, group)| (root.to_string(), group.to_string()))
        .collect();
    let bound: BTreeSet<String> = restored.path_bound.into_iter().map(|u| u.unit).collect();
    supersede::exact_hit_covers(&units, &bound, built)
}

/// Publishes the manifest as decided: create-if-absent, or an atomic overwrite of a
/// snapshot found wanting. A snapshot left without content is not published.
async fn finish_publish(
    store: &Store,
    decision: &Publish,
    manifest: Manifest,
    out: &mut SaveOutput,
) -> Result<()> {
    if !supersede::worth_publishing(&manifest.packs) {
        out.outcome = SaveOutcome::NothingToSave;
        return Ok(());
    }
    let layer = Layer::parse(&manifest.layer).context("a snapshot of an unknown layer")?;
    let key = manifest.key.clone();
    out.outcome = match decision {
        Publish::Replace(why) => {
            store
                .replace_manifest(layer, &key, manifest.to_json())
                .await?;
            out.replaced = Some(why.to_string());
            SaveOutcome::Saved
        }
        _ if store
            .create_manifest(layer, &key, manifest.to_json())
            .await? =>
        {
            SaveOutcome::Saved
        }
        _ => SaveOutcome::AlreadySaved,
    };
    Ok(())
}

/// Uploads every group's pack (in parallel, largest first) and tallies the bytes.
/// Returns the packs and the `(root, path)` of every file they hold.
async fn upload_all(
    ctx: &Ctx,
    store: &Store,
    ws: &Workspace,
    mut work: Vec<Job>,
    (mut previous, distrust, verdicts): (Vec<PackRef>, &BTreeSet<String>, Verdicts),
    out: &mut SaveOutput,
) -> Result<(Vec<PackRef>, std::collections::BTreeSet<(String, String)>)> {
    // A base that failed at restore is no base.
    previous.retain(|p| !p.needs_any(distrust));
    let mut packs = Vec::new();
    let mut stored_paths = std::collections::BTreeSet::new();
    let total: u64 = work.iter().map(|j| j.group.bytes).sum();
    // Largest first, so one big pack does not finish alone at the end.
    work.sort_by_key(|j| std::cmp::Reverse(j.group.bytes));
    let shared = Arc::new(Shared {
        memo: std::sync::Mutex::new(Memo::load(&ws.state_dir())),
        // Packs are written next to where they end up, so publishing one is a rename.
        tmp_dir: match &store.local {
            Some(dir) => dir.join(LAYOUT).join("tmp"),
            None => ws.state_dir().join("upload"),
        },
        next: AtomicU64::new(0),
        total,
        frames: std::sync::Mutex::new(Vec::new()),
        cores: std::thread::available_parallelism().map_or(2, |n| n.get() as u32),
        encoders: tokio::sync::Semaphore::new(
            std::thread::available_parallelism().map_or(2, |n| n.get()),
        ),
        previous,
        verdicts,
        scan_nanos: Arc::new(AtomicU64::new(0)),
        patching: tokio::sync::Semaphore::new(1),
        distrust: distrust.clone(),
    });
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
    if store.local.is_none() {
        let _ = std::fs::remove_dir_all(&shared.tmp_dir);
    }
    let scanned = shared.scan_nanos.load(Ordering::Relaxed);
    if scanned > 0 {
        tracing::info!(
            "relocation scan: {:.2}s summed over units",
            scanned as f64 / 1e9
        );
    }
    if let Err(e) = shared.memo.lock().unwrap().store(&ws.state_dir()) {
        tracing::debug!("memo not written: {e:#}");
    }
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

/// Saves the registry layer (downloaded crates, index, git databases) under its own key,
/// unless the store has it already.
async fn save_registry(
    ctx: &Ctx,
    ws: &Workspace,
    store: &Store,
    key: &str,
    distrust: &BTreeSet<String>,
    out: &mut SaveOutput,
) -> Result<()> {
    let home = cargo_home()?;
    let mut entries = Vec::new();
    for sub in ["registry/index", "registry/cache", "git/db"] {
        for mut e in listing::list(&home.join(sub))? {
            e.path = format!("{sub}/{}", e.path);
            entries.push(e);
        }
    }
    let lock = match std::fs::read_to_string(ws.root.join("Cargo.lock")) {
        Ok(text) => Some(registry::lock_packages(&text)?),
        Err(_) => None,
    };
    let plan = registry::plan(&entries, lock.as_ref(), 32 << 20);
    let built = content_groups(plan.groups.iter().map(|g| (Root::CargoHome.as_str(), g)));
    let (decision, carried) = decide(ctx, store, Layer::Registry, key, &built, distrust).await?;
    if let Some(outcome) = decision.outcome_without_publishing() {
        out.outcome = outcome;
        return Ok(());
    }
    let home = Arc::new(home);
    let work = plan
        .groups
        .into_iter()
        .map(|group| Job {
            root: Root::CargoHome.as_str(),
            dir: home.clone(),
            deps: Vec::new(),
            scan: None,
            group,
        })
        .collect();
    let (packs, _) = upload_all(
        ctx,
        store,
        ws,
        work,
        (Vec::new(), distrust, Default::default()),
        out,
    )
    .await?;
    let packs = supersede::snapshot_packs(packs, carried, &decision);
    out.packs = packs.len() as u64;
    let manifest = Manifest {
        schema: MANIFEST_SCHEMA,
        layer: Layer::Registry.to_string(),
        key: key.to_string(),
        created: unix_now(),
        tool: format!("cargo-stash {}", env!("CARGO_PKG_VERSION")),
        roots: [(Root::CargoHome.to_string(), home.display().to_string())].into(),
        packs,
        links: Vec::new(),
        inputs: Vec::new(),
        sources: None,
        anchors: None,
    };
    finish_publish(store, &decision, manifest, out).await
}

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
        (Some(scan), None) => {
            let (dir, paths) = (dir.clone(), paths.clone());
            let nanos = shared.scan_nanos.clone();
            tokio::task::spawn_blocking(move || {
                let started = Instant::now();
                let verdict = relocation::scan_unit(&scan, &dir, &paths, &deps);
                nanos.fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
                verdict
            })
            .await
            .map_err(|e| local(e.into()))?
        }
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

    let n = shared.next.fetch_add(1, Ordering::Relaxed);
    // Other saves may share a local store's tmp dir.
    let tmp = shared
        .tmp_dir
        .join(format!("{}-{n}.zst", std::process::id()));
    let packed = {
        // Compression is CPU-bound: one encoder per core, however many uploads are in flight.
        let _permit = shared
            .encoders
            .acquire()
            .await
            .map_err(|e| local(e.into()))?;
        let (dir, paths, tmp, kits) = (dir.clone(), paths.clone(), tmp.clone(), shared.clone());
        // One thread per pack is cheapest; a pack larger than a core's share of the
        // whole would finish alone at the end, so it gets every core.
        let threads = if group.bytes * u64::from(shared.cores) > shared.total {
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
    };
    let (info, stored) = match packed {
        Ok(p) => p,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(local(e));
        }
    };
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
                let published = publish(store, &object_name(id, Some(&base)), &patch).await;
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
    publish(store, id, tmp).await?;
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

type Verdicts = std::collections::HashMap<String, Option<stash_core::relocation::PathBound>>;

struct Job {
    root: &'static str,
    dir: Arc<PathBuf>,
    group: Group,
    /// rustc's dep-info files of the unit (not packed, read by the relocation scan).
    deps: Vec<String>,
    /// Set for units: what the relocation scan looks for.
    scan: Option<Arc<Scan>>,
}

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

/// Puts a packed file in the store under its id: a rename in a local store, else an
/// upload.
async fn publish(store: &Store, id: &str, tmp: &Path) -> Result<()> {
    let Some(dir) = &store.local else {
        return upload_file(store, id, tmp).await;
    };
    let dest = dir.join(Store::pack_path(id).as_ref());
    if let Some(parent) = dest.parent() {
        tokio::fs::create_dir_all(parent)
            .await
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    // Replacing a stored copy is harmless (same id, same content) and renews its age.
    tokio::fs::rename(tmp, &dest)
        .await
        .with_context(|| format!("storing pack {id} as {}", dest.display()))
}

/// Streams a packed file to the store with bounded memory; aborts the upload on error.
async fn upload_file(store: &Store, id: &str, tmp: &Path) -> Result<()> {
    let mut file = tokio::fs::File::open(tmp)
        .await
        .with_context(|| format!("opening {}", tmp.display()))?;
    let mut writer =
        BufWriter::with_capacity(store.inner.clone(), Store::pack_path(id), UPLOAD_BUFFER);
    // Abort only a writer that was not shut down: object_store's `BufWriter::abort`
    // panics after a failed `shutdown` (a small pack is one PUT, sent at shutdown). A
    // multipart upload whose completion failed is left to the bucket's lifecycle rule.
    if let Err(e) = tokio::io::copy(&mut file, &mut writer).await {
        let _ = writer.abort().await;
        bail!("uploading pack {id}: {e}");
    }
    if let Err(e) = writer.shutdown().await {
        bail!("uploading pack {id}: {e}");
    }
    Ok(())
}
