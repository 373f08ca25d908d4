//! `cargo stash restore`: find the best snapshot on the ladder and unpack it. Packs are
//! downloaded, verified and staged in parallel; a pack that fails verification is
//! skipped whole, so the target dir only ever holds complete units.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use filetime::FileTime;
use stash_core::key::ExplainLine;
use stash_core::output::{HitKind, RestoreOutput};
use stash_core::relocation as reloc_core;
use stash_core::sources as sources_core;
use stash_core::{Key, Layer, Manifest, Root, key, ladder, supersede};

mod mtimes;
mod record;

use super::{Ctx, Done};
use crate::cli::{KeyArgs, RestoreArgs};
use crate::download::{failed_objects, unpack_snapshot};
use crate::error::{UserError, describe, is_cache_problem};
use crate::kept::{self, Keep};
use crate::report::human_bytes;
use crate::state::{State, unix_now};
use crate::store::{Found, Store};
use crate::workspace::Workspace;
use crate::workspace::cargo_home;
use crate::{inputs, relocation, sources};

pub async fn run(ctx: &Ctx, args: &KeyArgs, opts: &RestoreArgs) -> Result<Done> {
    let start = Instant::now();
    let started = filetime::FileTime::now();
    let (ws, inputs) = inputs::discover(ctx.global.manifest_path.as_deref(), args)?;
    let keys = key::compute(&inputs)?;
    let mut out = RestoreOutput::miss("target", &keys.target.key);
    // A store that cannot be used (bad credentials) is a miss; a bad URL is an error.
    let store = match ctx.store() {
        Ok(store) => store,
        Err(err) if is_cache_problem(&err) => {
            out.warnings.push(describe(&err));
            return finish(ctx, &out, Some(err));
        }
        Err(err) => return Err(err),
    };
    let until = tokio::time::Instant::now() + store.deadline;
    let target = store.within(
        until,
        "restore",
        restore(
            ctx,
            &ws,
            &store,
            (&keys.target, &keys.explain),
            opts,
            started,
            &mut out,
        ),
    );
    // The layers do not wait for each other: over a far link the registry's lookup
    // would otherwise add its round trips after the target's downloads.
    let mut reg = RestoreOutput::miss("registry", &keys.registry.key);
    let registry = async {
        if opts.no_registry {
            return None;
        }
        let work = restore_registry(ctx, &store, &keys.registry, &mut reg);
        Some(store.within(until, "registry restore", work).await)
    };
    let (result, registry) = tokio::join!(target, registry);
    let failed = result.as_ref().map(Vec::clone).unwrap_or_default();
    // When the target layer failed, its warning says what the store did.
    match registry.filter(|_| result.is_ok()) {
        Some(Ok(())) => {
            out.warnings.append(&mut reg.warnings.clone());
            out.registry = Some(Box::new(reg));
        }
        Some(Err(e)) => out
            .warnings
            .push(format!("registry layer not restored: {}", describe(&e))),
        None => {}
    }
    out.seconds = start.elapsed().as_secs_f64();
    out.requests = Some(store.requests.snapshot());
    State {
        key: keys.target.key.clone(),
        hit: out.hit,
        restored_key: out.restored_key.clone(),
        restored_at: unix_now(),
        atime_works: out.hit != HitKind::Miss && crate::usage::atime_works(&ws.state_dir()),
        started: (started.unix_seconds(), started.nanoseconds()),
        failed,
        saved: false,
        seen: store.seen.lock().unwrap().clone(),
    }
    .store(&ws.state_dir())?;
    if let Err(err) = result {
        out.warnings.push(describe(&err));
        return finish(ctx, &out, Some(err));
    }
    finish(ctx, &out, None)
}

fn finish(ctx: &Ctx, out: &RestoreOutput, err: Option<anyhow::Error>) -> Result<Done> {
    for w in &out.warnings {
        ctx.report.warn(w);
    }
    let verbose = ctx.global.verbose > 0;
    let lines = [
        Some(headline(out)),
        mtime_line(out),
        out.clock_shift_ms.map(|ms| format!(
            "the saving machine's clock ran {:.1}s ahead of this one: restored times moved back to keep changed files newer",
            ms as f64 / 1000.0
        )),
        path_bound_line(out, verbose),
        out.registry.as_deref().map(registry_line),
        out.requests.filter(|_| verbose).map(|r| r.to_string()),
    ];
    let human: Vec<String> = lines.into_iter().flatten().collect();
    ctx.report.result(out, &human.join("\n"));
    Ok(match incomplete(out, err) {
        Some(err) => Done::CacheProblem {
            what: "restore",
            err,
        },
        None => Done::Ok,
    })
}

/// "exact" or "fallback" for a hit.
fn hit_word(hit: HitKind) -> &'static str {
    if hit == HitKind::Exact {
        "exact"
    } else {
        "fallback"
    }
}

