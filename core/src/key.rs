//! Cache keys: [`KeyInputs`] in, a readable key and its restore ladder out.
//!
//! A key reads `[prefix-]stow1-<os>-<arch>-<toolchain>-<config>-<deps>[-suffix]`. Each
//! later segment is a short digest, so every ladder rung is a plain string prefix:
//! falling back across a dependency change keeps most units fresh, while falling back
//! across a toolchain or config change would restore nothing Cargo can reuse.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::digest::{Hasher, short_of};
use crate::error::KeyError;

/// The version of [`KeyInputs`] and of the key algorithm. Bumping it changes every key.
pub const KEY_SCHEMA: u32 = 1;

/// Length of the digest segments of a key, in hex characters.
const DIGEST_LEN: usize = 10;

/// Everything that decides whether a saved target dir can be reused.
///
/// Filled by the native CLI from the filesystem, or by a JS plugin from the same files;
/// raw file contents go in and the core normalises them, so both agree.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct KeyInputs {
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
    pub rustc: RustcInfo,
    /// `--target` triples; empty means the host.
    #[serde(default)]
    pub targets: Vec<String>,
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
    pub release: String,
    pub commit_hash: String,
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

/// A key and the prefixes to try, best first, when it has no snapshot.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Key {
    pub key: String,
    pub ladder: Vec<String>,
}

/// Keys of both layers plus the explanation of every input.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KeySet {
    pub target: Key,
    pub registry: Key,
    pub explain: Vec<ExplainLine>,
}

/// One input of a key: which segment it feeds and a digest of its value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExplainLine {
    pub input: String,
    pub segment: Segment,
    pub value: String,
    pub digest: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Segment {
    Prefix,
    Toolchain,
    Config,
    Deps,
    Suffix,
}

/// Environment variables that change what Cargo or a build script produces.
const ENV_EXACT: &[&str] = &[
    "CARGO_INCREMENTAL",
    "RUSTFLAGS",
    "CARGO_ENCODED_RUSTFLAGS",
    "RUSTDOCFLAGS",
    "CARGO_ENCODED_RUSTDOCFLAGS",
    "RUSTC",
    "RUSTC_BOOTSTRAP",
    "RUSTC_LINKER",
    "CC",
    "CXX",
    "CFLAGS",
    "CXXFLAGS",
    "CPPFLAGS",
    "AR",
    "LD",
    "LDFLAGS",
    "RANLIB",
    "HOST_CC",
    "HOST_CXX",
    "HOST_CFLAGS",
    "HOST_CXXFLAGS",
    "TARGET_CC",
    "TARGET_CXX",
    "TARGET_CFLAGS",
    "TARGET_CXXFLAGS",
    "TARGET_AR",
    "PKG_CONFIG_PATH",
    "PKG_CONFIG_SYSROOT_DIR",
    "MACOSX_DEPLOYMENT_TARGET",
];

const ENV_PREFIXES: &[&str] = &[
    "CARGO_PROFILE_",
    "CARGO_BUILD_",
    "CARGO_TARGET_",
    "CARGO_UNSTABLE_",
    "CC_",
    "CXX_",
    "CFLAGS_",
    "CXXFLAGS_",
    "AR_",
];

/// Variables under an allowed prefix that only move output or tune parallelism.
const ENV_DENY: &[&str] = &[
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_TARGET_DIR",
    "CARGO_BUILD_BUILD_DIR",
    "CARGO_BUILD_JOBS",
];

/// Whether an environment variable can change artifacts (or is in `extra`).
pub fn is_artifact_env(name: &str, extra: &[String]) -> bool {
    if extra.iter().any(|e| e == name) {
        return true;
    }
    if ENV_DENY.contains(&name) {
        return false;
    }
    ENV_EXACT.contains(&name) || ENV_PREFIXES.iter().any(|p| name.starts_with(p))
}

/// Keeps only the variables that change artifacts. Never store the full environment: it
/// holds credentials.
pub fn artifact_env<I, K, V>(vars: I, extra: &[String]) -> BTreeMap<String, String>
where
    I: IntoIterator<Item = (K, V)>,
    K: Into<String>,
    V: Into<String>,
{
    vars.into_iter()
        .map(|(k, v)| (k.into(), v.into()))
        .filter(|(k, _)| is_artifact_env(k, extra))
        .collect()
}

/// Cargo.lock reduced to the packages that come from a registry or git, one sorted line
/// each. Workspace members (no `source`) are left out so their version bumps are free.
pub fn reduce_lockfile(text: &str) -> Result<String, KeyError> {
    let doc: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| KeyError::Lockfile(e.message().to_string()))?;
    let mut lines = BTreeSet::new();
    if let Some(packages) = doc.get("package").and_then(|p| p.as_array()) {
        for pkg in packages {
            let get = |k: &str| pkg.get(k).and_then(|v| v.as_str()).unwrap_or("");
            if pkg.get("source").is_some() {
                lines.insert(format!(
                    "{} {} {} {}",
                    get("name"),
                    get("version"),
                    get("source"),
                    get("checksum")
                ));
            }
        }
    }
    Ok(lines.into_iter().collect::<Vec<_>>().join("\n"))
}

