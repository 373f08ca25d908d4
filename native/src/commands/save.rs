//! `cargo stow save`: sanitize the target dir and publish it as a snapshot. Packs go
//! first (only those the store lacks), the manifest last with create-if-absent, so no
//! reader ever sees a manifest whose packs are missing.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use futures::StreamExt;
use object_store::ObjectStoreExt;
use object_store::buffered::BufWriter;
use stow_core::manifest::MANIFEST_SCHEMA;
use stow_core::output::{HitKind, OUTPUT_VERSION, SaveOutput};
use stow_core::{Group, Manifest, PackRef, PlanOptions, key, plan};
use tokio_util::io::SyncIoBridge;

use super::Ctx;
use crate::cli::{KeyArgs, PlanArgs};
use crate::commands::clean::plan_options;
use crate::error::UserError;
use crate::pack::{self, CountWriter};
use crate::report::human_bytes;
use crate::state::{State, unix_now};
use crate::store::Store;
use crate::workspace::Workspace;
use crate::{inputs, listing, sources, usage};

const ZSTD_LEVEL: i32 = 3;
/// Upload buffer per pack in flight; larger packs go up as multipart uploads.
const UPLOAD_BUFFER: usize = 8 << 20;

pub async fn run(ctx: &Ctx, key_args: &KeyArgs, plan_args: &PlanArgs) -> Result<u8> {
    let start = Instant::now();
    let ws = Workspace::discover(ctx.global.manifest_path.as_deref())?;
    let keys = key::compute(&inputs::gather(&ws, key_args)?)?;
    let state = State::load(&ws.state_dir());
    let key = keys.target.key.clone();
    if let Some(s) = state.as_ref().filter(|s| s.key != key) {
        ctx.report.warn(&format!(
            "the key changed since restore ({} -> {key}): Cargo.lock or settings changed during the job",
            s.key
        ));
    }
    let store = ctx.store()?;
    let mut out = SaveOutput {
        version: OUTPUT_VERSION,
        layer: "target".into(),
        key: key.clone(),
        outcome: String::new(),
        packs: 0,
        packs_uploaded: 0,
        bytes_uploaded: 0,
        bytes_skipped: 0,
        bytes_total: 0,
        seconds: 0.0,
        warnings: Vec::new(),
        units_unused: 0,
        usage_note: None,
    };
    let exact_hit = state.as_ref().is_some_and(|s| {
        s.hit == HitKind::Exact && s.restored_key.as_deref() == Some(key.as_str())
    });
    let result = if exact_hit {
        out.outcome = "skipped-exact-hit".into();
        Ok(())
    } else {
        let usage = usage_policy(state.as_ref(), plan_args);
        if let Err(note) = &usage {
            out.usage_note = Some(note.clone());
        }
        save(ctx, &ws, &store, &keys, plan_args, usage.is_ok(), &mut out).await
    };
    out.seconds = start.elapsed().as_secs_f64();
    if let Err(err) = result {
        return cache_problem(ctx, err, &mut out);
    }
    let _ = std::fs::remove_file(ws.state_dir().join("state.json"));
    let human = match out.outcome.as_str() {
        "saved" => format!(
            "saved {key}: {} packs ({} unused units left out), uploaded {} ({} new), skipped {} already stored, {:.1}s",
            out.packs,
            out.units_unused,
            human_bytes(out.bytes_uploaded),
            out.packs_uploaded,
            human_bytes(out.bytes_skipped),
            out.seconds
        ),
        "already-saved" => format!("already saved: {key} exists in the store; nothing uploaded"),
        _ => format!("exact hit on {key} at restore: nothing to save"),
    };
    for w in &out.warnings {
        ctx.report.warn(w);
    }
    ctx.report.result(&out, &human);
    Ok(0)
}

