//! Finds the workspace, its members, target dir and build dir by asking Cargo
//! (`cargo metadata`), so CARGO_TARGET_DIR, `build.target-dir` and `build.build-dir`
//! are honoured exactly as the build will honour them.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};
use serde::Deserialize;
use stash_core::Root;

use crate::error::UserError;

#[derive(Clone, Debug)]
pub struct Workspace {
    pub root: PathBuf,
    pub manifests: Vec<PathBuf>,
    /// The members' package names: the units most builds change.
    pub members: std::collections::BTreeSet<String>,
    pub target_dir: PathBuf,
    /// Set only when it differs from the target dir.
    pub build_dir: Option<PathBuf>,
}

#[derive(Deserialize)]
struct Metadata {
    workspace_root: PathBuf,
    target_directory: PathBuf,
    #[serde(default)]
    build_directory: Option<PathBuf>,
    packages: Vec<Package>,
}

#[derive(Deserialize)]
struct Package {
    name: String,
    manifest_path: PathBuf,
}

pub fn cargo_bin() -> PathBuf {
    std::env::var_os("CARGO").map_or_else(|| "cargo".into(), PathBuf::from)
}

impl Workspace {
    pub fn discover(manifest_path: Option<&Path>) -> Result<Workspace> {
        let mut cmd = Command::new(cargo_bin());
        cmd.args(["metadata", "--no-deps", "--format-version", "1"]);
        if let Some(p) = manifest_path {
            cmd.arg("--manifest-path").arg(p);
        }
        let out = cmd.output().context("running `cargo metadata`")?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            return Err(UserError::new(
                format!("`cargo metadata` failed: {}", stderr.trim()),
                "run cargo-stash inside a Cargo workspace or pass --manifest-path",
            )
            .into());
        }
        let meta: Metadata =
            serde_json::from_slice(&out.stdout).context("reading `cargo metadata` output")?;
        let members = meta.packages.iter().map(|p| p.name.clone()).collect();
        let mut manifests: Vec<PathBuf> =
            meta.packages.into_iter().map(|p| p.manifest_path).collect();
        let root_manifest = meta.workspace_root.join("Cargo.toml");
        if !manifests.contains(&root_manifest) {
            manifests.push(root_manifest);
        }
        manifests.sort();
        let build_dir = meta.build_directory.filter(|b| *b != meta.target_directory);
        Ok(Workspace {
            root: meta.workspace_root,
            manifests,
            members,
            target_dir: meta.target_directory,
            build_dir,
        })
    }

    /// The directories a target layer covers, with their root names in manifests.
    pub fn roots(&self) -> Vec<(Root, PathBuf)> {
        let mut roots = vec![(Root::Target, self.target_dir.clone())];
        if let Some(b) = &self.build_dir {
            roots.push((Root::Build, b.clone()));
        }
        roots
    }

    /// Where cargo-stash keeps state between restore and save.
    pub fn state_dir(&self) -> PathBuf {
        self.target_dir.join(stash_core::layout::STATE_DIR)
    }
}

/// `CARGO_HOME`, or `~/.cargo`, as an absolute path.
pub fn cargo_home() -> Result<PathBuf> {
    let home = match std::env::var_os("CARGO_HOME") {
        Some(h) if !h.is_empty() => PathBuf::from(h),
        _ => dirs::home_dir()
            .context("no home directory; set CARGO_HOME")?
            .join(".cargo"),
    };
    std::path::absolute(&home).with_context(|| format!("resolving CARGO_HOME {}", home.display()))
}
