//! Save, clone elsewhere, restore, build: what a CI job does.

use std::os::unix::fs::MetadataExt;

use stash_tests::{
    Project, Stash, build_json, clone_to, copy_built_fixture, copy_fixture, rebuilt, run_app,
};

const EXPECTED: &str = r#"hello from App util-v1 42 {"generated":42} bzip2=1.0.8"#;

/// A built fixture saved to a fresh store.
fn built_and_saved(suffix: &str) -> (Project, tempfile::TempDir, Stash, serde_json::Value) {
    let project = copy_built_fixture("workspace", "checkout");
    build_json(&project.root, &[]);
    let store_dir = tempfile::tempdir().unwrap();
    let stash = Stash::local(store_dir.path());
    let saved = stash.json(&project.root, &["save", "--suffix", suffix]);
    assert_eq!(saved["outcome"], "saved", "{saved}");
    (project, store_dir, stash, saved)
}

#[test]
fn clone_elsewhere_restores_every_registry_unit_fresh() {
    let (project, _store, stash, saved) = built_and_saved("a");
    assert!(saved["bytes_uploaded"].as_u64().unwrap() > 0);

    let clone = clone_to(&project, "elsewhere");
    let restored = stash.json(&clone.root, &["restore", "--suffix", "a"]);
    assert_eq!(restored["hit"], "exact", "{restored}");
    assert_eq!(restored["packs_failed"], 0);
    registry_output_is_its_own(&restored);

    let units = build_json(&clone.root, &[]);
    let registry: Vec<_> = units.iter().filter(|u| u.is_registry()).collect();
    assert!(registry.len() >= 8, "too few registry units: {units:?}");
    let stale = rebuilt(registry);
    assert!(
        stale.is_empty(),
        "registry units rebuilt after restore: {stale:?}"
    );
    assert_eq!(run_app(&clone.root), EXPECTED);
}

/// Issue 15: restore built the registry layer's output by cloning the target's and
/// resetting fields; it holds the registry's own values and none of the target-only ones.
fn registry_output_is_its_own(restored: &serde_json::Value) {
    assert!(restored["mtime"].is_object(), "{restored}");
    let reg = &restored["registry"];
    assert_eq!(reg["layer"], "registry", "{restored}");
    assert_eq!(reg["hit"], "exact", "{restored}");
    assert!(reg["key"].as_str().unwrap().contains("-registry-"), "{reg}");
    assert_ne!(reg["restored_key"], restored["restored_key"], "{reg}");
    assert!(reg["files"].as_u64().unwrap() > 0, "{reg}");
    assert_ne!(reg["files"], restored["files"], "{reg}");
    for target_only in ["mtime", "clock_shift_ms", "path_bound", "registry"] {
        assert!(reg.get(target_only).is_none(), "{target_only} in {reg}");
    }
}

#[test]
fn restore_keeps_uplifted_binaries_as_hard_links() {
    let (project, _store, stash, _) = built_and_saved("a");
    let clone = clone_to(&project, "checkout2");
    stash.json(&clone.root, &["restore", "--suffix", "a"]);
    let deps = clone.path("target/debug/deps");
    let app = std::fs::metadata(clone.path("target/debug/app")).unwrap();
    let twin = std::fs::read_dir(&deps)
        .unwrap()
        .map(|e| e.unwrap())
        .find(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n.starts_with("app-") && !n.ends_with(".d")
        })
        .expect("app binary in deps/");
    assert_eq!(
        app.ino(),
        twin.metadata().unwrap().ino(),
        "uplifted app is not a hard link"
    );
    assert!(app.nlink() >= 2);
}