/// Whether unused units can be left out, or why not. Usage is only known after a
/// restore in this job on a filesystem that updates atime.
fn usage_policy(state: Option<&State>, plan_args: &PlanArgs) -> Result<(), String> {
    if plan_args.keep_unused {
        return Err("--keep-unused: every unit kept".into());
    }
    match state {
        None => Err("no restore in this job: every unit kept".into()),
        Some(s) if s.hit == HitKind::Miss => Err("the restore was a miss: every unit was built by this job".into()),
        Some(s) if !s.atime_works => {
            Err("this filesystem does not update atime (noatime?): unused units cannot be told, every unit kept".into())
        }
        Some(_) => Ok(()),
    }
}

/// Warns and goes on (exit 0), or fails with exit 3 under `--strict`.
pub fn cache_problem(ctx: &Ctx, err: anyhow::Error, out: &mut SaveOutput) -> Result<u8> {
    if ctx.global.strict {
        return Err(err.context(UserError::cache(
            "save failed",
            "check the store, or drop --strict to let builds go on",
        )));
    }
    ctx.report.warn(&format!("cache not saved: {err:#}"));
    out.outcome = "failed".into();
    out.warnings.push(format!("{err:#}"));
    ctx.report
        .result(out, "cache not saved (the build is unaffected)");
    Ok(0)
}

