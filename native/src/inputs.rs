//! Gathers [`KeyInputs`] from the filesystem, the environment and `rustc -vV`. The wasm
//! package's JS helper follows the same rules; keep the two in step.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};
use stash_core::key::{KEY_SCHEMA, arch_label, artifact_env, os_label};
use stash_core::{KeyInputs, RustcInfo};

use crate::cli::KeyArgs;
use crate::error::UserError;
use crate::workspace::{Workspace, cargo_home};

/// Finds the workspace and gathers its key inputs. `rustc -vV` runs while `cargo
/// metadata` does (each takes tens of milliseconds through rustup's proxies), from the
/// manifest's directory; when the workspace root is elsewhere it runs again there, so
/// that rustup picks the toolchain exactly as it would for the root.
pub fn discover(manifest_path: Option<&Path>, args: &KeyArgs) -> Result<(Workspace, KeyInputs)> {
    let cwd = std::env::current_dir().context("reading the current directory")?;
    let guess = match manifest_path.and_then(Path::parent) {
        Some(dir) => cwd.join(dir),
        None => cwd,
    };
    let (ws, early) = std::thread::scope(|s| {
        let early = s.spawn(|| rustc_info(&guess));
        let ws = Workspace::discover(manifest_path);
        (ws, early.join().expect("rustc -vV thread panicked"))
    });
    let ws = ws?;
    let same = |a: &Path, b: &Path| a.canonicalize().ok() == b.canonicalize().ok();
    let rustc = if same(&guess, &ws.root) {
        early?
    } else {
        rustc_info(&ws.root)?
    };
    let inputs = gather(&ws, args, rustc)?;
    Ok((ws, inputs))
}

fn gather(ws: &Workspace, args: &KeyArgs, rustc: RustcInfo) -> Result<KeyInputs> {
    let cargo_home = cargo_home()?;
    let mut targets = args.targets.clone();
    if targets.is_empty()
        && let Ok(t) = std::env::var("CARGO_BUILD_TARGET")
    {
        targets.push(t);
    }
    Ok(KeyInputs {
        schema: KEY_SCHEMA,
        prefix: args.prefix.clone().unwrap_or_default(),
        suffix: args.suffix.clone().unwrap_or_default(),
        os: os_label(std::env::consts::OS),
        arch: arch_label(std::env::consts::ARCH),
        rustc,
        targets,
        profile: args.profile.clone(),
        env: artifact_env(std::env::vars(), &args.env_vars),
        extra_env: args.env_vars.clone(),
        cargo_home: cargo_home.to_string_lossy().into_owned(),
        lockfile: read_optional(&ws.root.join("Cargo.lock"))?,
        manifests: ws
            .manifests
            .iter()
            .map(|m| Ok((relative_label(&ws.root, m), read(m)?)))
            .collect::<Result<_>>()?,
        config_files: config_files(&ws.root, &cargo_home)?,
        toolchain_file: toolchain_file(&ws.root)?,
    })
}

fn rustc_info(dir: &Path) -> Result<RustcInfo> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let out = Command::new(&rustc)
        .arg("-vV")
        .current_dir(dir)
        .output()
        .with_context(|| format!("running `{} -vV`", rustc.to_string_lossy()))?;
    if !out.status.success() {
        return Err(UserError::new(
            format!(
                "`rustc -vV` failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
            "install the toolchain this workspace uses (rustup show)",
        )
        .into());
    }
    Ok(RustcInfo::parse_verbose_version(&String::from_utf8_lossy(
        &out.stdout,
    ))?)
}

/// Cargo's config files that apply to a build in `root`, labelled relative to it.
fn config_files(
    root: &Path,
    cargo_home: &Path,
) -> Result<std::collections::BTreeMap<String, String>> {
    let mut found = std::collections::BTreeMap::new();
    let mut up = String::new();
    for dir in root.ancestors() {
        for name in ["config.toml", "config"] {
            let path = dir.join(".cargo").join(name);
            if let Some(text) = read_optional(&path)? {
                found.insert(format!("{up}.cargo/{name}"), text);
            }
        }
        up.push_str("../");
    }
    for name in ["config.toml", "config"] {
        if let Some(text) = read_optional(&cargo_home.join(name))? {
            found.insert(format!("$CARGO_HOME/{name}"), text);
        }
    }
    Ok(found)
}

fn toolchain_file(root: &Path) -> Result<Option<String>> {
    for dir in root.ancestors() {
        for name in ["rust-toolchain.toml", "rust-toolchain"] {
            if let Some(text) = read_optional(&dir.join(name))? {
                return Ok(Some(text));
            }
        }
    }
    Ok(None)
}

/// `a/b/Cargo.toml` for a manifest under root; the absolute path otherwise.
fn relative_label(root: &Path, path: &Path) -> String {
    let rel: PathBuf = path.strip_prefix(root).unwrap_or(path).into();
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

fn read_optional(path: &Path) -> Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) if path.is_dir() => {
            let _ = e;
            Ok(None)
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}
