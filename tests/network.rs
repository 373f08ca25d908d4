//! Restores over a slow or broken link: SeaweedFS (from `scripts/servers.sh start`, via
//! `CARGO_STASH_SERVERS_ENV`) reached through the delaying relay of `stash_tests::relay`
//! on 127.0.0.1. Speed is the benchmark's business (bench/net/run.sh); these tests pin
//! what must hold on any link: the restored tree is the saved one, every unit is fresh,
//! and a connection cut mid-response never leaves a half unit.

#[path = "harness/servers.rs"]
#[allow(dead_code)]
mod servers;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use servers::{Backend, unique};
use stash_tests::relay::{Faults, Relay};
use stash_tests::{Project, build_json, copy_built_fixture, rebuilt, run_app};

/// One-way delay of the slow link: a request/response round trip costs twice this.
const DELAY: Duration = Duration::from_millis(15);

/// The fixture workspace built and saved directly (fast), plus a copy of its target dir
/// as saved, and the fixture binary's output; the checkout is then recloned in place with
/// an empty target dir, as a CI job with a stable build dir sees it.
fn saved_workspace(b: &Backend) -> (Project, tempfile::TempDir, String) {
    let project = copy_built_fixture("workspace", "checkout");
    build_json(&project.root, &[]);
    let expected = run_app(&project.root);
    let saved = b.stash.json(&project.root, &["save", "--suffix", "net"]);
    assert_eq!(saved["outcome"], "saved", "{saved}");
    let orig = tempfile::tempdir().unwrap();
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(project.root.join("target"))
        .arg(orig.path().join("target"))
        .status()
        .unwrap();
    assert!(status.success());
    stash_tests::reclone_in_place(&project);
    (project, orig, expected)
}

/// Regular files under `dir`, relative, with their bytes and executable bit; cargo-stash's
/// per-checkout state is left out.
fn tree(dir: &Path) -> BTreeMap<PathBuf, (Vec<u8>, bool)> {
    use std::os::unix::fs::PermissionsExt;
    walkdir::WalkDir::new(dir)
        .into_iter()
        .map(Result::unwrap)
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let rel = e.path().strip_prefix(dir).unwrap().to_path_buf();
            let exec = e.metadata().unwrap().permissions().mode() & 0o111 != 0;
            (rel, (std::fs::read(e.path()).unwrap(), exec))
        })
        .filter(|(rel, _)| !rel.starts_with(".cargo-stash"))
        .collect()
}

/// What a save keeps of a target dir: no `incremental/`, no `*.d` (docs/format.md).
fn kept(rel: &Path) -> bool {
    !rel.components().any(|c| c.as_os_str() == "incremental")
        && rel.extension().is_none_or(|e| e != "d")
}

/// Every restored file equals the saved one (bytes and executable bit): nothing half
/// written, nothing from elsewhere.
fn assert_only_whole_files(
    saved: &BTreeMap<PathBuf, (Vec<u8>, bool)>,
    restored: &BTreeMap<PathBuf, (Vec<u8>, bool)>,
) {
    for (rel, got) in restored {
        let want = saved
            .get(rel)
            .unwrap_or_else(|| panic!("restored a file that was never saved: {}", rel.display()));
        assert!(
            got == want,
            "restored {} differs from the saved file ({} vs {} bytes): half written?",
            rel.display(),
            got.0.len(),
            want.0.len()
        );
    }
}

