//! One backend-agnostic suite, run against every store: a temp folder (file://),
//! SeaweedFS (s3://), Azurite (az://), and GCS when `CARGO_STASH_TEST_GCS` is set.
//!
//! Needs `scripts/servers.sh start` first for S3 and Azure (they fail with that hint
//! otherwise; `CARGO_STASH_SKIP_SERVERS=1` skips them). The binary is
//! `<workspace>/target/debug/cargo-stash`, built on first use, or `CARGO_STASH_BIN`.

#[path = "harness/servers.rs"]
mod servers;

use std::collections::BTreeSet;
use std::path::Path;
use std::thread;

use servers::{Backend, Cut, Proxy, unique};
use stash_tests::{Project, Run, Stash, build_json, clone_to, copy_built_fixture};

/// Runs a command and checks no secret of the backend appears in its output.
fn run(b: &Backend, stash: &Stash, dir: &Path, args: &[&str]) -> Run {
    let r = stash.run(dir, args);
    for s in b.secrets() {
        assert!(
            !r.stdout.contains(&s) && !r.stderr.contains(&s),
            "{}: a credential was printed by {args:?}:\n{}\n{}",
            b.name,
            r.stdout,
            r.stderr
        );
    }
    r
}

fn json(b: &Backend, stash: &Stash, dir: &Path, args: &[&str]) -> serde_json::Value {
    let mut all = args.to_vec();
    all.push("--json");
    let r = run(b, stash, dir, &all);
    assert_eq!(
        r.code, 0,
        "{}: cargo-stash {args:?} failed:\n{}",
        b.name, r.stderr
    );
    r.json()
}

/// The whole suite for one backend.
fn suite(b: &Backend) {
    eprintln!("store suite: {} at {}", b.name, b.stash.store);
    let project = copy_built_fixture("workspace", "checkout");
    build_json(&project.root, &[]);
    round_trip(b, &project);
    concurrent_saves(b, &project);
    gc_racing_a_save(b, &project);
    patched_round_trip(b, &project);
    sibling_round_trip(b);
    request_counts(b, &project);
    if b.addr.is_some() {
        server_stops_mid_restore(b, &project);
        server_stops_mid_save(b, &project);
    }
}

/// save → clone elsewhere → restore → every registry unit fresh.
fn round_trip(b: &Backend, project: &Project) {
    let saved = json(b, &b.stash, &project.root, &["save", "--suffix", "rt"]);
    assert_eq!(saved["outcome"], "saved", "{}: {saved}", b.name);
    assert!(saved["packs_uploaded"].as_u64().unwrap() > 0);

    let clone = clone_to(project, "elsewhere");
    let restored = json(b, &b.stash, &clone.root, &["restore", "--suffix", "rt"]);
    assert_eq!(restored["hit"], "exact", "{}: {restored}", b.name);
    assert_eq!(restored["packs_failed"], 0, "{}: {restored}", b.name);
    let units = build_json(&clone.root, &[]);
    let registry: Vec<_> = units.iter().filter(|u| u.is_registry()).collect();
    assert!(registry.len() >= 8, "{}: too few registry units", b.name);
    let stale: Vec<_> = registry
        .iter()
        .filter(|u| !u.fresh)
        .map(|u| u.label())
        .collect();
    assert!(
        stale.is_empty(),
        "{}: registry units rebuilt: {stale:?}",
        b.name
    );

    let ls = json(b, &b.stash, &project.root, &["ls"]);
    assert_eq!(target_snapshots(&ls).len(), 1, "{}: {ls}", b.name);
}