#[test]
fn second_save_after_changing_a_member_uploads_under_a_tenth() {
    let (project, _store, stash, first) = built_and_saved("a");
    let first_bytes = first["bytes_uploaded"].as_u64().unwrap();
    project.write(
        "util/src/lib.rs",
        &std::fs::read_to_string(project.path("util/src/lib.rs"))
            .unwrap()
            .replace("util-v1", "util-v2"),
    );
    build_json(&project.root, &[]);
    let second = stash.json(&project.root, &["save", "--suffix", "b"]);
    assert_eq!(second["outcome"], "saved", "{second}");
    let second_bytes = second["bytes_uploaded"].as_u64().unwrap();
    assert!(
        second_bytes * 10 < first_bytes,
        "second save uploaded {second_bytes} of {first_bytes} bytes"
    );
    assert!(second["bytes_skipped"].as_u64().unwrap() > first_bytes / 2);

    // The newest snapshot wins a fallback restore, and its output is the changed one.
    let clone = clone_to(&project, "checkout");
    let restored = stash.json(&clone.root, &["restore", "--suffix", "c"]);
    assert_eq!(restored["hit"], "fallback");
    assert!(
        restored["restored_key"].as_str().unwrap().ends_with("-b"),
        "{restored}"
    );
}

#[test]
fn a_save_after_an_unchanged_restore_uploads_nothing() {
    let (project, _store, stash, _) = built_and_saved("a");
    stash_tests::reclone_in_place(&project);
    stash.json(&project.root, &["restore", "--suffix", "a"]);
    build_json(&project.root, &[]);
    let again = stash.json(&project.root, &["save", "--suffix", "b"]);
    assert_eq!(again["outcome"], "saved", "{again}");
    assert_eq!(
        again["bytes_uploaded"], 0,
        "an unchanged restore must re-save nothing: {again}"
    );
    assert_eq!(again["units_unused"], 0, "{again}");
}

#[test]
fn saving_an_existing_key_is_already_saved() {
    let (project, _store, stash, _) = built_and_saved("a");
    let again = stash.json(&project.root, &["save", "--suffix", "a"]);
    assert_eq!(again["outcome"], "already-saved");
    assert_eq!(again["bytes_uploaded"], 0);
}

#[test]
fn an_exact_hit_is_not_saved_again() {
    let (project, _store, stash, _) = built_and_saved("a");
    let clone = clone_to(&project, "other");
    stash.json(&clone.root, &["restore", "--suffix", "a"]);
    build_json(&clone.root, &[]);
    let save = stash.json(&clone.root, &["save", "--suffix", "a"]);
    assert_eq!(save["outcome"], "skipped-exact-hit");
}

#[test]
fn a_miss_exits_zero_unless_strict() {
    let project = copy_fixture("workspace", "checkout");
    let store = tempfile::tempdir().unwrap();
    let stash = Stash::local(store.path());
    let miss = stash.json(&project.root, &["restore"]);
    assert_eq!(miss["hit"], "miss");
    let strict = stash.run(&project.root, &["restore", "--strict"]);
    assert_eq!(strict.code, 3, "{}", strict.stderr);
    assert!(
        strict.stderr.contains("cache miss for"),
        "{}",
        strict.stderr
    );
    // `--strict` is applied once the command is over: its result document gives way to
    // the error document, so stdout holds one JSON document.
    let strict = stash.run(&project.root, &["restore", "--strict", "--json"]);
    assert_eq!(strict.code, 3, "{}", strict.stderr);
    let doc = strict.json();
    assert_eq!(doc["exit_code"], 3, "{doc}");
    assert!(doc.get("hit").is_none(), "{doc}");
}

#[test]
fn clean_drops_incremental_and_dep_files_only() {
    let project = copy_built_fixture("workspace", "checkout");
    build_json(&project.root, &[]);
    let store = tempfile::tempdir().unwrap();
    let stash = Stash::local(store.path());
    let dry = stash.json(&project.root, &["clean", "--dry-run"]);
    assert!(
        dry["categories"]["incremental"]["bytes"].as_u64().unwrap() > 0,
        "{dry}"
    );
    assert!(project.path("target/debug/incremental").exists());
    let done = stash.json(&project.root, &["clean"]);
    assert_eq!(done["bytes_removed"], dry["bytes_removed"]);
    assert!(!project.path("target/debug/incremental").exists());
    assert!(!project.path("target/debug/app.d").exists());
    // Nothing Cargo needs was removed: a no-op build stays a no-op.
    let units = build_json(&project.root, &[]);
    assert!(
        units.iter().all(|u| u.fresh),
        "clean made units dirty: {units:?}"
    );
}

