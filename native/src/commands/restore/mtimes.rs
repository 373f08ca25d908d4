//! The times a restore gives back: restored files moved back when the saving machine's
//! clock ran ahead of ours, and the checkout's mtimes restored where its content is
//! proven unchanged (docs/format.md, "Source mtimes and clocks").

use std::path::PathBuf;

use anyhow::{Context, Result};
use filetime::FileTime;
use stash_core::Manifest;
use stash_core::output::{MtimeOutput, RestoreOutput};
use stash_core::sources::{self as sources_core, MtimePlan, SourceManifest, Stamp, mtime_plan};
use tokio::task::JoinHandle;

use crate::download::Unpacked;
use crate::error::describe;
use crate::pack;
use crate::sources;
use crate::workspace::Workspace;

/// Hashing the checkout does not depend on target/: its mtimes are planned while the
/// packs unpack, and applied once the restored timeline is known.
pub fn plan_in_background(
    ws: &Workspace,
    manifest: &Manifest,
    no_mtime: bool,
) -> Option<JoinHandle<Result<Planned>>> {
    let saved = manifest.sources.as_ref().filter(|_| !no_mtime)?;
    let (ws, saved) = (ws.clone(), saved.clone());
    let scanned = manifest.anchors.is_some();
    Some(tokio::task::spawn_blocking(move || {
        plan_mtimes(&ws, &saved, scanned)
    }))
}

/// After the packs: moves every restored time back if the newest would be ahead of
/// `started` (packs already came `upfront` earlier), then applies the checkout's plan.
pub async fn settle(
    planning: Option<JoinHandle<Result<Planned>>>,
    manifest: &Manifest,
    (results, root_of): (&Unpacked, &dyn Fn(&str) -> PathBuf),
    (upfront, started): (i128, FileTime),
    out: &mut RestoreOutput,
) {
    let planned = match planning {
        Some(task) => match task.await.map_err(anyhow::Error::from).and_then(|r| r) {
            Ok(p) => Some(p),
            Err(e) => {
                out.warnings
                    .push(format!("source mtimes not restored: {}", describe(&e)));
                None
            }
        },
        None => None,
    };
    let more = newest_restored(results, planned.as_ref(), upfront)
        .and_then(|newest| sources_core::skew_shift(newest, stamp(started)));
    if let Some(more) = more {
        shift_restored(results, root_of, more);
    }
    let back = upfront + more.unwrap_or(0);
    let back = (back > 0).then_some(back);
    if let Some(back) = back {
        out.clock_shift_ms = Some((back / 1_000_000).max(0) as u64);
    }
    if let Some(planned) = planned {
        match apply_mtimes(manifest, planned, back) {
            Ok(m) => out.mtime = Some(m),
            Err(e) => out
                .warnings
                .push(format!("source mtimes not restored: {}", describe(&e))),
        }
    }
}

pub fn stamp(t: FileTime) -> Stamp {
    (t.unix_seconds(), t.nanoseconds())
}

/// The newest time anything this restore puts back will carry: restored artifacts (as
/// written, already `upfront` earlier) and the saved mtimes of unchanged tracked files
/// (moved `upfront` too).
fn newest_restored(results: &Unpacked, planned: Option<&Planned>, upfront: i128) -> Option<Stamp> {
    let artifacts = results
        .iter()
        .filter_map(|(_, r)| r.as_ref().ok())
        .flatten()
        .filter(|s| s.kind != pack::Kind::Symlink)
        .map(|s| stamp(s.mtime));
    let sources = planned
        .and_then(|p| match p {
            Planned::Apply { plan, .. } => Some(plan),
            Planned::TouchAll { .. } => None,
        })
        .into_iter()
        .flat_map(|plan| plan.actions.iter().filter_map(|(_, a)| a.saved()))
        .map(|t| sources_core::shifted(t, upfront));
    artifacts.chain(sources).max()
}