/// restore → edit a member → build → save: the relinked binary goes up as a patch, and
/// a restore elsewhere (fetching its base) rebuilds it byte for byte.
fn patched_round_trip(b: &Backend, project: &Project) {
    let key = |suffix: &str| ["--prefix", "patch", "--suffix", suffix].map(String::from);
    let args = |cmd: &str, suffix: &str| {
        let mut a = vec![cmd.to_string()];
        a.extend(key(suffix));
        a
    };
    let call = |dir: &Path, a: Vec<String>| {
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        json(b, &b.stash, dir, &a)
    };
    call(&project.root, args("save", "one"));
    // Into a bucket, a restore keeps the members' packs for the next save's patches.
    let bucket = !b.stash.store.starts_with("file://");
    let kept = |p: &Project| -> usize {
        std::fs::read_dir(p.path("target/.cargo-stash/bases")).map_or(0, |d| d.count())
    };
    let edit_and_save = |name: &str, spoil: bool, suffix: &str| {
        let edited = clone_to(project, name);
        let restored = call(&edited.root, args("restore", "one"));
        assert_eq!(restored["hit"], "exact", "{}: {restored}", b.name);
        assert_eq!(kept(&edited) > 0, bucket, "{}: kept packs", b.name);
        if spoil {
            // A kept pack is never trusted: one that is not what it claims is passed over.
            for f in std::fs::read_dir(edited.path("target/.cargo-stash/bases")).unwrap() {
                std::fs::write(f.unwrap().path(), b"not a pack").unwrap();
            }
        }
        let lib = std::fs::read_to_string(edited.path("util/src/lib.rs")).unwrap();
        edited.write("util/src/lib.rs", &lib.replace("util-v1", "util-v3"));
        build_json(&edited.root, &[]);
        let saved = call(&edited.root, args("save", suffix));
        assert!(
            saved["packs_patched"].as_u64().unwrap() >= 1,
            "{}: {saved}",
            b.name
        );
        assert_eq!(
            kept(&edited),
            0,
            "{}: a save removes the kept packs",
            b.name
        );
        (edited, saved)
    };
    let (edited, saved) = edit_and_save("patched", false, "two");

    let back = clone_to(project, "patched-back");
    let restored = call(&back.root, args("restore", "two"));
    assert_eq!(restored["packs_failed"], 0, "{}: {restored}", b.name);
    let app = |p: &Project| std::fs::read(p.path("target/debug/app")).unwrap();
    assert!(
        app(&back) == app(&edited),
        "{}: the restored binary differs",
        b.name
    );
    if bucket {
        // Spoiled kept packs: the save downloads the bases instead, to the same patches.
        let (spoiled, again) = edit_and_save("patched-spoiled", true, "three");
        let gets = |doc: &serde_json::Value| doc["requests"]["get"].as_u64().unwrap();
        assert!(
            gets(&again) > gets(&saved),
            "{}: {again} vs {saved}",
            b.name
        );
        assert_eq!(again["packs_patched"], saved["packs_patched"], "{}", b.name);
        let back = clone_to(project, "patched-spoiled-back");
        let restored = call(&back.root, args("restore", "three"));
        assert_eq!(restored["packs_failed"], 0, "{}: {restored}", b.name);
        assert!(
            app(&back) == app(&spoiled),
            "{}: the restored binary differs",
            b.name
        );
    }
}

/// One package built twice in one job (here: with and without a feature, as `cargo
/// build` and `cargo test` often do) gives two units of mostly the same bytes. A first
/// save into a bucket, with no restore behind it, stores one as a patch against the
/// other; a restore downloads every object once (the base serves both) and rebuilds
/// both byte for byte, and neither build compiles anything.
fn sibling_round_trip(b: &Backend) {
    let project = copy_built_fixture("workspace", "siblings");
    let manifest = std::fs::read_to_string(project.path("app/Cargo.toml")).unwrap();
    project.write(
        "app/Cargo.toml",
        &format!("{manifest}\n[features]\nextra = []\n"),
    );
    project.commit("a feature of app");
    let extra = ["--features", "app/extra"];
    build_json(&project.root, &[]);
    build_json(&project.root, &extra);
    let args = |cmd| [cmd, "--prefix", "sib", "--no-registry"];
    let saved = json(b, &b.stash, &project.root, &args("save"));
    assert_eq!(saved["outcome"], "saved", "{}: {saved}", b.name);
    // Only into a bucket: on a local disk the CPU costs more than the bytes save.
    let patched = saved["packs_patched"].as_u64().unwrap();
    if !b.stash.store.starts_with("file://") {
        assert!(patched >= 1, "{}: no sibling patch: {saved}", b.name);
    } else {
        assert_eq!(patched, 0, "{}: a sibling patch on disk: {saved}", b.name);
    }

    let clone = clone_to(&project, "siblings-back");
    let restored = json(b, &b.stash, &clone.root, &args("restore"));
    assert_eq!(restored["packs_failed"], 0, "{}: {restored}", b.name);
    let stored =
        saved["bytes_uploaded"].as_u64().unwrap() + saved["bytes_skipped"].as_u64().unwrap();
    assert_eq!(
        restored["bytes_downloaded"].as_u64().unwrap(),
        stored,
        "{}: not every object downloaded exactly once: {restored}",
        b.name
    );
    assert_whole(&project.path("target"), &clone.path("target"));
    for features in [&[][..], &extra[..]] {
        let units = build_json(&clone.root, features);
        let stale = stash_tests::rebuilt(&units);
        assert!(stale.is_empty(), "{}: rebuilt {stale:?}", b.name);
    }
}

