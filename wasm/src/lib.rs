//! wasm-bindgen bindings of stow-core for JavaScript CI plugins: no logic of their own.
//!
//! Values cross the boundary as JSON text (a key's lockfile as UTF-8 bytes apart); the
//! npm wrapper (`wasm/npm/index.js`) turns them into plain objects. Every error becomes a JS `Error` whose message names the
//! offending field, so a plugin author can tell which input to fix.

use std::collections::BTreeMap;

use serde::Serialize;
use serde::de::DeserializeOwned;
use stow_core::layout::{Class, Profiles, classify as classify_path};
use stow_core::{Entry, KeyInputs, PlanOptions, RustcInfo, key, plan as plan_mod};
use wasm_bindgen::prelude::*;

/// Parses `json` as `T`; on failure the message says which field was wrong.
fn parse<T: DeserializeOwned>(what: &str, json: &str) -> Result<T, JsError> {
    serde_json::from_str(json).map_err(|e| JsError::new(&parse_error(what, json, &e)))
}

/// `{what}: field `{path}`: {reason}`, or `{what}: {reason}` at the top level. serde_json
/// tells where it stopped, not which field; [`path_at`] reads that from the text.
fn parse_error(what: &str, json: &str, e: &serde_json::Error) -> String {
    // serde_json appends "at line L column C" of our own JSON text: useless to JS.
    let msg = e.to_string();
    let msg = msg.split(" at line ").next().unwrap_or(&msg);
    // `line` is 1-based, `column` the bytes of that line read before stopping.
    let line_start = json
        .split_inclusive('\n')
        .take(e.line().saturating_sub(1))
        .map(str::len)
        .sum::<usize>();
    let path = if e.is_data() {
        path_at(json, line_start + e.column())
    } else {
        String::new()
    };
    if path.is_empty() {
        format!("{what}: {msg}")
    } else {
        format!("{what}: field `{path}`: {msg}")
    }
}

/// The path (`a.b[0].c`, empty for the top level) of the value that a JSON parser stopped
/// on after reading `at` bytes: the value that starts there (not read yet), else the
/// innermost one whose text holds the last byte read. Malformed text stops the walk
/// where it is.
fn path_at(json: &str, at: usize) -> String {
    let mut w = PathWalk {
        b: json.as_bytes(),
        i: 0,
        at,
        path: String::new(),
    };
    match w.value() {
        Err(path) => path,
        Ok(()) => String::new(),
    }
}

struct PathWalk<'a> {
    b: &'a [u8],
    i: usize,
    at: usize,
    path: String,
}

