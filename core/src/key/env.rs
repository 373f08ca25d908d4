//! The environment allow-list: the variables that change what Cargo or a build script
//! produces, and only those, go into a key.

use std::collections::BTreeMap;

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
    // Inserts rather than `collect`: the same map (the last value of a name wins), without
    // a second sort routine in the wasm module.
    let mut out = BTreeMap::new();
    for (k, v) in vars {
        let k = k.into();
        if is_artifact_env(&k, extra) {
            out.insert(k, v.into());
        }
    }
    out
}