/// `requests` (issue 17) counts what each command asks of the store, and a save of
/// what this job restored unchanged, under a new key, asks at most 3 more than the
/// restore's lookup: no HEAD per pack (the restore's downloads vouch for them), no LIST.
fn request_counts(b: &Backend, project: &Project) {
    let count = |doc: &serde_json::Value, kind: &str| doc["requests"][kind].as_u64().unwrap();
    let total = |doc: &serde_json::Value| {
        ["get", "head", "put", "list", "delete"]
            .iter()
            .map(|k| count(doc, k))
            .sum::<u64>()
    };
    let args =
        |cmd: &'static str, suffix: &'static str| [cmd, "--prefix", "req", "--suffix", suffix];
    let first = json(b, &b.stash, &project.root, &args("save", "one"));
    let uploaded = first["packs_uploaded"].as_u64().unwrap()
        + first["registry"]["packs_uploaded"].as_u64().unwrap();
    // A PUT per pack uploaded (earlier steps stored most of them) and per manifest.
    assert!(count(&first, "put") >= uploaded + 2, "{}: {first}", b.name);
    assert!(
        first["registry"].get("requests").is_none(),
        "{}: {first}",
        b.name
    );

    let clone = clone_to(project, "requests");
    let restored = json(b, &b.stash, &clone.root, &args("restore", "one"));
    assert_eq!(restored["hit"], "exact", "{}: {restored}", b.name);
    let packs =
        restored["packs"].as_u64().unwrap() + restored["registry"]["packs"].as_u64().unwrap();
    assert!(
        count(&restored, "get") >= packs + 2,
        "{}: {restored}",
        b.name
    );
    let lookup = total(&restored) - packs;

    build_json(&clone.root, &[]);
    let again = json(b, &b.stash, &clone.root, &args("save", "two"));
    assert_eq!(again["outcome"], "saved", "{}: {again}", b.name);
    assert_eq!(again["bytes_uploaded"], 0, "{}: {again}", b.name);
    assert_eq!(count(&again, "head"), 0, "{}: {again}", b.name);
    assert_eq!(count(&again, "list"), 0, "{}: {again}", b.name);
    assert!(
        total(&again) <= lookup + 3,
        "{}: a no-change save made {} requests, a lookup {lookup}: {again}",
        b.name,
        total(&again)
    );

    let gc = json(b, &b.stash, &clone.root, &["gc", "--dry-run"]);
    assert!(count(&gc, "list") >= 1, "{}: {gc}", b.name);
    assert_eq!(count(&gc, "delete"), 0, "{}: {gc}", b.name);
}

