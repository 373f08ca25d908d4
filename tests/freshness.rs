//! Content-gated mtime restore: after a fresh clone at the same path Cargo rebuilds
//! exactly what changed, and never trusts a changed file because of its mtime.

use std::time::{Duration, SystemTime};

use std::process::Command;

use stash_tests::{
    Project, Stash, build_json, build_json_env, clone_to, copy_built_fixture, copy_fixture,
    rebuilt, reclone_in_place, run_app,
};

fn saved_project() -> (stash_tests::Project, tempfile::TempDir, Stash) {
    let project = copy_built_fixture("workspace", "checkout");
    build_json(&project.root, &[]);
    let store = tempfile::tempdir().unwrap();
    let stash = Stash::local(store.path());
    assert_eq!(stash.json(&project.root, &["save"])["outcome"], "saved");
    (project, store, stash)
}

#[test]
fn a_fresh_clone_at_the_same_path_finds_every_unit_fresh() {
    let (project, _store, stash) = saved_project();
    reclone_in_place(&project);
    let out = stash.json(&project.root, &["restore"]);
    assert_eq!(out["hit"], "exact");
    assert!(out["mtime"]["restored"].as_u64().unwrap() > 10, "{out}");
    assert_eq!(out["mtime"]["touched"], 0, "{out}");

    let units = build_json(&project.root, &[]);
    let stale = rebuilt(&units);
    assert!(
        stale.is_empty(),
        "units rebuilt after an unchanged clone: {stale:?}"
    );
    assert!(units.len() > 20);
    assert!(run_app(&project.root).contains("util-v1"));
}

#[test]
fn a_changed_member_rebuilds_with_its_dependents_even_when_its_mtime_is_old() {
    let (project, _store, stash) = saved_project();
    let lib = project.path("util/src/lib.rs");
    project.write(
        "util/src/lib.rs",
        &std::fs::read_to_string(&lib)
            .unwrap()
            .replace("util-v1", "util-v2"),
    );
    project.commit("change util");
    reclone_in_place(&project);
    // A checkout tool that sets old mtimes must not make the change look older than the
    // restored artifacts.
    let old = SystemTime::UNIX_EPOCH + Duration::from_secs(946_684_800);
    std::fs::File::options()
        .write(true)
        .open(&lib)
        .unwrap()
        .set_modified(old)
        .unwrap();

    let out = stash.json(&project.root, &["restore"]);
    assert!(out["mtime"]["touched"].as_u64().unwrap() >= 1, "{out}");

    let units = build_json(&project.root, &[]);
    let rebuilt: Vec<_> = units
        .iter()
        .filter(|u| !u.fresh)
        .map(|u| u.target.name.clone())
        .collect();
    let mut rebuilt_names = rebuilt.clone();
    rebuilt_names.sort();
    rebuilt_names.dedup();
    assert_eq!(
        rebuilt_names,
        ["app", "util"],
        "expected util and its dependent app only: {rebuilt:?}\nrestore: {out}\n{}",
        std::fs::read_to_string(&lib).unwrap()
    );
    assert!(units.iter().filter(|u| u.is_registry()).all(|u| u.fresh));
    assert!(run_app(&project.root).contains("util-v2"), "stale binary");

    let stats = stash.json(&project.root, &["stats"]);
    assert_eq!(stats["units"]["rebuilt"], 2, "{stats}");
    assert_eq!(stats["units"]["new"], 0, "{stats}");
    assert!(stats["units"]["fresh"].as_u64().unwrap() > 20, "{stats}");
    assert_eq!(stats["reasons"]["source-changed"], 2, "{stats}");
}

