//! `cargo stash`: restore and save Cargo build caches. The work happens in `commands`;
//! this file parses the command line, sets up logging and maps errors to exit codes.

mod cli;
mod commands;
mod download;
mod error;
mod inputs;
mod kept;
mod listing;
mod memo;
mod pack;
mod relocation;
mod report;
mod requests;
mod sources;
mod state;
mod store;
mod upload;
mod usage;
mod workspace;

/// glibc keeps freed memory in per-thread arenas, and raises its mmap threshold after
/// each large free, up to 32 MiB: a patch's block buffers and its window of up to 80 MiB, freed
/// on one blocking thread, stayed in that thread's arena, so each patch made on another
/// thread added its size again (a save with 30 sibling patches peaked at 470 MB). A
/// fixed threshold of 4 MiB gives every large buffer its own mapping, returned on free.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn release_big_buffers() {
    // SAFETY: mallopt only sets an allocator parameter; it runs first in main, before
    // any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 4 << 20);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn release_big_buffers() {}

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    release_big_buffers();
    // `cargo stash ...` runs us as `cargo-stash stash ...`.
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.get(1).is_some_and(|a| a == "stash") {
        args.remove(1);
    }
    let cli = cli::Cli::parse_from(args);
    init_logging(cli.global.verbose);
    let json = cli.global.json;
    match commands::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            let (kind, hint) = error::classify(&err);
            let code = kind.exit_code();
            if json {
                let doc = stash_core::output::ErrorOutput {
                    version: stash_core::output::OUTPUT_VERSION,
                    exit_code: code,
                    error: store::scrub(&err.to_string()),
                    causes: err
                        .chain()
                        .skip(1)
                        .map(|c| store::scrub(&c.to_string()))
                        .collect(),
                    hint: hint.map(store::scrub),
                };
                println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
            }
            // The one place errors are printed: scrubbed like every other output.
            eprintln!("error: {}", store::scrub(&err.to_string()));
            for cause in err.chain().skip(1) {
                eprintln!("  caused by: {}", store::scrub(&cause.to_string()));
            }
            if let Some(hint) = hint {
                eprintln!("  hint: {hint}");
            }
            ExitCode::from(code)
        }
    }
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "cargo_stash=info",
        _ => "cargo_stash=debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| ScrubbedStderr(Vec::new()))
        .without_time()
        .init();
}

/// Diagnostics pass through the same scrubber as every other printed line: a debug log
/// of an object_store request must not show a credential (`-v`, `RUST_LOG`).
struct ScrubbedStderr(Vec<u8>);

impl std::io::Write for ScrubbedStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if !self.0.is_empty() {
            let text = store::scrub(&String::from_utf8_lossy(&self.0));
            std::io::stderr().write_all(text.as_bytes())?;
            self.0.clear();
        }
        Ok(())
    }
}

impl Drop for ScrubbedStderr {
    fn drop(&mut self) {
        let _ = std::io::Write::flush(self);
    }
}