/// Snapshots of the target layer in `ls --json` output (saves also write a registry layer).
fn target_snapshots(ls: &serde_json::Value) -> Vec<&serde_json::Value> {
    ls["snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["layer"] == "target")
        .collect()
}

/// 8 saves at once: 4 of one key (same inputs), 4 of other keys (--prefix). One snapshot
/// per key, the key's losers say "already saved", every snapshot restores whole.
fn concurrent_saves(b: &Backend, project: &Project) {
    let mut args: Vec<Vec<String>> = (0..4)
        .map(|_| vec!["save".into(), "--suffix".into(), "same".into()])
        .collect();
    args.extend((0..4).map(|i| vec!["save".into(), "--prefix".into(), format!("job{i}")]));
    let outcomes: Vec<serde_json::Value> = thread::scope(|s| {
        let handles: Vec<_> = args
            .iter()
            .map(|a| {
                s.spawn(move || {
                    let a: Vec<&str> = a.iter().map(String::as_str).collect();
                    json(b, &b.stash, &project.root, &a)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let same: Vec<&str> = outcomes[..4]
        .iter()
        .map(|o| o["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(
        same.iter().filter(|o| **o == "saved").count(),
        1,
        "{}: exactly one save of a key publishes it: {same:?}",
        b.name
    );
    assert!(same.iter().all(|o| *o == "saved" || *o == "already-saved"));
    for o in &outcomes[4..] {
        assert_eq!(o["outcome"], "saved", "{}: {o}", b.name);
    }

    let ls = json(b, &b.stash, &project.root, &["ls"]);
    let keys: Vec<String> = target_snapshots(&ls)
        .into_iter()
        .map(|s| s["key"].as_str().unwrap().to_string())
        .collect();
    let unique: BTreeSet<&String> = keys.iter().collect();
    assert_eq!(
        keys.len(),
        unique.len(),
        "{}: duplicate snapshots {keys:?}",
        b.name
    );
    assert_eq!(
        keys.len(),
        6,
        "{}: rt + same + 4 jobs, got {keys:?}",
        b.name
    );

    let clone = clone_to(project, "restorer");
    let mut restores: Vec<Vec<String>> = vec![vec!["--suffix".into(), "same".into()]];
    restores.extend((0..4).map(|i| vec!["--prefix".into(), format!("job{i}")]));
    for extra in restores {
        let mut a = vec!["restore", "--exact"];
        a.extend(extra.iter().map(String::as_str));
        let r = json(b, &b.stash, &clone.root, &a);
        assert_eq!(r["hit"], "exact", "{}: {extra:?}: {r}", b.name);
        assert_eq!(r["packs_failed"], 0, "{}: a pack is missing: {r}", b.name);
    }
}

/// gc deleting snapshots while a save publishes a new one: the new one restores whole.
fn gc_racing_a_save(b: &Backend, project: &Project) {
    thread::scope(|s| {
        let saver = s.spawn(|| json(b, &b.stash, &project.root, &["save", "--suffix", "race"]));
        let gcs: Vec<serde_json::Value> = (0..3)
            .map(|_| {
                json(
                    b,
                    &b.stash,
                    &project.root,
                    &["gc", "--keep", "1", "--max-age", "1d"],
                )
            })
            .collect();
        let saved = saver.join().unwrap();
        assert_eq!(saved["outcome"], "saved", "{}: {saved}", b.name);
        for g in gcs {
            assert_eq!(
                g["packs_deleted"], 0,
                "{}: packs in grace were deleted: {g}",
                b.name
            );
        }
    });
    // And once more after the save, as a scheduled gc would.
    json(b, &b.stash, &project.root, &["gc", "--keep", "1"]);
    let clone = clone_to(project, "after-gc");
    let r = json(
        b,
        &b.stash,
        &clone.root,
        &["restore", "--exact", "--suffix", "race"],
    );
    assert_eq!(
        r["hit"], "exact",
        "{}: gc deleted the racing save: {r}",
        b.name
    );
    assert_eq!(
        r["packs_failed"], 0,
        "{}: gc broke the racing save: {r}",
        b.name
    );

    // Dry run reports, deletes nothing.
    let dry = json(
        b,
        &b.stash,
        &project.root,
        &["gc", "--keep", "0", "--dry-run"],
    );
    assert!(
        !dry["snapshots_deleted"].as_array().unwrap().is_empty(),
        "{dry}"
    );
    let ls = json(b, &b.stash, &project.root, &["ls"]);
    assert!(!ls["snapshots"].as_array().unwrap().is_empty());
}

/// The server goes away while packs go up (a PUT cut mid-body, then every connection
/// refused): the save warns and exits 0, publishes nothing, and a later save completes.
/// A failed single-PUT upload used to panic in the writer's abort.
fn server_stops_mid_save(b: &Backend, project: &Project) {
    let proxy = Proxy::cutting(b.addr.as_deref().unwrap(), 256 << 10, Cut::Uploads);
    // An empty prefix, so every pack goes up.
    let store = format!("{}-cut", b.stash.store);
    let mut through = b.via(&proxy);
    through.store = store.clone();
    let r = run(
        b,
        &through,
        &project.root,
        &["save", "--suffix", "cut-save", "--no-registry", "--json"],
    );
    assert!(proxy.stopped(), "{}: the proxy never cut the save", b.name);
    assert_eq!(
        r.code, 0,
        "{}: a failed save must not fail the build:\n{}",
        b.name, r.stderr
    );
    assert!(!r.stderr.contains("panicked"), "{}: {}", b.name, r.stderr);
    assert_eq!(r.json()["outcome"], "failed", "{}: {}", b.name, r.stdout);
    let direct = Stash {
        store,
        env: b.stash.env.clone(),
    };
    let saved = json(
        b,
        &direct,
        &project.root,
        &["save", "--suffix", "cut-save", "--no-registry"],
    );
    assert_eq!(saved["outcome"], "saved", "{}: {saved}", b.name);
}

/// The server goes away after part of the packs came back: restore warns, exits 0, and
/// every file it left is whole (equal to the saved one); the build then succeeds.
fn server_stops_mid_restore(b: &Backend, project: &Project) {
    let saved = json(b, &b.stash, &project.root, &["save", "--suffix", "cut"]);
    let stored =
        saved["bytes_uploaded"].as_u64().unwrap() + saved["bytes_skipped"].as_u64().unwrap();
    let proxy = Proxy::start(b.addr.as_deref().unwrap(), stored / 3);
    let through = b.via(&proxy);
    let clone = clone_to(project, "cut");
    let r = run(
        b,
        &through,
        &clone.root,
        &["restore", "--suffix", "cut", "--json", "--jobs", "2"],
    );
    assert!(
        proxy.stopped(),
        "{}: the proxy never cut the restore",
        b.name
    );
    assert_eq!(
        r.code, 0,
        "{}: restore must not fail the build:\n{}",
        b.name, r.stderr
    );
    assert!(
        r.stderr.contains("warning"),
        "{}: no warning:\n{}",
        b.name,
        r.stderr
    );
    let out = r.json();
    assert!(
        out["packs_failed"].as_u64().unwrap() > 0
            || !out["warnings"].as_array().unwrap().is_empty(),
        "{}: {out}",
        b.name
    );
    assert_whole(&project.root.join("target"), &clone.root.join("target"));
    build_json(&clone.root, &[]);

    // Under --strict the same failure is exit 3.
    let clone2 = clone_to(project, "cut-strict");
    let strict = run(
        b,
        &through,
        &clone2.root,
        &["restore", "--suffix", "cut", "--strict"],
    );
    assert_eq!(strict.code, 3, "{}: --strict: {}", b.name, strict.stderr);
}

/// Every regular file under `restored` equals the one under `original`, and a unit whose
/// fingerprint dir was restored has all its fingerprint files.
fn assert_whole(original: &Path, restored: &Path) {
    for entry in walk(restored) {
        let rel = entry.strip_prefix(restored).unwrap();
        let orig = original.join(rel);
        // cargo-stash's own state (memo, restore state) is per checkout, never restored.
        if !orig.is_file() || rel.starts_with(".cargo-stash") {
            continue; // Written by the build or by stash's state, not restored.
        }
        assert_eq!(
            std::fs::read(&entry).unwrap(),
            std::fs::read(&orig).unwrap(),
            "half-written or wrong file {}",
            rel.display()
        );
    }
    let fp = restored.join("debug/.fingerprint");
    if let Ok(dir) = std::fs::read_dir(&fp) {
        for unit in dir {
            let unit = unit.unwrap().path();
            let name = unit.file_name().unwrap();
            for f in walk(&original.join("debug/.fingerprint").join(name)) {
                let rel = f.strip_prefix(original).unwrap();
                assert!(
                    restored.join(rel).exists(),
                    "unit {name:?} restored without {rel:?}"
                );
            }
        }
    }
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd {
        let e = e.unwrap();
        let t = e.file_type().unwrap();
        if t.is_dir() {
            out.extend(walk(&e.path()));
        } else if t.is_file() {
            out.push(e.path());
        }
    }
    out
}

#[test]
fn file_store() {
    suite(&Backend::file());
}

/// A local save writes each pack into `v2/tmp/` and renames it into place; one killed
/// meanwhile leaves a file there that no snapshot names. gc removes it once it is past
/// the grace period, and never before: a save may still be writing it.
#[test]
fn gc_removes_what_a_killed_local_save_left_in_tmp() {
    let b = Backend::file();
    let root = Path::new(b.stash.store.strip_prefix("file://").unwrap());
    let tmp = root.join("v2/tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let (old, young) = (tmp.join("4242-0.zst"), tmp.join("4242-1.zst"));
    std::fs::write(&old, b"half a pack").unwrap();
    std::fs::write(&young, b"a pack being written").unwrap();
    let three_days_ago = filetime::FileTime::from_unix_time(
        filetime::FileTime::now().unix_seconds() - 3 * 24 * 3600,
        0,
    );
    filetime::set_file_mtime(&old, three_days_ago).unwrap();
    let out = json(&b, &b.stash, root, &["gc"]);
    assert!(!old.exists(), "a stale tmp file survived gc: {out}");
    assert!(
        young.exists(),
        "gc removed a file a save may be writing: {out}"
    );
}

#[test]
fn s3_store_seaweedfs() {
    if let Some(b) = Backend::server("s3", &unique("s3")) {
        suite(&b);
    }
}

#[test]
fn azure_store_azurite() {
    if let Some(b) = Backend::server("azure", &unique("az")) {
        suite(&b);
    }
}

/// No GCS emulator speaks object_store's API here, so this runs only when asked, against
/// a real bucket: `cargo test -p stash-tests --test stores -- --ignored gcs`. Asked
/// without a bucket, it fails rather than pass having tested nothing.
#[test]
#[ignore = "set CARGO_STASH_TEST_GCS=gs://bucket/prefix (credentials in GOOGLE_SERVICE_ACCOUNT) and run with --ignored"]
fn gcs_store_when_configured() {
    let b = Backend::gcs(&unique("gcs"))
        .expect("CARGO_STASH_TEST_GCS is not set: give it a gs://bucket/prefix to test against");
    suite(&b);
}

/// Failing stores with secret credentials in the env: the secrets never reach the output,
/// and the error says what is wrong and how to fix it.
#[test]
fn credentials_never_printed() {
    let project = stash_tests::copy_fixture("workspace", "secrets");
    let dir = project.root.as_path();
    let secret = "SeCrEt0123456789abcdefNEVERPRINT";
    let sig = "SiGnAtUrE0123456789NEVERPRINT";
    let pem = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjNEVERPRINT";
    let closed = closed_port();
    let cases: Vec<Case> = vec![
        (
            "s3://bucket/p",
            vec![
                ("AWS_ACCESS_KEY_ID", "AKIATESTNEVERPRINT".into()),
                ("AWS_SECRET_ACCESS_KEY", secret.into()),
                ("AWS_SESSION_TOKEN", format!("token{secret}")),
                ("AWS_ENDPOINT", format!("http://127.0.0.1:{closed}")),
            ],
            "unreachable",
        ),
        (
            "az://container/p",
            vec![
                ("AZURE_STORAGE_ACCOUNT_NAME", "devstoreaccount1".into()),
                (
                    "AZURE_STORAGE_SAS_KEY",
                    format!("sv=2021-08-06&ss=b&sig={sig}"),
                ),
                ("AZURE_STORAGE_USE_EMULATOR", "true".into()),
                (
                    "AZURITE_BLOB_STORAGE_URL",
                    format!("http://127.0.0.1:{closed}"),
                ),
            ],
            "unreachable",
        ),
        (
            "gs://bucket/p",
            vec![(
                "GOOGLE_SERVICE_ACCOUNT_KEY",
                format!(
                    r#"{{"private_key":"-----BEGIN PRIVATE KEY-----\n{pem}\n-----END PRIVATE KEY-----\n","client_email":"ci@p.iam.gserviceaccount.com","private_key_id":"k","token_uri":"http://127.0.0.1:{closed}/token"}}"#
                ),
            )],
            "GOOGLE_SERVICE_ACCOUNT",
        ),
    ];
    // A malformed key fails when the store is configured, before any cache work: a
    // cache problem like a rejected one, so restore warns and exits 0 (issue 14).
    let restore_code = |_: &str| 0;
    let mut with_server = Vec::new();
    if let Some(env) = servers::server_env() {
        // A live server that rejects a wrong secret.
        with_server.push((
            "s3://stash/secrets",
            vec![
                ("AWS_ACCESS_KEY_ID", env["AWS_ACCESS_KEY_ID"].clone()),
                ("AWS_SECRET_ACCESS_KEY", secret.to_string()),
                ("AWS_ENDPOINT", env["AWS_ENDPOINT"].clone()),
            ],
            "AWS_SECRET_ACCESS_KEY",
        ));
    }
    for (url, env, expect) in cases.into_iter().chain(with_server) {
        let stash = Stash {
            store: url.into(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .chain(
                    [
                        ("CARGO_STASH_RETRIES", "1"),
                        ("CARGO_STASH_RETRY_TIMEOUT", "2s"),
                        ("CARGO_STASH_CONNECT_TIMEOUT", "1s"),
                        ("AWS_REGION", "us-east-1"),
                        // Never fall back to a cloud metadata service off this machine.
                        ("AWS_METADATA_ENDPOINT", "http://127.0.0.1:9"),
                        ("AZURE_MSI_ENDPOINT", "http://127.0.0.1:9"),
                    ]
                    .map(|(k, v)| (k.to_string(), v.to_string())),
                )
                .collect(),
        };
        let mut all = String::new();
        for args in [
            &["ls"][..],
            &["restore"],
            &["restore", "--strict"],
            &["gc", "--dry-run"],
            &["ls", "--json", "-vv"],
        ] {
            let r = stash.run(dir, args);
            all.push_str(&r.stdout);
            all.push_str(&r.stderr);
            if args == ["restore"] {
                assert_eq!(r.code, restore_code(url), "{url}: restore:\n{}", r.stderr);
            } else {
                assert_ne!(r.code, 0, "{url} {args:?} should fail:\n{}", r.stderr);
            }
        }
        for s in [secret, sig, pem] {
            assert!(!all.contains(s), "{url}: secret printed:\n{all}");
        }
        assert!(all.contains(expect), "{url}: no `{expect}` in:\n{all}");
        assert!(all.contains("hint:"), "{url}: no hint in:\n{all}");
    }
}

#[test]
fn bad_store_urls_explain_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    for (url, expect) in [
        ("ftp://host/x", "unsupported scheme"),
        ("s3:///x", "no bucket name"),
        (
            "s3://user:hunter2hunter2@bucket/x",
            "credentials do not belong",
        ),
    ] {
        let r = Stash {
            store: url.into(),
            env: Vec::new(),
        }
        .run(dir.path(), &["ls"]);
        assert_eq!(r.code, 4, "{url}: {}", r.stderr);
        assert!(r.stderr.contains(expect), "{url}: {}", r.stderr);
        assert!(r.stderr.contains("hint:"), "{url}: {}", r.stderr);
        assert!(!r.stderr.contains("hunter2hunter2"), "{}", r.stderr);
    }
}

/// Issue 15: with no credentials at all, S3 and GCS fall back to the instance metadata
/// service. Where it refuses (off a cloud VM, or a VM without a role) `ls` and `gc`
/// exited 1, an internal error, where Azure without an account is a cache problem. Every
/// cloud now says the same: missing credentials warn and exit 0 on restore and save, 3
/// with `--strict`, and 3 for `ls` and `gc`, with the credentials hint.
#[test]
fn missing_credentials_exit_alike_on_every_cloud() {
    let project = stash_tests::copy_fixture("workspace", "nocreds");
    let dir = project.root.as_path();
    let metadata = refusing_server();
    for (url, hint) in [
        ("s3://bucket/p", "AWS_ACCESS_KEY_ID"),
        ("gs://bucket/p", "GOOGLE_SERVICE_ACCOUNT"),
        ("az://container/p", "AZURE_STORAGE_ACCOUNT_NAME"),
    ] {
        let stash = Stash {
            store: url.into(),
            env: [
                ("CARGO_STASH_RETRIES", "0"),
                ("CARGO_STASH_CONNECT_TIMEOUT", "2s"),
                ("AWS_REGION", "us-east-1"),
                ("AWS_METADATA_ENDPOINT", &format!("http://{metadata}")),
                ("GCE_METADATA_HOST", &metadata),
                ("GCE_METADATA_IP", &metadata),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .to_vec(),
        };
        for (args, code) in [
            (&["restore"][..], 0),
            (&["save"], 0),
            (&["restore", "--strict"], 3),
            (&["ls"], 3),
            (&["gc", "--dry-run"], 3),
        ] {
            let r = stash.run(dir, args);
            assert_eq!(r.code, code, "{url} {args:?}:\n{}", r.stderr);
            // A warning on exit 0; an error with the credentials hint on exit 3.
            let expect = if code == 0 { "warning:" } else { hint };
            assert!(
                r.stderr.contains(expect),
                "{url} {args:?}: no {expect}:\n{}",
                r.stderr
            );
        }
    }
}

/// A stand-in for a cloud metadata service that refuses every request (403), as one
/// does for a VM without a role; its address.
fn refusing_server() -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            let mut buf = [0u8; 8192];
            let _ = conn.read(&mut buf);
            let _ = conn.write_all(
                b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
        }
    });
    addr
}

/// Store URL, its env, and a word the output must contain.
type Case<'a> = (&'a str, Vec<(&'a str, String)>, &'a str);

/// A port on 127.0.0.1 that nothing listens on.
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}
