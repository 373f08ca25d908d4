//! Runs real Cargo builds and reads what Cargo says about each unit.

use std::path::Path;
use std::process::Command;

use serde::Deserialize;

/// One `compiler-artifact` message of `cargo build --message-format=json`.
#[derive(Debug, Clone, Deserialize)]
pub struct Artifact {
    pub package_id: String,
    pub target: Target,
    pub fresh: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Target {
    pub name: String,
    pub kind: Vec<String>,
}

impl Artifact {
    /// From crates.io rather than the workspace.
    pub fn is_registry(&self) -> bool {
        self.package_id.starts_with("registry+")
    }

    pub fn label(&self) -> String {
        format!("{} ({})", self.target.name, self.target.kind.join(","))
    }
}

/// Labels of the units among `units` that Cargo compiled instead of reusing.
pub fn rebuilt<'a>(units: impl IntoIterator<Item = &'a Artifact>) -> Vec<String> {
    units
        .into_iter()
        .filter(|u| !u.fresh)
        .map(|u| u.label())
        .collect()
}

/// `cargo build --message-format=json` in `dir`; panics if the build fails.
pub fn build_json(dir: &Path, extra: &[&str]) -> Vec<Artifact> {
    build_json_env(dir, extra, &[])
}

/// [`build_json`] with extra environment variables.
pub fn build_json_env(dir: &Path, extra: &[&str], env: &[(String, String)]) -> Vec<Artifact> {
    let out = Command::new(env!("CARGO"))
        .args(["build", "--message-format=json"])
        .args(extra)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir(dir)
        .env_remove("CARGO_TARGET_DIR")
        .env("CARGO_TERM_COLOR", "never")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cargo build failed in {}:\n{}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains("\"reason\":\"compiler-artifact\""))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Runs the fixture's binary and returns its stdout.
pub fn run_app(dir: &Path) -> String {
    let out = Command::new(dir.join("target/debug/app")).output().unwrap();
    assert!(
        out.status.success(),
        "app failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}