/// The first line of a restore's report: hit or miss, and what came back.
fn headline(out: &RestoreOutput) -> String {
    if out.hit == HitKind::Miss {
        return format!("cache miss for {}: the build starts cold", out.key);
    }
    let skipped = match out.packs_failed {
        0 => String::new(),
        n => format!("; {n} packs skipped"),
    };
    format!(
        "{} hit: restored {} ({} files, {} packs, {} downloaded) in {:.1}s{skipped}",
        hit_word(out.hit),
        out.restored_key.as_deref().unwrap_or("?"),
        out.files,
        out.packs,
        human_bytes(out.bytes_downloaded),
        out.seconds,
    )
}

/// What the content-gated mtime restore did to the checkout.
fn mtime_line(out: &RestoreOutput) -> Option<String> {
    let m = out.mtime.as_ref()?;
    Some(match &m.skipped {
        Some(why) => format!("source mtimes untouched: {why}"),
        None => format!(
            "source mtimes: {} unchanged entries restored, {} changed or new stamped now",
            m.restored, m.touched
        ),
    })
}

/// How many units were left out as path-bound (and, with `-v`, which and why).
fn path_bound_line(out: &RestoreOutput, verbose: bool) -> Option<String> {
    if out.path_bound.is_empty() {
        return None;
    }
    let which = if verbose {
        out.path_bound
            .iter()
            .map(|u| format!("\n  {} ({}): {}", u.name, u.unit, u.why))
            .collect::<String>()
    } else {
        " (-v names them)".to_string()
    };
    Some(format!(
        "{} units will rebuild: their artifacts embed the saved checkout, target or build path, which moved{which}",
        out.path_bound.len()
    ))
}

/// The registry layer's outcome.
fn registry_line(r: &RestoreOutput) -> String {
    match r.hit {
        HitKind::Miss => "registry: miss (Cargo downloads what it needs)".to_string(),
        hit => format!(
            "registry: {} hit {} ({} files into CARGO_HOME)",
            hit_word(hit),
            r.restored_key.as_deref().unwrap_or("?"),
            r.files
        ),
    }
}

/// Why the restore is not complete, as a cache problem: a store error, a miss, packs
/// that could not be restored. `None` when it is complete.
fn incomplete(out: &RestoreOutput, err: Option<anyhow::Error>) -> Option<anyhow::Error> {
    if err.is_some() {
        return err;
    }
    let problem = if out.hit == HitKind::Miss {
        UserError::cache(
            format!("cache miss for {}", out.key),
            "a save after the build stores the cache for the next run",
        )
    } else if out.packs_failed > 0 {
        UserError::cache(
            format!(
                "{} of {} packs could not be restored",
                out.packs_failed, out.packs
            ),
            "the warnings above name them; the next save replaces them",
        )
    } else {
        return None;
    };
    Some(problem.into())
}

/// Walks the ladder: the exact key, then the newest snapshots under each prefix. An
/// unreadable or empty snapshot is passed over with a warning (never stuck, see
/// `stash_core::supersede`); only a store problem stops the walk.
pub async fn find(
    store: &Store,
    layer: Layer,
    key: &Key,
    exact: bool,
    warnings: &mut Vec<String>,
) -> Result<Option<(HitKind, Manifest)>> {
    if let Some(m) = usable(store, layer, &key.key, warnings).await? {
        return Ok(Some((HitKind::Exact, m)));
    }
    if exact {
        return Ok(None);
    }
    for rung in ladder::fallback_rungs(key) {
        let listed = store.list_manifests(layer, rung).await?;
        let dated = listed.into_iter().map(|(k, meta)| (k, meta.last_modified));
        for k in ladder::tries_on_rung(&key.key, dated.collect()) {
            if let Some(m) = usable(store, layer, &k, warnings).await? {
                return Ok(Some((HitKind::Fallback, m)));
            }
        }
    }
    Ok(None)
}

/// The snapshot at `key` if a restore may use it; why not goes to `warnings`.
async fn usable(
    store: &Store,
    layer: Layer,
    key: &str,
    warnings: &mut Vec<String>,
) -> Result<Option<Manifest>> {
    match store.read_manifest(layer, key).await? {
        Found::Missing => Ok(None),
        Found::Good(m) => match supersede::unusable(&m, layer) {
            None => Ok(Some(*m)),
            Some(why) => {
                warnings.push(format!("skipped snapshot {key}: {why}"));
                Ok(None)
            }
        },
        Found::Bad(e) | Found::Newer(e) => {
            warnings.push(format!("skipped snapshot {key}: {}", describe(&e)));
            Ok(None)
        }
    }
}