impl PathWalk<'_> {
    fn skip_ws(&mut self) {
        while matches!(self.b.get(self.i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    /// `Err(path)` once the value of `at` is found (or the text ends first).
    fn value(&mut self) -> Result<(), String> {
        self.skip_ws();
        let start = self.i;
        if start >= self.at || start >= self.b.len() {
            return Err(self.path.clone());
        }
        match self.b[start] {
            open @ (b'{' | b'[') => {
                let close = if open == b'{' { b'}' } else { b']' };
                self.i += 1;
                let mut index = 0;
                loop {
                    self.skip_ws();
                    match self.b.get(self.i) {
                        Some(&c) if c == close => break,
                        Some(b',') => {
                            self.i += 1;
                            continue;
                        }
                        None => return Err(self.path.clone()),
                        _ => {}
                    }
                    let len = self.path.len();
                    if open == b'{' {
                        let key_start = self.i;
                        self.string();
                        let key = &self.b[key_start..self.i];
                        let key = key.strip_prefix(b"\"").unwrap_or(key);
                        let key = key.strip_suffix(b"\"").unwrap_or(key);
                        if !self.path.is_empty() {
                            self.path.push('.');
                        }
                        self.path.push_str(&String::from_utf8_lossy(key));
                        if self.i >= self.at {
                            return Err(self.path.clone());
                        }
                        self.skip_ws();
                        if self.b.get(self.i) == Some(&b':') {
                            self.i += 1;
                        }
                    } else {
                        self.path.push('[');
                        self.path.push_str(&index.to_string());
                        self.path.push(']');
                        index += 1;
                    }
                    self.value()?;
                    self.path.truncate(len);
                }
                self.i += 1;
            }
            b'"' => self.string(),
            _ => {
                while !matches!(
                    self.b.get(self.i),
                    None | Some(b',' | b']' | b'}' | b' ' | b'\t' | b'\n' | b'\r')
                ) {
                    self.i += 1;
                }
            }
        }
        if self.i >= self.at {
            return Err(self.path.clone());
        }
        Ok(())
    }

    /// A string, escapes skipped.
    fn string(&mut self) {
        self.i += 1;
        while let Some(&c) = self.b.get(self.i) {
            self.i += 1;
            match c {
                b'"' => return,
                b'\\' => self.i += 1,
                _ => {}
            }
        }
    }
}

fn to_json<T: Serialize>(value: &T) -> Result<String, JsError> {
    serde_json::to_string(value).map_err(|e| JsError::new(&e.to_string()))
}

fn err(e: impl std::fmt::Display) -> JsError {
    JsError::new(&e.to_string())
}

// Node's SHA-256 (native code) for every digest: see stow_core::digest.
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
// stow_core::key::use_host_float.
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
    to_json(&key::compute(&key_inputs(inputs, lockfile)?).map_err(err)?)
}

/// `KeyInputs` JSON -> the explanation lines of its key, JSON.
#[wasm_bindgen]
pub fn explain(inputs: &str, lockfile: Option<Vec<u8>>) -> Result<String, JsError> {
    to_json(
        &key::compute(&key_inputs(inputs, lockfile)?)
            .map_err(err)?
            .explain,
    )
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The field `serde_path_to_error` names for `json`, as `parse` words it.
    fn reference<T: DeserializeOwned>(json: &str) -> String {
        let de = &mut serde_json::Deserializer::from_str(json);
        let e = serde_path_to_error::deserialize::<_, T>(de)
            .err()
            .expect("bad input");
        let path = e.path().to_string();
        let msg = e.into_inner().to_string();
        let msg = msg.split(" at line ").next().unwrap().to_string();
        if path == "." {
            format!("x: {msg}")
        } else {
            format!("x: field `{path}`: {msg}")
        }
    }

    fn ours<T: DeserializeOwned + std::fmt::Debug>(json: &str) -> String {
        let e = serde_json::from_str::<T>(json).expect_err(json);
        parse_error("x", json, &e)
    }

    #[test]
    fn error_paths_match_serde_path_to_error() {
        let base = r#"{"schema":1,"os":"linux","arch":"x64","rustc":{"release":"1","commit_hash":"c","host":"h"},"cargo_home":"/c","env":{"A":"b"},"targets":["t"],"manifests":{"a/Cargo.toml":"x"}}"#;
        let key_inputs = [
            base.replace(r#""release":"1""#, r#""release":1"#),
            base.replace(r#""release":"1","#, ""),
            base.replace(r#""os":"linux","#, ""),
            base.replace(r#""a/Cargo.toml":"x""#, r#""a/Cargo.toml":5"#),
            base.replace(r#"["t"]"#, r#""t""#),
            base.replace(r#"["t"]"#, r#"["t",{}]"#),
            base.replace(r#""env":{"A":"b"}"#, r#""env":[]"#),
            base.replace(r#""env":{"A":"b"}"#, r#""env":{"A":null}"#),
            base.replace(r#""schema":1"#, r#""schema":-1"#),
            base.replace(r#""schema":1"#, r#""schema":"1""#),
            base.replace(r#""rustc":{"#, r#""rustc": {"#)
                .replace(r#""host":"h""#, r#""host":7"#)
                .replace(',', ",\n "),
            base.replace(r#"{"release":"1","commit_hash":"c","host":"h"}"#, "true"),
            "[]".to_string(),
            "7".to_string(),
        ];
        for json in &key_inputs {
            assert_eq!(
                ours::<KeyInputs>(json),
                reference::<KeyInputs>(json),
                "{json}"
            );
        }
        for json in [
            r#"[{"path":"a","kind":"pipe"}]"#,
            r#"[{"path":"a","kind":"file"},{"path":"b","kind":"file","size":"1"}]"#,
            r#"[{"path":"a"}]"#,
            r#"{"path":"a"}"#,
        ] {
            assert_eq!(
                ours::<Vec<Entry>>(json),
                reference::<Vec<Entry>>(json),
                "{json}"
            );
        }
        for json in [r#"{"batch_bytes":-1}"#, r#"{"keep_incremental":"yes"}"#] {
            assert_eq!(
                ours::<PlanOptions>(json),
                reference::<PlanOptions>(json),
                "{json}"
            );
        }
        // Malformed text: the parser's message alone.
        for json in [&base[..40], "{\"schema\":1,", "{\"a\" 1}"] {
            let msg = ours::<KeyInputs>(json);
            assert!(
                !msg.contains("field") && !msg.contains(" at line "),
                "{msg}"
            );
        }
        let env = r#"{"A":"b","B":["c"]}"#;
        assert_eq!(
            ours::<BTreeMap<String, String>>(env),
            reference::<BTreeMap<String, String>>(env)
        );
    }
}
