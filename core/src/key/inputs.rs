//! What a key is computed from: [`KeyInputs`], checked, and listed as the named lines
//! that the digests and the explanation are made of.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::compute::Segment;
use super::{KEY_SCHEMA, artifact_env, join, normalize_manifest, reduce_lockfile};
use crate::error::KeyError;
// The core's one sort routine, see there.
use crate::plan::sort::sorted_unique;

/// Everything that decides whether a saved target dir can be reused.
///
/// Filled by the native CLI from the filesystem, or by a JS plugin from the same files;
/// raw file contents go in and the core normalises them, so both agree.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct KeyInputs {
    /// Must be `KEY_SCHEMA`: inputs written for another key format are refused.
    pub schema: u32,
    /// User prefix, e.g. a job name. Goes first, so ladders never cross it.
    #[serde(default)]
    pub prefix: String,
    /// User suffix, e.g. a commit: saves a new snapshot per value, restores the newest.
    #[serde(default)]
    pub suffix: String,
    /// `linux`, `macos`, `windows`, ...
    pub os: String,
    /// `x64`, `arm64`, ...
    pub arch: String,
    /// The compiler, from `rustc -vV`.
    pub rustc: RustcInfo,
    /// `--target` triples; empty means the host.
    #[serde(default)]
    pub targets: Vec<String>,
    /// Cargo profile name; `dev` when absent.
    #[serde(default = "default_profile")]
    pub profile: String,
    /// Environment; only variables that change artifacts are kept (see [`artifact_env`]).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// User additions to the environment allow-list.
    #[serde(default)]
    pub extra_env: Vec<String>,
    /// Absolute path of CARGO_HOME: registry units hash their source path under it.
    pub cargo_home: String,
    /// Contents of Cargo.lock, if any.
    #[serde(default)]
    pub lockfile: Option<String>,
    /// Workspace-relative path -> contents of every member's and the root's Cargo.toml.
    #[serde(default)]
    pub manifests: BTreeMap<String, String>,
    /// Label -> contents of every `.cargo/config.toml` that applies.
    #[serde(default)]
    pub config_files: BTreeMap<String, String>,
    /// Contents of `rust-toolchain.toml` / `rust-toolchain`, if any.
    #[serde(default)]
    pub toolchain_file: Option<String>,
}

fn default_profile() -> String {
    "dev".to_string()
}

/// The three fields of `rustc -vV` that identify a compiler.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RustcInfo {
    /// `release:`, e.g. `1.83.0`.
    pub release: String,
    /// `commit-hash:`.
    pub commit_hash: String,
    /// `host:`, the host triple.
    pub host: String,
}

impl RustcInfo {
    /// Reads `rustc -vV` output.
    pub fn parse_verbose_version(text: &str) -> Result<Self, KeyError> {
        let field = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
                .map(|v| v.trim().to_string())
        };
        let missing = |name: &str| KeyError::Field {
            field: format!("rustc.{name}"),
            reason: "missing from `rustc -vV` output".into(),
        };
        Ok(RustcInfo {
            release: field("release").ok_or_else(|| missing("release"))?,
            commit_hash: field("commit-hash").unwrap_or_else(|| "unknown".into()),
            host: field("host").ok_or_else(|| missing("host"))?,
        })
    }
}

impl KeyInputs {
    pub(super) fn validate(&self) -> Result<(), KeyError> {
        if self.schema != KEY_SCHEMA {
            return Err(KeyError::Schema {
                found: self.schema,
                supported: KEY_SCHEMA,
            });
        }
        let required = [
            ("os", &self.os),
            ("arch", &self.arch),
            ("rustc.release", &self.rustc.release),
            ("rustc.host", &self.rustc.host),
            ("cargo_home", &self.cargo_home),
        ];
        for (field, value) in required {
            if value.trim().is_empty() {
                return Err(KeyError::Field {
                    field: field.into(),
                    reason: "must not be empty".into(),
                });
            }
        }
        for (field, value) in [("prefix", &self.prefix), ("suffix", &self.suffix)] {
            if value.contains('/') {
                return Err(KeyError::Field {
                    field: field.into(),
                    reason: "must not contain `/` (keys are object names)".into(),
                });
            }
        }
        Ok(())
    }

    /// Every input as `(name, segment, value)`, in a fixed order.
    pub(super) fn lines(&self) -> Result<Vec<(String, Segment, String)>, KeyError> {
        use Segment::*;
        let mut out = vec![
            ("prefix".into(), Prefix, self.prefix.clone()),
            ("os".into(), Prefix, self.os.clone()),
            ("arch".into(), Prefix, self.arch.clone()),
            (
                "rustc.release".into(),
                Toolchain,
                self.rustc.release.clone(),
            ),
            (
                "rustc.commit-hash".into(),
                Toolchain,
                self.rustc.commit_hash.clone(),
            ),
            ("rustc.host".into(), Config, self.rustc.host.clone()),
            (
                "rust-toolchain".into(),
                Config,
                self.toolchain_file.clone().unwrap_or_default(),
            ),
            (
                "targets".into(),
                Config,
                join(&sorted_unique(self.targets.clone()), ","),
            ),
            ("profile".into(), Config, self.profile.clone()),
            ("cargo_home".into(), Config, self.cargo_home.clone()),
        ];
        // By reference: cloning the map would bring B-tree cloning code into wasm.
        let env = self.env.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        for (k, v) in artifact_env(env, &self.extra_env) {
            out.push((format!("env.{k}"), Config, v));
        }
        for (label, text) in &self.config_files {
            out.push((format!("config:{label}"), Config, text.clone()));
        }
        let lock = match &self.lockfile {
            Some(text) => reduce_lockfile(text)?,
            None => String::new(),
        };
        out.push(("Cargo.lock".into(), Deps, lock));
        for (path, text) in &self.manifests {
            out.push((
                format!("manifest:{path}"),
                Deps,
                normalize_manifest(path, text)?,
            ));
        }
        out.push(("suffix".into(), Suffix, self.suffix.clone()));
        Ok(out)
    }
}
