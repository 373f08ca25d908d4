//! Restores at another checkout path (issue 13): units whose artifacts embed the saved
//! path are left out and rebuilt, every other unit stays fresh, and nothing built
//! anywhere shows the old path. The `relocation` fixture holds every trap: see its
//! Cargo.toml.

use std::path::{Path, PathBuf};
use std::process::Command;

use stash_tests::fixture::git;
use stash_tests::{
    Artifact, Project, Stash, clone_to, copy_fixture, copy_project, reclone_in_place,
};

/// Workspace units that embed no path and depend on none that does.
const EMBED_NOTHING: [&str; 3] = ["plain", "deep", "macros"];

/// Environment for one side (saving or restoring job) of a test.
#[derive(Clone, Default)]
struct Side {
    env: Vec<(String, String)>,
}

impl Side {
    fn with(dir_var: &str, value: &Path) -> Side {
        Side {
            env: vec![(dir_var.to_string(), value.display().to_string())],
        }
    }

    /// `cargo <args> --message-format=json` in the fixture's workspace.
    fn cargo(&self, root: &Path, args: &[&str]) -> (Vec<Artifact>, String) {
        let out = self
            .command(root, args)
            .arg("--message-format=json")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            out.status.success(),
            "cargo {args:?} failed in {}:\n{stderr}",
            root.display()
        );
        let units = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.contains("\"reason\":\"compiler-artifact\""))
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        (units, stderr)
    }

    fn command(&self, root: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO"));
        cmd.args(args)
            .current_dir(root.join("ws"))
            .env_remove("CARGO_TARGET_DIR")
            .env_remove("CARGO_BUILD_BUILD_DIR")
            .env("CARGO_TERM_COLOR", "never")
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        cmd
    }

    fn stash(&self, store: &Path) -> Stash {
        let mut stash = Stash::local(store);
        stash.env = self.env.clone();
        stash
    }

    fn target(&self, root: &Path) -> PathBuf {
        self.env
            .iter()
            .find(|(k, _)| k == "CARGO_TARGET_DIR")
            .map_or_else(|| root.join("ws/target"), |(_, v)| PathBuf::from(v))
    }

    /// Runs the fixture's binary; its lines are `name=value`.
    fn app(&self, root: &Path) -> String {
        let out = Command::new(self.target(root).join("debug/app"))
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// Builds everything a CI job would (lib, bins, tests) and saves it.
fn build_and_save(project: &Project, side: &Side, store: &Path) -> serde_json::Value {
    side.cargo(&project.root, &["build", "--all-targets"]);
    side.cargo(&project.root, &["test", "--no-run"]);
    side.stash(store).json(&project.root.join("ws"), &["save"])
}

fn names(units: &[Artifact], fresh: bool) -> Vec<String> {
    let mut n: Vec<String> = units
        .iter()
        .filter(|u| u.fresh == fresh && !u.is_registry())
        .map(|u| u.target.name.clone())
        .collect();
    n.sort();
    n.dedup();
    n
}

/// Restores into `clone`, builds, and checks every promise of a moved restore: the
/// path-bound units are named and rebuilt (with what depends on them), the others stay
/// fresh, every output shows the new path only, all tests pass.
fn restore_and_check(clone: &Project, side: &Side, store: &Path, old: &Path) {
    let ws = clone.root.join("ws");
    let out = side.stash(store).json(&ws, &["restore"]);
    assert_eq!(out["hit"], "exact", "{out}");
    let bound: Vec<&str> = out["path_bound"]
        .as_array()
        .unwrap_or_else(|| panic!("no path-bound units reported: {out}"))
        .iter()
        .map(|u| u["name"].as_str().unwrap())
        .collect();
    for trap in ["app", "manifest", "script", "caller", "inc", "gen"] {
        assert!(bound.contains(&trap), "{trap} not path-bound: {bound:?}");
    }
    // `gen`'s build script writes the path into OUT_DIR only: its run is redone too, or
    // the rebuilt library would compile the stale file.
    let gens = bound.iter().filter(|n| **n == "gen").count();
    assert!(gens >= 2, "gen's build-script run not path-bound: {out}");
    for clean in EMBED_NOTHING.iter().chain(&["user"]) {
        assert!(!bound.contains(clean), "{clean} taken as path-bound: {out}");
    }
    assert!(out["mtime"]["restored"].as_u64().unwrap() > 20, "{out}");

    let (units, _) = side.cargo(&clone.root, &["build", "--all-targets"]);
    let rebuilt = names(&units, false);
    for clean in EMBED_NOTHING {
        assert!(
            !rebuilt.contains(&clean.to_string()),
            "{clean} rebuilt: {rebuilt:?}"
        );
    }
    // Cargo's own cascade: `user` embeds nothing but calls into `manifest`.
    for bound in [
        "app", "manifest", "script", "caller", "inc", "gen", "user", "outside",
    ] {
        assert!(
            rebuilt.contains(&bound.to_string()),
            "{bound} stayed fresh: {rebuilt:?}"
        );
    }

    let text = side.app(&clone.root);
    let old = old.display().to_string();
    assert!(!text.contains(&old), "old path in the output:\n{text}");
    for line in text
        .lines()
        .filter(|l| l.contains("-dir=") || l.starts_with("generated="))
    {
        let value = line.split_once('=').unwrap().1;
        assert!(value.starts_with(clone.root.to_str().unwrap()), "{line}");
    }
    let test = side.command(&clone.root, &["test"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&test.stderr);
    assert!(
        test.status.success(),
        "tests failed after a moved restore:\n{stderr}"
    );

    // A file included from outside the package, edited at the new path, shows.
    std::fs::write(clone.root.join("README.md"), "readme-v2\n").unwrap();
    side.cargo(&clone.root, &["build"]);
    assert!(side.app(&clone.root).contains("readme=readme-v2"));
}

#[test]
fn a_moved_checkout_rebuilds_exactly_the_path_bound_units() {
    let project = copy_fixture("relocation", "repo");
    let store = tempfile::tempdir().unwrap();
    let side = Side::default();
    let saved = build_and_save(&project, &side, store.path());
    assert_eq!(saved["outcome"], "saved", "{saved}");

    // The old checkout is gone.
    let moved = clone_to(&project, "moved");
    let old = project.root.clone();
    let keep = clone_to(&project, "origin");
    std::fs::remove_dir_all(&old).unwrap();
    restore_and_check(&moved, &side, store.path(), &old);
    let stats = side
        .stash(store.path())
        .json(&moved.root.join("ws"), &["stats"]);
    assert!(
        stats["units"]["path_bound"].as_u64().unwrap() >= 5,
        "{stats}"
    );
    assert!(
        stats["reasons"]["path-bound"].as_u64().unwrap() >= 5,
        "{stats}"
    );
    assert!(
        stats["built"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|b| b["status"] == "path-bound")
            .all(|b| b["name"] != "plain" && b["name"] != "deep"),
        "{stats}"
    );

    // The old path holds another commit, with other data where the tests read theirs.
    std::fs::rename(&keep.root, &old).unwrap();
    std::fs::write(
        old.join("ws/manifest/tests/data/fixture.txt"),
        "other-data\n",
    )
    .unwrap();
    std::fs::write(old.join("README.md"), "readme-other\n").unwrap();
    git(&old, &["commit", "-qam", "other commit"]);
    // A clone of the saved commit (the README edit in `moved` is not committed).
    let again = clone_to(&moved, "again");
    restore_and_check(&again, &side, store.path(), &old);

    // At another path too, a changed file with an old mtime is never taken as unchanged
    // (plain=9: twice(add(1, 2)) with add adding one more each time).
    let changed = clone_to(&moved, "changed");
    let lib = changed.root.join("ws/plain/src/lib.rs");
    let text = std::fs::read_to_string(&lib).unwrap();
    std::fs::write(&lib, text.replace("a + b", "a + b + 1")).unwrap();
    changed.commit("plain adds one");
    let old_time = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(946_684_800);
    std::fs::File::options()
        .write(true)
        .open(&lib)
        .unwrap()
        .set_modified(old_time)
        .unwrap();
    let out = side
        .stash(store.path())
        .json(&changed.root.join("ws"), &["restore"]);
    assert!(out["mtime"]["touched"].as_u64().unwrap() >= 1, "{out}");
    let (units, _) = side.cargo(&changed.root, &["build"]);
    assert!(names(&units, false).contains(&"plain".to_string()));
    assert!(side.app(&changed.root).contains("plain=9"), "stale plain");
}

#[test]
fn a_restore_at_the_same_path_keeps_every_unit_fresh() {
    let project = copy_fixture("relocation", "repo");
    let store = tempfile::tempdir().unwrap();
    let side = Side::default();
    build_and_save(&project, &side, store.path());
    reclone_in_place(&project);
    let out = side
        .stash(store.path())
        .json(&project.root.join("ws"), &["restore"]);
    assert!(out.get("path_bound").is_none(), "{out}");
    let (units, _) = side.cargo(&project.root, &["build", "--all-targets"]);
    assert_eq!(
        names(&units, false),
        Vec::<String>::new(),
        "rebuilt at the same path"
    );
    assert!(
        side.app(&project.root)
            .contains(project.root.to_str().unwrap())
    );

    // A build script without rerun-if directives reruns when a file of its package is
    // newer (Cargo's PrecalculatedComponentsChanged): a source change, not the env.
    let lib = project.root.join("ws/plain/src/lib.rs");
    let text = std::fs::read_to_string(&lib).unwrap();
    std::fs::write(&lib, format!("{text}\npub fn one() -> u32 {{ 1 }}\n")).unwrap();
    side.cargo(&project.root, &["build"]);
    let stats = side
        .stash(store.path())
        .json(&project.root.join("ws"), &["stats"]);
    let reasons = stats["reasons"].as_object().unwrap();
    assert!(reasons.contains_key("source-changed"), "{stats}");
    for wrong in ["env-changed", "path-changed", "path-bound"] {
        assert!(!reasons.contains_key(wrong), "{stats}");
    }
    let plain = stats["built"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["name"] == "plain")
        .count();
    assert!(plain >= 2, "the build script run and the lib: {stats}");
}

#[test]
fn a_target_dir_outside_the_checkout_moves_too() {
    let project = copy_fixture("relocation", "repo");
    let (store, dirs) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let saving = Side::with("CARGO_TARGET_DIR", &dirs.path().join("target-a"));
    build_and_save(&project, &saving, store.path());
    let moved = clone_to(&project, "moved");
    let old = project.root.clone();
    std::fs::remove_dir_all(&old).unwrap();
    std::fs::remove_dir_all(dirs.path().join("target-a")).unwrap();
    let restoring = Side::with("CARGO_TARGET_DIR", &dirs.path().join("target-b"));
    restore_and_check(&moved, &restoring, store.path(), &old);
}

#[test]
fn a_separate_build_dir_moves_too() {
    let project = copy_fixture("relocation", "repo");
    let (store, dirs) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    // Cargo's template: one build dir per workspace path, so a move changes it.
    let template = dirs.path().join("build/{workspace-path-hash}");
    let side = Side::with("CARGO_BUILD_BUILD_DIR", &template);
    build_and_save(&project, &side, store.path());
    let moved = clone_to(&project, "moved");
    let old = project.root.clone();
    std::fs::remove_dir_all(&old).unwrap();
    restore_and_check(&moved, &side, store.path(), &old);
}

#[test]
fn the_build_dir_new_layout_moves_too() {
    let project = copy_fixture("relocation", "repo");
    let (store, dirs) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let template = dirs.path().join("build/{workspace-path-hash}");
    let mut side = Side::with("CARGO_BUILD_BUILD_DIR", &template);
    side.env.push(("RUSTC_BOOTSTRAP".into(), "1".into()));
    side.env
        .push(("CARGO_UNSTABLE_BUILD_DIR_NEW_LAYOUT".into(), "true".into()));
    build_and_save(&project, &side, store.path());
    let moved = clone_to(&project, "moved");
    let old = project.root.clone();
    std::fs::remove_dir_all(&old).unwrap();
    restore_and_check(&moved, &side, store.path(), &old);
}

/// The source of a crate as published on crates.io, fetched by Cargo into CARGO_HOME.
fn published_crate(name: &str, version: &str) -> PathBuf {
    let probe = tempfile::tempdir().unwrap();
    std::fs::create_dir(probe.path().join("src")).unwrap();
    std::fs::write(probe.path().join("src/lib.rs"), "").unwrap();
    std::fs::write(
        probe.path().join("Cargo.toml"),
        format!(
            "[package]\nname = \"probe\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\n\
             [dependencies]\n{name} = \"={version}\"\n"
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1"])
        .current_dir(probe.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cargo metadata failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let manifest = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name && p["version"] == version)
        .and_then(|p| p["manifest_path"].as_str())
        .unwrap_or_else(|| panic!("{name} {version} not fetched"));
    Path::new(manifest).parent().unwrap().to_path_buf()
}

/// `cargo <args>` in `root` with the published lockfile; the build's units and stderr.
fn cargo_locked(root: &Path, args: &[&str]) -> (Vec<Artifact>, String) {
    let side = Side::default();
    let out = Command::new(env!("CARGO"))
        .args(args)
        .args(["--locked", "--message-format=json"])
        .current_dir(root)
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_BUILD_DIR")
        .env("CARGO_TERM_COLOR", "never")
        .envs(side.env.iter().map(|(k, v)| (k, v)))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "cargo {args:?} failed:\n{stderr}");
    let units = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains("\"reason\":\"compiler-artifact\""))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (units, stderr)
}

/// A real crates.io project (camino 1.2.2: a build script probing rustc, serde's derive
/// proc-macro, integration tests) saved at one path and restored into a fresh clone at
/// another, with the first checkout deleted: every unit stays fresh and `cargo test`
/// passes without compiling anything.
#[test]
fn a_published_crate_moved_to_another_path_stays_fresh() {
    let project = copy_project(&published_crate("camino", "1.2.2"), "camino-a");
    // camino ignores its lockfile in git; the job builds what was published.
    git(&project.root, &["add", "-f", "Cargo.lock"]);
    git(&project.root, &["commit", "-qm", "lock"]);
    cargo_locked(&project.root, &["build", "--all-targets"]);
    let (_, stderr) = cargo_locked(&project.root, &["test"]);
    assert!(
        stderr.contains("Running tests/integration_tests.rs"),
        "{stderr}"
    );
    let store = tempfile::tempdir().unwrap();
    let stash = Stash::local(store.path());
    assert_eq!(stash.json(&project.root, &["save"])["outcome"], "saved");
    let clone = clone_to(&project, "camino-b");
    std::fs::remove_dir_all(&project.root).unwrap();

    let out = stash.json(&clone.root, &["restore"]);
    assert_eq!(out["hit"], "exact", "{out}");
    assert!(out.get("path_bound").is_none(), "{out}");
    assert!(out["mtime"]["restored"].as_u64().unwrap() > 5, "{out}");
    let (units, _) = cargo_locked(&clone.root, &["build", "--all-targets"]);
    assert!(units.len() > 10, "{} units", units.len());
    let stale: Vec<String> = units
        .iter()
        .filter(|u| !u.fresh)
        .map(Artifact::label)
        .collect();
    assert!(stale.is_empty(), "rebuilt after the move: {stale:?}");
    let (_, stderr) = cargo_locked(&clone.root, &["test"]);
    assert!(
        !stderr.contains("Compiling"),
        "cargo test compiled:\n{stderr}"
    );
    assert!(
        stderr.contains("Running tests/integration_tests.rs"),
        "{stderr}"
    );
}

/// CARGO_HOME stays a key input (registry units hash their source path under it), and
/// the ladder never crosses a config: a job with CARGO_HOME elsewhere misses, and the
/// miss names the move instead of looking like a cold cache.
#[test]
fn a_miss_after_a_cargo_home_move_names_it() {
    let project = stash_tests::copy_built_fixture("workspace", "checkout");
    let store = tempfile::tempdir().unwrap();
    let stash = Stash::local(store.path());
    assert_eq!(stash.json(&project.root, &["save"])["outcome"], "saved");
    reclone_in_place(&project);
    let home = tempfile::tempdir().unwrap();
    let mut moved = Stash::local(store.path());
    moved
        .env
        .push(("CARGO_HOME".into(), home.path().display().to_string()));
    let out = moved.json(&project.root, &["restore", "--no-registry"]);
    assert_eq!(out["hit"], "miss", "{out}");
    let warned = out["warnings"].to_string();
    assert!(
        warned.contains("CARGO_HOME") && warned.contains(&home.path().display().to_string()),
        "no word about the moved CARGO_HOME: {out}"
    );
    // The same job at the saving job's CARGO_HOME hears nothing of it.
    reclone_in_place(&project);
    let out = stash.json(&project.root, &["restore", "--no-registry"]);
    assert_eq!(out["hit"], "exact", "{out}");
    assert!(!out["warnings"].to_string().contains("CARGO_HOME"), "{out}");
}
