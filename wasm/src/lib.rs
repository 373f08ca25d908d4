//! wasm-bindgen bindings of stash-core for JavaScript CI plugins: no logic of their own.
//!
//! Values cross the boundary as JSON text (a key's lockfile as UTF-8 bytes apart); the
//! npm wrapper (`wasm/npm/index.js`) turns them into plain objects. The JSON is read and
//! written by serde ([`boundary`]). Every error becomes a JS `Error` whose message names
//! the offending field, so a plugin author can tell which input to fix.

use std::collections::{BTreeMap, BTreeSet};

use serde::de::DeserializeOwned;
use stash_core::layout::{Profiles, classify as classify_path};
use stash_core::sources::{self, SourceEntry, SourceManifest};
use stash_core::{Entry, KeyInputs, PlanOptions, RustcInfo, key, plan as plan_mod};
use wasm_bindgen::prelude::*;

pub mod boundary;

use boundary::{Classified, write};

/// `what`'s JSON text as a `T`, or a JS `Error` naming the bad field.
fn parse<T: DeserializeOwned>(what: &str, text: &str) -> Result<T, JsError> {
    boundary::read(what, text).map_err(|msg| JsError::new(&msg))
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
    let mut inputs: KeyInputs = parse("key inputs", inputs)?;
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
    Ok(write(
        &key::compute(&key_inputs(inputs, lockfile)?).map_err(err)?,
    ))
}

/// `KeyInputs` JSON -> the explanation lines of its key, JSON.
#[wasm_bindgen]
pub fn explain(inputs: &str, lockfile: Option<Vec<u8>>) -> Result<String, JsError> {
    Ok(write(
        &key::compute(&key_inputs(inputs, lockfile)?)
            .map_err(err)?
            .explain,
    ))
}

/// Cargo.lock text -> the registry/git packages that go into the key.
#[wasm_bindgen(js_name = reduceLockfile)]
pub fn reduce_lockfile(text: &str) -> Result<String, JsError> {
    // The TOML reader reads a lockfile's floats too, with the host's conversion.
    use_hosts();
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
    Ok(write(&RustcInfo::parse_verbose_version(text).map_err(err)?))
}

/// Environment map JSON + extra names JSON -> only the variables that change artifacts.
#[wasm_bindgen(js_name = artifactEnv)]
pub fn artifact_env(env: &str, extra: &str) -> Result<String, JsError> {
    let env: BTreeMap<String, String> = parse("env", env)?;
    let extra: Vec<String> = parse("extra_env", extra)?;
    Ok(write(&key::artifact_env(env, &extra)))
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
    let entries: Vec<Entry> = parse("entries", entries)?;
    let profiles = Profiles::find(&entries);
    let classes: Vec<_> = entries
        .iter()
        .map(|e| classify_path(&e.path, &profiles))
        .collect();
    let out: Vec<Classified> = entries
        .iter()
        .zip(&classes)
        .map(|(e, c)| Classified::new(&e.path, c))
        .collect();
    Ok(write(&out))
}

/// Listing JSON + `PlanOptions` JSON -> the sanitization `Plan` JSON.
#[wasm_bindgen]
pub fn plan(entries: &str, options: &str) -> Result<String, JsError> {
    let entries: Vec<Entry> = parse("entries", entries)?;
    let options: PlanOptions = parse("options", options)?;
    Ok(write(&plan_mod::plan(&entries, &options)))
}

/// Listing JSON + the fingerprint files whose atime moved off the sentinel (JSON array)
/// -> the units this job used (JSON array), or `null` when nothing was touched: no build
/// ran, so every unit is kept. See `stash_core::usage`.
#[wasm_bindgen(js_name = usedUnits)]
pub fn used_units(entries: &str, touched: &str) -> Result<String, JsError> {
    let entries: Vec<Entry> = parse("entries", entries)?;
    let touched: BTreeSet<String> = parse("touched", touched)?;
    let groups = plan_mod::plan(&entries, &Default::default()).groups;
    let used = stash_core::usage::used_units(&groups, |p| touched.contains(p));
    Ok(write(&used))
}

/// Saved and current tracked entries (`SourceEntry[]` JSON) -> the content-gated mtime
/// plan: `{restore: [[path, mtime_s, mtime_ns]], touch: [path], restored, touched}`.
/// Only an entry with the same kind, size and hash gets its saved mtime back.
#[wasm_bindgen(js_name = mtimePlan)]
pub fn mtime_plan(saved: &str, current: &str) -> Result<String, JsError> {
    let saved = SourceManifest {
        entries: parse("saved", saved)?,
        ..Default::default()
    };
    let current: Vec<SourceEntry> = parse("current", current)?;
    if let Some(e) = saved
        .entries
        .iter()
        .chain(&current)
        .find(|e| e.mtime_ns > 999_999_999)
    {
        return Err(JsError::new(&format!(
            "entry `{}`: mtime_ns must be below 1000000000",
            e.path
        )));
    }
    let plan = sources::mtime_plan(&saved, &current);
    Ok(write(&boundary::MtimePlanOut::new(&plan)))
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
