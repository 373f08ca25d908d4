//! Fault suite, "never stuck" (issue 14): one bad object in the store must not disable
//! the cache, a dead store must not stall a job, and a failed or killed save must not
//! leave litter that nothing collects. Real `cargo build`s of the fixture workspace,
//! the real binary, a real local store (and SeaweedFS where the protocol differs).

#[allow(dead_code)] // Shared with the store suite; this module uses only the backends.
#[path = "harness/servers.rs"]
mod servers;

use std::path::{Path, PathBuf};

use stash_tests::{Stash, build_json, clone_to, copy_built_fixture, copy_fixture, run_app};

const APP_OUTPUT: &str = r#"hello from App util-v1 42 {"generated":42} bzip2=1.0.8"#;

fn key(stash: &Stash, dir: &Path, suffix: Option<&str>) -> String {
    let mut args = vec!["key"];
    if let Some(s) = suffix {
        args.extend(["--suffix", s]);
    }
    stash.json(dir, &args)["target"]["key"]
        .as_str()
        .unwrap()
        .to_string()
}

fn manifest_file(store: &Path, key: &str) -> PathBuf {
    store.join("v2/manifests/target").join(key)
}

fn corrupt(path: &Path) {
    std::fs::write(path, b"{\"schema\": 2, \"packs\": [ truncated").unwrap();
}

fn warnings(out: &serde_json::Value) -> String {
    out["warnings"].to_string()
}

/// Issue 14 item 3: a corrupt newest manifest on a fallback rung made the restore a miss.
#[test]
fn a_corrupt_newest_snapshot_on_a_fallback_rung_falls_back_to_an_older_one() {
    let project = copy_built_fixture("workspace", "checkout");
    build_json(&project.root, &[]);
    let store = tempfile::tempdir().unwrap();
    let stash = Stash::local(store.path());
    stash.json(&project.root, &["save", "--suffix", "a"]);
    // The newest snapshot of the rung is garbage, as a torn or hostile write leaves it.
    let newest = manifest_file(store.path(), &key(&stash, &project.root, Some("b")));
    corrupt(&newest);
    let later =
        filetime::FileTime::from_unix_time(filetime::FileTime::now().unix_seconds() + 60, 0);
    filetime::set_file_mtime(&newest, later).unwrap();

    let clone = clone_to(&project, "checkout");
    let out = stash.json(&clone.root, &["restore", "--suffix", "c"]);
    assert_eq!(out["hit"], "fallback", "{out}");
    assert_eq!(
        out["restored_key"].as_str().unwrap(),
        key(&stash, &project.root, Some("a")),
        "{out}"
    );
    assert!(warnings(&out).contains("skipped snapshot"), "{out}");
    assert_ne!(out["registry"]["hit"], "miss", "registry layer: {out}");
    let units = build_json(&clone.root, &[]);
    assert!(
        units.iter().filter(|u| u.is_registry()).all(|u| u.fresh),
        "registry units must come from the older snapshot"
    );
    assert_eq!(run_app(&clone.root), APP_OUTPUT);
}

/// Issue 14 item 3: a corrupt manifest at the exact key made every later save answer
/// "already saved".
#[test]
fn a_corrupt_exact_snapshot_is_replaced_by_the_next_save() {
    let project = copy_built_fixture("workspace", "checkout");
    build_json(&project.root, &[]);
    let store = tempfile::tempdir().unwrap();
    let stash = Stash::local(store.path());
    stash.json(&project.root, &["save", "--no-registry"]);
    let exact = manifest_file(store.path(), &key(&stash, &project.root, None));
    corrupt(&exact);

    let clone = clone_to(&project, "checkout");
    let out = stash.json(&clone.root, &["restore", "--no-registry"]);
    assert_eq!(out["hit"], "miss", "{out}");
    assert!(warnings(&out).contains("skipped snapshot"), "{out}");
    build_json(&clone.root, &[]);
    let saved = stash.json(&clone.root, &["save", "--no-registry"]);
    assert_eq!(saved["outcome"], "saved", "{saved}");
    assert!(
        saved["replaced"].as_str().unwrap().contains("unreadable"),
        "{saved}"
    );

    let again = clone_to(&project, "checkout");
    let out = stash.json(&again.root, &["restore", "--no-registry"]);
    assert_eq!(out["hit"], "exact", "{out}");
    assert_eq!(out["packs_failed"], 0, "{out}");
    let units = build_json(&again.root, &[]);
    assert!(units.iter().filter(|u| u.is_registry()).all(|u| u.fresh));
    assert_eq!(run_app(&again.root), APP_OUTPUT);
}

