//! Why a unit was rebuilt, read from Cargo's own fingerprint JSON: the restored copy
//! against the one the build wrote. Each field Cargo hashes into a fingerprint maps to a
//! cause a user can act on.

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    /// Same fingerprint inputs: a source file (or `rerun-if` input) is newer.
    SourceChanged,
    /// The compiler changed.
    ToolchainChanged,
    /// The package's source path changed: CARGO_HOME or the checkout moved.
    PathChanged,
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
    /// A `rerun-if-env-changed` value or other local input changed.
    EnvChanged,
    /// No restored unit of this package to compare with.
    NewUnit,
}

impl Reason {
    pub fn hint(self) -> &'static str {
        match self {
            Reason::SourceChanged => {
                "a source file or a rebuilt dependency is newer: expected for edited crates and their dependents"
            }
            Reason::ToolchainChanged => {
                "the cache was saved with another rustc: the key should have prevented this; is RUSTC set?"
            }
            Reason::PathChanged => {
                "keep CARGO_HOME and the checkout at the same absolute paths across jobs"
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

/// Compares two fingerprint JSON documents of the same unit (or two units of the same
/// package and target) and names the first field that differs, most specific first.
pub fn rebuild_reason(old: &Value, new: &Value) -> Reason {
    let differs = |field: &str| old.get(field) != new.get(field);
    if differs("rustc") {
        Reason::ToolchainChanged
    } else if differs("path") {
        Reason::PathChanged
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
    } else if differs("local") {
        Reason::EnvChanged
    } else {
        Reason::SourceChanged
    }
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
        assert_eq!(rebuild_reason(&fp(), &fp()), Reason::SourceChanged);
        assert_eq!(
            rebuild_reason(&fp(), &with("path", json!(5))),
            Reason::PathChanged
        );
        assert_eq!(
            rebuild_reason(&fp(), &with("rustflags", json!(["-g"]))),
            Reason::FlagsChanged
        );
        assert_eq!(
            rebuild_reason(&fp(), &with("rustc", json!(7))),
            Reason::ToolchainChanged
        );
        assert_eq!(
            rebuild_reason(&fp(), &with("deps", json!([]))),
            Reason::DependencyChanged
        );
        assert_eq!(
            rebuild_reason(&fp(), &with("features", json!("[\"x\"]"))),
            Reason::FeaturesChanged
        );
        // The most specific cause wins when several fields differ.
        let mut both = with("deps", json!([]));
        both["rustc"] = json!(8);
        assert_eq!(rebuild_reason(&fp(), &both), Reason::ToolchainChanged);
    }
}
