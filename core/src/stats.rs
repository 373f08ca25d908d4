//! Why a unit was rebuilt, read from Cargo's own fingerprint JSON: the restored copy
//! against the one the build wrote. Each field Cargo hashes into a fingerprint maps to a
//! cause a user can act on.

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
/// Why Cargo rebuilt a restored unit (docs/cli.md, `stats`).
pub enum Reason {
    /// Same fingerprint inputs: a source file (or `rerun-if` input) is newer.
    SourceChanged,
    /// The compiler changed.
    ToolchainChanged,
    /// The same unit's source path changed: CARGO_HOME moved (registry units hash the
    /// absolute path of their sources).
    PathChanged,
    /// A unit with a new hash replaced one of the same package whose source path differs:
    /// the version changed (a `Cargo.lock` update), or a path dependency outside the
    /// workspace moved with the checkout.
    VersionChanged,
    /// Left out by the restore: its artifacts embed a path that moved (issue 13).
    PathBound,
    /// RUSTFLAGS or `target.*.rustflags`.
    FlagsChanged,
    /// Features of the package.
    FeaturesChanged,
    /// Profile settings.
    ProfileChanged,
    /// Cargo config affecting the unit (e.g. linker).
    ConfigChanged,
    /// A dependency of the unit was rebuilt or changed version.
    DependencyChanged,
    /// A `rerun-if-env-changed` variable's value changed.
    EnvChanged,
    /// No restored unit of this package to compare with.
    NewUnit,
}

impl Reason {
    /// What to change so the unit stays fresh next time.
    pub fn hint(self) -> &'static str {
        match self {
            Reason::SourceChanged => {
                "a source file or a rebuilt dependency is newer: expected for edited crates and their dependents"
            }
            Reason::ToolchainChanged => {
                "the cache was saved with another rustc: the key should have prevented this; is RUSTC set?"
            }
            Reason::PathChanged => {
                "CARGO_HOME is at another path than in the saving job: registry units hash it; keep it at one path (it is part of the key)"
            }
            Reason::VersionChanged => {
                "the package's version changed (Cargo.lock), or a path dependency outside the workspace moved with the checkout: expected"
            }
            Reason::PathBound => {
                "its artifacts embed the checkout, target or build path, which moved: rebuilt so they hold the new one (restore -v names the evidence)"
            }
            Reason::FlagsChanged => {
                "RUSTFLAGS differ from the saving job's; pass the same flags or key them with --prefix"
            }
            Reason::FeaturesChanged => "this job enables other features; give it its own --prefix",
            Reason::ProfileChanged => "this job builds another profile; pass --profile",
            Reason::ConfigChanged => "a .cargo/config.toml setting differs",
            Reason::DependencyChanged => "follows from a dependency's rebuild or version bump",
            Reason::EnvChanged => {
                "a build script's rerun-if-env-changed variable differs; add it with --env-var"
            }
            Reason::NewUnit => {
                "built for the first time here (new dependency, feature or flag combination)"
            }
        }
    }
}

/// Compares two fingerprint JSON documents of the same unit (`same_unit`) or of two
/// units of the same package and target, and names the first field that differs, most
/// specific first.
pub fn rebuild_reason(old: &Value, new: &Value, same_unit: bool) -> Reason {
    let differs = |field: &str| old.get(field) != new.get(field);
    if differs("rustc") {
        Reason::ToolchainChanged
    } else if differs("path") && same_unit {
        Reason::PathChanged
    } else if differs("path") {
        Reason::VersionChanged
    } else if differs("rustflags") {
        Reason::FlagsChanged
    } else if differs("features") {
        Reason::FeaturesChanged
    } else if differs("profile") {
        Reason::ProfileChanged
    } else if differs("config") || differs("target") || differs("compile_kind") {
        Reason::ConfigChanged
    } else if differs("deps") {
        Reason::DependencyChanged
    } else if env_changed(old.get("local"), new.get("local")) {
        Reason::EnvChanged
    } else {
        // Cargo's `PrecalculatedComponentsChanged` (a package file's mtime, for a build
        // script with no rerun-if directive), a changed rerun-if-changed file or an input
        // newer than the unit: all a source change.
        Reason::SourceChanged
    }
}

/// Whether a `RerunIfEnvChanged` entry of the fingerprint's `local` list has another
/// value; nothing else in `local` is about the environment.
fn env_changed(old: Option<&Value>, new: Option<&Value>) -> bool {
    let envs = |v: Option<&Value>| -> Vec<Value> {
        v.and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|l| l.get("RerunIfEnvChanged").cloned())
            .collect()
    };
    envs(old) != envs(new)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fp() -> Value {
        json!({"rustc": 1, "features": "[]", "target": 2, "profile": 3, "path": 4,
               "deps": [[1, "a", false, 9]], "local": [{"CheckDepInfo": {"dep_info": "x"}}],
               "rustflags": [], "config": 5, "compile_kind": 0})
    }

    #[test]
    fn names_the_field_that_changed() {
        let with = |k: &str, v: Value| {
            let mut f = fp();
            f[k] = v;
            f
        };
        assert_eq!(rebuild_reason(&fp(), &fp(), true), Reason::SourceChanged);
        assert_eq!(
            rebuild_reason(&fp(), &with("path", json!(5)), true),
            Reason::PathChanged
        );
        assert_eq!(
            rebuild_reason(&fp(), &with("rustflags", json!(["-g"])), true),
            Reason::FlagsChanged
        );
        assert_eq!(
            rebuild_reason(&fp(), &with("rustc", json!(7)), true),
            Reason::ToolchainChanged
        );
        assert_eq!(
            rebuild_reason(&fp(), &with("deps", json!([])), true),
            Reason::DependencyChanged
        );
        assert_eq!(
            rebuild_reason(&fp(), &with("features", json!("[\"x\"]")), true),
            Reason::FeaturesChanged
        );
        // A new unit of the package with another source path: a version bump.
        assert_eq!(
            rebuild_reason(&fp(), &with("path", json!(5)), false),
            Reason::VersionChanged
        );
        // Only a rerun-if-env-changed value is about the environment.
        let precalculated = |s: &str| with("local", json!([{ "Precalculated": s }]));
        assert_eq!(
            rebuild_reason(&precalculated("1"), &precalculated("2"), true),
            Reason::SourceChanged
        );
        let env = |v: &str| {
            with(
                "local",
                json!([{ "RerunIfEnvChanged": { "var": "X", "val": v } }]),
            )
        };
        assert_eq!(
            rebuild_reason(&env("a"), &env("b"), true),
            Reason::EnvChanged
        );
        // The most specific cause wins when several fields differ.
        let mut both = with("deps", json!([]));
        both["rustc"] = json!(8);
        assert_eq!(rebuild_reason(&fp(), &both, true), Reason::ToolchainChanged);
    }
}
