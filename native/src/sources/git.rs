//! The git side: the repository state and the git metadata files build scripts watch
//! (`HEAD`, `index`, reflogs, refs), read without taking git's locks, and their saved
//! mtimes given back when `stash_core::sources::git_plan` says so.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};
use filetime::FileTime;
use sha2::{Digest, Sha256};
use stash_core::output::GitMtimeOutput;
use stash_core::sources::{
    self, GitFile, GitMeta, GitPlan, GitState, MtimeAction, MtimePlan, SourceKind, SourceManifest,
};

use crate::pack::hex;

/// Git metadata files that crates list as build inputs, by their `--git-path` name:
/// git-version's `git_version!` includes `index` and `logs/HEAD`; vergen and shadow-rs
/// users watch `HEAD`, the branch's ref file and `refs/heads`; hand-written build scripts
/// `packed-refs` and `refs`. The branch's reflog and every entry under `refs/` are added
/// by [`git_meta`].
const GIT_FILES: [&str; 4] = ["HEAD", "index", "logs/HEAD", "packed-refs"];

/// Runs git in `root` without taking optional locks, so reading the state never rewrites
/// `.git/index` (whose mtime is what we record). `None` when git fails or is missing.
fn git(root: &Path, args: &[&str]) -> Option<Vec<u8>> {
    let out = Command::new("git")
        .args(args)
        .current_dir(root)
        .env("GIT_OPTIONAL_LOCKS", "0")
        .output()
        .ok()?;
    out.status.success().then_some(out.stdout)
}

fn git_line(root: &Path, args: &[&str]) -> Option<String> {
    git(root, args).map(|o| String::from_utf8_lossy(&o).trim().to_string())
}

