//! Cargo.lock reduced to the packages that come from a registry or git.

use stash_toml::Value;

use super::join;
use crate::error::KeyError;
// The core's one sort routine, see there.
use crate::plan::sort::sorted_unique;

/// Cargo.lock reduced to the packages that come from a registry or git, one sorted line
/// `name version source checksum` each. Workspace members (no `source`) are left out so
/// their version bumps are free. A missing or non-string field reads as empty.
///
/// Read with the one TOML reader ([`stash_toml`]), so every spelling TOML allows reads
/// as Cargo reads it. Lockfile v1's `[metadata]` checksums are not merged: they are a
/// function of name, version and source, which the line has already.
pub fn reduce_lockfile(text: &str) -> Result<String, KeyError> {
    let doc = stash_toml::parse(text).map_err(|e| KeyError::Lockfile(e.to_string()))?;
    let packages = doc.get("package").and_then(Value::as_array).unwrap_or(&[]);
    let mut lines = Vec::with_capacity(packages.len());
    for pkg in packages.iter().filter_map(Value::as_table) {
        if pkg.get("source").is_none() {
            continue;
        }
        let field = |name: &str| pkg.get(name).and_then(Value::as_str).unwrap_or("");
        let fields = [
            field("name"),
            field("version"),
            field("source"),
            field("checksum"),
        ];
        let mut line = String::with_capacity(fields.iter().map(|f| f.len() + 1).sum());
        for (i, f) in fields.iter().enumerate() {
            if i > 0 {
                line.push(' ');
            }
            line.push_str(f);
        }
        lines.push(line);
    }
    Ok(join(&sorted_unique(lines), "\n"))
}
