//! Command line: clap structs only. Flags beat environment variables, which beat the
//! built-in defaults; every `CARGO_STASH_*` variable is listed in `docs/cli.md`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "cargo-stash",
    bin_name = "cargo stash",
    version,
    about = "A Cargo build cache for CI: precise keys, sanitized target dirs, content-addressed packs"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Print one JSON document on stdout instead of human output.
    #[arg(long, global = true)]
    pub json: bool,
    /// Store URL: s3://bucket/prefix, gs://bucket/prefix, az://container/prefix or
    /// file:///path. Default: a folder under the user's cache dir.
    // Its value may hold credentials by mistake: `--help` must not print it.
    #[arg(
        long,
        global = true,
        env = "CARGO_STASH_STORE",
        value_name = "URL",
        hide_env_values = true
    )]
    pub store: Option<String>,
    /// Path to Cargo.toml of the workspace (default: found from the current dir, as Cargo does).
    #[arg(long, global = true, value_name = "PATH")]
    pub manifest_path: Option<PathBuf>,
    /// Treat a cache problem (miss, store down, corrupt pack) as an error (exit 3).
    #[arg(long, global = true, env = "CARGO_STASH_STRICT")]
    pub strict: bool,
    /// Packs transferred at once (default: 4 per core).
    #[arg(
        long,
        global = true,
        env = "CARGO_STASH_JOBS",
        value_name = "N",
        value_parser = at_least_one
    )]
    pub jobs: Option<usize>,
    /// Only print warnings and errors.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// More diagnostics on stderr (-vv for debug). RUST_LOG also works.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

/// What goes into the key besides files and the environment.
#[derive(Debug, Args, Clone, Default)]
pub struct KeyArgs {
    /// Prefix of every key, e.g. a job name; jobs with different prefixes never share.
    #[arg(long, env = "CARGO_STASH_PREFIX")]
    pub prefix: Option<String>,
    /// Suffix of the key, e.g. a commit: each value saves its own snapshot and restore
    /// falls back to the newest one.
    #[arg(long, env = "CARGO_STASH_SUFFIX")]
    pub suffix: Option<String>,
    /// Target triple the job builds for (repeatable; default: CARGO_BUILD_TARGET or the host).
    #[arg(long = "target", value_name = "TRIPLE")]
    pub targets: Vec<String>,
    /// Cargo profile the job builds.
    #[arg(long, default_value = "dev", env = "CARGO_STASH_PROFILE")]
    pub profile: String,
    /// Extra environment variable that changes artifacts (repeatable, or comma-separated in
    /// CARGO_STASH_ENV_VARS).
    #[arg(
        long = "env-var",
        value_name = "NAME",
        env = "CARGO_STASH_ENV_VARS",
        value_delimiter = ','
    )]
    pub env_vars: Vec<String>,
}

/// What the sanitization plan keeps.
#[derive(Debug, Args, Clone, Default)]
pub struct PlanArgs {
    /// Keep `incremental/` (dropped by default: CI never reuses it).
    #[arg(long)]
    pub keep_incremental: bool,
    /// Keep `*.d` dep files (dropped by default: Cargo does not read them for freshness).
    #[arg(long)]
    pub keep_dep_files: bool,
    /// Keep units this job's builds did not use (default: leave them out of the snapshot).
    #[arg(long, env = "CARGO_STASH_KEEP_UNUSED")]
    pub keep_unused: bool,
    /// Do not save the registry layer (CARGO_HOME's downloaded crates and index).
    #[arg(long, env = "CARGO_STASH_NO_REGISTRY")]
    pub no_registry: bool,
}

