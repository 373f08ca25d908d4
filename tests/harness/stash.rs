//! Runs the real `cargo-stash` binary against a store.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The binary under test: `CARGO_STASH_BIN`, else built once from this workspace.
pub fn stash_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(bin) = std::env::var_os("CARGO_STASH_BIN") {
            return PathBuf::from(bin);
        }
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let status = Command::new(env!("CARGO"))
            .args(["build", "-q", "-p", "cargo-stash"])
            .current_dir(root)
            .status()
            .unwrap();
        assert!(status.success(), "building cargo-stash failed");
        root.join("target/debug/cargo-stash")
    })
    .clone()
}

/// A store URL plus environment for running commands against it.
pub struct Stash {
    pub store: String,
    pub env: Vec<(String, String)>,
}

/// What a command printed and how it exited.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}\nstderr: {}", self.stdout, self.stderr))
    }
}

impl Stash {
    pub fn local(dir: &Path) -> Stash {
        Stash {
            store: format!("file://{}", dir.display()),
            env: Vec::new(),
        }
    }

    /// Runs `cargo-stash <args>` in `dir` with `CI=true` (no progress bars).
    pub fn run(&self, dir: &Path, args: &[&str]) -> Run {
        let mut cmd = Command::new(stash_bin());
        cmd.args(args)
            .current_dir(dir)
            .env("CARGO_STASH_STORE", &self.store)
            .env("CI", "true")
            .env_remove("CARGO_TARGET_DIR");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let Output {
            status,
            stdout,
            stderr,
        } = cmd.output().unwrap();
        Run {
            code: status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        }
    }

    /// Runs with `--json`, asserts exit 0 and returns the document.
    pub fn json(&self, dir: &Path, args: &[&str]) -> serde_json::Value {
        let mut all = args.to_vec();
        all.push("--json");
        let run = self.run(dir, &all);
        assert_eq!(run.code, 0, "cargo-stash {args:?} failed:\n{}", run.stderr);
        run.json()
    }
}
