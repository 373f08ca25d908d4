//! JSON text -> stash-core's input types, with serde's rules for them: the same required
//! fields and defaults as their `#[serde(...)]` attributes, unknown fields ignored, and a
//! bad field's error naming its path.

use std::collections::{BTreeMap, BTreeSet};

use stash_core::sources::{SourceEntry, SourceKind};
use stash_core::{Entry, EntryKind, KeyInputs, PlanOptions, RustcInfo};

use crate::json::{Error, Fields, Value, parse};

/// `what`'s JSON text read by `read`; the error says which field was bad.
pub fn from_text<T>(
    what: &str,
    text: &str,
    read: impl FnOnce(&Value) -> Result<T, Error>,
) -> Result<T, String> {
    parse(text)
        .and_then(|v| read(&v))
        .map_err(|e| e.describe(what))
}

pub fn key_inputs(v: &Value) -> Result<KeyInputs, Error> {
    let f = Fields::of(v)?;
    Ok(KeyInputs {
        schema: f.required("schema", |v| v.unsigned(u32::MAX.into()))? as u32,
        prefix: f.optional("prefix", Value::string)?,
        suffix: f.optional("suffix", Value::string)?,
        os: f.required("os", Value::string)?,
        arch: f.required("arch", Value::string)?,
        rustc: f.required("rustc", rustc_info)?,
        targets: f.optional("targets", Value::strings)?,
        profile: f
            .optional("profile", |v| v.string().map(Some))?
            .unwrap_or_else(|| "dev".to_string()),
        env: f.optional("env", string_map)?,
        extra_env: f.optional("extra_env", Value::strings)?,
        cargo_home: f.required("cargo_home", Value::string)?,
        lockfile: f.optional("lockfile", |v| v.nullable(Value::string))?,
        manifests: f.optional("manifests", string_map)?,
        config_files: f.optional("config_files", string_map)?,
        toolchain_file: f.optional("toolchain_file", |v| v.nullable(Value::string))?,
    })
}

fn rustc_info(v: &Value) -> Result<RustcInfo, Error> {
    let f = Fields::of(v)?;
    Ok(RustcInfo {
        release: f.required("release", Value::string)?,
        commit_hash: f.required("commit_hash", Value::string)?,
        host: f.required("host", Value::string)?,
    })
}

/// An object of strings; a repeated name keeps its last value, as serde's map did.
pub fn string_map(v: &Value) -> Result<BTreeMap<String, String>, Error> {
    let mut map = BTreeMap::new();
    for (k, v) in v.string_pairs()? {
        map.insert(k, v);
    }
    Ok(map)
}

pub fn entries(v: &Value) -> Result<Vec<Entry>, Error> {
    v.items(entry)
}

fn entry(v: &Value) -> Result<Entry, Error> {
    let f = Fields::of(v)?;
    Ok(Entry {
        path: f.required("path", Value::string)?,
        kind: f.required("kind", entry_kind)?,
        size: f.optional("size", |v| v.unsigned(u64::MAX))?,
        link_id: f.optional("link_id", |v| v.nullable(|v| v.unsigned(u64::MAX)))?,
    })
}

fn entry_kind(v: &Value) -> Result<EntryKind, Error> {
    let Value::String(s) = v else {
        return Err(v.invalid("a string"));
    };
    match s.as_ref() {
        "file" => Ok(EntryKind::File),
        "dir" => Ok(EntryKind::Dir),
        "symlink" => Ok(EntryKind::Symlink),
        other => Err(Error::new(format!(
            "unknown variant `{other}`, expected one of `file`, `dir`, `symlink`"
        ))),
    }
}

/// `[{path, kind, size, hash, mtime_s, mtime_ns}]`: a checkout's tracked entries, as
/// `SourceEntry` (mtimes before 1970 are not accepted).
pub fn source_entries(v: &Value) -> Result<Vec<SourceEntry>, Error> {
    v.items(|v| {
        let f = Fields::of(v)?;
        Ok(SourceEntry {
            path: f.required("path", Value::string)?,
            kind: f.required("kind", source_kind)?,
            size: f.required("size", |v| v.unsigned(u64::MAX))?,
            hash: f.required("hash", Value::string)?,
            mtime_s: f.required("mtime_s", |v| v.unsigned(i64::MAX as u64))? as i64,
            mtime_ns: f.required("mtime_ns", |v| v.unsigned(999_999_999))? as u32,
        })
    })
}

fn source_kind(v: &Value) -> Result<SourceKind, Error> {
    match v.string()?.as_str() {
        "file" => Ok(SourceKind::File),
        "dir" => Ok(SourceKind::Dir),
        "symlink" => Ok(SourceKind::Symlink),
        other => Err(Error::new(format!(
            "unknown variant `{other}`, expected one of `file`, `dir`, `symlink`"
        ))),
    }
}

pub fn plan_options(v: &Value) -> Result<PlanOptions, Error> {
    let f = Fields::of(v)?;
    let defaults = PlanOptions::default();
    Ok(PlanOptions {
        keep_incremental: f.optional("keep_incremental", Value::bool)?,
        keep_dep_files: f.optional("keep_dep_files", Value::bool)?,
        used_units: f.optional("used_units", |v| v.nullable(string_set))?,
        batch_bytes: f
            .optional("batch_bytes", |v| v.unsigned(u64::MAX).map(Some))?
            .unwrap_or(defaults.batch_bytes),
    })
}

fn string_set(v: &Value) -> Result<BTreeSet<String>, Error> {
    let mut set = BTreeSet::new();
    for s in v.strings()? {
        set.insert(s);
    }
    Ok(set)
}
