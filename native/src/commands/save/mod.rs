//! `cargo stash save`: sanitize the target dir and publish it as a snapshot. Packs go
//! first (only those the store lacks), the manifest last with create-if-absent (or an
//! atomic overwrite of a stored snapshot found wanting, see `stash_core::supersede`),
//! so no reader ever sees a manifest whose packs are missing.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;
use stash_core::manifest::MANIFEST_SCHEMA;
use stash_core::output::{SaveOutcome, SaveOutput};
use stash_core::supersede::{self, Publish};
use stash_core::usage::RestoreSeen;
use stash_core::{Layer, LinkRef, Manifest, PackRef, PlanOptions, key, plan};

mod at_key;
mod registry;
mod scope;

use super::{Ctx, Done};
use crate::cli::{KeyArgs, PlanArgs};
use crate::commands::clean::plan_options;
use crate::error::{describe, is_cache_problem};
use crate::relocation::{self, Scan};
use crate::report::human_bytes;
use crate::state::{State, unix_now};
use crate::store::{Published, Store};
use crate::upload::{Bases, Job, upload_all};
use crate::workspace::Workspace;
use crate::{inputs, listing, sources, usage};
use at_key::{content_groups, decide};
use registry::save_registry;
use scope::{Previous, Scope, exact_hit_covers};

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
        let scope = Scope {
            exact_hit,
            prune_unused: usage.is_ok(),
            previous: Vec::new(),
            distrust: distrust.clone(),
            verdicts: Default::default(),
        };
        // After an exact hit the save usually skips itself (see `exact_hit_covers`)
        // before it needs the restored snapshot's packs: no store request for them.
        // Otherwise they are read while the groups are gathered.
        let restored = state.as_ref().and_then(|s| s.restored_key.clone());
        let previous = (!exact_hit).then(|| scope::read_previous(&store, restored.clone()));
        let work = save(
            ctx,
            &ws,
            &store,
            &keys,
            plan_args,
            (scope, restored, previous, no_patches),
            &mut out,
        );
        store.within(until, "save", work).await
    };
    if result.is_ok() && !plan_args.no_registry {
        let key = &keys.registry.key;
        save_registry(ctx, (&ws, &store, until), key, &distrust, &mut out).await;
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
    report(ctx, &out);
    Ok(Done::Ok)
}

/// Warnings, then the save's report (with request counts on `-v`).
fn report(ctx: &Ctx, out: &SaveOutput) {
    for w in &out.warnings {
        ctx.report.warn(w);
    }
    let human = match out.requests {
        Some(r) if ctx.global.verbose > 0 => format!("{}\n{r}", human(out)),
        _ => human(out),
    };
    ctx.report.result(out, &human);
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

/// Saves the target layer: gather the groups, let core decide what to do at the key,
/// upload what the store lacks, publish the manifest.
async fn save(
    ctx: &Ctx,
    ws: &Workspace,
    store: &Store,
    keys: &stash_core::KeySet,
    plan_args: &PlanArgs,
    (mut scope, restored, previous, no_patches): (Scope, Option<String>, Option<Previous>, bool),
    out: &mut SaveOutput,
) -> Result<()> {
    let key = out.key.clone();
    let relocation = Arc::new(Scan::new(ws));
    let Gathered {
        work,
        mut links,
        roots,
    } = gather(ws, plan_args, scope.prune_unused, &relocation, out)?;
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
    let (decided, previous) = tokio::join!(
        decide(ctx, store, Layer::Target, &key, &built, &scope.distrust),
        async {
            match previous {
                Some(reading) => reading.await.ok(),
                None => None,
            }
        }
    );
    let (decision, carried) = decided?;
    if let Some(read) = previous {
        scope.take_previous(read, no_patches);
    }
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
        Bases {
            previous: scope.previous,
            distrust: &scope.distrust,
            verdicts: scope.verdicts,
            patches: !no_patches,
        },
        out,
    )
    .await?;
    log_path_bound(&packs);
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

/// What a save of the target layer found in its roots.
struct Gathered {
    /// A job per group to pack.
    work: Vec<Job>,
    /// Hard links between files, recreated by a restore.
    links: Vec<LinkRef>,
    /// Root name -> its absolute path.
    roots: BTreeMap<String, String>,
}

/// The target layer's groups, as core's plan sanitizes each root (leaving out units
/// this job did not use when `prune_unused`), with the hard links between files and the
/// roots' paths.
fn gather(
    ws: &Workspace,
    plan_args: &PlanArgs,
    prune_unused: bool,
    relocation: &Arc<Scan>,
    out: &mut SaveOutput,
) -> Result<Gathered> {
    let opts = plan_options(plan_args);
    let mut work: Vec<Job> = Vec::new();
    let mut links = Vec::new();
    let mut roots = BTreeMap::new();
    for (name, dir) in ws.roots() {
        roots.insert(name.to_string(), dir.display().to_string());
        let entries = listing::list(&dir)?;
        let mut plan = plan::plan(&entries, &opts);
        if prune_unused {
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
            links.push(LinkRef {
                root: name.to_string(),
                path,
                target,
            });
        }
        work.extend(plan.groups.into_iter().map(|group| Job {
            root: name.as_str(),
            dir: dir.clone(),
            deps: dep_files.remove(&group.name).unwrap_or_default(),
            scan: group.unit.is_some().then(|| relocation.clone()),
            group,
        }));
    }
    Ok(Gathered { work, links, roots })
}

/// `-v` names the units a restore at another path would rebuild.
fn log_path_bound(packs: &[PackRef]) {
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
}

/// Publishes the snapshot through the store and records what that did.
async fn finish_publish(
    store: &Store,
    decision: &Publish,
    manifest: Manifest,
    out: &mut SaveOutput,
) -> Result<()> {
    out.outcome = match store.publish_snapshot(decision, manifest).await? {
        Published::Saved(replaced) => {
            out.replaced = replaced;
            SaveOutcome::Saved
        }
        Published::AlreadySaved => SaveOutcome::AlreadySaved,
        Published::NothingToSave => SaveOutcome::NothingToSave,
    };
    Ok(())
}
