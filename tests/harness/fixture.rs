//! Fixture projects: `tests/fixtures/<name>` copied into a temp dir and committed to git,
//! so a test can `git clone` it like a CI job does.

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Project {
    /// Keeps the temp dir alive.
    _tmp: tempfile::TempDir,
    pub root: PathBuf,
}

impl Project {
    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    pub fn write(&self, rel: &str, text: &str) {
        std::fs::write(self.path(rel), text).unwrap();
    }

    pub fn commit(&self, msg: &str) {
        git(&self.root, &["add", "-A"]);
        git(&self.root, &["commit", "-qm", msg]);
    }
}

pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// Copies a fixture into `<tmp>/<dir_name>` and makes it a git repo with one commit.
pub fn copy_fixture(name: &str, dir_name: &str) -> Project {
    copy_project(&fixtures_dir().join(name), dir_name)
}

/// Copies the project at `from` (without its target dir) into `<tmp>/<dir_name>` and
/// makes it a git repo with one commit.
pub fn copy_project(from: &Path, dir_name: &str) -> Project {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join(dir_name);
    copy_dir(from, &root);
    git(&root, &["init", "-q", "-b", "main"]);
    git(&root, &["add", "-A"]);
    git(&root, &["commit", "-qm", "fixture"]);
    Project { _tmp: tmp, root }
}

/// Like [`copy_fixture`], with the target dir of a build already there: the fixture is
/// built once per test process (a real `cargo build`) and its target dir copied with
/// mtimes kept, so each test pays only for rebuilding workspace members.
pub fn copy_built_fixture(name: &str, dir_name: &str) -> Project {
    static BUILT: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    // Kept under the workspace's target dir so reruns find it built.
    let template = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../target/test-fixtures")
        .join(name);
    {
        let mut built = BUILT.lock().unwrap();
        if !built.iter().any(|n| n == name) {
            copy_dir(&fixtures_dir().join(name), &template);
            crate::build_json(&template, &[]);
            built.push(name.to_string());
        }
    }
    let project = copy_fixture(name, dir_name);
    let status = Command::new("cp")
        .arg("-a")
        .arg(template.join("target"))
        .arg(project.root.join("target"))
        .status()
        .unwrap();
    assert!(status.success());
    project
}

/// A fresh `git clone` of `src` at `<new tmp>/<dir_name>`: every file gets a new mtime.
pub fn clone_to(src: &Project, dir_name: &str) -> Project {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join(dir_name);
    let status = Command::new("git")
        .args(["clone", "-q"])
        .arg(&src.root)
        .arg(&root)
        .status()
        .unwrap();
    assert!(status.success());
    Project { _tmp: tmp, root }
}

/// Replaces the checkout with a fresh `git clone` of its own commits at the same path,
/// as a CI job on a runner with a stable build dir sees it. Uncommitted files and the
/// target dir are gone; every file has a new mtime.
pub fn reclone_in_place(project: &Project) {
    let origin = tempfile::tempdir().unwrap();
    let bare = origin.path().join("origin.git");
    let status = Command::new("git")
        .args(["clone", "-q", "--bare"])
        .arg(&project.root)
        .arg(&bare)
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::remove_dir_all(&project.root).unwrap();
    let status = Command::new("git")
        .args(["clone", "-q"])
        .arg(&bare)
        .arg(&project.root)
        .status()
        .unwrap();
    assert!(status.success());
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name == "target" {
            continue;
        }
        let dest = to.join(&name);
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), dest).unwrap();
        }
    }
}

pub fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
