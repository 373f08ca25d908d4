//! `stats` names the true cause of each rebuild (issue 13 item 5): every class of
//! Cargo dirty reason is produced here by a real change to a real build after a
//! restore, and `stats` must name that class and no wrong one.

use std::path::Path;
use std::process::Command;

use stash_tests::fixture::git;
use stash_tests::{
    Project, Stash, build_json, build_json_env, copy_built_fixture, reclone_in_place,
};

/// Classes that no test below provokes; `stats` naming one of them is a lie.
const UNRELATED: [&str; 5] = [
    "path-changed",
    "version-changed",
    "path-bound",
    "new-unit",
    "toolchain-changed",
];

/// The workspace fixture, built, with `edit` applied and committed, built again and
/// saved; then recloned in place and restored, as the next CI job sees it.
fn restored_after(edit: impl FnOnce(&Project)) -> (Project, tempfile::TempDir, Stash) {
    let project = copy_built_fixture("workspace", "checkout");
    edit(&project);
    git(&project.root, &["add", "-A"]);
    git(
        &project.root,
        &["commit", "-q", "--allow-empty", "-m", "edit"],
    );
    build_json(&project.root, &[]);
    let store = tempfile::tempdir().unwrap();
    let stash = Stash::local(store.path());
    assert_eq!(stash.json(&project.root, &["save"])["outcome"], "saved");
    reclone_in_place(&project);
    let restored = stash.json(&project.root, &["restore"]);
    assert_eq!(restored["hit"], "exact", "{restored}");
    (project, store, stash)
}

/// `stats` after a build of `util` with `env`; asserts `expected` is among the reasons,
/// every other reason is in `allowed`, and nothing unrelated is claimed.
fn assert_reasons(
    project: &Project,
    stash: &Stash,
    extra: &[&str],
    env: &[(&str, &str)],
    expected: &str,
    allowed: &[&str],
) -> serde_json::Value {
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let mut args = vec!["-p", "util"];
    args.extend_from_slice(extra);
    build_json_env(&project.root, &args, &env);
    let stats = stash.json(&project.root, &["stats"]);
    let reasons = stats["reasons"].as_object().unwrap();
    assert!(reasons.contains_key(expected), "no {expected}: {stats}");
    for reason in reasons.keys() {
        assert!(
            reason == expected || allowed.contains(&reason.as_str()),
            "unexpected reason {reason}: {stats}"
        );
        assert!(
            reason == expected || !UNRELATED.contains(&reason.as_str()),
            "wrong reason {reason}: {stats}"
        );
    }
    stats
}

fn host_triple() -> String {
    let out = Command::new("rustc").arg("-vV").output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .expect("rustc -vV names the host")
        .to_string()
}

/// A `RUSTC` that compiles exactly like rustc but reports another version: Cargo hashes
/// `rustc -vV` into every fingerprint, as it does after a toolchain update.
fn other_rustc(dir: &Path) -> String {
    let script = dir.join("rustc-next");
    std::fs::write(
        &script,
        "#!/bin/sh\nif [ \"$1\" = -vV ]; then rustc -vV; echo 'patched: 1'; exit 0; fi\nexec rustc \"$@\"\n",
    )
    .unwrap();
    let status = Command::new("chmod")
        .arg("+x")
        .arg(&script)
        .status()
        .unwrap();
    assert!(status.success());
    script.display().to_string()
}

#[test]
fn a_compiler_change_is_named_toolchain_changed() {
    let (project, _store, stash) = restored_after(|_| {});
    let bin = tempfile::tempdir().unwrap();
    let rustc = other_rustc(bin.path());
    let stats = assert_reasons(
        &project,
        &stash,
        &[],
        &[("RUSTC", &rustc)],
        "toolchain-changed",
        &["dependency-changed"],
    );
    assert!(
        stats["advice"].to_string().contains("rustc"),
        "no advice about the compiler: {stats}"
    );
}

#[test]
fn another_feature_set_is_named_features_changed() {
    let (project, _store, stash) = restored_after(|p| {
        let manifest = p.path("util/Cargo.toml");
        let text = std::fs::read_to_string(&manifest).unwrap();
        std::fs::write(&manifest, format!("{text}\n[features]\nextra = []\n")).unwrap();
    });
    assert_reasons(
        &project,
        &stash,
        &["--features", "extra"],
        &[],
        "features-changed",
        &["dependency-changed"],
    );
}

#[test]
fn another_profile_setting_is_named_profile_changed() {
    let (project, _store, stash) = restored_after(|_| {});
    assert_reasons(
        &project,
        &stash,
        &[],
        &[("CARGO_PROFILE_DEV_OPT_LEVEL", "1")],
        "profile-changed",
        &["dependency-changed"],
    );
}

#[test]
fn another_linker_is_named_config_changed() {
    let (project, _store, stash) = restored_after(|_| {});
    let var = format!(
        "CARGO_TARGET_{}_LINKER",
        host_triple().to_uppercase().replace('-', "_")
    );
    assert_reasons(
        &project,
        &stash,
        &[],
        &[(&var, "cc")],
        "config-changed",
        &["dependency-changed"],
    );
}

#[test]
fn a_rerun_if_env_changed_value_is_named_env_changed() {
    let (project, _store, stash) = restored_after(|p| {
        let script = p.path("util/build.rs");
        let text = std::fs::read_to_string(&script).unwrap().replace(
            "println!(\"cargo:rerun-if-changed=build.rs\");",
            "println!(\"cargo:rerun-if-changed=build.rs\");\n    println!(\"cargo:rerun-if-env-changed=UTIL_FLAVOR\");",
        );
        assert!(text.contains("UTIL_FLAVOR"));
        std::fs::write(&script, text).unwrap();
    });
    assert_reasons(
        &project,
        &stash,
        &[],
        &[("UTIL_FLAVOR", "spicy")],
        "env-changed",
        &["dependency-changed", "source-changed"],
    );
}

#[test]
fn an_edited_file_is_named_source_changed() {
    let (project, _store, stash) = restored_after(|_| {});
    let lib = project.path("util/src/lib.rs");
    let text = std::fs::read_to_string(&lib).unwrap();
    std::fs::write(&lib, format!("{text}\npub fn two() -> u32 {{ 2 }}\n")).unwrap();
    assert_reasons(
        &project,
        &stash,
        &[],
        &[],
        "source-changed",
        &["dependency-changed"],
    );
}
