//! Nothing the store returns is trusted: corrupt packs, escaping paths and unknown
//! formats are refused without writing outside the target dir or failing the build.

use std::path::Path;

use stash_tests::{Stash, build_json, clone_to, copy_built_fixture, copy_fixture, run_app};

fn packs_of(store: &Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(store.join("v2/packs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect()
}

fn manifest_path(store: &Path, stash: &Stash, dir: &Path) -> std::path::PathBuf {
    let key = stash.json(dir, &["key"])["target"]["key"]
        .as_str()
        .unwrap()
        .to_string();
    store.join("v2/manifests/target").join(key)
}

#[test]
fn a_corrupt_pack_is_skipped_and_the_build_is_still_correct() {
    let project = copy_built_fixture("workspace", "checkout");
    build_json(&project.root, &[]);
    let store = tempfile::tempdir().unwrap();
    let stash = Stash::local(store.path());
    // Only the target layer, so every pack in the store is one of its units.
    stash.json(&project.root, &["save", "--no-registry"]);

    // Flip bytes in the middle of the largest pack.
    let mut packs = packs_of(store.path());
    packs.sort_by_key(|p| std::fs::metadata(p).unwrap().len());
    let victim = packs.last().unwrap();
    let mut bytes = std::fs::read(victim).unwrap();
    let mid = bytes.len() / 2;
    for b in &mut bytes[mid..mid + 64] {
        *b ^= 0x5a;
    }
    std::fs::write(victim, bytes).unwrap();

    let clone = clone_to(&project, "checkout");
    let run = stash.run(&clone.root, &["restore", "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let out = run.json();
    assert_eq!(out["packs_failed"], 1, "{out}");
    assert!(run.stderr.contains("skipped pack"), "{}", run.stderr);
    assert!(
        !clone.path("target/.cargo-stash/staging").exists(),
        "staging left behind"
    );

    let units = build_json(&clone.root, &[]);
    assert!(
        units.iter().any(|u| !u.fresh),
        "the corrupt unit should rebuild"
    );
    assert!(
        units.iter().filter(|u| u.is_registry()).any(|u| u.fresh),
        "other units should restore"
    );
    assert_eq!(
        run_app(&clone.root),
        r#"hello from App util-v1 42 {"generated":42} bzip2=1.0.8"#
    );

    let strict = stash.run(&clone.root, &["restore", "--strict"]);
    assert_eq!(
        strict.code, 3,
        "--strict must fail on a corrupt pack: {}",
        strict.stderr
    );
}

#[test]
fn a_missing_pack_is_skipped_with_a_warning() {
    let project = copy_built_fixture("workspace", "checkout");
    build_json(&project.root, &[]);
    let store = tempfile::tempdir().unwrap();
    let stash = Stash::local(store.path());
    // Only the target layer, so every pack in the store is one of its units.
    stash.json(&project.root, &["save", "--no-registry"]);
    std::fs::remove_file(&packs_of(store.path())[0]).unwrap();
    let clone = clone_to(&project, "checkout");
    let out = stash.json(&clone.root, &["restore"]);
    assert_eq!(out["packs_failed"], 1, "{out}");
    build_json(&clone.root, &[]);
}

/// A tar+zstd pack holding `entries` (path, symlink target or file content).
fn evil_pack(store: &Path, entries: &[(&str, Option<&str>)]) -> String {
    let mut b = tar::Builder::new(Vec::new());
    for (path, link) in entries {
        let mut h = tar::Header::new_ustar();
        h.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes());
        h.set_mode(0o644);
        match link {
            Some(target) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_link_name_literal(target).unwrap();
                h.set_size(0);
                h.set_cksum();
                b.append(&h, std::io::empty()).unwrap();
            }
            None => {
                h.set_size(5);
                h.set_cksum();
                b.append(&h, &b"owned"[..]).unwrap();
            }
        }
    }
    let tar = b.into_inner().unwrap();
    let id = blake3::hash(&tar).to_hex().to_string();
    std::fs::create_dir_all(store.join("v2/packs")).unwrap();
    std::fs::write(
        store.join("v2/packs").join(&id),
        zstd::encode_all(&tar[..], 3).unwrap(),
    )
    .unwrap();
    id
}

fn manifest_json(key_path: &Path, packs: &[String], links: serde_json::Value) {
    let key = key_path.file_name().unwrap().to_str().unwrap();
    let packs: Vec<_> = packs
        .iter()
        .map(|id| serde_json::json!({"id": id, "root": "target", "group": "batch-0", "files": 1, "bytes": 5, "stored": 10}))
        .collect();
    let m = serde_json::json!({
        "schema": 2, "layer": "target", "key": key, "created": 1, "tool": "evil",
        "roots": {}, "packs": packs, "links": links
    });
    std::fs::create_dir_all(key_path.parent().unwrap()).unwrap();
    std::fs::write(key_path, serde_json::to_vec(&m).unwrap()).unwrap();
}

#[test]
fn crafted_packs_with_escaping_paths_write_nothing_outside() {
    let project = copy_fixture("workspace", "checkout");
    let store = tempfile::tempdir().unwrap();
    let stash = Stash::local(store.path());
    let outside = project.root.parent().unwrap();
    let ids = vec![
        evil_pack(store.path(), &[("../../escaped-dotdot", None)]),
        evil_pack(store.path(), &[("/tmp/escaped-absolute", None)]),
        evil_pack(
            store.path(),
            &[
                ("debug/out", Some("../../..")),
                ("debug/out/escaped-link", None),
            ],
        ),
        evil_pack(store.path(), &[("good/file", None)]),
    ];
    manifest_json(
        &manifest_path(store.path(), &stash, &project.root),
        &ids,
        serde_json::json!([]),
    );
    let out = stash.json(&project.root, &["restore"]);
    assert_eq!(out["packs_failed"], 3, "{out}");
    assert_eq!(out["packs"], 1);
    assert!(project.path("target/good/file").exists());
    for name in ["escaped-dotdot", "escaped-link"] {
        assert!(!outside.join(name).exists(), "{name} written outside");
        assert!(
            !outside.parent().unwrap().join(name).exists(),
            "{name} written outside"
        );
    }
    assert!(!Path::new("/tmp/escaped-absolute").exists());
    assert!(!project.path("target/debug/out").is_symlink());
}

#[test]
fn a_crafted_manifest_with_dotdot_links_is_refused() {
    let project = copy_fixture("workspace", "checkout");
    let store = tempfile::tempdir().unwrap();
    let stash = Stash::local(store.path());
    let id = evil_pack(store.path(), &[("debug/app", None)]);
    let links = serde_json::json!([{"root": "target", "path": "../../linked-outside", "target": "debug/app"}]);
    manifest_json(
        &manifest_path(store.path(), &stash, &project.root),
        &[id],
        links,
    );
    let run = stash.run(&project.root, &["restore"]);
    assert_eq!(
        run.code, 0,
        "a bad snapshot must not fail the build: {}",
        run.stderr
    );
    assert!(
        run.stderr.contains("unsafe") || run.stderr.contains("escape"),
        "{}",
        run.stderr
    );
    assert!(
        !project
            .root
            .parent()
            .unwrap()
            .join("linked-outside")
            .exists()
    );
    assert!(
        !project.path("target/debug/app").exists(),
        "a refused manifest restores nothing"
    );
    let strict = stash.run(&project.root, &["restore", "--strict"]);
    assert_eq!(strict.code, 3);
}

#[test]
fn an_unknown_manifest_schema_is_a_clear_error() {
    let project = copy_fixture("workspace", "checkout");
    let store = tempfile::tempdir().unwrap();
    let stash = Stash::local(store.path());
    let path = manifest_path(store.path(), &stash, &project.root);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, br#"{"schema": 99, "packs": "from the future"}"#).unwrap();
    let run = stash.run(&project.root, &["restore"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("schema 99") && run.stderr.contains("upgrade cargo-stash"),
        "{}",
        run.stderr
    );
    let strict = stash.run(&project.root, &["restore", "--strict"]);
    assert_eq!(strict.code, 3);
}

#[test]
fn a_bad_store_url_names_the_problem() {
    let project = copy_fixture("workspace", "checkout");
    let stash = Stash {
        store: "ftp://user:hunter2@example.invalid/cache".into(),
        env: vec![],
    };
    let run = stash.run(&project.root, &["restore"]);
    assert_eq!(run.code, 4, "{}", run.stderr);
    assert!(run.stderr.contains("store URL"), "{}", run.stderr);
    assert!(
        !run.stderr.contains("hunter2"),
        "credential printed: {}",
        run.stderr
    );
}