async fn save(
    ctx: &Ctx,
    ws: &Workspace,
    store: &Store,
    keys: &stow_core::KeySet,
    plan_args: &PlanArgs,
    prune_unused: bool,
    out: &mut SaveOutput,
) -> Result<()> {
    let key = out.key.clone();
    if store
        .head(&Store::manifest_path("target", &key))
        .await?
        .is_some()
    {
        out.outcome = "already-saved".into();
        return Ok(());
    }
    let opts = plan_options(plan_args);
    let mut work = Vec::new();
    let mut links = Vec::new();
    let mut roots = std::collections::BTreeMap::new();
    for (name, dir) in ws.roots() {
        roots.insert(name.to_string(), dir.display().to_string());
        let entries = listing::list(&dir)?;
        let mut plan = plan::plan(&entries, &opts);
        if prune_unused {
            let used = usage::used_units(&dir, &plan.groups);
            let pruned = PlanOptions {
                used_units: Some(used),
                ..opts.clone()
            };
            plan = plan::plan(&entries, &pruned);
            out.units_unused += plan.unused_units.len() as u64;
        }
        let dir = Arc::new(dir);
        for (path, target) in plan.links {
            links.push(stow_core::LinkRef {
                root: name.into(),
                path,
                target,
            });
        }
        work.extend(plan.groups.into_iter().map(|g| (name, dir.clone(), g)));
    }
    let total: u64 = work.iter().map(|(_, _, g)| g.bytes).sum();
    let bar = ctx.report.bar(total, "saving");
    let results: Vec<Result<Saved, GroupError>> = futures::stream::iter(work)
        .map(|(root, dir, group)| {
            let store = store.clone();
            let bar = bar.clone();
            async move {
                let bytes = group.bytes;
                let r = save_group(store, root, dir, group).await;
                bar.inc(bytes);
                r
            }
        })
        .buffer_unordered(ctx.jobs)
        .collect()
        .await;
    bar.finish_and_clear();
    let mut packs = Vec::new();
    let mut stored_paths = std::collections::BTreeSet::new();
    for r in results {
        match r {
            Ok(s) => {
                stored_paths.extend(s.paths.iter().map(|p| (s.pack.root.clone(), p.clone())));
                if s.uploaded {
                    out.packs_uploaded += 1;
                    out.bytes_uploaded += s.pack.stored;
                } else {
                    out.bytes_skipped += s.pack.stored;
                }
                out.bytes_total += s.pack.bytes;
                packs.push(s.pack);
            }
            Err(GroupError::Local(e)) => out
                .warnings
                .push(format!("left out of the snapshot: {e:#}")),
            Err(GroupError::Store(e)) => return Err(e),
        }
    }
    packs.sort_by(|a, b| (&a.root, &a.group).cmp(&(&b.root, &b.group)));
    // A link whose target was left out would dangle at restore.
    links.retain(|l| stored_paths.contains(&(l.root.clone(), l.target.clone())));
    out.packs = packs.len() as u64;
    let skip: Vec<PathBuf> = ws.roots().into_iter().map(|(_, d)| d).collect();
    let checkout = sources::checkout_root(&ws.root);
    let source_manifest = match sources::scan(&checkout, &skip) {
        Ok(s) => Some(s),
        Err(e) => {
            out.warnings
                .push(format!("source mtimes not recorded: {e:#}"));
            None
        }
    };
    let manifest = Manifest {
        schema: MANIFEST_SCHEMA,
        layer: "target".into(),
        key: key.clone(),
        created: unix_now(),
        tool: format!("cargo-stow {}", env!("CARGO_PKG_VERSION")),
        roots,
        packs,
        links,
        inputs: keys.explain.clone(),
        sources: source_manifest,
    };
    let created = store
        .create_manifest("target", &key, manifest.to_json())
        .await?;
    out.outcome = if created { "saved" } else { "already-saved" }.into();
    Ok(())
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

async fn save_group(
    store: Store,
    root: &'static str,
    dir: Arc<PathBuf>,
    group: Group,
) -> Result<Saved, GroupError> {
    let paths = Arc::new(group.paths);
    let info = {
        let (dir, paths) = (dir.clone(), paths.clone());
        tokio::task::spawn_blocking(move || pack::write_tar(&dir, &paths, io::sink()))
            .await
            .map_err(|e| GroupError::Local(e.into()))?
            .map_err(GroupError::Local)?
    };
    let location = Store::pack_path(&info.id);
    let pack = |stored| PackRef {
        id: info.id.clone(),
        root: root.into(),
        group: group.name.clone(),
        unit: group.unit.clone(),
        files: info.files,
        bytes: info.bytes,
        stored,
    };
    // An old pack is uploaded again so a concurrent `gc` sees it as young (docs/stores.md).
    if let Some(meta) = store
        .reusable_pack(&info.id)
        .await
        .map_err(GroupError::Store)?
    {
        return Ok(Saved {
            pack: pack(meta.size),
            paths,
            uploaded: false,
        });
    }
    let writer = BufWriter::with_capacity(store.inner.clone(), location.clone(), UPLOAD_BUFFER);
    let sent_paths = paths.clone();
    let upload = tokio::task::spawn_blocking(move || upload(writer, &dir, &sent_paths))
        .await
        .map_err(|e| GroupError::Local(e.into()))?;
    let (sent, stored) = upload.map_err(GroupError::Store)?;
    if sent.id != info.id {
        let _ = store.inner.delete(&location).await;
        return Err(GroupError::Local(anyhow::anyhow!(
            "files of {} changed while saving",
            group.name
        )));
    }
    Ok(Saved {
        pack: pack(stored),
        paths,
        uploaded: true,
    })
}

/// Streams tar -> zstd -> store with bounded memory; aborts the upload on any error.
fn upload(
    writer: BufWriter,
    dir: &std::path::Path,
    paths: &[String],
) -> Result<(pack::PackInfo, u64)> {
    let mut bridge = SyncIoBridge::new(writer);
    let mut counter = CountWriter {
        inner: &mut bridge,
        count: 0,
    };
    let res = pack::encode(dir, paths, ZSTD_LEVEL, &mut counter);
    let stored = counter.count;
    match res {
        Ok(info) => {
            bridge.shutdown().context("finishing upload")?;
            Ok((info, stored))
        }
        Err(e) => {
            let mut writer = bridge.into_inner();
            let _ = tokio::runtime::Handle::current().block_on(writer.abort());
            bail!("uploading pack: {e:#}")
        }
    }
}