/// A member manifest with what does not change dependency artifacts removed: the
/// package version and the `path`/`version` of path dependencies. Key order, comments
/// and formatting are normalised away.
pub fn normalize_manifest(path: &str, text: &str) -> Result<String, KeyError> {
    let mut doc: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| KeyError::Manifest {
            path: path.to_string(),
            reason: e.message().to_string(),
        })?;
    for section in ["package", "workspace"] {
        if let Some(t) = doc.get_mut(section).and_then(|v| v.as_table_mut()) {
            t.remove("version");
            if let Some(p) = t.get_mut("package").and_then(|v| v.as_table_mut()) {
                p.remove("version");
            }
            if let Some(deps) = t.get_mut("dependencies").and_then(|v| v.as_table_mut()) {
                strip_path_deps(deps);
            }
        }
    }
    strip_dep_tables(&mut doc);
    if let Some(targets) = doc.get_mut("target").and_then(|v| v.as_table_mut()) {
        for (_, cfg) in targets.iter_mut() {
            if let Some(cfg) = cfg.as_table_mut() {
                strip_dep_tables(cfg);
            }
        }
    }
    Ok(toml::to_string(&doc).unwrap_or_default())
}

fn strip_dep_tables(table: &mut toml::Table) {
    for name in [
        "dependencies",
        "dev-dependencies",
        "build-dependencies",
        "dev_dependencies",
        "build_dependencies",
    ] {
        if let Some(deps) = table.get_mut(name).and_then(|v| v.as_table_mut()) {
            strip_path_deps(deps);
        }
    }
}

fn strip_path_deps(deps: &mut toml::Table) {
    for (_, dep) in deps.iter_mut() {
        if let Some(d) = dep.as_table_mut()
            && d.remove("path").is_some()
        {
            d.remove("version");
        }
    }
}

/// `linux`, `macos`, `windows` ... from a Rust `target_os` value.
pub fn os_label(target_os: &str) -> String {
    sanitize(target_os)
}

/// `x64`, `arm64` ... from a Rust `target_arch` value (Node's names, which CI uses).
pub fn arch_label(target_arch: &str) -> String {
    match target_arch {
        "x86_64" => "x64".into(),
        "aarch64" => "arm64".into(),
        "x86" => "ia32".into(),
        other => sanitize(other),
    }
}

/// Keeps a key segment readable and free of the `-` separator.
fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

impl KeyInputs {
    fn validate(&self) -> Result<(), KeyError> {
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
    fn lines(&self) -> Result<Vec<(String, Segment, String)>, KeyError> {
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
            ("targets".into(), Config, {
                let mut t = self.targets.clone();
                t.sort();
                t.dedup();
                t.join(",")
            }),
            ("profile".into(), Config, self.profile.clone()),
            ("cargo_home".into(), Config, self.cargo_home.clone()),
        ];
        for (k, v) in artifact_env(self.env.clone(), &self.extra_env) {
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

/// Computes the keys of both layers and the explanation.
pub fn compute(inputs: &KeyInputs) -> Result<KeySet, KeyError> {
    inputs.validate()?;
    let lines = inputs.lines()?;
    let digest_of = |seg: Segment| {
        let mut h = Hasher::default();
        h.field("schema", &KEY_SCHEMA.to_string());
        for (name, _, value) in lines.iter().filter(|l| l.1 == seg) {
            h.field(name, value);
        }
        h.short(DIGEST_LEN)
    };
    let head = if inputs.prefix.is_empty() {
        format!("stow{KEY_SCHEMA}")
    } else {
        format!("{}-stow{KEY_SCHEMA}", sanitize(&inputs.prefix))
    };
    let toolchain = format!(
        "{}_{}",
        sanitize(&inputs.rustc.release),
        inputs.rustc.commit_hash.chars().take(8).collect::<String>()
    );
    let config = digest_of(Segment::Config);
    let deps = digest_of(Segment::Deps);
    let platform = format!("{}-{}", sanitize(&inputs.os), sanitize(&inputs.arch));

    let config_rung = format!("{head}-{platform}-{toolchain}-{config}-");
    let base = format!("{config_rung}{deps}");
    let target = with_suffix(&base, &inputs.suffix, &config_rung);

    let registry_rung = format!("{head}-registry-");
    let registry = with_suffix(
        &format!("{registry_rung}{deps}"),
        &inputs.suffix,
        &registry_rung,
    );

    let explain = lines
        .iter()
        .map(|(name, seg, value)| ExplainLine {
            input: name.clone(),
            segment: *seg,
            value: summarize(value),
            digest: short_of(name, value),
        })
        .collect();
    Ok(KeySet {
        target,
        registry,
        explain,
    })
}

/// The key with an optional suffix, and the ladder: exact, any suffix, then `rung`.
fn with_suffix(base: &str, suffix: &str, rung: &str) -> Key {
    if suffix.is_empty() {
        Key {
            key: base.to_string(),
            ladder: vec![base.to_string(), rung.to_string()],
        }
    } else {
        let key = format!("{base}-{}", sanitize(suffix));
        Key {
            ladder: vec![key.clone(), base.to_string(), rung.to_string()],
            key,
        }
    }
}

/// Short human view of an input value: itself when short, else its size.
fn summarize(value: &str) -> String {
    let single_line = !value.contains('\n');
    if single_line && value.len() <= 80 {
        value.to_string()
    } else {
        format!("<{} lines, {} bytes>", value.lines().count(), value.len())
    }
}

#[cfg(test)]
mod tests;
