//! One module per command; `run` routes to them with the resolved context.

mod clean;
mod gc;
mod key;
mod ls;
mod restore;
mod save;
mod stats;

use anyhow::Result;

use crate::cli::{Cli, Command, GlobalArgs};
use crate::report::Reporter;
use crate::store::Store;

/// What every command receives.
pub struct Ctx {
    pub global: GlobalArgs,
    pub report: Reporter,
    pub jobs: usize,
}

impl Ctx {
    pub fn store(&self) -> Result<Store> {
        Store::open(self.global.store.as_deref())
    }
}

pub fn run(cli: Cli) -> Result<u8> {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let ctx = Ctx {
        report: Reporter::new(cli.global.json, cli.global.quiet),
        jobs: cli.global.jobs.unwrap_or(cores * 4).max(1),
        global: cli.global,
    };
    match cli.command {
        Command::Key { key, explain } => key::run(&ctx, &key, explain),
        Command::Stats => stats::run(&ctx),
        Command::Clean { plan, dry_run } => clean::run(&ctx, &plan, dry_run),
        Command::Save {
            key,
            plan,
            no_patches,
        } => runtime()?.block_on(save::run(&ctx, &key, &plan, no_patches)),
        Command::Restore { key, opts } => runtime()?.block_on(restore::run(&ctx, &key, &opts)),
        Command::Ls { prefix } => runtime()?.block_on(ls::run(&ctx, prefix.as_deref())),
        Command::Gc {
            max_age,
            keep,
            grace,
            prefix,
            dry_run,
        } => {
            let opts =
                gc::GcOptions::parse(max_age.as_deref(), keep, &grace, prefix.as_deref(), dry_run)?;
            runtime()?.block_on(gc::run(&ctx, &opts))
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}