#[test]
fn restore_through_a_slow_link_is_identical_and_fresh() {
    let Some(b) = Backend::server("s3", &unique("net-slow")) else {
        return;
    };
    let (project, orig, expected) = saved_workspace(&b);
    let relay = Relay::start("127.0.0.1:0", b.addr.as_deref().unwrap(), DELAY, None).unwrap();
    let t0 = Instant::now();
    let out = b
        .via_addr(&relay.addr)
        .json(&project.root, &["restore", "--suffix", "net"]);
    let took = t0.elapsed();
    assert_eq!(out["hit"], "exact", "{out}");
    assert_eq!(out["packs_failed"], 0, "{out}");
    // The relay carried the restore and its delay was paid per round trip.
    let down = relay
        .counters
        .down
        .load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        down >= out["bytes_downloaded"].as_u64().unwrap_or(1),
        "the restore did not go through the relay: {down} bytes, {out}"
    );
    assert!(
        took >= 2 * DELAY,
        "a restore in {took:?} cannot have crossed the relay"
    );

    // Byte-identical: exactly the kept files of the saved target dir, each whole.
    let saved = tree(&orig.path().join("target"));
    let restored = tree(&project.root.join("target"));
    assert_only_whole_files(&saved, &restored);
    let missing: Vec<_> = saved
        .keys()
        .filter(|rel| kept(rel) && !restored.contains_key(*rel))
        .collect();
    assert!(missing.is_empty(), "not restored: {missing:?}");

    let units = build_json(&project.root, &[]);
    assert!(!units.is_empty());
    assert_eq!(
        rebuilt(&units),
        Vec::<String>::new(),
        "stale after a slow restore"
    );
    assert_eq!(run_app(&project.root), expected);
}

#[test]
fn connections_cut_mid_response_are_retried_and_leave_no_half_unit() {
    // The first connections die 48 KiB into their responses: inside a pack body for any
    // pack that size or larger, after a few small answers (lookups) for the others.
    cut_restore(
        "net-cut",
        Faults {
            connections: 6,
            after_bytes: 48 * 1024,
        },
    );
}

#[test]
fn packs_that_never_come_through_are_skipped_whole_and_rebuilt() {
    // Every connection dies 48 KiB in: packs larger than that can never arrive.
    let failed = cut_restore(
        "net-skip",
        Faults {
            connections: u64::MAX,
            after_bytes: 48 * 1024,
        },
    );
    assert!(failed > 0, "no pack was skipped; the test proves nothing");
}

/// Saves the workspace, restores it through a relay with `faults`, and checks the
/// restore exits 0, leaves only whole files and whole units, and that the build after it
/// is correct. Returns how many packs the restore skipped.
fn cut_restore(name: &str, faults: Faults) -> u64 {
    let Some(b) = Backend::server("s3", &unique(name)) else {
        return 0;
    };
    let (project, orig, expected) = saved_workspace(&b);
    let relay = Relay::start(
        "127.0.0.1:0",
        b.addr.as_deref().unwrap(),
        Duration::from_millis(2),
        Some(faults),
    )
    .unwrap();
    let r = b.via_addr(&relay.addr).run(
        &project.root,
        &["restore", "--suffix", "net", "--json", "--jobs", "4"],
    );
    assert_eq!(
        r.code, 0,
        "a cut link must not fail the build:\n{}",
        r.stderr
    );
    assert!(
        relay.dropped() > 0,
        "the relay cut no connection mid-response; the test proves nothing"
    );
    let out = r.json();
    let failed = out["packs_failed"].as_u64().unwrap();
    eprintln!(
        "cut {} connections; packs failed {failed}; {}",
        relay.dropped(),
        r.stderr
    );

    // Whatever came through is whole; each unit whose fingerprint dir exists has it all.
    let saved = tree(&orig.path().join("target"));
    let restored = tree(&project.root.join("target"));
    assert_only_whole_files(&saved, &restored);
    let fingerprints = |t: &BTreeMap<PathBuf, _>, unit: &Path| -> Vec<PathBuf> {
        t.keys().filter(|k| k.starts_with(unit)).cloned().collect()
    };
    for rel in restored.keys() {
        let mut c = rel.components();
        if let (Some(p), Some(f), Some(u)) = (c.next(), c.next(), c.next())
            && f.as_os_str() == ".fingerprint"
        {
            let unit = Path::new(p.as_os_str()).join(f).join(u);
            let want: Vec<_> = fingerprints(&saved, &unit)
                .into_iter()
                .filter(|k| kept(k))
                .collect();
            let got = fingerprints(&restored, &unit);
            assert_eq!(got, want, "unit {} restored in part", unit.display());
        }
    }

    // Cargo rebuilds whatever was skipped and nothing else; the result is correct.
    let units = build_json(&project.root, &[]);
    let again = rebuilt(&units);
    if failed == 0 {
        assert_eq!(
            again,
            Vec::<String>::new(),
            "all packs came through, yet: {out}"
        );
    }
    assert_eq!(run_app(&project.root), expected);
    failed
}
