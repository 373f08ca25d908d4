//! What the build after a restore made of it (`cargo stash stats`): each unit fresh,
//! rebuilt, unused or new, and why a unit was rebuilt, read from Cargo's own fingerprint
//! JSON: the restored copy against the one the build wrote. Each field Cargo hashes
//! into a fingerprint maps to a cause a user can act on. The caller gathers the units
//! and their fingerprint times; the counting is here.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::UnitId;
use crate::output::{BuiltStatus, BuiltUnit, HitKind, OUTPUT_VERSION, StatsOutput, UnitCounts};

/// Fingerprint file name -> its JSON.
pub type Fingerprints = BTreeMap<String, Value>;

/// A unit in the target dir after the build, as `stats` sees it.
#[derive(Clone, Debug)]
pub struct SeenUnit {
    /// Its root and group, as the restore recorded its units.
    pub id: UnitId,
    /// The package's unit name.
    pub name: String,
    /// Content bytes.
    pub bytes: u64,
    /// Its fingerprint files' JSON, by file name.
    pub fingerprints: Fingerprints,
    /// A fingerprint file was written after the restore began: Cargo compiled the unit.
    pub written: bool,
    /// A fingerprint file was read since the restore: Cargo looked at the unit.
    pub read: bool,
}

/// What the restore recorded: unit -> (unit name, fingerprints) of every unit it put
/// back, and the `<group>`s it left out as path-bound.
pub struct Restored<'a> {
    /// Unit -> (unit name, fingerprints) of each unit restored.
    pub units: &'a BTreeMap<UnitId, (String, Fingerprints)>,
    /// The groups left out as path-bound.
    pub path_bound: &'a BTreeSet<String>,
}

/// `stats`' report on the units of each root (one list per root). A unit neither
/// restored nor written since the restore is not this job's and is not counted.
pub fn classify(
    roots: &[Vec<SeenUnit>],
    restored: &Restored<'_>,
    (hit, restored_key): (HitKind, Option<String>),
) -> StatsOutput {
    let mut counts = UnitCounts::default();
    let mut built = Vec::new();
    let mut bytes_fresh = 0;
    for units in roots {
        let mut current: BTreeMap<&UnitId, (&SeenUnit, bool)> = BTreeMap::new();
        for u in units {
            let was_restored = restored.units.contains_key(&u.id);
            match (was_restored, u.written, u.read) {
                (true, true, _) => counts.rebuilt += 1,
                (true, false, true) => {
                    counts.fresh += 1;
                    bytes_fresh += u.bytes;
                }
                (true, false, false) => counts.unused += 1,
                (false, true, _) => counts.new += 1,
                (false, false, _) => continue,
            }
            current.insert(&u.id, (u, was_restored));
        }
        for (id, (u, was_restored)) in current.iter().filter(|(_, (u, _))| u.written) {
            built.push(built_unit(id, u, *was_restored, restored, &current));
        }
    }
    settle(&mut built);
    // Path-bound units were left out by the restore: built anew, they are not "new".
    counts.path_bound = built
        .iter()
        .filter(|b| b.status == BuiltStatus::PathBound)
        .count() as u64;
    counts.new -= counts.path_bound.min(counts.new);
    counts.restored = counts.fresh + counts.rebuilt + counts.unused;
    let mut reasons: BTreeMap<Reason, u64> = BTreeMap::new();
    for b in &built {
        *reasons.entry(b.reason).or_default() += 1;
    }
    let advice = reasons
        .iter()
        .map(|(r, n)| format!("{n} units: {}: {}", r.as_str(), r.hint()))
        .collect();
    StatsOutput {
        version: OUTPUT_VERSION,
        hit,
        restored_key,
        units: counts,
        built,
        reasons,
        bytes_fresh,
        advice,
    }
}

