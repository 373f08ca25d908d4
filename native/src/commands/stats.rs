//! `cargo stash stats`: after a build, how many restored units Cargo reused, which it
//! compiled again and why, read from the target dir alone (fingerprint times and JSON).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::Result;
use filetime::FileTime;
use serde_json::Value;
use stash_core::UnitId;
use stash_core::output::StatsOutput;
use stash_core::plan::{self, PlanOptions};
use stash_core::stats::{self, Restored, SeenUnit};

use super::{Ctx, Done};
use crate::error::UserError;
use crate::listing;
use crate::pack::is_fingerprint;
use crate::report::human_bytes;
use crate::state::{RestoredUnits, State};
use crate::usage::SENTINEL_ATIME;
use crate::workspace::Workspace;

pub fn run(ctx: &Ctx) -> Result<Done> {
    let ws = Workspace::discover(ctx.global.manifest_path.as_deref())?;
    let state = State::load(&ws.state_dir()).ok_or_else(|| {
        UserError::new(
            "no restore recorded in this target dir",
            "run `cargo stash restore` before the build, then `cargo stash stats` after it",
        )
    })?;
    let restored = RestoredUnits::load(&ws.state_dir());
    let started = FileTime::from_unix_time(state.started.0, state.started.1);
    let mut roots = Vec::new();
    for (root, dir) in ws.roots() {
        let plan = plan::plan(&listing::list(&dir)?, &PlanOptions::default());
        let units = plan.groups.iter().filter(|g| g.unit.is_some()).map(|g| {
            let (fingerprints, written, read) = fingerprints(&dir, &g.paths, started);
            SeenUnit {
                id: UnitId::new(root, g.name.clone()),
                name: g.unit.clone().unwrap_or_default(),
                bytes: g.bytes,
                fingerprints,
                written,
                read,
            }
        });
        roots.push(units.collect());
    }
    let path_bound: BTreeSet<String> = restored.path_bound.iter().map(|b| b.unit.clone()).collect();
    let recorded = Restored {
        units: &restored.units,
        path_bound: &path_bound,
    };
    let out = stats::classify(&roots, &recorded, (state.hit, state.restored_key.clone()));
    ctx.report.result(&out, &human(&out));
    Ok(Done::Ok)
}

/// The JSON of a unit's fingerprint files, whether the build wrote any of them after
/// the restore began, and whether it read them. Reading here puts atimes back.
fn fingerprints(
    root: &Path,
    paths: &[String],
    started: FileTime,
) -> (BTreeMap<String, Value>, bool, bool) {
    let (mut jsons, mut written, mut read) = (BTreeMap::new(), false, false);
    for p in paths.iter().filter(|p| is_fingerprint(p)) {
        let full = root.join(p);
        let Ok(meta) = std::fs::symlink_metadata(&full) else {
            continue;
        };
        if !meta.is_file() {
            continue;
        }
        let atime = FileTime::from_last_access_time(&meta);
        written |= FileTime::from_last_modification_time(&meta) > started;
        read |= atime != SENTINEL_ATIME;
        if p.ends_with(".json") {
            if let Some(v) = std::fs::read(&full)
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
            {
                jsons.insert(p.rsplit('/').next().unwrap_or_default().to_string(), v);
            }
            let _ = filetime::set_file_atime(&full, atime);
        }
    }
    (jsons, written, read)
}

fn human(out: &StatsOutput) -> String {
    let u = &out.units;
    let mut s = format!(
        "restored {} units: {} fresh ({} reused), {} rebuilt, {} unused; {} new, {} path-bound (left out: they embed a path that moved)",
        u.restored,
        u.fresh,
        human_bytes(out.bytes_fresh),
        u.rebuilt,
        u.unused,
        u.new,
        u.path_bound
    );
    for b in &out.built {
        s.push_str(&format!(
            "\n  {:<7} {:<24} {}",
            b.status.as_str(),
            b.name,
            b.reason.as_str()
        ));
    }
    for a in &out.advice {
        s.push_str(&format!("\n{a}"));
    }
    s
}