/// Issue 13: a project with crates.io dependencies, a build script and a proc-macro,
/// none embedding its path, saved at one path and restored into a fresh clone at another
/// with the old checkout deleted: every unit fresh, and `cargo test` compiles nothing.
#[test]
fn a_clone_at_another_path_finds_every_unit_fresh() {
    let project = copy_built_fixture("workspace", "checkout");
    let test_no_run = |root: &std::path::Path| {
        let out = Command::new(env!("CARGO"))
            .args(["test", "--no-run"])
            .current_dir(root)
            .env_remove("CARGO_TARGET_DIR")
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    build_json(&project.root, &[]);
    test_no_run(&project.root);
    let store = tempfile::tempdir().unwrap();
    let stash = Stash::local(store.path());
    assert_eq!(stash.json(&project.root, &["save"])["outcome"], "saved");
    let clone = clone_to(&project, "moved");
    std::fs::remove_dir_all(&project.root).unwrap();

    let out = stash.json(&clone.root, &["restore"]);
    assert!(out.get("path_bound").is_none(), "{out}");
    assert_eq!(out["mtime"]["touched"], 0, "{out}");
    let units = build_json(&clone.root, &[]);
    let stale = rebuilt(&units);
    assert!(stale.is_empty(), "units rebuilt after a move: {stale:?}");
    let stderr = test_no_run(&clone.root);
    assert!(
        !stderr.contains("Compiling"),
        "cargo test compiled:\n{stderr}"
    );
    let test = Command::new(env!("CARGO"))
        .arg("test")
        .current_dir(&clone.root)
        .env_remove("CARGO_TARGET_DIR")
        .output()
        .unwrap();
    assert!(test.status.success());
    assert!(!String::from_utf8_lossy(&test.stderr).contains("Compiling"));
    assert!(run_app(&clone.root).contains("util-v1"));
}

#[test]
fn no_mtime_leaves_the_checkout_alone() {
    let (project, _store, stash) = saved_project();
    reclone_in_place(&project);
    let out = stash.json(&project.root, &["restore", "--no-mtime"]);
    assert!(out.get("mtime").is_none(), "{out}");
    let units = build_json(&project.root, &[]);
    assert!(units.iter().filter(|u| !u.is_registry()).any(|u| !u.fresh));
}

fn pin_serde_json(project: &Project, version: &str) {
    let status = Command::new(env!("CARGO"))
        .args(["update", "-q", "-p", "serde_json", "--precise", version])
        .current_dir(&project.root)
        .status()
        .unwrap();
    assert!(status.success(), "cargo update serde_json {version}");
    project.commit(&format!("serde_json {version}"));
}

fn stored_bytes(save: &serde_json::Value) -> u64 {
    save["bytes_uploaded"].as_u64().unwrap() + save["bytes_skipped"].as_u64().unwrap()
}

#[test]
fn successive_dependency_bumps_do_not_grow_the_cache() {
    let project = copy_built_fixture("workspace", "checkout");
    let store = tempfile::tempdir().unwrap();
    let stash = Stash::local(store.path());
    pin_serde_json(&project, "1.0.149");
    build_json(&project.root, &[]);
    stash.json(&project.root, &["save"]);

    let mut last = serde_json::Value::Null;
    for v in ["1.0.150", "1.0.151", "1.0.152", "1.0.153", "1.0.154"] {
        pin_serde_json(&project, v);
        reclone_in_place(&project);
        let restored = stash.json(&project.root, &["restore"]);
        assert_eq!(restored["hit"], "fallback", "{restored}");
        build_json(&project.root, &[]);
        last = stash.json(&project.root, &["save"]);
        assert_eq!(last["outcome"], "saved", "{last}");
        assert!(
            last["units_unused"].as_u64().unwrap() >= 2,
            "old serde_json and app units: {last}"
        );
    }

    // The same sources built from scratch and saved alone.
    let clean = copy_fixture("workspace", "clean");
    let status = Command::new("cp")
        .arg(project.path("Cargo.lock"))
        .arg(clean.path("Cargo.lock"))
        .status()
        .unwrap();
    assert!(status.success());
    build_json(&clean.root, &[]);
    let clean_store = tempfile::tempdir().unwrap();
    let baseline = Stash::local(clean_store.path()).json(&clean.root, &["save"]);

    let (after, fresh) = (stored_bytes(&last), stored_bytes(&baseline));
    assert!(
        after * 10 <= fresh * 13,
        "after five bumps the snapshot holds {after} bytes, a clean build {fresh}"
    );
}

/// Cargo 1.91's `build.build-dir` outside the target dir, in the build-dir layout Cargo
/// 1.100 makes the default (`build/<pkg>/<hash>/`), which 1.95 builds on request.
#[test]
fn a_separate_build_dir_in_the_new_layout_round_trips_fresh() {
    let project = copy_fixture("workspace", "checkout");
    let build_dir = project.root.parent().unwrap().join("build-dir");
    let env: Vec<(String, String)> = [
        ("RUSTC_BOOTSTRAP", "1"),
        ("CARGO_UNSTABLE_BUILD_DIR_NEW_LAYOUT", "true"),
        ("CARGO_BUILD_BUILD_DIR", build_dir.to_str().unwrap()),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    build_json_env(&project.root, &[], &env);
    assert!(
        build_dir.join("debug/build").is_dir(),
        "no build dir at {}",
        build_dir.display()
    );
    let store = tempfile::tempdir().unwrap();
    let mut stash = Stash::local(store.path());
    stash.env = env.clone();
    let saved = stash.json(&project.root, &["save", "--no-registry"]);
    assert_eq!(saved["outcome"], "saved", "{saved}");

    reclone_in_place(&project);
    std::fs::remove_dir_all(&build_dir).unwrap();
    let restored = stash.json(&project.root, &["restore", "--no-registry"]);
    assert_eq!(restored["hit"], "exact", "{restored}");
    assert!(
        build_dir.join("debug/build").is_dir(),
        "build dir not restored"
    );
    let units = build_json_env(&project.root, &[], &env);
    let stale = rebuilt(&units);
    assert!(stale.is_empty(), "rebuilt: {stale:?}");
    assert!(run_app(&project.root).contains("util-v1"));
}

#[test]
fn stats_names_changed_flags_as_the_reason_for_new_units() {
    let (project, _store, stash) = saved_project();
    reclone_in_place(&project);
    stash.json(&project.root, &["restore"]);
    let flags = [("RUSTFLAGS".to_string(), "-Cdebuginfo=1".to_string())];
    build_json_env(&project.root, &["-p", "util"], &flags);
    let stats = stash.json(&project.root, &["stats"]);
    assert!(stats["units"]["new"].as_u64().unwrap() >= 1, "{stats}");
    assert_eq!(stats["units"]["fresh"], 0, "{stats}");
    let reasons = stats["reasons"].as_object().unwrap();
    assert_eq!(
        reasons.keys().collect::<Vec<_>>(),
        ["flags-changed"],
        "{stats}"
    );
    assert!(
        stats["advice"][0].as_str().unwrap().contains("RUSTFLAGS"),
        "{stats}"
    );
}

/// Issue 13 item 5: a bumped dependency is a version change, not a path change, and
/// `stats` still answers after `save`.
#[test]
fn stats_names_a_dependency_bump_and_works_after_save() {
    let (project, _store, stash) = saved_project();
    pin_serde_json(&project, "1.0.153");
    reclone_in_place(&project);
    stash.json(&project.root, &["restore"]);
    build_json(&project.root, &[]);
    let stats = stash.json(&project.root, &["stats"]);
    let serde_json = stats["built"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["name"] == "serde_json" && b["status"] == "new")
        .unwrap_or_else(|| panic!("serde_json not rebuilt: {stats}"));
    assert_eq!(serde_json["reason"], "version-changed", "{stats}");
    assert!(stats["reasons"].get("path-changed").is_none(), "{stats}");
    assert!(stats["reasons"].get("env-changed").is_none(), "{stats}");
    stash.json(&project.root, &["save"]);
    let after = stash.json(&project.root, &["stats"]);
    assert_eq!(after["units"], stats["units"], "{after}");
}

/// A job that restores and saves without building (it failed early, say) must not
/// publish a snapshot emptied by pruning: nothing proves the units unused.
#[test]
fn a_save_without_a_build_keeps_every_unit() {
    let (project, _store, stash) = saved_project();
    reclone_in_place(&project);
    let restored = stash.json(&project.root, &["restore"]);
    let saved = stash.json(&project.root, &["save", "--suffix", "nobuild"]);
    assert_eq!(saved["units_unused"], 0, "{saved}");
    assert_eq!(saved["packs"], restored["packs"], "{saved}");
    assert!(
        saved["usage_note"]
            .as_str()
            .unwrap()
            .contains("no unit was built"),
        "{saved}"
    );
}