/// A unit the build compiled, with its status and cause. `current` holds this root's
/// units (and whether each was restored).
fn built_unit(
    id: &UnitId,
    u: &SeenUnit,
    was_restored: bool,
    restored: &Restored<'_>,
    current: &BTreeMap<&UnitId, (&SeenUnit, bool)>,
) -> BuiltUnit {
    let unit = id.group.as_str();
    let path_bound = restored.path_bound.contains(unit);
    let reason = if path_bound {
        Reason::PathBound
    } else if was_restored {
        compare(&restored.units[id].1, &u.fingerprints, true).unwrap_or(Reason::SourceChanged)
    } else {
        // A new hash: compare with a restored unit of the same package and target that
        // this build did not compile again.
        restored
            .units
            .iter()
            .filter(|(other, (n, _))| {
                *n == u.name && !current.get(other).is_some_and(|c| c.0.written)
            })
            .find_map(|(_, (_, old))| compare(old, &u.fingerprints, false))
            .unwrap_or(Reason::NewUnit)
    };
    BuiltUnit {
        unit: unit.to_string(),
        name: u.name.clone(),
        status: match (path_bound, was_restored) {
            (true, _) => BuiltStatus::PathBound,
            (false, true) => BuiltStatus::Rebuilt,
            (false, false) => BuiltStatus::New,
        },
        reason,
    }
}

/// The reason from the first fingerprint file both sides have.
fn compare(old: &Fingerprints, new: &Fingerprints, same_unit: bool) -> Option<Reason> {
    new.iter()
        .find_map(|(file, v)| Some(rebuild_reason(old.get(file)?, v, same_unit)))
}

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
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::SourceChanged => "source-changed",
            Reason::ToolchainChanged => "toolchain-changed",
            Reason::PathChanged => "path-changed",
            Reason::VersionChanged => "version-changed",
            Reason::PathBound => "path-bound",
            Reason::FlagsChanged => "flags-changed",
            Reason::FeaturesChanged => "features-changed",
            Reason::ProfileChanged => "profile-changed",
            Reason::ConfigChanged => "config-changed",
            Reason::DependencyChanged => "dependency-changed",
            Reason::EnvChanged => "env-changed",
            Reason::NewUnit => "new-unit",
        }
    }

    /// What the cause means and what to change.
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
    } else if !same_unit {
        // A new unit id although every hashed field matches: the id follows settings of
        // its package that this fingerprint does not hold (a build script's run takes
        // its package's profile). Nothing was newer: it did not exist. [`settle`] names
        // the package's setting when another of its units shows it.
        Reason::NewUnit
    } else {
        // Cargo's `PrecalculatedComponentsChanged` (a package file's mtime, for a build
        // script with no rerun-if directive), a changed rerun-if-changed file or an input
        // newer than the unit: all a source change.
        Reason::SourceChanged
    }
}

impl Reason {
    /// A build setting of the job, which applies to every unit of a package.
    fn is_setting(self) -> bool {
        matches!(
            self,
            Reason::ToolchainChanged
                | Reason::FlagsChanged
                | Reason::FeaturesChanged
                | Reason::ProfileChanged
                | Reason::ConfigChanged
        )
    }
}

