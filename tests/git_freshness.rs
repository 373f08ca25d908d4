//! Content-gated mtime restore of git metadata: a crate embedding `git describe --dirty`
//! through the git-version crate (whose proc macro lists `.git/index` and
//! `.git/logs/HEAD` as inputs) stays fresh after a fresh clone of the same commit, and
//! rebuilds with an honest version string whenever the git state differs.

use std::path::Path;
use std::process::Command;

use stash_tests::fixture::git;
use stash_tests::{
    Artifact, Project, Stash, build_json, clone_to, copy_built_fixture, reclone_in_place,
};

/// The first CI job in a fresh clone: `restore` (a miss, which settles the clone's
/// index), build, `save`. The fixture's prebuilt target dir is kept to save time.
fn saved_job(edit: impl FnOnce(&Project)) -> (Project, tempfile::TempDir, Stash) {
    let project = copy_built_fixture("gitversion", "checkout");
    let aside = project.root.with_file_name("target-aside");
    std::fs::rename(project.path("target"), &aside).unwrap();
    reclone_in_place(&project);
    std::fs::rename(&aside, project.path("target")).unwrap();
    let store = tempfile::tempdir().unwrap();
    let stash = Stash::local(store.path());
    edit(&project);
    assert_eq!(stash.json(&project.root, &["restore"])["hit"], "miss");
    build_json(&project.root, &[]);
    assert_eq!(stash.json(&project.root, &["save"])["outcome"], "saved");
    (project, store, stash)
}

fn stamp(dir: &Path) -> String {
    let out = Command::new(dir.join("target/debug/stamp"))
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Names of the units Cargo compiled instead of reusing, sorted.
fn rebuilt_names(units: &[Artifact]) -> Vec<String> {
    let mut names: Vec<String> = units
        .iter()
        .filter(|u| !u.fresh)
        .map(|u| u.target.name.clone())
        .collect();
    names.sort();
    names.dedup();
    names
}

fn git_out(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What a build from scratch of the same commit embeds.
fn cold_build_stamp(project: &Project) -> String {
    let cold = clone_to(project, "cold");
    let units = build_json(&cold.root, &[]);
    assert!(units.iter().all(|u| !u.fresh));
    stamp(&cold.root)
}

#[test]
fn a_fresh_clone_of_the_same_commit_keeps_git_version_crates_fresh() {
    let (project, _store, stash) = saved_job(|_| {});
    reclone_in_place(&project);
    let out = stash.json(&project.root, &["restore"]);
    assert_eq!(out["hit"], "exact", "{out}");
    let git_out_json = &out["mtime"]["git"];
    assert!(git_out_json["restored"].as_u64().unwrap() >= 3, "{out}");
    assert_eq!(git_out_json["touched"], 0, "{out}");
    assert!(git_out_json.get("reason").is_none(), "{out}");

    let units = build_json(&project.root, &[]);
    assert_eq!(rebuilt_names(&units), Vec::<String>::new());
    assert!(units.iter().any(|u| u.target.name == "stamp"));
    let head = git_out(&project.root, &["rev-parse", "--short", "HEAD"]);
    assert_eq!(stamp(&project.root), format!("stamp {}", head.trim()));
    assert_eq!(stamp(&project.root), cold_build_stamp(&project));

    // An index dated back is only ever "racily clean" to git: status stays right.
    assert_eq!(
        git_out(&project.root, &["status", "--porcelain", "-uno"]),
        ""
    );
    let readme = project.path("README.md");
    let text = std::fs::read_to_string(&readme).unwrap();
    std::fs::write(&readme, text.replace("outside", "OUTSIDE")).unwrap();
    assert_eq!(
        git_out(&project.root, &["status", "--porcelain", "-uno"]),
        " M README.md\n"
    );
}

#[test]
fn a_new_commit_with_the_same_files_rebuilds_the_git_version_crate() {
    let (project, _store, stash) = saved_job(|_| {});
    let before = stamp(&project.root);
    git(
        &project.root,
        &["commit", "-q", "--allow-empty", "-m", "release"],
    );
    reclone_in_place(&project);
    let out = stash.json(&project.root, &["restore"]);
    assert_eq!(out["mtime"]["touched"], 0, "the files are the same: {out}");
    let reason = out["mtime"]["git"]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("HEAD is at"), "{out}");
    assert_eq!(out["mtime"]["git"]["restored"], 0, "{out}");

    let units = build_json(&project.root, &[]);
    assert_eq!(rebuilt_names(&units), ["stamp"]);
    let head = git_out(&project.root, &["rev-parse", "--short", "HEAD"]);
    assert_eq!(stamp(&project.root), format!("stamp {}", head.trim()));
    assert_ne!(stamp(&project.root), before);
}

#[test]
fn a_dirty_work_tree_rebuilds_the_git_version_crate_with_an_honest_stamp() {
    let (project, _store, stash) = saved_job(|_| {});
    reclone_in_place(&project);
    // A tracked file outside every crate: only the git-dependent crate must notice.
    project.write("README.md", "edited in the job\n");
    let out = stash.json(&project.root, &["restore"]);
    let reason = out["mtime"]["git"]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("work tree differs"), "{out}");

    let units = build_json(&project.root, &[]);
    assert_eq!(rebuilt_names(&units), ["stamp"]);
    assert!(
        stamp(&project.root).ends_with("-modified"),
        "{}",
        stamp(&project.root)
    );
}

#[test]
fn a_snapshot_built_from_a_dirty_tree_is_not_trusted_by_a_clean_clone() {
    let (project, _store, stash) = saved_job(|p| p.write("README.md", "uncommitted\n"));
    assert!(stamp(&project.root).ends_with("-modified"));
    reclone_in_place(&project);
    let out = stash.json(&project.root, &["restore"]);
    assert_eq!(out["mtime"]["git"]["restored"], 0, "{out}");

    let units = build_json(&project.root, &[]);
    assert_eq!(rebuilt_names(&units), ["stamp"]);
    assert_eq!(stamp(&project.root), cold_build_stamp(&project));
    assert!(!stamp(&project.root).ends_with("-modified"));
}
