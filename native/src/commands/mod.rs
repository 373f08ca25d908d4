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
        } => bounded(save::run(&ctx, &key, &plan, no_patches)),
        Command::Restore { key, opts } => bounded(restore::run(&ctx, &key, &opts)),
        Command::Ls { prefix } => runtime()?.block_on(ls::run(&ctx, prefix.as_deref())),
        Command::Gc {
            max_age,
            keep,
            grace,
            no_concurrent_saves,
            prefix,
            dry_run,
        } => {
            let opts = gc::GcOptions::parse(
                max_age.as_deref(),
                keep,
                (&grace, no_concurrent_saves),
                prefix.as_deref(),
                dry_run,
            )?;
            runtime()?.block_on(gc::run(&ctx, &opts))
        }
    }
}

/// Runs a command that may give up at its deadline: blocking work it cut off (a pack
/// half unpacked, a file half packed) is not waited for, as if the process were killed,
/// which both are built to survive.
fn bounded(work: impl std::future::Future<Output = Result<u8>>) -> Result<u8> {
    let rt = runtime()?;
    let result = rt.block_on(work);
    rt.shutdown_timeout(std::time::Duration::from_secs(1));
    result
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}
