//! wasm-bindgen bindings of stash-core for JavaScript CI plugins: no logic of their own.
//!
//! Values cross the boundary as JSON text (a key's lockfile as UTF-8 bytes apart); the
//! npm wrapper (`wasm/npm/index.js`) turns them into plain objects. The JSON is read and
//! written by this crate's own small code ([`json`], [`read`], `write`), not serde's,
//! for the module's size. Every error becomes a JS `Error` whose message names the
//! offending field, so a plugin author can tell which input to fix.

use stash_core::layout::{Profiles, classify as classify_path};
use stash_core::{KeyInputs, RustcInfo, key, plan as plan_mod};
use wasm_bindgen::prelude::*;

pub mod json;
pub mod read;
mod write;

/// `what`'s JSON text read by `read`, or a JS `Error` naming the bad field.
fn parse<T>(
    what: &str,
    text: &str,
    read: impl FnOnce(&json::Value) -> Result<T, json::Error>,
) -> Result<T, JsError> {
    read::from_text(what, text, read).map_err(|msg| JsError::new(&msg))
}

fn err(e: impl std::fmt::Display) -> JsError {
    JsError::new(&e.to_string())
}

// Node's SHA-256 (native code) for every digest: see stash_core::digest.
#[wasm_bindgen(module = "node:crypto")]
extern "C" {
    type Hash;
    #[wasm_bindgen(js_name = createHash)]
    fn create_hash(algorithm: &str) -> Hash;
    #[wasm_bindgen(method)]
    fn update(this: &Hash, data: &[u8]) -> Hash;
    #[wasm_bindgen(method)]
    fn digest(this: &Hash) -> Vec<u8>;
}

fn node_sha256(message: &[u8]) -> [u8; 32] {
    let hash = create_hash("sha256");
    hash.update(message);
    let mut out = [0; 32];
    out.copy_from_slice(&hash.digest());
    out
}

// JavaScript's own number reading and shortest printing for TOML floats: see
// stash_core::key::use_host_float.
#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_name = Number)]
    fn js_number(text: &str) -> f64;
    #[wasm_bindgen(js_name = String)]
    fn js_string(number: f64) -> String;
}

fn js_shortest(literal: &str) -> String {
    js_string(js_number(literal))
}

/// Registers the host's SHA-256 and float conversion, which core needs in wasm. Called
/// by each binding that may need them rather than only at start: wasm-bindgen-test does
/// not run a dependency's start function.
fn use_hosts() {
    key::use_host_sha256(node_sha256);
    key::use_host_float(js_shortest);
}

/// `KeyInputs` JSON (+ the lockfile's UTF-8, when given apart) -> the inputs.
///
/// A large Cargo.lock is most of the inputs; as its own bytes it crosses the boundary as
/// one copy, neither escaped into JSON and unescaped again nor re-encoded by the glue's
/// string transfer (a loop in JavaScript).
fn key_inputs(inputs: &str, lockfile: Option<Vec<u8>>) -> Result<KeyInputs, JsError> {
    use_hosts();
    let mut inputs = parse("key inputs", inputs, read::key_inputs)?;
    if let Some(bytes) = lockfile {
        let text = String::from_utf8(bytes)
            .map_err(|_| JsError::new("key inputs: field `lockfile`: not UTF-8"))?;
        inputs.lockfile = Some(text);
    }
    Ok(inputs)
}

/// `KeyInputs` JSON -> `{target, registry, explain}` JSON. A `lockfile` argument (UTF-8
/// bytes) takes the place of the inputs' own.
#[wasm_bindgen(js_name = computeKey)]
pub fn compute_key(inputs: &str, lockfile: Option<Vec<u8>>) -> Result<String, JsError> {
    Ok(write::key_set(
        &key::compute(&key_inputs(inputs, lockfile)?).map_err(err)?,
    ))
}

/// `KeyInputs` JSON -> the explanation lines of its key, JSON.
#[wasm_bindgen]
pub fn explain(inputs: &str, lockfile: Option<Vec<u8>>) -> Result<String, JsError> {
    Ok(write::explain(
        &key::compute(&key_inputs(inputs, lockfile)?)
            .map_err(err)?
            .explain,
    ))
}

/// Cargo.lock text -> the registry/git packages that go into the key.
#[wasm_bindgen(js_name = reduceLockfile)]
pub fn reduce_lockfile(text: &str) -> Result<String, JsError> {
    key::reduce_lockfile(text).map_err(err)
}

/// A member's Cargo.toml text -> its normalised form.
#[wasm_bindgen(js_name = normalizeManifest)]
pub fn normalize_manifest(path: &str, text: &str) -> Result<String, JsError> {
    use_hosts();
    key::normalize_manifest(path, text).map_err(err)
}