/// Gives a new unit that no field explains (`NewUnit`) the setting another unit of the
/// same package changed in this build: a build script's run that follows its package's
/// new profile is a profile change, not a first build.
pub fn settle(built: &mut [BuiltUnit]) {
    for i in 0..built.len() {
        if built[i].reason != Reason::NewUnit {
            continue;
        }
        let setting = built
            .iter()
            .filter(|b| b.name == built[i].name && b.reason.is_setting())
            .map(|b| b.reason)
            .min();
        if let Some(reason) = setting {
            built[i].reason = reason;
        }
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

    const ALL: [Reason; 12] = [
        Reason::SourceChanged,
        Reason::ToolchainChanged,
        Reason::PathChanged,
        Reason::VersionChanged,
        Reason::PathBound,
        Reason::FlagsChanged,
        Reason::FeaturesChanged,
        Reason::ProfileChanged,
        Reason::ConfigChanged,
        Reason::DependencyChanged,
        Reason::EnvChanged,
        Reason::NewUnit,
    ];

    #[test]
    fn reasons_are_their_wire_values() {
        for r in ALL {
            assert_eq!(serde_json::to_value(r).unwrap(), r.as_str());
        }
    }

    fn uid(s: &str) -> UnitId {
        UnitId::try_from(s.to_string()).unwrap()
    }

    fn seen(id: &str, name: &str, written: bool, read: bool, fp: Value) -> SeenUnit {
        SeenUnit {
            id: uid(id),
            name: name.into(),
            bytes: 10,
            fingerprints: [("lib-x.json".to_string(), fp)].into(),
            written,
            read,
        }
    }

    fn with(k: &str, v: Value) -> Value {
        let mut f = fp();
        f[k] = v;
        f
    }

    #[test]
    fn units_are_fresh_rebuilt_unused_new_or_path_bound() {
        let old = |name: &str| (name.to_string(), [("lib-x.json".to_string(), fp())].into());
        let units: BTreeMap<UnitId, (String, Fingerprints)> = [
            (uid("target:debug/fresh"), old("fresh")),
            (uid("target:debug/edited"), old("edited")),
            (uid("target:debug/idle"), old("idle")),
            (uid("target:debug/bumped1"), old("bumped")),
        ]
        .into();
        let bound: BTreeSet<String> = ["debug/moved".to_string()].into();
        let roots = vec![vec![
            seen("target:debug/fresh", "fresh", false, true, fp()),
            seen("target:debug/edited", "edited", true, true, fp()),
            seen("target:debug/idle", "idle", false, false, fp()),
            seen(
                "target:debug/bumped2",
                "bumped",
                true,
                true,
                with("path", json!(9)),
            ),
            seen("target:debug/brand", "brand", true, true, fp()),
            seen("target:debug/moved", "moved", true, true, fp()),
            // Neither restored nor built by this job: someone else's.
            seen("target:debug/stale", "stale", false, true, fp()),
        ]];
        let restored = Restored {
            units: &units,
            path_bound: &bound,
        };
        let out = classify(&roots, &restored, (HitKind::Fallback, Some("k".into())));
        let c = &out.units;
        assert_eq!(
            (
                c.restored,
                c.fresh,
                c.rebuilt,
                c.unused,
                c.new,
                c.path_bound
            ),
            (3, 1, 1, 1, 2, 1)
        );
        assert_eq!(out.bytes_fresh, 10);
        let built: Vec<(&str, BuiltStatus, Reason)> = out
            .built
            .iter()
            .map(|b| (b.unit.as_str(), b.status, b.reason))
            .collect();
        assert_eq!(
            built,
            [
                ("debug/brand", BuiltStatus::New, Reason::NewUnit),
                ("debug/bumped2", BuiltStatus::New, Reason::VersionChanged),
                ("debug/edited", BuiltStatus::Rebuilt, Reason::SourceChanged),
                ("debug/moved", BuiltStatus::PathBound, Reason::PathBound),
            ]
        );
        assert_eq!(out.reasons.values().sum::<u64>(), 4);
        assert_eq!(out.advice.len(), 4);
        assert!(
            out.advice[0].starts_with("1 units: source-changed: "),
            "{:?}",
            out.advice
        );
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
        // A new unit id whose fields all match: not a source change.
        assert_eq!(rebuild_reason(&fp(), &fp(), false), Reason::NewUnit);
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

    #[test]
    fn a_new_unit_takes_its_packages_setting() {
        let unit = |name: &str, reason| BuiltUnit {
            unit: format!("debug/{name}"),
            name: name.into(),
            status: BuiltStatus::New,
            reason,
        };
        let mut built = vec![
            unit("util", Reason::NewUnit),
            unit("util", Reason::ProfileChanged),
            unit("other", Reason::NewUnit),
            unit("dep", Reason::SourceChanged),
        ];
        settle(&mut built);
        let reasons: Vec<_> = built.iter().map(|b| b.reason).collect();
        assert_eq!(
            reasons,
            [
                Reason::ProfileChanged,
                Reason::ProfileChanged,
                Reason::NewUnit,
                Reason::SourceChanged
            ]
        );
    }
}