#[test]
fn key_ignores_noise_env_and_follows_rustflags() {
    let project = copy_fixture("workspace", "checkout");
    let store = tempfile::tempdir().unwrap();
    let mut stash = Stash::local(store.path());
    let base = stash.json(&project.root, &["key"])["target"]["key"].clone();
    stash.env = vec![
        ("CARGO_TERM_COLOR".into(), "always".into()),
        ("RUST_BACKTRACE".into(), "1".into()),
    ];
    assert_eq!(stash.json(&project.root, &["key"])["target"]["key"], base);
    stash.env = vec![("RUSTFLAGS".into(), "-Copt-level=1".into())];
    assert_ne!(stash.json(&project.root, &["key"])["target"]["key"], base);
}

#[test]
fn the_registry_layer_lets_an_empty_cargo_home_build_offline() {
    let (project, _store, mut stash, saved) = built_and_saved("a");
    let registry = &saved["registry"];
    assert_eq!(registry["outcome"], "saved", "{saved}");
    assert!(registry["packs"].as_u64().unwrap() >= 10, "{registry}");

    let home = tempfile::tempdir().unwrap();
    let clone = clone_to(&project, "offline");
    stash.env = vec![("CARGO_HOME".into(), home.path().display().to_string())];
    let restored = stash.json(&clone.root, &["restore", "--suffix", "a"]);
    // A new CARGO_HOME is a new target key, but the registry layer falls back across it.
    assert_eq!(restored["hit"], "miss", "{restored}");
    assert_eq!(restored["registry"]["packs_failed"], 0, "{restored}");
    assert!(home.path().join("registry/cache").is_dir());
    assert!(!home.path().join("bin").exists() && !home.path().join("credentials.toml").exists());

    let out = std::process::Command::new(env!("CARGO"))
        .args(["build", "--offline", "--locked"])
        .current_dir(&clone.root)
        .env("CARGO_HOME", home.path())
        .env_remove("CARGO_TARGET_DIR")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "offline build failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(run_app(&clone.root), EXPECTED);
}

/// The target dir is Cargo's, never a guessed `./target`: CARGO_TARGET_DIR is honoured.
#[test]
fn the_target_dir_comes_from_cargo() {
    let project = copy_fixture("workspace", "checkout");
    let elsewhere = project.root.parent().unwrap().join("shared-target");
    let store = tempfile::tempdir().unwrap();
    let mut stash = Stash::local(store.path());
    stash.env = vec![("CARGO_TARGET_DIR".into(), elsewhere.display().to_string())];
    std::fs::create_dir_all(elsewhere.join("debug/deps")).unwrap();
    std::fs::create_dir_all(elsewhere.join("debug/incremental/x")).unwrap();
    std::fs::write(elsewhere.join("debug/incremental/x/graph.bin"), b"12345").unwrap();
    let dry = stash.json(&project.root, &["clean", "--dry-run"]);
    assert_eq!(
        dry["roots"]["target"],
        elsewhere.display().to_string(),
        "{dry}"
    );
    assert_eq!(dry["categories"]["incremental"]["bytes"], 5, "{dry}");
    assert!(!project.path("target").exists());
}

/// Digest of every file under `target/` but cargo-stash's own state.
fn target_files(project: &Project) -> std::collections::BTreeMap<String, blake3::Hash> {
    let root = project.path("target");
    walkdir::WalkDir::new(&root)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let rel = e.path().strip_prefix(&root).unwrap().display().to_string();
            (rel, blake3::hash(&std::fs::read(e.path()).unwrap()))
        })
        .filter(|(rel, _)| !rel.starts_with(".cargo-stash"))
        .collect()
}

