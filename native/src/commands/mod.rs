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
use crate::error::UserError;
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

/// How a command that ran to its end went.
pub enum Done {
    /// All asked for was done.
    Ok,
    /// The command met a cache problem and reported it as a warning: the build goes on
    /// without the cache, unless `--strict` makes the problem a failure.
    CacheProblem {
        /// The command, for the `--strict` message.
        what: &'static str,
        err: anyhow::Error,
    },
}

/// Runs a command, then applies `--strict`: the one place a cache problem becomes a
/// failure (exit 3) instead of a warning (exit 0).
pub fn run(cli: Cli) -> Result<u8> {
    let strict = cli.global.strict;
    let (report, done) = dispatch(cli);
    match done? {
        Done::CacheProblem { what, err } if strict => {
            let fix = crate::error::classify(&err).1.unwrap_or("check the store");
            let hint = format!("{fix}; or drop --strict to let builds go on without the cache");
            let failure = UserError::cache(format!("{what} did not complete (--strict)"), hint);
            Err(err.context(failure))
        }
        Done::Ok | Done::CacheProblem { .. } => {
            report.flush();
            Ok(0)
        }
    }
}

fn dispatch(cli: Cli) -> (Reporter, Result<Done>) {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let ctx = Ctx {
        report: Reporter::new(cli.global.json, cli.global.quiet),
        jobs: cli.global.jobs.unwrap_or(cores * 4).max(1),
        global: cli.global,
    };
    let done = match cli.command {
        Command::Key { key, explain } => key::run(&ctx, &key, explain),
        Command::Stats => stats::run(&ctx),
        Command::Clean { plan, dry_run } => clean::run(&ctx, &plan, dry_run),
        Command::Save {
            key,
            plan,
            no_patches,
        } => bounded(save::run(&ctx, &key, &plan, no_patches)),
        Command::Restore { key, opts } => bounded(restore::run(&ctx, &key, &opts)),
        Command::Ls { prefix } => {
            runtime().and_then(|rt| rt.block_on(ls::run(&ctx, prefix.as_deref())))
        }
        Command::Gc {
            max_age,
            keep,
            grace,
            no_concurrent_saves,
            prefix,
            dry_run,
        } => gc::GcOptions::parse(
            max_age.as_deref(),
            keep,
            (&grace, no_concurrent_saves),
            prefix.as_deref(),
            dry_run,
        )
        .and_then(|opts| runtime().and_then(|rt| rt.block_on(gc::run(&ctx, &opts)))),
    };
    (ctx.report, done)
}

/// Runs a command that may give up at its deadline: blocking work it cut off (a pack
/// half unpacked, a file half packed) is not waited for, as if the process were killed,
/// which both are built to survive.
fn bounded(work: impl std::future::Future<Output = Result<Done>>) -> Result<Done> {
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
