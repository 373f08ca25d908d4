//! Cache keys: [`KeyInputs`] in, a readable key and its restore ladder out.
//!
//! A key reads `[prefix-]stash1-<os>-<arch>-<toolchain>-<config>-<deps>[-suffix]`. Each
//! later segment is a short digest, so every ladder rung is a plain string prefix:
//! falling back across a dependency change keeps most units fresh, while falling back
//! across a toolchain or config change would restore nothing Cargo can reuse.
//!
//! The modules: [`inputs`] (what goes in, checked and listed),
//! [`compute`](mod@compute) (the digests, the key and its ladder), [`env`](mod@env) (the
//! environment allow-list), [`manifest`] (member manifests normalised through the
//! canonical writer of `canon`) and [`lockfile`] (Cargo.lock reduced to its packages).

mod canon;
pub mod compute;
pub mod env;
pub mod inputs;
pub mod lockfile;
pub mod manifest;

pub use crate::digest::{HostSha256, use_host_sha256};
pub use compute::{ExplainLine, Key, KeySet, Segment, arch_label, compute, os_label};
pub use env::{artifact_env, is_artifact_env};
pub use inputs::{KeyInputs, RustcInfo};
pub use lockfile::reduce_lockfile;
pub use manifest::normalize_manifest;
pub use stash_toml::float::{HostFloat, use_host_float};

/// The version of [`KeyInputs`] and of the key algorithm. Bumping it changes every key.
pub const KEY_SCHEMA: u32 = 1;

/// `parts.join(sep)`, written out: std's `join` is a large generic routine, and the
/// core's joins of `String`s all share this small one in wasm.
pub(crate) fn join(parts: &[String], sep: &str) -> String {
    let len = parts.iter().map(String::len).sum::<usize>() + sep.len() * parts.len();
    let mut out = String::with_capacity(len);
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            out.push_str(sep);
        }
        out.push_str(part);
    }
    out
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod toml_tests;
