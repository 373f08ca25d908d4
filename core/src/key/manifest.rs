//! Member manifests normalised for the key: what does not change dependency artifacts
//! is dropped, and the rest is written in one canonical text (see `canon`).

use super::canon;
use crate::error::KeyError;

/// A member manifest with what does not change dependency artifacts removed: the
/// package version and the `path`/`version` of path dependencies. Key order, comments
/// and formatting are normalised away.
pub fn normalize_manifest(path: &str, text: &str) -> Result<String, KeyError> {
    let mut doc = canon::parse(text).map_err(|reason| KeyError::Manifest {
        path: path.to_string(),
        reason,
    })?;
    for section in ["package", "workspace"] {
        if let Some(t) = doc.get_mut(section).and_then(canon::Value::as_table_mut) {
            t.remove("version");
            if let Some(p) = t.get_mut("package").and_then(canon::Value::as_table_mut) {
                p.remove("version");
            }
            if let Some(deps) = t
                .get_mut("dependencies")
                .and_then(canon::Value::as_table_mut)
            {
                strip_path_deps(deps);
            }
        }
    }
    strip_dep_tables(&mut doc);
    if let Some(targets) = doc.get_mut("target").and_then(canon::Value::as_table_mut) {
        for cfg in targets.values_mut() {
            if let Some(cfg) = cfg.as_table_mut() {
                strip_dep_tables(cfg);
            }
        }
    }
    Ok(canon::to_string(&doc))
}

fn strip_dep_tables(table: &mut canon::Table) {
    for name in [
        "dependencies",
        "dev-dependencies",
        "build-dependencies",
        "dev_dependencies",
        "build_dependencies",
    ] {
        if let Some(deps) = table.get_mut(name).and_then(canon::Value::as_table_mut) {
            strip_path_deps(deps);
        }
    }
}

fn strip_path_deps(deps: &mut canon::Table) {
    for dep in deps.values_mut() {
        if let Some(d) = dep.as_table_mut()
            && d.remove("path").is_some()
        {
            d.remove("version");
        }
    }
}