#[test]
fn a_rebuilt_binary_is_stored_as_a_patch_that_restores_byte_for_byte() {
    let (project, store, stash, first) = built_and_saved("a");
    stash_tests::reclone_in_place(&project);
    stash.json(&project.root, &["restore", "--suffix", "a"]);
    let lib = std::fs::read_to_string(project.path("util/src/lib.rs")).unwrap();
    project.write("util/src/lib.rs", &lib.replace("util-v1", "util-v2"));
    stash_tests::fixture::git(&project.root, &["commit", "-qam", "util v2"]);
    build_json(&project.root, &[]);
    let second = stash.json(&project.root, &["save", "--suffix", "b"]);
    assert_eq!(second["outcome"], "saved", "{second}");
    // app's binary (over a MiB) and util's rlib changed; at least the binary is patched.
    assert!(second["packs_patched"].as_u64().unwrap() >= 1, "{second}");
    let (uploaded, first_bytes) = (
        second["bytes_uploaded"].as_u64().unwrap(),
        first["bytes_uploaded"].as_u64().unwrap(),
    );
    assert!(
        uploaded * 20 < first_bytes,
        "uploaded {uploaded} of {first_bytes}"
    );
    let saved = target_files(&project);

    // The first snapshot goes; its packs the patches are based on must stay.
    let gc = stash.json(
        &project.root,
        &[
            "gc",
            "--keep",
            "1",
            "--grace",
            "0s",
            "--no-concurrent-saves",
        ],
    );
    let deleted = gc["snapshots_deleted"].as_array().unwrap();
    assert!(
        deleted
            .iter()
            .any(|s| s["key"].as_str().unwrap().ends_with("-a")),
        "{gc}"
    );
    assert!(gc["packs_deleted"].as_u64().unwrap() > 0, "{gc}");

    stash_tests::reclone_in_place(&project);
    let restored = stash.json(&project.root, &["restore", "--suffix", "b"]);
    assert_eq!(restored["hit"], "exact", "{restored}");
    assert_eq!(restored["packs_failed"], 0, "{restored}");
    let units = build_json(&project.root, &[]);
    assert_eq!(rebuilt(&units), Vec::<String>::new());
    assert_eq!(
        run_app(&project.root),
        EXPECTED.replace("util-v1", "util-v2")
    );
    let back = target_files(&project);
    let differ: Vec<_> = saved
        .iter()
        .filter(|(path, hash)| back.get(*path).is_some_and(|h| h != *hash))
        .map(|(path, _)| path)
        .collect();
    assert!(differ.is_empty(), "restored files differ: {differ:?}");
    assert!(back.keys().any(|p| p.starts_with("debug/deps/app-")));
    // Restored patches are known to the next save like whole packs.
    let again = stash.json(&project.root, &["save", "--suffix", "c"]);
    assert_eq!(again["bytes_uploaded"], 0, "{again}");

    // Without its base a patch is not referenced again: the pack goes up whole.
    let manifest = |key: &str| -> serde_json::Value {
        let path = store.path().join("v2/manifests/target").join(key);
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
    };
    let packs = manifest(again["key"].as_str().unwrap())["packs"].clone();
    let bases: Vec<&str> = packs
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["base"].as_str())
        .collect();
    assert!(!bases.is_empty(), "{packs}");
    for b in &bases {
        std::fs::remove_file(store.path().join("v2/packs").join(b)).unwrap();
    }
    let last = stash.json(&project.root, &["save", "--suffix", "d"]);
    assert!(last["bytes_uploaded"].as_u64().unwrap() > 0, "{last}");
    let packs = manifest(last["key"].as_str().unwrap())["packs"].clone();
    assert!(
        packs
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["base"].is_null()),
        "{packs}"
    );
}