/// Moves every restored file and directory `back` nanoseconds (see
/// `stash_core::sources::skew_shift`): the saving machine's clock ran ahead of ours.
/// Only mtimes change; fingerprints keep the atime `usage` looks for.
fn shift_restored(results: &Unpacked, root_of: &dyn Fn(&str) -> PathBuf, back: i128) {
    for (p, staged) in results
        .iter()
        .filter_map(|(p, r)| Some((p, r.as_ref().ok()?)))
    {
        let root = root_of(&p.root);
        for s in staged.iter().filter(|s| s.kind != pack::Kind::Symlink) {
            let path = root.join(&s.path);
            // Never through a link another pack may have put in the way.
            if std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink()) {
                continue;
            }
            let (secs, nanos) = sources_core::shifted(stamp(s.mtime), back);
            let t = FileTime::from_unix_time(secs, nanos);
            if let Err(e) = filetime::set_file_mtime(&path, t) {
                tracing::debug!("mtime of {} not shifted: {e}", path.display());
            }
        }
    }
}

/// The checkout's mtime plan, made while the packs unpack.
pub enum Planned {
    /// Not at the saved path of a snapshot that predates the relocation scan: every
    /// tracked file is stamped now.
    TouchAll {
        root: PathBuf,
        plan: MtimePlan,
        out: MtimeOutput,
    },
    Apply {
        root: PathBuf,
        current: SourceManifest,
        plan: MtimePlan,
    },
}

/// Content-gated mtime restore of the checkout (docs/format.md), first half: hash the
/// checkout and decide each entry's mtime. At another path only when the snapshot was
/// scanned for path-bound units (those are left out), so every unit kept fresh by a
/// restored mtime is one whose artifacts are right at the new path.
fn plan_mtimes(ws: &Workspace, saved: &SourceManifest, scanned: bool) -> Result<Planned> {
    let root = sources::checkout_root(&ws.root);
    let skip: Vec<PathBuf> = ws.roots().into_iter().map(|(_, d)| d).collect();
    if !scanned && root.display().to_string() != saved.root {
        sources::settle_git_index(&root);
        // Every tracked file is stamped now, after the packs: the clone's own times may
        // be older than the restored artifacts (a saving clock ahead, a snapshot saved
        // after this clone), and a changed file must never look older than its unit.
        let current = sources::scan(&root, &skip)?;
        let plan = mtime_plan(&SourceManifest::default(), &current.entries);
        let out = MtimeOutput {
            touched: plan.touched,
            skipped: Some(format!(
                "the checkout is at {} but was saved at {}: workspace crates will rebuild \
                 (the snapshot predates the relocation scan); its next save makes moves safe",
                root.display(),
                saved.root
            )),
            ..Default::default()
        };
        return Ok(Planned::TouchAll { root, plan, out });
    }
    let current = sources::scan(&root, &skip)?;
    let plan = mtime_plan(saved, &current.entries);
    Ok(Planned::Apply {
        root,
        current,
        plan,
    })
}

/// Second half, after the packs: unchanged entries get their saved mtime (moved `back`
/// with the artifacts when the saving clock ran ahead), the rest "now", which is then
/// later than every restored artifact.
fn apply_mtimes(manifest: &Manifest, planned: Planned, back: Option<i128>) -> Result<MtimeOutput> {
    let (root, current, mut plan) = match planned {
        Planned::TouchAll { root, plan, out } => {
            sources::apply(&root, &plan)?;
            return Ok(out);
        }
        Planned::Apply {
            root,
            current,
            plan,
        } => (root, current, plan),
    };
    if let Some(back) = back {
        for (_, a) in &mut plan.actions {
            *a = a.shifted(back);
        }
    }
    let saved = manifest
        .sources
        .as_ref()
        .context("snapshot without sources")?;
    sources::apply(&root, &plan)?;
    Ok(MtimeOutput {
        restored: plan.restored,
        touched: plan.touched,
        skipped: None,
        git: sources::restore_git(&root, saved, &current, &plan, back),
    })
}
