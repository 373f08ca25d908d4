//! The key of each layer and its restore ladder, from the lines of [`KeyInputs`].

use serde::{Deserialize, Serialize};

use super::{KEY_SCHEMA, KeyInputs};
use crate::digest::{Hasher, short_of};
use crate::error::KeyError;

/// Length of the digest segments of a key, in hex characters.
const DIGEST_LEN: usize = 10;

/// A key and the prefixes to try, best first, when it has no snapshot.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Key {
    /// The exact key a save publishes and a restore tries first.
    pub key: String,
    /// Key prefixes a restore tries, best first: the key itself, then wider rungs.
    pub ladder: Vec<String>,
}

/// Keys of both layers plus the explanation of every input.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KeySet {
    /// Key of the target dir layer.
    pub target: Key,
    /// Key of the registry layer (CARGO_HOME's crates, index and git databases).
    pub registry: Key,
    /// Every input of the keys, in a fixed order.
    pub explain: Vec<ExplainLine>,
}

/// One input of a key: which segment it feeds and a digest of its value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExplainLine {
    /// Name of the input, e.g. `rustc.release` or a manifest's path.
    pub input: String,
    /// The key segment the input feeds.
    pub segment: Segment,
    /// The value itself when short, else its size in lines and bytes.
    pub value: String,
    /// Short digest of the name and the value.
    pub digest: String,
}

/// The segment of a key an input feeds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Segment {
    /// The user's prefix, the OS and the architecture.
    Prefix,
    /// The compiler's release and commit.
    Toolchain,
    /// Host, toolchain file, targets, profile, CARGO_HOME, artifact environment and
    /// Cargo configuration files.
    Config,
    /// Cargo.lock and the manifests.
    Deps,
    /// The user's suffix.
    Suffix,
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
        format!("stash{KEY_SCHEMA}")
    } else {
        format!("{}-stash{KEY_SCHEMA}", sanitize(&inputs.prefix))
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
