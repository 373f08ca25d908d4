//! `cargo stash stats`: after a build, how many restored units Cargo reused, which it
//! compiled again and why, read from the target dir alone (fingerprint times and JSON).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Result;
use filetime::FileTime;
use serde_json::Value;
use stash_core::output::{BuiltUnit, OUTPUT_VERSION, StatsOutput, UnitCounts};
use stash_core::plan::{self, PlanOptions};
use stash_core::stats::{Reason, rebuild_reason};

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
    let mut counts = UnitCounts::default();
    let mut built = Vec::new();
    let mut bytes_fresh = 0;
    for (root_name, dir) in ws.roots() {
        let plan = plan::plan(&listing::list(&dir)?, &PlanOptions::default());
        let mut current: BTreeMap<String, (String, BTreeMap<String, Value>, bool, bool)> =
            BTreeMap::new();
        for g in plan.groups.iter().filter(|g| g.unit.is_some()) {
            let (jsons, written, read) = fingerprints(&dir, &g.paths, started);
            let id = format!("{root_name}:{}", g.name);
            match restored.units.get(&id) {
                Some(_) if written => counts.rebuilt += 1,
                Some(_) if read => {
                    counts.fresh += 1;
                    bytes_fresh += g.bytes;
                }
                Some(_) => counts.unused += 1,
                None if written => counts.new += 1,
                None => continue, // Older than the restore and not ours: not this job's.
            }
            current.insert(
                id,
                (
                    g.unit.clone().unwrap_or_default(),
                    jsons,
                    written,
                    restored
                        .units
                        .contains_key(&format!("{root_name}:{}", g.name)),
                ),
            );
        }
        for (id, (name, jsons, written, was_restored)) in &current {
            if !written {
                continue;
            }
            let unit = id.split_once(':').map_or(id.as_str(), |(_, u)| u);
            let path_bound = restored.path_bound.iter().any(|b| b.unit == unit);
            let reason = if path_bound {
                Reason::PathBound
            } else if *was_restored {
                compare(&restored.units[id].1, jsons, true).unwrap_or(Reason::SourceChanged)
            } else {
                // A new hash: compare with a restored unit of the same package and target.
                restored
                    .units
                    .iter()
                    .filter(|(other, (n, _))| {
                        n == name && !current.get(*other).is_some_and(|c| c.2)
                    })
                    .find_map(|(_, (_, old))| compare(old, jsons, false))
                    .unwrap_or(Reason::NewUnit)
            };
            built.push(BuiltUnit {
                unit: id
                    .split_once(':')
                    .map_or(id.as_str(), |(_, u)| u)
                    .to_string(),
                name: name.clone(),
                status: match (path_bound, *was_restored) {
                    (true, _) => "path-bound",
                    (false, true) => "rebuilt",
                    (false, false) => "new",
                }
                .into(),
                reason,
            });
        }
    }
    // Path-bound units were left out by the restore: built anew, they are not "new".
    counts.path_bound = built.iter().filter(|b| b.status == "path-bound").count() as u64;
    counts.new -= counts.path_bound.min(counts.new);
    counts.restored = counts.fresh + counts.rebuilt + counts.unused;
    let mut reasons: BTreeMap<Reason, u64> = BTreeMap::new();
    for b in &built {
        *reasons.entry(b.reason).or_default() += 1;
    }
    let advice = reasons
        .iter()
        .map(|(r, n)| {
            format!(
                "{n} units: {}: {}",
                serde_json::to_value(r).unwrap().as_str().unwrap_or("?"),
                r.hint()
            )
        })
        .collect();
    let out = StatsOutput {
        version: OUTPUT_VERSION,
        hit: state.hit,
        restored_key: state.restored_key.clone(),
        units: counts,
        built,
        reasons,
        bytes_fresh,
        advice,
    };
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

/// The reason from the first fingerprint file both sides have.
fn compare(
    old: &BTreeMap<String, Value>,
    new: &BTreeMap<String, Value>,
    same_unit: bool,
) -> Option<Reason> {
    new.iter()
        .find_map(|(file, v)| Some(rebuild_reason(old.get(file)?, v, same_unit)))
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
        let reason = serde_json::to_value(b.reason).unwrap();
        s.push_str(&format!(
            "\n  {:<7} {:<24} {}",
            b.status,
            b.name,
            reason.as_str().unwrap_or("?")
        ));
    }
    for a in &out.advice {
        s.push_str(&format!("\n{a}"));
    }
    s
}
