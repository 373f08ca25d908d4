//! `cargo stash clean`: applies the sanitization plan to the local target dir.

use std::collections::BTreeMap;

use anyhow::Result;
use stash_core::output::{CleanOutput, OUTPUT_VERSION};
use stash_core::plan::{self, CategoryStats, PlanOptions};

use super::{Ctx, Done};
use crate::cli::PlanArgs;
use crate::report::human_bytes;
use crate::workspace::Workspace;
use crate::{listing, pack};

pub fn plan_options(args: &PlanArgs) -> PlanOptions {
    PlanOptions {
        keep_incremental: args.keep_incremental,
        keep_dep_files: args.keep_dep_files,
        ..Default::default()
    }
}

pub fn run(ctx: &Ctx, args: &PlanArgs, dry_run: bool) -> Result<Done> {
    let ws = Workspace::discover(ctx.global.manifest_path.as_deref())?;
    let opts = plan_options(args);
    let mut categories: BTreeMap<_, CategoryStats> = BTreeMap::new();
    let mut roots = BTreeMap::new();
    let mut removed = 0;
    for (name, dir) in ws.roots() {
        roots.insert(name.to_string(), dir.display().to_string());
        let p = plan::plan(&listing::list(&dir)?, &opts);
        for (cat, s) in p.categories {
            let total = categories.entry(cat).or_default();
            total.files += s.files;
            total.bytes += s.bytes;
            total.kept_files += s.kept_files;
            total.kept_bytes += s.kept_bytes;
        }
        if !dry_run {
            for path in &p.dropped {
                pack::remove_any(&dir.join(path))?;
            }
        }
        removed += p.dropped.len() as u64;
    }
    let bytes_removed = categories.values().map(|s| s.bytes - s.kept_bytes).sum();
    let mut human = format!("{:<12} {:>12} {:>12}", "category", "size", "removed");
    for (cat, s) in &categories {
        human.push_str(&format!(
            "\n{:<12} {:>12} {:>12}",
            serde_json::to_value(cat)?.as_str().unwrap_or("?"),
            human_bytes(s.bytes),
            human_bytes(s.bytes - s.kept_bytes)
        ));
    }
    let verb = if dry_run { "would remove" } else { "removed" };
    human.push_str(&format!(
        "\n{verb} {} in {removed} paths",
        human_bytes(bytes_removed)
    ));
    let out = CleanOutput {
        version: OUTPUT_VERSION,
        dry_run,
        roots,
        categories,
        removed_paths: removed,
        bytes_removed,
    };
    ctx.report.result(&out, &human);
    Ok(Done::Ok)
}