/// `rustc -vV` output -> `{release, commit_hash, host}` JSON.
#[wasm_bindgen(js_name = parseRustcVersion)]
pub fn parse_rustc_version(text: &str) -> Result<String, JsError> {
    Ok(write::rustc_info(
        &RustcInfo::parse_verbose_version(text).map_err(err)?,
    ))
}

/// Environment map JSON + extra names JSON -> only the variables that change artifacts.
#[wasm_bindgen(js_name = artifactEnv)]
pub fn artifact_env(env: &str, extra: &str) -> Result<String, JsError> {
    let env = parse("env", env, |v| v.string_pairs())?;
    let extra = parse("extra_env", extra, |v| v.strings())?;
    Ok(write::string_map(&key::artifact_env(env, &extra)))
}

/// Node's `process.platform` values map to these already; kept for non-Node callers.
#[wasm_bindgen(js_name = osLabel)]
pub fn os_label(target_os: &str) -> String {
    key::os_label(target_os)
}

/// Rust `target_arch` -> the arch label of keys (`x86_64` -> `x64`).
#[wasm_bindgen(js_name = archLabel)]
pub fn arch_label(target_arch: &str) -> String {
    key::arch_label(target_arch)
}

/// Listing (`Entry[]`) JSON -> `[{path, class, unit?, name?}]` JSON, in listing order.
#[wasm_bindgen]
pub fn classify(entries: &str) -> Result<String, JsError> {
    let entries = parse("entries", entries, read::entries)?;
    let profiles = Profiles::find(&entries);
    Ok(write::classified(entries.iter().map(|e| {
        (e.path.as_str(), classify_path(&e.path, &profiles))
    })))
}

/// Listing JSON + `PlanOptions` JSON -> the sanitization `Plan` JSON.
#[wasm_bindgen]
pub fn plan(entries: &str, options: &str) -> Result<String, JsError> {
    let entries = parse("entries", entries, read::entries)?;
    let options = parse("options", options, read::plan_options)?;
    Ok(write::plan(&plan_mod::plan(&entries, &options)))
}

/// Listing JSON + the fingerprint files whose atime moved off the sentinel (JSON array)
/// -> the units this job used (JSON array), or `null` when nothing was touched: no build
/// ran, so every unit is kept. See `stash_core::usage`.
#[wasm_bindgen(js_name = usedUnits)]
pub fn used_units(entries: &str, touched: &str) -> Result<String, JsError> {
    let entries = parse("entries", entries, read::entries)?;
    let touched: std::collections::BTreeSet<String> = parse("touched", touched, |v| v.strings())?
        .into_iter()
        .collect();
    let groups = plan_mod::plan(&entries, &Default::default()).groups;
    Ok(
        match stash_core::usage::used_units(&groups, |p| touched.contains(p)) {
            Some(used) => write::strings(&used.into_iter().collect::<Vec<_>>()),
            None => "null".into(),
        },
    )
}

/// Saved and current tracked entries (`SourceEntry[]` JSON) -> the content-gated mtime
/// plan: `{restore: [[path, mtime_s, mtime_ns]], touch: [path], restored, touched}`.
/// Only an entry with the same kind, size and hash gets its saved mtime back.
#[wasm_bindgen(js_name = mtimePlan)]
pub fn mtime_plan(saved: &str, current: &str) -> Result<String, JsError> {
    let saved = stash_core::sources::SourceManifest {
        entries: parse("saved", saved, read::source_entries)?,
        ..Default::default()
    };
    let current = parse("current", current, read::source_entries)?;
    Ok(write::mtime_plan(&stash_core::sources::mtime_plan(
        &saved, &current,
    )))
}

/// Whether a target-dir path is a fingerprint file: the ones a restore marks.
#[wasm_bindgen(js_name = isFingerprint)]
pub fn is_fingerprint(path: &str) -> bool {
    stash_core::usage::is_fingerprint(path)
}

/// The atime (seconds since the epoch) a restore gives fingerprint files.
#[wasm_bindgen(js_name = sentinelAtime)]
pub fn sentinel_atime() -> f64 {
    stash_core::usage::SENTINEL_ATIME_S as f64
}

/// Version of the key schema this build computes (`schema` of the inputs).
#[wasm_bindgen(js_name = keySchema)]
pub fn key_schema() -> u32 {
    key::KEY_SCHEMA
}

/// Version of stash-core this module was built from.
#[wasm_bindgen]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}

#[cfg(test)]
mod tests;