/// Restores the target layer from the best snapshot on the ladder, then its times.
/// Returns the objects of the packs that failed, for the next save to replace.
async fn restore(
    ctx: &Ctx,
    ws: &Workspace,
    store: &Store,
    (key, explain): (&Key, &[ExplainLine]),
    opts: &RestoreArgs,
    started: FileTime,
    out: &mut RestoreOutput,
) -> Result<Vec<String>> {
    let Some((hit, manifest)) =
        find(store, Layer::Target, key, opts.exact, &mut out.warnings).await?
    else {
        if let Some(w) = why_missed(store, key, explain).await {
            out.warnings.push(w);
        }
        if !opts.no_mtime {
            sources::settle_git_index(&sources::checkout_root(&ws.root));
        }
        return Ok(Vec::new());
    };
    if let Err(e) = refuse_outside(&manifest, Layer::Target) {
        // Nothing restored: the build starts cold, as after a miss.
        if !opts.no_mtime {
            sources::settle_git_index(&sources::checkout_root(&ws.root));
        }
        return Err(e);
    }
    out.hit = hit;
    out.restored_key = Some(manifest.key.clone());
    if let Some(w) = ladder::cargo_home_moved(&manifest.inputs, explain) {
        out.warnings.push(w);
    }
    let (manifest, bound) = reloc_core::leave_out_moved(manifest, &relocation::anchors_now(ws));
    for u in &bound {
        tracing::info!("path-bound, left out: {} ({}): {}", u.name, u.unit, u.why);
    }
    out.path_bound = bound;
    let root_of = |name: &str| -> PathBuf {
        match Root::parse(name) {
            Some(Root::Build) => ws
                .build_dir
                .clone()
                .unwrap_or_else(|| ws.target_dir.clone()),
            _ => ws.target_dir.clone(),
        }
    };
    let planning = mtimes::plan_in_background(ws, &manifest, opts.no_mtime);
    // A saving clock ahead of ours: packs land already shifted back.
    let upfront = sources_core::upfront_shift(manifest.created, mtimes::stamp(started));
    let keep = keep_for_patches(ws, store, &manifest);
    let results = unpack_snapshot(ctx, store, &manifest, &root_of, (upfront, keep), out).await;
    // A shifted file no longer matches its pack, so the memo must not vouch for it and
    // the next save packs it afresh: recorded only when nothing was shifted.
    if upfront == 0 {
        record::remember_packs(ws, &results, &root_of);
    }
    record::remember_fingerprints(ws, &results, &root_of, &out.path_bound);
    mtimes::settle(
        planning,
        &manifest,
        (&results, &root_of),
        (upfront, started),
        out,
    )
    .await;
    Ok(failed_objects(&results))
}

/// The packs this restore keeps for the next save's patches (see `crate::kept`), after
/// removing any an earlier restore kept. A local store needs none: the save reads its
/// packs where they are.
fn keep_for_patches(ws: &Workspace, store: &Store, manifest: &Manifest) -> Option<Arc<Keep>> {
    let dir = kept::dir(&ws.state_dir());
    kept::clear(&dir);
    if store.local.is_some() {
        return None;
    }
    let ids = stash_core::bases::kept_for_patches(&manifest.packs, &ws.members);
    Some(Arc::new(Keep { dir, ids }))
}

/// On a miss, the config change that the newest snapshot of this toolchain shows (the
/// ladder never crosses a config: CARGO_HOME, flags, targets, profile, env). Best
/// effort: a store problem here only loses the hint.
async fn why_missed(store: &Store, key: &Key, explain: &[ExplainLine]) -> Option<String> {
    let rung = stash_core::miss::toolchain_rung(key.ladder.last()?)?;
    let mut found = store.list_manifests(Layer::Target, rung).await.ok()?;
    found.sort_by_key(|(_, meta)| std::cmp::Reverse(meta.last_modified));
    let (nearest, _) = found.first()?;
    let saved = store.manifest(Layer::Target, nearest).await.ok()??;
    stash_core::miss::explain(nearest, &saved.inputs, explain)
}

/// Restores the registry layer into CARGO_HOME: exact key, else the newest snapshot.
async fn restore_registry(
    ctx: &Ctx,
    store: &Store,
    key: &Key,
    out: &mut RestoreOutput,
) -> Result<()> {
    let Some((hit, manifest)) = find(store, Layer::Registry, key, false, &mut out.warnings).await?
    else {
        return Ok(());
    };
    refuse_outside(&manifest, Layer::Registry)?;
    out.hit = hit;
    out.restored_key = Some(manifest.key.clone());
    let home = cargo_home()?;
    unpack_snapshot(
        ctx,
        store,
        &manifest,
        &|_: &str| home.clone(),
        (0, None),
        out,
    )
    .await;
    Ok(())
}

/// A snapshot whose packs or links name a place its layer may not write is refused whole
/// before anything is written: only a forged or foreign manifest does that.
fn refuse_outside(manifest: &Manifest, layer: Layer) -> Result<()> {
    manifest.check_layer(layer).with_context(|| {
        format!(
            "snapshot {} refused: it would write outside the {layer} layer's directories; \
             the manifest was not written by cargo-stash, check who may write this store",
            manifest.key
        )
    })
}
