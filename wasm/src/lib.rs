//! wasm-bindgen bindings of stow-core for JavaScript CI plugins: no logic of their own.
//!
//! Values cross the boundary as JSON text; the npm wrapper (`wasm/npm/index.js`) turns
//! them into plain objects. Every error becomes a JS `Error` whose message names the
//! offending field, so a plugin author can tell which input to fix.

use std::collections::BTreeMap;

use serde::Serialize;
use serde::de::DeserializeOwned;
use stow_core::layout::{Class, Profiles, classify as classify_path};
use stow_core::{Entry, KeyInputs, PlanOptions, RustcInfo, key, plan as plan_mod};
use wasm_bindgen::prelude::*;

/// Parses `json` as `T`; on failure the message says which field was wrong.
fn parse<T: DeserializeOwned>(what: &str, json: &str) -> Result<T, JsError> {
    let de = &mut serde_json::Deserializer::from_str(json);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        // serde_json appends "at line 1 column N" of our own JSON text: useless to JS.
        let msg = inner.to_string();
        let msg = msg.split(" at line ").next().unwrap_or(&msg);
        if path == "." {
            JsError::new(&format!("{what}: {msg}"))
        } else {
            JsError::new(&format!("{what}: field `{path}`: {msg}"))
        }
    })
}

fn to_json<T: Serialize>(value: &T) -> Result<String, JsError> {
    serde_json::to_string(value).map_err(|e| JsError::new(&e.to_string()))
}

fn err(e: impl std::fmt::Display) -> JsError {
    JsError::new(&e.to_string())
}

/// `KeyInputs` JSON -> `{target, registry, explain}` JSON.
#[wasm_bindgen(js_name = computeKey)]
pub fn compute_key(inputs: &str) -> Result<String, JsError> {
    let inputs: KeyInputs = parse("key inputs", inputs)?;
    to_json(&key::compute(&inputs).map_err(err)?)
}

/// `KeyInputs` JSON -> the explanation lines of its key, JSON.
#[wasm_bindgen]
pub fn explain(inputs: &str) -> Result<String, JsError> {
    let inputs: KeyInputs = parse("key inputs", inputs)?;
    to_json(&key::compute(&inputs).map_err(err)?.explain)
}

/// Cargo.lock text -> the registry/git packages that go into the key.
#[wasm_bindgen(js_name = reduceLockfile)]
pub fn reduce_lockfile(text: &str) -> Result<String, JsError> {
    key::reduce_lockfile(text).map_err(err)
}

/// A member's Cargo.toml text -> its normalised form.
#[wasm_bindgen(js_name = normalizeManifest)]
pub fn normalize_manifest(path: &str, text: &str) -> Result<String, JsError> {
    key::normalize_manifest(path, text).map_err(err)
}

/// `rustc -vV` output -> `{release, commit_hash, host}` JSON.
#[wasm_bindgen(js_name = parseRustcVersion)]
pub fn parse_rustc_version(text: &str) -> Result<String, JsError> {
    to_json(&RustcInfo::parse_verbose_version(text).map_err(err)?)
}

/// Environment map JSON + extra names JSON -> only the variables that change artifacts.
#[wasm_bindgen(js_name = artifactEnv)]
pub fn artifact_env(env: &str, extra: &str) -> Result<String, JsError> {
    let env: BTreeMap<String, String> = parse("env", env)?;
    let extra: Vec<String> = parse("extra_env", extra)?;
    to_json(&key::artifact_env(env, &extra))
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

#[derive(Serialize)]
struct Classified<'a> {
    path: &'a str,
    /// `unit`, `uplifted`, `incremental`, `dep-file`, `other` or `internal`.
    class: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    unit: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
}

/// Listing (`Entry[]`) JSON -> `[{path, class, unit?, name?}]` JSON, in listing order.
#[wasm_bindgen]
pub fn classify(entries: &str) -> Result<String, JsError> {
    let entries: Vec<Entry> = parse("entries", entries)?;
    let profiles = Profiles::find(&entries);
    let out: Vec<Classified> = entries
        .iter()
        .map(|e| {
            let (class, unit, name) = match classify_path(&e.path, &profiles) {
                Class::Unit { id, name } => ("unit", Some(id), Some(name)),
                Class::Uplifted => ("uplifted", None, None),
                Class::Incremental => ("incremental", None, None),
                Class::DepFile => ("dep-file", None, None),
                Class::Other => ("other", None, None),
                Class::Internal => ("internal", None, None),
            };
            Classified {
                path: &e.path,
                class,
                unit,
                name,
            }
        })
        .collect();
    to_json(&out)
}

/// Listing JSON + `PlanOptions` JSON -> the sanitization `Plan` JSON.
#[wasm_bindgen]
pub fn plan(entries: &str, options: &str) -> Result<String, JsError> {
    let entries: Vec<Entry> = parse("entries", entries)?;
    let options: PlanOptions = parse("options", options)?;
    to_json(&plan_mod::plan(&entries, &options))
}

/// Version of the key schema this build computes (`schema` of the inputs).
#[wasm_bindgen(js_name = keySchema)]
pub fn key_schema() -> u32 {
    key::KEY_SCHEMA
}

/// Version of stow-core this module was built from.
#[wasm_bindgen]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}
