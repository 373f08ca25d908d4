//! The fault suite of issue 14: a hostile or merely odd store or machine. Clocks that
//! disagree must never give a stale binary; forged packs with correct ids must never
//! write outside the roots a layer may write.

use std::path::Path;

use filetime::FileTime;
use stash_tests::{Stash, build_json, copy_built_fixture, rebuilt, reclone_in_place, run_app};

/// Moves the mtime of everything under `dir` (but `.git`) by `secs`, as a machine whose
/// clock is that far off would have left it. Read first, then set: hard links share one
/// mtime. Atimes stay (they tell used units).
fn skew_mtimes(dir: &Path, secs: i64) {
    let entries: Vec<_> = walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_entry(|e| e.file_name() != ".git")
        .map(|e| e.unwrap())
        .filter(|e| !e.file_type().is_symlink())
        .map(|e| {
            let t = FileTime::from_last_modification_time(&e.metadata().unwrap());
            (e.into_path(), t)
        })
        .collect();
    for (path, t) in entries {
        let moved = FileTime::from_unix_time(t.unix_seconds() + secs, t.nanoseconds());
        filetime::set_file_mtime(path, moved).unwrap();
    }
}

/// A CI job on a machine whose clock is `skew` seconds off: build, save. Then the
/// sources change (or not) and a fresh clone at the same path restores.
fn skewed_save_then_restore(
    skew: i64,
    change: bool,
) -> (stash_tests::Project, tempfile::TempDir, serde_json::Value) {
    let project = copy_built_fixture("workspace", "checkout");
    build_json(&project.root, &[]);
    // Ahead: the artifacts from the future, as in issue 14. Behind: the checkout too,
    // or the saved tree would already be stale on the saving machine.
    skew_mtimes(
        &if skew > 0 {
            project.path("target")
        } else {
            project.root.clone()
        },
        skew,
    );
    let store = tempfile::tempdir().unwrap();
    let stash = Stash::local(store.path());
    assert_eq!(stash.json(&project.root, &["save"])["outcome"], "saved");
    if change {
        let main = project.path("app/src/main.rs");
        let text = std::fs::read_to_string(&main).unwrap();
        project.write(
            "app/src/main.rs",
            &text.replace("fn main() {", "fn main() {\n    println!(\"skewed-v2\");"),
        );
        project.commit("change app");
    }
    reclone_in_place(&project);
    let out = stash.json(&project.root, &["restore"]);
    assert_ne!(out["hit"], "miss", "{out}");
    (project, store, out)
}

#[test]
fn a_saving_clock_an_hour_ahead_never_gives_a_stale_binary() {
    let (project, _store, out) = skewed_save_then_restore(3600, true);
    let shift = out["clock_shift_ms"].as_u64().unwrap_or_default();
    assert!(shift > 3_000_000, "restored times not moved back: {out}");
    let units = build_json(&project.root, &[]);
    assert!(
        rebuilt(&units).iter().any(|u| u.starts_with("app ")),
        "the changed binary was not rebuilt: {out}"
    );
    assert!(units.iter().filter(|u| u.is_registry()).all(|u| u.fresh));
    assert!(run_app(&project.root).contains("skewed-v2"), "stale binary");
    // Nothing is left in the future: the next build has nothing to do.
    let again = build_json(&project.root, &[]);
    assert!(rebuilt(&again).is_empty(), "{:?}", rebuilt(&again));
}

#[test]
fn a_saving_clock_an_hour_ahead_keeps_unchanged_code_fresh() {
    let (project, _store, out) = skewed_save_then_restore(3600, false);
    assert_eq!(out["mtime"]["touched"], 0, "{out}");
    let units = build_json(&project.root, &[]);
    assert!(rebuilt(&units).is_empty(), "{:?}\n{out}", rebuilt(&units));
    assert!(units.len() > 20);
}

#[test]
fn a_saving_clock_an_hour_behind_keeps_unchanged_code_fresh_and_changes_rebuilt() {
    let (project, _store, out) = skewed_save_then_restore(-3600, false);
    assert!(out.get("clock_shift_ms").is_none(), "{out}");
    let units = build_json(&project.root, &[]);
    assert!(rebuilt(&units).is_empty(), "{:?}\n{out}", rebuilt(&units));

    let (project, _store, out) = skewed_save_then_restore(-3600, true);
    let units = build_json(&project.root, &[]);
    assert!(!rebuilt(&units).is_empty(), "{out}");
    assert!(run_app(&project.root).contains("skewed-v2"), "stale binary");
}
