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

/// One entry of a forged pack.
enum Forged<'a> {
    File(&'a str, &'a [u8], u32),
    Dir(&'a str),
    Symlink(&'a str, &'a str),
}

/// Writes a tar+zstd pack of `entries` into the store under its correct id (the BLAKE3
/// of the tar, docs/format.md), as a writer to the store could; returns the id and the
/// bytes of file content.
fn forge_pack(store: &Path, entries: &[Forged]) -> (String, u64) {
    let mut b = tar::Builder::new(Vec::new());
    let mut bytes = 0;
    for e in entries {
        let mut h = tar::Header::new_ustar();
        h.set_mtime(1_700_000_000);
        match e {
            Forged::File(path, data, mode) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(*mode);
                h.set_size(data.len() as u64);
                bytes += data.len() as u64;
                b.append_data(&mut h, path, *data).unwrap();
            }
            Forged::Dir(path) => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                h.set_size(0);
                b.append_data(&mut h, path, std::io::empty()).unwrap();
            }
            Forged::Symlink(path, target) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_mode(0o777);
                h.set_size(0);
                b.append_link(&mut h, path, target).unwrap();
            }
        }
    }
    let tar = b.into_inner().unwrap();
    let id = blake3::hash(&tar).to_hex().to_string();
    std::fs::create_dir_all(store.join("v2/packs")).unwrap();
    let zst = zstd::encode_all(&tar[..], 3).unwrap();
    std::fs::write(store.join("v2/packs").join(&id), zst).unwrap();
    (id, bytes)
}

/// Publishes a manifest of `layer` at `key` naming `packs` (id, bytes, root).
fn forge_manifest(
    store: &Path,
    layer: &str,
    key: &str,
    packs: &[(&(String, u64), &str)],
    links: serde_json::Value,
) {
    let packs: Vec<_> = packs
        .iter()
        .enumerate()
        .map(|(i, ((id, bytes), root))| {
            serde_json::json!({"id": id, "root": root, "group": format!("batch-{i}"),
                "files": 1, "bytes": bytes, "stored": 100})
        })
        .collect();
    let m = serde_json::json!({
        "schema": 2, "layer": layer, "key": key, "created": 1, "tool": "forged",
        "roots": {}, "packs": packs, "links": links
    });
    let path = store.join("v2/manifests").join(layer).join(key);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, serde_json::to_vec(&m).unwrap()).unwrap();
}

/// A checkout, a store, and a CARGO_HOME of its own holding a config and a `bin/`.
struct Scene {
    project: stash_tests::Project,
    store: tempfile::TempDir,
    home: tempfile::TempDir,
    stash: Stash,
}

impl Scene {
    fn new() -> Scene {
        let project = stash_tests::copy_fixture("workspace", "checkout");
        let store = tempfile::tempdir().unwrap();
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(home.path().join("bin")).unwrap();
        std::fs::write(home.path().join("config.toml"), "# mine\n").unwrap();
        let mut stash = Stash::local(store.path());
        stash.env.push((
            "CARGO_HOME".into(),
            home.path().to_string_lossy().into_owned(),
        ));
        Scene {
            project,
            store,
            home,
            stash,
        }
    }