#[derive(Debug, Args, Clone, Default)]
pub struct RestoreArgs {
    /// Only an exact key match; no fallback.
    #[arg(long)]
    pub exact: bool,
    /// Leave source mtimes alone (default: give unchanged tracked files their saved
    /// mtimes so unchanged workspace crates stay fresh). Only for a checkout whose
    /// mtimes you manage: a file changed since the save may then look older than its
    /// restored unit.
    #[arg(long, env = "CARGO_STASH_NO_MTIME")]
    pub no_mtime: bool,
    /// Do not restore the registry layer into CARGO_HOME.
    #[arg(long, env = "CARGO_STASH_NO_REGISTRY")]
    pub no_registry: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the cache key and restore ladder.
    Key {
        #[command(flatten)]
        key: KeyArgs,
        /// Show every input and what it contributed.
        #[arg(long)]
        explain: bool,
    },
    /// Restore the newest matching snapshot into the target dir.
    Restore {
        #[command(flatten)]
        key: KeyArgs,
        #[command(flatten)]
        opts: RestoreArgs,
    },
    /// Sanitize and save the target dir as a snapshot.
    Save {
        #[command(flatten)]
        key: KeyArgs,
        #[command(flatten)]
        plan: PlanArgs,
        /// Store every pack whole, never as a patch against the restored snapshot's
        /// (more bytes stored; a restore then never fetches a base).
        #[arg(long, env = "CARGO_STASH_NO_PATCHES")]
        no_patches: bool,
    },
    /// Apply the sanitization plan to the local target dir.
    Clean {
        #[command(flatten)]
        plan: PlanArgs,
        /// Only report what would be removed.
        #[arg(long)]
        dry_run: bool,
    },
    /// After a build: restored units fresh, rebuilt (and why), unused, new.
    Stats,
    /// List snapshots in the store.
    Ls {
        /// Only keys starting with this.
        #[arg(long)]
        prefix: Option<String>,
    },
    /// Delete snapshots past retention, then packs no snapshot references.
    Gc {
        /// Delete snapshots older than this (90m, 12h, 7d, 2w).
        #[arg(long, value_name = "AGE", value_parser = duration_text)]
        max_age: Option<String>,
        /// Keep only the newest N snapshots per restore prefix (toolchain + config).
        #[arg(long, value_name = "N")]
        keep: Option<usize>,
        /// Delete an unreferenced pack only once it is older than this, so a save in
        /// flight keeps the packs it has just uploaded.
        #[arg(long, value_name = "AGE", default_value = "2d", value_parser = duration_text)]
        grace: String,
        /// Promise that no save writes to the store while this gc runs, which lifts the
        /// 25h floor on --grace (for tests and maintenance windows).
        #[arg(long)]
        no_concurrent_saves: bool,
        /// Only snapshots whose key starts with this (packs are judged against all).
        #[arg(long)]
        prefix: Option<String>,
        /// Only report what would be deleted.
        #[arg(long)]
        dry_run: bool,
    },
}

/// `--jobs`: a count of at least one (0 would transfer nothing and never finish).
fn at_least_one(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("`{text}` is not a whole number")),
    }
}

/// An age flag, checked while the command line is read so a typo is a usage error
/// (exit 2) naming the accepted form.
fn duration_text(text: &str) -> Result<String, String> {
    crate::store::parse_duration(text)
        .map(|_| text.to_string())
        .map_err(|e| format!("{e}; give a number with a unit: 90m, 12h, 7d, 2w"))
}

#[cfg(test)]
mod docs_drift;

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::Cli;

    fn usage_error(args: &[&str]) -> clap::Error {
        let mut all = vec!["cargo-stash"];
        all.extend(args);
        Cli::try_parse_from(all).expect_err("should be refused")
    }

    #[test]
    fn zero_jobs_and_bad_ages_are_usage_errors() {
        assert_eq!(usage_error(&["ls", "--jobs", "0"]).exit_code(), 2);
        assert_eq!(usage_error(&["gc", "--max-age", "7x"]).exit_code(), 2);
        assert_eq!(usage_error(&["gc", "--grace", "soon"]).exit_code(), 2);
        assert!(
            Cli::try_parse_from(["cargo-stash", "gc", "--max-age", "7d", "--jobs", "2"]).is_ok()
        );
    }
}