fn sha(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Where each of `names` lives: `git rev-parse --git-path` sends `HEAD`, `index` and
/// `logs/HEAD` to a worktree's own git dir and refs to the common dir.
fn git_paths(root: &Path, names: &[String]) -> Option<Vec<PathBuf>> {
    let mut args = vec!["rev-parse"];
    for n in names {
        args.extend(["--git-path", n.as_str()]);
    }
    let out = git(root, &args)?;
    let paths: Vec<PathBuf> = String::from_utf8_lossy(&out)
        .lines()
        .map(|l| root.join(l))
        .collect();
    (paths.len() == names.len()).then_some(paths)
}

/// The repository state and the watched git files of the checkout at `root`; `None`
/// without git. Build output dirs (`skip`) do not count as untracked files.
pub fn git_meta(root: &Path, skip: &[PathBuf]) -> Option<GitMeta> {
    git(root, &["rev-parse", "--is-inside-work-tree"])?;
    let head = git_line(root, &["rev-parse", "--verify", "-q", "HEAD"]).unwrap_or_default();
    let branch = git_line(root, &["symbolic-ref", "-q", "HEAD"]).filter(|b| !b.is_empty());
    let tags = git(
        root,
        &[
            "for-each-ref",
            "--format=%(refname) %(objectname)",
            "refs/tags",
        ],
    )?;
    let skipped: Vec<String> = skip
        .iter()
        .filter_map(|d| d.strip_prefix(root).ok())
        .filter_map(crate::listing::rel_string)
        .map(|r| format!("{r}/"))
        .collect();
    let untracked = git(
        root,
        &[
            "ls-files",
            "-z",
            "--others",
            "--exclude-standard",
            "--directory",
        ],
    )?;
    let mut untracked: Vec<&[u8]> = untracked
        .split(|b| *b == 0)
        .filter(|p| !p.is_empty())
        .filter(|p| !skipped.iter().any(|s| s.as_bytes() == *p))
        // An uncommitted lockfile: Cargo writes it before any build script runs, so it
        // is there during every build even when a fresh clone lacks it at restore.
        .filter(|p| *p != b"Cargo.lock" && !p.ends_with(b"/Cargo.lock"))
        .collect();
    untracked.sort_unstable();

    let mut names: Vec<String> = GIT_FILES.iter().map(|s| s.to_string()).collect();
    names.push("shallow".into());
    names.push("refs".into());
    if let Some(b) = &branch {
        names.push(format!("logs/{b}"));
    }
    let paths = git_paths(root, &names)?;
    let shallow = match std::fs::read_to_string(&paths[GIT_FILES.len()]) {
        Ok(text) => sha(sources::packed_refs_lines(&text).as_bytes()),
        Err(_) => String::new(),
    };
    let mut files = Vec::new();
    for (name, path) in names.iter().zip(&paths) {
        match name.as_str() {
            "shallow" => {}
            "refs" => refs_tree(path, &mut files),
            _ => files.extend(git_file(root, name, path)),
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Some(GitMeta {
        state: GitState {
            head,
            branch,
            tags: sha(&tags),
            shallow,
            untracked: sha(&untracked.join(&0u8)),
        },
        files,
    })
}

/// One watched file with its semantic digest; `None` when it does not exist.
fn git_file(root: &Path, name: &str, path: &Path) -> Option<GitFile> {
    let meta = std::fs::metadata(path).ok().filter(|m| m.is_file())?;
    let digest = if name == "index" {
        // The staged entries, not the stat cache a fresh clone rewrites.
        sha(&git(root, &["ls-files", "-s", "-v", "-z"])?)
    } else {
        let bytes = std::fs::read(path).ok()?;
        let text = String::from_utf8_lossy(&bytes);
        if name.starts_with("logs/") {
            sources::reflog_head(&text).to_string()
        } else if name == "packed-refs" {
            sha(sources::packed_refs_lines(&text).as_bytes())
        } else {
            sha(&bytes)
        }
    };
    Some(mtime_of(name.to_string(), SourceKind::File, digest, &meta))
}

/// `refs/` and everything under it: Cargo takes the newest mtime of a watched directory's
/// whole tree (directories included), so each entry is recorded. Loose refs hold a commit
/// id or a symbolic ref, the same bytes in every clone of the same state.
fn refs_tree(refs: &Path, files: &mut Vec<GitFile>) {
    for e in walkdir::WalkDir::new(refs).sort_by_file_name().into_iter() {
        let Ok(e) = e else { continue };
        let Some(rel) = e
            .path()
            .strip_prefix(refs)
            .ok()
            .and_then(crate::listing::rel_string)
        else {
            continue;
        };
        let name = if rel.is_empty() {
            "refs".to_string()
        } else {
            format!("refs/{rel}")
        };
        let Ok(meta) = e.metadata() else { continue };
        let (kind, digest) = if meta.is_dir() {
            let mut children: Vec<String> = std::fs::read_dir(e.path())
                .into_iter()
                .flatten()
                .flatten()
                .map(|c| c.file_name().to_string_lossy().into_owned())
                .collect();
            children.sort();
            (SourceKind::Dir, sha(children.join("\n").as_bytes()))
        } else if meta.is_file() {
            let Ok(bytes) = std::fs::read(e.path()) else {
                continue;
            };
            (SourceKind::File, sha(&bytes))
        } else {
            continue;
        };
        files.push(mtime_of(name, kind, digest, &meta));
    }
}

fn mtime_of(path: String, kind: SourceKind, digest: String, meta: &std::fs::Metadata) -> GitFile {
    let t = FileTime::from_last_modification_time(meta);
    GitFile {
        path,
        kind,
        digest,
        mtime_s: t.unix_seconds(),
        mtime_ns: t.nanoseconds(),
    }
}

/// Content-gated mtime restore of the git metadata, after the tracked files' plan was
/// applied; `None` when the snapshot recorded no git metadata. Never fails the restore:
/// a problem is reported as the reason.
pub fn restore_git(
    root: &Path,
    saved: &SourceManifest,
    current: &SourceManifest,
    sources: &MtimePlan,
    back: Option<i128>,
) -> Option<GitMtimeOutput> {
    if saved.git.is_none() {
        // An older snapshot: leave git files alone, but keep this job's build from
        // rewriting the index, so the snapshot it saves works.
        settle_git_index(root);
        return None;
    }
    let plan = sources::git_plan(
        saved.git.as_ref(),
        current.git.as_ref(),
        sources,
        saved.entries.len(),
    );
    let mut out = GitMtimeOutput {
        restored: plan.restored,
        touched: plan.touched,
        reason: plan.reason.clone(),
    };
    if let Err(e) = apply_git(root, &plan, back) {
        out.reason = Some(format!("git metadata mtimes not restored: {e:#}"));
    }
    Some(out)
}

/// `back`: how far restored times move with the artifacts (a saving clock ahead).
fn apply_git(root: &Path, plan: &GitPlan, back: Option<i128>) -> Result<()> {
    if plan.actions.is_empty() {
        return Ok(());
    }
    // The tracked files just got new mtimes: settle the index first, then date it back.
    let settled = settle_git_index(root);
    let names: Vec<String> = plan.actions.iter().map(|(p, _)| p.clone()).collect();
    let paths = git_paths(root, &names).context("resolving git paths")?;
    let now = FileTime::now();
    for ((name, action), path) in plan.actions.iter().zip(&paths) {
        let action = back.map_or(*action, |b| action.shifted(b));
        let t = match action {
            MtimeAction::Restore { mtime_s, mtime_ns } => {
                FileTime::from_unix_time(mtime_s, mtime_ns)
            }
            // Rewritten just now, after the tracked files: newer than any artifact and
            // not racy. Stamping it "now" by hand could put it in their second.
            MtimeAction::Touch if name == "index" && settled => continue,
            MtimeAction::Touch => now,
        };
        match filetime::set_file_times(path, now, t) {
            // Gone since the scan (a ref packed meanwhile): nothing left to date.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            r => r.with_context(|| format!("setting mtime of {}", path.display()))?,
        }
    }
    Ok(())
}

/// Makes `.git/index` match the work tree's stat data and not "racily clean", so that no
/// git command during the build (git-version runs `git describe --dirty`) rewrites it:
/// a rewrite after a crate's rustc started makes that crate stale in every later job
/// restoring this one's snapshot. Called at every restore that may touch the checkout,
/// also on a miss; returns whether the index was written.
///
/// Git trusts an entry's stat data only when the file's mtime is older than the index
/// (in whole seconds, as git is usually built), and a fresh clone or our own mtime
/// stamps write both in the same second: wait for the next second, then refresh and
/// write. Git still re-hashes any entry whose stat data differs, so this only saves
/// work; it never hides a change.
pub fn settle_git_index(root: &Path) -> bool {
    let Some(newest) = newest_tracked_second(root) else {
        return false;
    };
    let index = git_paths(root, &["index".to_string()]).and_then(|p| p.into_iter().next());
    let start = std::time::Instant::now();
    let give_up = std::time::Duration::from_millis(1500);
    loop {
        while FileTime::now().unix_seconds() <= newest && start.elapsed() < give_up {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let written = refresh_index(root);
        // File times come from the kernel's coarse clock, which can still read the old
        // second just after the system clock has passed it; check the index itself.
        let index_second = index
            .as_ref()
            .and_then(|p| std::fs::metadata(p).ok())
            .map(|m| FileTime::from_last_modification_time(&m).unix_seconds());
        if !written || index_second.is_none_or(|s| s > newest) || start.elapsed() >= give_up {
            return written;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// `git update-index --refresh`, writing the index even when no entry changed.
fn refresh_index(root: &Path) -> bool {
    let refresh = |extra: &[&str]| {
        Command::new("git")
            .args(["update-index", "-q", "--refresh"])
            .args(extra)
            .current_dir(root)
            .output()
            .is_ok_and(|o| o.status.success())
    };
    // `--force-write-index` (git 2.17) also writes an index whose entries were already
    // fresh but racy.
    refresh(&["--force-write-index"]) || refresh(&[])
}

/// The newest mtime, in seconds, of the tracked files; `None` without git (a repo
/// without tracked files has nothing to settle either).
fn newest_tracked_second(root: &Path) -> Option<i64> {
    let out = git(root, &["ls-files", "-z", "--cached"])?;
    out.split(|b| *b == 0)
        .filter(|p| !p.is_empty())
        .filter_map(|p| std::str::from_utf8(p).ok())
        .map(|p| root.join(p))
        .filter_map(|p| std::fs::symlink_metadata(p).ok())
        .map(|m| FileTime::from_last_modification_time(&m).unix_seconds())
        .max()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(dir: &Path, args: &[&str]) {
        let out = Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@t"])
            .args(["-c", "commit.gpgsign=false"])
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {out:?}");
    }

    /// A repo with one commit and a tag, and two fresh clones of it.
    fn clones() -> (tempfile::TempDir, PathBuf, PathBuf, PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        let origin = tmp.path().join("origin");
        std::fs::create_dir(&origin).unwrap();
        std::fs::write(origin.join("a.txt"), "a\n").unwrap();
        run(&origin, &["init", "-q", "-b", "main"]);
        run(&origin, &["add", "-A"]);
        run(&origin, &["commit", "-qm", "one"]);
        run(&origin, &["tag", "v1"]);
        let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
        for c in [&a, &b] {
            run(
                tmp.path(),
                &["clone", "-q", origin.to_str().unwrap(), c.to_str().unwrap()],
            );
        }
        (tmp, origin, a, b)
    }

    fn meaning(m: &GitMeta) -> Vec<(String, String)> {
        m.files
            .iter()
            .map(|f| (f.path.clone(), f.digest.clone()))
            .collect()
    }

    #[test]
    fn two_clones_of_the_same_state_mean_the_same_even_when_their_bytes_differ() {
        let (_tmp, _origin, a, b) = clones();
        let (ma, mb) = (git_meta(&a, &[]).unwrap(), git_meta(&b, &[]).unwrap());
        assert_eq!(ma.state, mb.state);
        assert_eq!(meaning(&ma), meaning(&mb));
        let names: Vec<String> = ma.files.iter().map(|f| f.path.clone()).collect();
        for n in [
            "HEAD",
            "index",
            "logs/HEAD",
            "refs/heads/main",
            "packed-refs",
        ] {
            assert!(names.iter().any(|p| p == n), "{n} missing: {names:?}");
        }
        assert_eq!(ma.state.branch.as_deref(), Some("refs/heads/main"));
        assert_ne!(
            std::fs::read(a.join(".git/index")).unwrap(),
            std::fs::read(b.join(".git/index")).unwrap(),
            "the indexes' stat caches name their own files"
        );
    }

    #[test]
    fn staging_untracked_files_tags_and_detaching_change_the_meaning() {
        let (_tmp, origin, a, b) = clones();
        let base = git_meta(&a, &[]).unwrap();
        let digest = |m: &GitMeta, p: &str| {
            m.files
                .iter()
                .find(|f| f.path == p)
                .map(|f| f.digest.clone())
        };

        std::fs::write(a.join("a.txt"), "changed\n").unwrap();
        run(&a, &["add", "a.txt"]);
        let staged = git_meta(&a, &[]).unwrap();
        assert_ne!(digest(&staged, "index"), digest(&base, "index"));
        assert_eq!(staged.state, base.state);

        std::fs::write(b.join("scratch.txt"), "x").unwrap();
        std::fs::create_dir(b.join("target")).unwrap();
        std::fs::write(b.join("target/out"), "x").unwrap();
        let skip = [b.join("target")];
        let untracked = git_meta(&b, &skip).unwrap();
        assert_ne!(untracked.state.untracked, base.state.untracked);
        std::fs::remove_file(b.join("scratch.txt")).unwrap();
        assert_eq!(
            git_meta(&b, &skip).unwrap().state,
            base.state,
            "target/ skipped"
        );

        run(&b, &["tag", "v2"]);
        assert_ne!(git_meta(&b, &skip).unwrap().state.tags, base.state.tags);

        run(&b, &["checkout", "-q", "--detach"]);
        let detached = git_meta(&b, &skip).unwrap();
        assert_eq!(detached.state.branch, None);
        assert_eq!(detached.state.head, base.state.head);

        assert!(git_meta(&origin.join("..").join("nowhere"), &[]).is_none());
    }
}