    fn key(&self, layer: &str) -> String {
        self.stash.json(&self.project.root, &["key"])[layer]["key"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// `restore --json`, which must exit 0 whatever the store holds.
    fn restore(&self) -> serde_json::Value {
        let run = self.stash.run(&self.project.root, &["restore", "--json"]);
        assert_eq!(
            run.code, 0,
            "a bad snapshot must not fail the job: {}",
            run.stderr
        );
        run.json()
    }

    /// Every file under CARGO_HOME but the ones it started with.
    fn home_files(&self) -> Vec<String> {
        walkdir::WalkDir::new(self.home.path())
            .into_iter()
            .map(|e| e.unwrap())
            .filter(|e| !e.file_type().is_dir())
            .map(|e| {
                let rel = e.path().strip_prefix(self.home.path()).unwrap();
                rel.to_string_lossy().into_owned()
            })
            .filter(|p| p != "config.toml")
            .collect()
    }
}

#[test]
fn a_forged_registry_snapshot_writes_nothing_outside_the_downloads() {
    let scene = Scene::new();
    let store = scene.store.path();
    let key = scene.key("registry");
    let config = forge_pack(
        store,
        &[Forged::File(
            "config.toml",
            b"[alias]\nb = \"!evil\"\n",
            0o644,
        )],
    );
    let creds = forge_pack(
        store,
        &[Forged::File("credentials.toml", b"token = \"x\"\n", 0o600)],
    );
    let bin = forge_pack(
        store,
        &[Forged::File("bin/cargo-evil", b"#!/bin/sh\n", 0o755)],
    );
    let good = forge_pack(
        store,
        &[Forged::File(
            "registry/cache/x/good-1.0.0.crate",
            b"crate",
            0o644,
        )],
    );
    // A download that is a symlink to config: Cargo's next write of that `.crate` would
    // land in config.toml.
    let crate_link = forge_pack(
        store,
        &[Forged::Symlink(
            "registry/cache/x/evil-1.0.0.crate",
            "../../../config.toml",
        )],
    );
    let bin_link = serde_json::json!([{"root": "cargo-home", "path": "bin/cargo-linked",
        "target": "registry/cache/x/good-1.0.0.crate"}]);
    let cases = [
        // Root `target` or `build` in a registry snapshot used to write anywhere in
        // CARGO_HOME.
        (
            vec![(&config, "target"), (&good, "cargo-home")],
            serde_json::json!([]),
        ),
        (vec![(&creds, "build")], serde_json::json!([])),
        // Its links used to make hard links in bin/.
        (vec![(&good, "cargo-home")], bin_link),
        // Entries outside the downloads in a cargo-home pack (refused before, too).
        (vec![(&bin, "cargo-home")], serde_json::json!([])),
        // A symlink inside the downloads pointing elsewhere in CARGO_HOME.
        (vec![(&crate_link, "cargo-home")], serde_json::json!([])),
    ];
    for (i, (packs, links)) in cases.into_iter().enumerate() {
        forge_manifest(store, "registry", &key, &packs, links);
        let out = scene.restore();
        let files = scene.home_files();
        assert!(
            files.iter().all(|f| f.starts_with("registry/cache/")),
            "case {i} wrote outside the downloads: {files:?}\n{out}"
        );
        let links: Vec<_> = walkdir::WalkDir::new(scene.home.path())
            .into_iter()
            .map(|e| e.unwrap())
            .filter(|e| e.path_is_symlink())
            .map(|e| e.path().display().to_string())
            .collect();
        assert!(
            links.is_empty(),
            "case {i} made symlinks in CARGO_HOME: {links:?}"
        );
        assert_eq!(
            std::fs::read_to_string(scene.home.path().join("config.toml")).unwrap(),
            "# mine\n",
            "case {i}"
        );
        let warned = out["warnings"].to_string();
        assert!(
            warned.contains("outside") || warned.contains("skipped pack"),
            "case {i}: {out}"
        );
    }
}

/// `restore --json` of a target snapshot of `packs` (all in root `target`) into a
/// fresh target dir.
fn restore_forged_target(scene: &Scene, packs: &[&(String, u64)]) -> serde_json::Value {
    let key = scene.key("target");
    let packs: Vec<_> = packs.iter().map(|p| (*p, "target")).collect();
    forge_manifest(
        scene.store.path(),
        "target",
        &key,
        &packs,
        serde_json::json!([]),
    );
    let _ = std::fs::remove_dir_all(scene.project.path("target"));
    scene.restore()
}

/// Issue 14, items 10 and 12.
#[test]
fn forged_target_packs_never_reach_our_state_other_units_or_special_bits() {
    let scene = Scene::new();
    let store = scene.store.path();
    let unit = forge_pack(
        store,
        &[
            Forged::Dir("debug/"),
            Forged::Dir("debug/deps/"),
            Forged::File("debug/deps/libgood-1.rlib", b"rlib", 0o644),
            Forged::File("debug/setuid", b"#!/bin/sh\n", 0o7777),
        ],
    );
    let memo = forge_pack(
        store,
        &[Forged::File(
            ".cargo-stash/memo.json",
            b"{\"forged\": true}",
            0o644,
        )],
    );
    let deps_link = forge_pack(store, &[Forged::Symlink("debug/deps", "../elsewhere")]);
    for round in 0..6 {
        // The unit listed twice: one staging dir must not serve two restores at once.
        let out = restore_forged_target(&scene, &[&unit, &memo, &deps_link, &unit]);
        let target = scene.project.path("target");
        let memo_text =
            std::fs::read_to_string(target.join(".cargo-stash/memo.json")).unwrap_or_default();
        assert!(
            !memo_text.contains("forged"),
            "round {round}: memo forged\n{out}"
        );
        let deps = std::fs::symlink_metadata(target.join("debug/deps")).unwrap();
        let failed = out["packs_failed"].as_u64().unwrap();
        if !deps.is_dir() {
            // The link pack committed first, where nothing was yet: allowed, since the
            // link stays inside the root. The unit then cannot make its directory and
            // counts as failed, never as restored; no directory was ever replaced.
            assert!(deps.file_type().is_symlink(), "round {round}\n{out}");
            // `debug/../elsewhere`: inside the target dir.
            let link = std::fs::read_link(target.join("debug/deps")).unwrap();
            assert_eq!(link, Path::new("../elsewhere"), "round {round}");
            assert!(
                failed >= 2,
                "round {round}: the unit counted restored\n{out}"
            );
            continue;
        }
        assert_eq!(
            std::fs::read(target.join("debug/deps/libgood-1.rlib")).unwrap(),
            b"rlib",
            "round {round}: another unit's file is gone while counted restored\n{out}"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(target.join("debug/setuid"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o7777, 0o775, "round {round}: mode {mode:o}");
        }
        assert!(failed >= 1, "{out}");
    }
}

/// A tar of one `size`-byte file of zeros, streamed into zstd: its id and its object
/// are computed without holding the content.
fn forge_zeros_pack(store: &Path, path: &str, size: u64) -> String {
    struct Hashing<W: std::io::Write>(W, blake3::Hasher);
    impl<W: std::io::Write> std::io::Write for Hashing<W> {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let n = self.0.write(buf)?;
            self.1.update(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            self.0.flush()
        }
    }
    let tmp = store.join("forging.zst");
    let file = std::fs::File::create(&tmp).unwrap();
    let zst = zstd::Encoder::new(file, 1).unwrap();
    let mut b = tar::Builder::new(Hashing(zst, blake3::Hasher::new()));
    let mut h = tar::Header::new_ustar();
    h.set_mode(0o644);
    h.set_size(size);
    b.append_data(&mut h, path, std::io::Read::take(std::io::repeat(0), size))
        .unwrap();
    let Hashing(zst, hasher) = b.into_inner().unwrap();
    zst.finish().unwrap();
    let id = hasher.finalize().to_hex().to_string();
    std::fs::create_dir_all(store.join("v2/packs")).unwrap();
    std::fs::rename(&tmp, store.join("v2/packs").join(&id)).unwrap();
    id
}

/// Issue 14, item 11: a pack of a few hundred KiB that claims one byte and expands to
/// far more is stopped before it is written (256 MiB here; the cap is about 1 MiB).
#[test]
fn a_forged_pack_expanding_beyond_its_declared_size_is_stopped_early() {
    let scene = Scene::new();
    let store = scene.store.path();
    let id = forge_zeros_pack(store, "debug/huge", 256 << 20);
    let object = std::fs::metadata(store.join("v2/packs").join(&id))
        .unwrap()
        .len();
    assert!(object < 1 << 20, "the forged pack is small: {object}");
    let out = restore_forged_target(&scene, &[&(id, 1)]);
    assert_eq!(out["packs_failed"], 1, "{out}");
    assert!(out["warnings"].to_string().contains("declares"), "{out}");
    assert!(!scene.project.path("target/debug/huge").exists());
    assert!(out["bytes_written"].as_u64().unwrap() < 2 << 20, "{out}");
}

/// Every symlink under `root` resolves, lexically from its real parent, inside `root`.
fn symlinks_escaping(root: &Path) -> Vec<String> {
    let root = root.canonicalize().unwrap();
    let mut out = Vec::new();
    for e in walkdir::WalkDir::new(&root)
        .into_iter()
        .filter_map(Result::ok)
    {
        if !e.file_type().is_symlink() {
            continue;
        }
        let parent = e.path().parent().unwrap().canonicalize().unwrap();
        let mut at = parent.clone();
        for c in std::fs::read_link(e.path()).unwrap().components() {
            match c {
                std::path::Component::ParentDir => {
                    at.pop();
                }
                std::path::Component::Normal(n) => at.push(n),
                _ => at = std::path::PathBuf::from("/"),
            }
        }
        if !at.starts_with(&root) {
            out.push(format!("{} -> {}", e.path().display(), at.display()));
        }
    }
    out
}

/// Issue 14, item 9: one pack makes `t/x/q -> ../../esc` (inside the root as long as
/// `t/x` is a real directory), another turns `t/x` into `t/x -> ..`. Committed at the
/// same moment, the first link used to land in the root itself and point two levels
/// above it.
#[test]
fn packs_committing_at_once_never_make_a_link_out_of_the_root() {
    let scene = Scene::new();
    let store = scene.store.path();
    // Many of each, so that commits overlap; distinct names give distinct ids.
    let mut packs = Vec::new();
    for i in 0..16 {
        let link = format!("t/x/q{i}");
        let mark = format!("t/m{i}");
        packs.push(forge_pack(
            store,
            &[
                Forged::Dir("t/"),
                Forged::Dir("t/x/"),
                Forged::Symlink(&link, "../../esc"),
            ],
        ));
        packs.push(forge_pack(
            store,
            &[
                Forged::Dir("t/"),
                Forged::File(&mark, b"m", 0o644),
                Forged::Symlink("t/x", ".."),
            ],
        ));
    }
    for round in 0..12 {
        let refs: Vec<_> = packs.iter().collect();
        let out = restore_forged_target(&scene, &refs);
        let escaping = symlinks_escaping(&scene.project.path("target"));
        assert!(escaping.is_empty(), "round {round}: {escaping:?}\n{out}");
    }
}