/// Issue 14 item 4: after a restore skipped a corrupt pack, the next save answered
/// `skipped-exact-hit`, so every later job rebuilt that unit.
#[test]
fn a_save_after_a_corrupt_pack_repairs_the_snapshot() {
    let project = copy_built_fixture("workspace", "checkout");
    build_json(&project.root, &[]);
    let store = tempfile::tempdir().unwrap();
    let stash = Stash::local(store.path());
    stash.json(&project.root, &["save", "--no-registry"]);
    let mut packs: Vec<PathBuf> = std::fs::read_dir(store.path().join("v2/packs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    packs.sort_by_key(|p| std::fs::metadata(p).unwrap().len());
    let victim = packs.last().unwrap();
    let mut bytes = std::fs::read(victim).unwrap();
    let mid = bytes.len() / 2;
    for b in &mut bytes[mid..mid + 64] {
        *b ^= 0x5a;
    }
    std::fs::write(victim, bytes).unwrap();

    let clone = clone_to(&project, "checkout");
    let out = stash.json(&clone.root, &["restore", "--no-registry"]);
    assert_eq!(
        (out["hit"].as_str(), out["packs_failed"].as_u64()),
        (Some("exact"), Some(1))
    );
    build_json(&clone.root, &[]);
    let saved = stash.json(&clone.root, &["save", "--no-registry"]);
    assert_eq!(saved["outcome"], "saved", "{saved}");
    assert!(
        saved["replaced"]
            .as_str()
            .unwrap()
            .contains("missing or corrupt"),
        "{saved}"
    );

    let again = clone_to(&project, "checkout");
    let out = stash.json(&again.root, &["restore", "--no-registry"]);
    assert_eq!(out["hit"], "exact", "{out}");
    assert_eq!(
        out["packs_failed"], 0,
        "the save must have repaired it: {out}"
    );
    let units = build_json(&again.root, &[]);
    assert!(units.iter().filter(|u| u.is_registry()).all(|u| u.fresh));
    assert_eq!(run_app(&again.root), APP_OUTPUT);
}

/// Issue 14 item 5: a save with no target/ published a 0-pack snapshot that then won
/// forever (restore an "exact hit" of nothing, every save skipped).
#[test]
fn an_empty_save_publishes_nothing_and_a_real_save_wins() {
    let project = copy_fixture("workspace", "checkout");
    let store = tempfile::tempdir().unwrap();
    let stash = Stash::local(store.path());
    let run = stash.run(&project.root, &["save", "--no-registry"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("nothing to save"), "{}", run.stdout);
    let k = key(&stash, &project.root, None);
    assert!(
        !manifest_file(store.path(), &k).exists(),
        "published an empty snapshot"
    );

    // An empty snapshot an older version published is replaced, never restored.
    let empty = serde_json::json!({
        "schema": 2, "layer": "target", "key": k, "created": 1, "tool": "cargo-stow 0.0.1",
        "roots": {}, "packs": []
    });
    std::fs::create_dir_all(store.path().join("v2/manifests/target")).unwrap();
    std::fs::write(manifest_file(store.path(), &k), empty.to_string()).unwrap();
    let out = stash.json(&project.root, &["restore", "--no-registry"]);
    assert_eq!(out["hit"], "miss", "{out}");
    build_json(&project.root, &[]);
    let saved = stash.json(&project.root, &["save", "--no-registry"]);
    assert_eq!(saved["outcome"], "saved", "{saved}");
    assert!(saved["packs"].as_u64().unwrap() > 3, "{saved}");

    let clone = clone_to(&project, "checkout");
    let out = stash.json(&clone.root, &["restore", "--no-registry"]);
    assert_eq!(out["hit"], "exact", "{out}");
    assert!(out["packs"].as_u64().unwrap() > 3, "{out}");
    let units = build_json(&clone.root, &[]);
    assert!(units.iter().filter(|u| u.is_registry()).all(|u| u.fresh));
}

/// A TCP listener on 127.0.0.1 that accepts connections and never answers.
struct BlackHole {
    addr: String,
    _held: std::sync::Arc<std::sync::Mutex<Vec<std::net::TcpStream>>>,
}

impl BlackHole {
    fn start() -> BlackHole {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let held: std::sync::Arc<std::sync::Mutex<Vec<_>>> = Default::default();
        let keep = held.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                keep.lock().unwrap().push(conn);
            }
        });
        BlackHole { addr, _held: held }
    }

    /// An S3 store behind the black hole, with `extra` settings.
    fn stash(&self, extra: &[(&str, &str)]) -> Stash {
        let mut env: Vec<(String, String)> = [
            ("AWS_ENDPOINT", format!("http://{}", self.addr).as_str()),
            ("AWS_ACCESS_KEY_ID", "blackhole"),
            ("AWS_SECRET_ACCESS_KEY", "blackholesecret"),
            ("AWS_REGION", "us-east-1"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        Stash {
            store: "s3://stash/blackhole".into(),
            env,
        }
    }
}

fn timed(stash: &Stash, dir: &Path, args: &[&str]) -> (stash_tests::Run, std::time::Duration) {
    let start = std::time::Instant::now();
    let run = stash.run(dir, args);
    (run, start.elapsed())
}

/// Issue 14 item 6: a store that accepts connections and never answers stalled
/// `restore` for 300 s.
#[test]
fn a_store_that_never_answers_is_given_up_at_the_deadline() {
    let hole = BlackHole::start();
    // Without the deadline each request would wait out its read timeout and retries.
    let stash = hole.stash(&[
        ("CARGO_STASH_DEADLINE", "3s"),
        ("CARGO_STASH_READ_TIMEOUT", "300s"),
    ]);
    let project = copy_built_fixture("workspace", "checkout");

    let (run, took) = timed(&stash, &project.root, &["restore"]);
    assert_eq!(
        run.code, 0,
        "a dead store is a cache problem: {}",
        run.stderr
    );
    assert!(took.as_secs() < 20, "restore took {took:?}");
    assert!(run.stderr.contains("deadline"), "{}", run.stderr);
    assert!(
        run.stderr.contains("CARGO_STASH_DEADLINE"),
        "{}",
        run.stderr
    );

    let (run, took) = timed(&stash, &project.root, &["restore", "--strict"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(took.as_secs() < 20, "restore --strict took {took:?}");

    let (run, took) = timed(&stash, &project.root, &["save"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(took.as_secs() < 20, "save took {took:?}");
    assert!(run.stderr.contains("deadline"), "{}", run.stderr);
    // The build is unaffected.
    build_json(&project.root, &[]);
    assert_eq!(run_app(&project.root), APP_OUTPUT);
}

/// Without a short deadline, silence on a connection is what fails a request: each read
/// must come within CARGO_STASH_READ_TIMEOUT, so retries end within the retry timeout.
#[test]
fn a_silent_connection_fails_at_the_read_timeout() {
    let hole = BlackHole::start();
    let stash = hole.stash(&[
        ("CARGO_STASH_READ_TIMEOUT", "1s"),
        ("CARGO_STASH_RETRY_TIMEOUT", "2s"),
    ]);
    let project = copy_fixture("workspace", "checkout");
    let (run, took) = timed(&stash, &project.root, &["restore", "--no-registry"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(took.as_secs() < 30, "restore took {took:?}");
    assert!(!run.stderr.contains("deadline"), "{}", run.stderr);
    assert!(run.stderr.contains("unreachable"), "{}", run.stderr);
}

/// Issue 14 item 7: `gc --grace` shorter than a save deleted packs the save was about to
/// publish (`--grace 0s` even its tmp packs). Below the floor gc refuses, so a save
/// racing it stays whole; the floor itself is safe for a save in flight.
#[test]
fn gc_grace_below_the_floor_is_refused_and_a_racing_save_stays_whole() {
    let project = copy_built_fixture("workspace", "checkout");
    build_json(&project.root, &[]);
    let store = tempfile::tempdir().unwrap();
    let stash = Stash::local(store.path());
    stash.json(&project.root, &["save", "--no-registry", "--suffix", "old"]);
    std::thread::scope(|s| {
        let saver =
            s.spawn(|| stash.json(&project.root, &["save", "--no-registry", "--suffix", "new"]));
        for _ in 0..4 {
            let refused = stash.run(&project.root, &["gc", "--max-age", "0s", "--grace", "0s"]);
            assert_eq!(refused.code, 4, "{}", refused.stderr);
            assert!(
                refused.stderr.contains("floor of 25h"),
                "{}",
                refused.stderr
            );
            assert!(
                refused.stderr.contains("--no-concurrent-saves"),
                "{}",
                refused.stderr
            );
            let gc = stash.json(&project.root, &["gc", "--keep", "1", "--grace", "25h"]);
            assert_eq!(gc["packs_deleted"], 0, "{gc}");
        }
        assert_eq!(saver.join().unwrap()["outcome"], "saved");
    });
    let clone = clone_to(&project, "checkout");
    let out = stash.json(
        &clone.root,
        &["restore", "--no-registry", "--exact", "--suffix", "new"],
    );
    assert_eq!(out["hit"], "exact", "{out}");
    assert_eq!(out["packs_failed"], 0, "{out}");
    build_json(&clone.root, &[]);
    assert_eq!(run_app(&clone.root), APP_OUTPUT);
}

/// Runs `args` for each command line and returns everything printed.
fn printed(stash: &Stash, dir: &Path, commands: &[&[&str]]) -> String {
    let mut all = String::new();
    for args in commands {
        let r = stash.run(dir, args);
        all.push_str(&format!(
            "$ {args:?} -> {}\n{}{}",
            r.code, r.stdout, r.stderr
        ));
    }
    all
}

fn store_with(url: &str, env: &[(&str, &str)]) -> Stash {
    let mut all: Vec<(String, String)> = [
        ("CARGO_STASH_RETRIES", "0"),
        ("CARGO_STASH_CONNECT_TIMEOUT", "1s"),
        ("AWS_REGION", "us-east-1"),
        // Never fall back to a cloud metadata service off this machine.
        ("AWS_METADATA_ENDPOINT", "http://127.0.0.1:9"),
        ("AZURE_MSI_ENDPOINT", "http://127.0.0.1:9"),
    ]
    .iter()
    .chain(env)
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    all.dedup_by(|a, b| a.0 == b.0);
    Stash {
        store: url.into(),
        env: all,
    }
}

/// Issue 14 item 13: userinfo in AWS_ENDPOINT, CARGO_STASH_STORE in `--help`, an
/// unparsable store URL and a signature query were printed.
#[test]
fn secrets_in_urls_endpoints_and_help_are_never_printed() {
    let project = copy_fixture("workspace", "checkout");
    let dir = project.root.as_path();
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let endpoint = format!("http://minio:EndpointPass0123NEVER@127.0.0.1:{closed}");
    let cases: Vec<(Stash, &[&[&str]], &str)> = vec![
        (
            store_with(
                "s3://bucket/p",
                &[
                    ("AWS_ENDPOINT", &endpoint),
                    ("AWS_ACCESS_KEY_ID", "AKIAFAULTB"),
                    ("AWS_SECRET_ACCESS_KEY", "x"),
                ],
            ),
            &[
                &["restore"],
                &["save"],
                &["ls"],
                &["gc", "--dry-run"],
                &["ls", "-vv"],
                &["restore", "-vv"],
            ],
            "EndpointPass0123NEVER",
        ),
        (
            store_with("s3://AKIA:HelpSecret0123NEVER@bucket/x", &[]),
            &[
                &["--help"],
                &["restore", "--help"],
                &["save", "--help"],
                &["ls"],
            ],
            "HelpSecret0123NEVER",
        ),
        (
            store_with("s3://user:RawSecret0123NEVER@bu cket/x", &[]),
            &[&["restore"], &["save"], &["ls"]],
            "RawSecret0123NEVER",
        ),
        (
            store_with("s3://bucket/x?X-Amz-Signature=SigSecret0123NEVER", &[]),
            &[&["restore"], &["ls"]],
            "SigSecret0123NEVER",
        ),
        (
            store_with("s3:/user:Typo0123NEVER@bucket", &[]),
            &[&["restore"], &["ls"]],
            "Typo0123NEVER",
        ),
    ];
    for (stash, commands, secret) in cases {
        let all = printed(&stash, dir, commands);
        assert!(!all.contains(secret), "{} printed:\n{all}", stash.store);
        assert!(all.contains("->"), "{all}");
    }
}

/// Issue 14 item 14: unusable credentials exited 4 without `--strict`, failing `set -e`
/// jobs. They are a cache problem on every cloud: warn, exit 0, 3 with `--strict`.
#[test]
fn unusable_credentials_are_a_cache_problem_on_every_cloud() {
    let project = copy_fixture("workspace", "checkout");
    let dir = project.root.as_path();
    let gcs_key = r#"{"private_key":"not a pem at all","client_email":"ci@p.iam.gserviceaccount.com","private_key_id":"k"}"#;
    let cases = [
        (
            "azure key not base64",
            store_with(
                "az://container/p",
                &[
                    ("AZURE_STORAGE_ACCOUNT_NAME", "acct"),
                    ("AZURE_STORAGE_ACCOUNT_KEY", "this is %% not base64!"),
                ],
            ),
        ),
        ("azure without account", store_with("az://container/p", &[])),
        (
            "gcs key not PEM",
            store_with("gs://bucket/p", &[("GOOGLE_SERVICE_ACCOUNT_KEY", gcs_key)]),
        ),
    ];
    for (what, stash) in cases {
        for (args, code) in [
            (&["restore"][..], 0),
            (&["save"], 0),
            (&["restore", "--strict"], 3),
            (&["save", "--strict"], 3),
            (&["ls"], 3),
        ] {
            let r = stash.run(dir, args);
            assert_eq!(r.code, code, "{what}: {args:?}:\n{}", r.stderr);
            assert!(
                r.stderr.contains("cannot configure store"),
                "{what}: {args:?}:\n{}",
                r.stderr
            );
        }
    }
}

/// Issue 14 item 14: a mistyped store URL silently became a local folder.
#[test]
fn a_store_url_without_a_scheme_is_refused_and_creates_nothing() {
    let project = copy_fixture("workspace", "checkout");
    let dir = project.root.as_path();
    let bare = project.root.parent().unwrap().join("bare-store");
    for (url, expect) in [
        ("s3:/bucket/p", "did you mean `s3://bucket/p`"),
        (bare.to_str().unwrap(), "file:///absolute/path"),
        ("relative/store", "file:///absolute/path"),
    ] {
        for args in [&["restore"][..], &["save"], &["ls"]] {
            let r = store_with(url, &[]).run(dir, args);
            assert_eq!(r.code, 4, "{url} {args:?}: {}", r.stderr);
            assert!(r.stderr.contains(expect), "{url}: {}", r.stderr);
            assert!(
                r.stderr.contains("s3://bucket/prefix"),
                "{url}: {}",
                r.stderr
            );
        }
    }
    assert!(!dir.join("s3:").exists(), "created a folder for s3:/bucket");
    assert!(!dir.join("relative").exists());
    assert!(!bare.exists());
}

/// A small tmpfs mounted for one test, unmounted when dropped; `None` (with the reason
/// printed) where mounting is not allowed.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().unwrap();
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output();
        match out {
            Ok(o) if o.status.success() => Some(Tmpfs { dir }),
            Ok(o) => {
                eprintln!(
                    "SKIPPED: cannot mount a tmpfs here (needs root): {}",
                    String::from_utf8_lossy(&o.stderr).trim()
                );
                None
            }
            Err(e) => {
                eprintln!("SKIPPED: no mount command: {e}");
                None
            }
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(self.dir.path())
            .status();
    }
}

/// Every file under `dir`.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .collect()
}

/// Issue 14 item 15: a full disk during save panicked in the frame writer (the tar
/// builder's Drop wrote again after a failed write) and left tmp packs behind.
#[test]
fn a_full_disk_during_save_warns_and_leaves_no_litter() {
    let Some(disk) = Tmpfs::mount("3m") else {
        return;
    };
    let project = copy_built_fixture("workspace", "checkout");
    build_json(&project.root, &[]);
    let stash = Stash::local(disk.dir.path());
    let run = stash.run(&project.root, &["save", "--no-registry", "--jobs", "2"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    assert!(
        run.stderr.contains("No space left on device"),
        "the disk should have filled: {}",
        run.stderr
    );
    let litter: Vec<PathBuf> = files_under(disk.dir.path())
        .into_iter()
        .filter(|p| {
            let s = p.to_string_lossy();
            s.contains("/v2/tmp/") || s.contains('#')
        })
        .collect();
    assert!(litter.is_empty(), "left behind: {litter:?}");
    // Whatever was published restores into a correct build.
    let clone = clone_to(&project, "checkout");
    let out = stash.json(&clone.root, &["restore", "--no-registry"]);
    assert_eq!(out["packs_failed"], 0, "{out}");
    build_json(&clone.root, &[]);
    assert_eq!(run_app(&clone.root), APP_OUTPUT);
}

/// Issue 14 item 15: a killed save leaves `<name>#<n>` staging objects in a local store,
/// which listings never show; gc removes them once past the grace period.
#[test]
fn gc_removes_staging_objects_a_killed_save_left() {
    let store = tempfile::tempdir().unwrap();
    let stash = Stash::local(store.path());
    let manifests = store.path().join("v2/manifests/target");
    std::fs::create_dir_all(&manifests).unwrap();
    let (old, young) = (
        manifests.join("stash1-linux-x64-t-c-d-s#1"),
        manifests.join("stash1-linux-x64-t-c-d-s#2"),
    );
    std::fs::write(&old, b"{\"schema\": 2, \"pa").unwrap();
    std::fs::write(&young, b"{\"schema\": 2, \"packs\"").unwrap();
    let three_days_ago = filetime::FileTime::from_unix_time(
        filetime::FileTime::now().unix_seconds() - 3 * 86_400,
        0,
    );
    filetime::set_file_mtime(&old, three_days_ago).unwrap();
    let dry = stash.json(store.path(), &["gc", "--dry-run"]);
    assert_eq!(dry["staging_deleted"], 1, "{dry}");
    assert!(old.exists());
    let out = stash.json(store.path(), &["gc"]);
    assert_eq!(out["staging_deleted"], 1, "{out}");
    assert!(!old.exists(), "stale staging object survived: {out}");
    assert!(
        young.exists(),
        "gc removed an object a save may be writing: {out}"
    );
}

/// Issue 15: gc re-parsed the key format and, under a user prefix that looks like the
/// `stash1` head (`--prefix stash2`), dropped the config segment: `--keep 1` then ranked
/// two configs' snapshots together and deleted the older config's only snapshot.
#[test]
fn gc_keep_ranks_each_config_apart_under_a_prefix_like_stash2() {
    let project = copy_fixture("workspace", "gc-prefix");
    let store = tempfile::tempdir().unwrap();
    let with_flags = |flags: &str| {
        let mut stash = Stash::local(store.path());
        stash.env.push(("RUSTFLAGS".into(), flags.into()));
        stash
    };
    let key_of = |flags: &str, suffix: &str| {
        with_flags(flags).json(
            &project.root,
            &["key", "--prefix", "stash2", "--suffix", suffix],
        )["target"]["key"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (a, b_old, b_new) = (
        key_of("", "1"),
        key_of("-Copt-level=1", "1"),
        key_of("-Copt-level=1", "2"),
    );
    let day = 86_400;
    for (key, age) in [(&a, 3 * day), (&b_old, 2 * day), (&b_new, day)] {
        let path = manifest_file(store.path(), key);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, b"{}").unwrap();
        let then =
            filetime::FileTime::from_unix_time(filetime::FileTime::now().unix_seconds() - age, 0);
        filetime::set_file_mtime(&path, then).unwrap();
    }
    let gc = Stash::local(store.path()).json(store.path(), &["gc", "--keep", "1", "--dry-run"]);
    let deleted: Vec<&str> = gc["snapshots_deleted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["key"].as_str().unwrap())
        .collect();
    assert_eq!(deleted, [b_old.as_str()], "{gc}");
    assert_eq!(gc["snapshots_deleted"][0]["reason"], "keep", "{gc}");
    assert_eq!(gc["snapshots_kept"], 2, "{gc}");
}

/// Starts `cargo-stash <args>` in `dir` and SIGKILLs it after `after`.
fn kill_after(stash: &Stash, dir: &Path, args: &[&str], after: std::time::Duration) -> bool {
    let mut child = std::process::Command::new(stash_tests::stash_bin())
        .args(args)
        .current_dir(dir)
        .env("CARGO_STASH_STORE", &stash.store)
        .env("CI", "true")
        .env_remove("CARGO_TARGET_DIR")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(after);
    let killed = matches!(child.try_wait(), Ok(None));
    let _ = child.kill(); // SIGKILL
    let _ = child.wait();
    killed
}

/// kill -9 at several points of a save, then of a restore: every later restore gives a
/// correct `cargo build`, the next save is not stuck, and gc clears what was left.
#[test]
fn kill_9_during_save_and_restore_then_the_build_is_correct() {
    use std::time::Duration;
    let project = copy_built_fixture("workspace", "checkout");
    build_json(&project.root, &[]);
    let store = tempfile::tempdir().unwrap();
    let stash = Stash::local(store.path());
    let mut killed = 0;
    for (i, ms) in [150u64, 600, 1500].into_iter().enumerate() {
        let suffix = format!("k{i}");
        let args = ["save", "--no-registry", "--suffix", suffix.as_str()];
        killed += usize::from(kill_after(
            &stash,
            &project.root,
            &args,
            Duration::from_millis(ms),
        ));
        let clone = clone_to(&project, "checkout");
        let out = stash.json(
            &clone.root,
            &["restore", "--no-registry", "--suffix", &suffix],
        );
        assert_eq!(
            out["packs_failed"], 0,
            "after a save killed at {ms} ms: {out}"
        );
        build_json(&clone.root, &[]);
        assert_eq!(run_app(&clone.root), APP_OUTPUT, "save killed at {ms} ms");
    }
    // The next save publishes whole, whatever the killed ones left.
    let saved = stash.json(&project.root, &["save", "--no-registry"]);
    assert_eq!(saved["outcome"], "saved", "{saved}");
    for ms in [100u64, 400, 1200] {
        let clone = clone_to(&project, "checkout");
        killed += usize::from(kill_after(
            &stash,
            &clone.root,
            &["restore", "--no-registry"],
            Duration::from_millis(ms),
        ));
        build_json(&clone.root, &[]);
        assert_eq!(
            run_app(&clone.root),
            APP_OUTPUT,
            "restore killed at {ms} ms"
        );
        // And a restore over the half-restored target dir is correct too.
        let out = stash.json(&clone.root, &["restore", "--no-registry"]);
        assert_eq!(out["packs_failed"], 0, "{out}");
        build_json(&clone.root, &[]);
        assert_eq!(run_app(&clone.root), APP_OUTPUT);
    }
    assert!(
        killed >= 2,
        "too few runs were killed mid-way ({killed} of 6)"
    );
    let gc = stash.json(
        store.path(),
        &["gc", "--grace", "0s", "--no-concurrent-saves"],
    );
    let litter: Vec<PathBuf> = files_under(store.path())
        .into_iter()
        .filter(|p| {
            let s = p.to_string_lossy();
            s.contains("/v2/tmp/") || s.contains('#')
        })
        .collect();
    assert!(litter.is_empty(), "gc left {litter:?}: {gc}");
}

/// The replacement is an unconditional overwrite where the first publish is a
/// conditional create: on S3 (SeaweedFS) as on disk, a save that built more units than
/// the stored snapshot replaces it whole, and saves racing it afterwards keep it.
#[test]
fn a_snapshot_with_fewer_units_is_replaced_on_s3_and_on_disk() {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let unique = format!("faults-replace-{}-{nanos}", std::process::id());
    let backends = [
        Some(servers::Backend::file()),
        servers::Backend::server("s3", &unique),
    ];
    for b in backends.into_iter().flatten() {
        let project = copy_built_fixture("workspace", "checkout");
        let clean = std::process::Command::new(env!("CARGO"))
            .args(["clean", "-q", "-p", "app"])
            .current_dir(&project.root)
            .env_remove("CARGO_TARGET_DIR")
            .status()
            .unwrap();
        assert!(clean.success());
        let first = b.stash.json(&project.root, &["save", "--no-registry"]);
        assert_eq!(first["outcome"], "saved", "{}: {first}", b.name);
        build_json(&project.root, &[]);
        let second = b.stash.json(&project.root, &["save", "--no-registry"]);
        assert_eq!(second["outcome"], "saved", "{}: {second}", b.name);
        assert!(
            second["replaced"].as_str().unwrap().contains("lacks"),
            "{}: {second}",
            b.name
        );
        assert!(
            second["packs"].as_u64() > first["packs"].as_u64(),
            "{second}"
        );
        let racing: Vec<serde_json::Value> = std::thread::scope(|s| {
            let saves: Vec<_> = (0..3)
                .map(|_| s.spawn(|| b.stash.json(&project.root, &["save", "--no-registry"])))
                .collect();
            saves.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for r in &racing {
            assert_eq!(r["outcome"], "already-saved", "{}: {r}", b.name);
        }
        let clone = clone_to(&project, "checkout");
        let out = b
            .stash
            .json(&clone.root, &["restore", "--no-registry", "--exact"]);
        assert_eq!(out["hit"], "exact", "{}: {out}", b.name);
        assert_eq!(out["packs"], second["packs"], "{}: {out}", b.name);
        assert_eq!(out["packs_failed"], 0, "{}: {out}", b.name);
        let units = build_json(&clone.root, &[]);
        assert!(units.iter().filter(|u| u.is_registry()).all(|u| u.fresh));
        assert_eq!(run_app(&clone.root), APP_OUTPUT);
    }
}

/// Item 5, after review: a partial snapshot at the exact key (a job that built one
/// member) is completed by the next job's save, not skipped as an exact hit forever; and
/// once complete, an exact hit's save skips itself again.
#[test]
fn a_partial_snapshot_at_the_exact_key_is_completed_after_an_exact_hit() {
    let project = copy_fixture("workspace", "checkout");
    let store = tempfile::tempdir().unwrap();
    let stash = Stash::local(store.path());
    build_json(&project.root, &["-p", "util"]);
    let first = stash.json(&project.root, &["save", "--no-registry"]);
    assert_eq!(first["outcome"], "saved", "{first}");
    let partial = first["packs"].as_u64().unwrap();

    let second = clone_to(&project, "checkout");
    let out = stash.json(&second.root, &["restore", "--no-registry"]);
    assert_eq!(out["hit"], "exact", "{out}");
    build_json(&second.root, &[]);
    let saved = stash.json(&second.root, &["save", "--no-registry"]);
    assert_eq!(saved["outcome"], "saved", "{saved}");
    assert!(
        saved["replaced"].as_str().unwrap_or("").contains("lacks"),
        "{saved}"
    );
    assert!(saved["packs"].as_u64().unwrap() > partial, "{saved}");

    let third = clone_to(&project, "checkout");
    let out = stash.json(&third.root, &["restore", "--no-registry"]);
    assert_eq!(out["hit"], "exact", "{out}");
    let units = build_json(&third.root, &[]);
    let stale: Vec<_> = units.iter().filter(|u| !u.fresh).collect();
    assert!(
        stale.is_empty(),
        "rebuilt after a complete snapshot: {stale:?}"
    );
    let skipped = stash.json(&third.root, &["save", "--no-registry"]);
    assert_eq!(skipped["outcome"], "skipped-exact-hit", "{skipped}");
}

/// Item 7, after review: `gc`'s grace floor counts on a save being over within an hour,
/// so a longer deadline is refused (bad input, exit 4) rather than silently unsafe.
#[test]
fn a_deadline_over_an_hour_is_refused() {
    let project = copy_fixture("workspace", "checkout");
    let store = tempfile::tempdir().unwrap();
    let mut stash = Stash::local(store.path());
    stash.env.push(("CARGO_STASH_DEADLINE".into(), "2h".into()));
    let run = stash.run(&project.root, &["save", "--no-registry"]);
    assert_eq!(run.code, 4, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("CARGO_STASH_DEADLINE"),
        "{}",
        run.stderr
    );
    stash.env[0].1 = "1h".into();
    let run = stash.run(&project.root, &["save", "--no-registry"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
}

/// With `--json`, a failure still prints one JSON document on stdout (issue 15): its exit
/// code, the error and the hint, scrubbed like every other output.
#[test]
fn a_failure_with_json_prints_an_error_document() {
    let project = copy_fixture("workspace", "checkout");
    let stash = store_with("s3:/bucket", &[]);
    let run = stash.run(&project.root, &["restore", "--json"]);
    assert_eq!(run.code, 4, "{}\n{}", run.stdout, run.stderr);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", run.stdout));
    assert_eq!(doc["version"], 1, "{doc}");
    assert_eq!(doc["exit_code"], 4, "{doc}");
    assert!(doc["error"].as_str().unwrap().contains("s3:/"), "{doc}");
    assert!(doc["hint"].is_string(), "{doc}");
}
