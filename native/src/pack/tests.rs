use std::path::PathBuf;

use super::*;

const ANY: super::Allow = |_, _| true;
const NONE: stash_core::manifest::ExpansionCap = stash_core::manifest::ExpansionCap::NONE;

fn tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    fs::create_dir_all(root.join("debug/deps")).unwrap();
    fs::write(
        root.join("debug/deps/libfoo-0123456789abcdef.rlib"),
        b"rlib bytes",
    )
    .unwrap();
    let long = format!("debug/build/{}/out/file.rs", "x".repeat(120));
    fs::create_dir_all(root.join(&long).parent().unwrap()).unwrap();
    fs::write(root.join(&long), b"generated").unwrap();
    std::os::unix::fs::symlink("deps/libfoo-0123456789abcdef.rlib", root.join("debug/link"))
        .unwrap();
    filetime::set_file_mtime(
        root.join("debug/deps/libfoo-0123456789abcdef.rlib"),
        FileTime::from_unix_time(1_700_000_000, 123_456_789),
    )
    .unwrap();
    dir
}

fn paths() -> Vec<String> {
    vec![
        "debug/deps/libfoo-0123456789abcdef.rlib".into(),
        format!("debug/build/{}/out/file.rs", "x".repeat(120)),
        "debug/link".into(),
    ]
}

#[test]
fn round_trip_keeps_content_nanosecond_mtimes_and_links() {
    let src = tree();
    let mut packed = Vec::new();
    let info = encode(src.path(), &paths(), 3, &mut packed).unwrap();
    assert_eq!(info.files, 2);

    let dst = tempfile::tempdir().unwrap();
    let staging = dst.path().join(".staging");
    restore(&packed[..], dst.path(), &staging, &info.id, ANY, NONE).unwrap();
    assert!(!staging.exists());

    let rlib = dst.path().join("debug/deps/libfoo-0123456789abcdef.rlib");
    assert_eq!(fs::read(&rlib).unwrap(), b"rlib bytes");
    let mtime = FileTime::from_last_modification_time(&fs::metadata(&rlib).unwrap());
    assert_eq!(
        (mtime.unix_seconds(), mtime.nanoseconds()),
        (1_700_000_000, 123_456_789)
    );
    assert_eq!(
        fs::read(dst.path().join(&paths()[1])).unwrap(),
        b"generated"
    );
    assert_eq!(
        fs::read_link(dst.path().join("debug/link")).unwrap(),
        Path::new("deps/libfoo-0123456789abcdef.rlib")
    );
}

#[test]
fn same_files_give_the_same_id() {
    let src = tree();
    let a = write_tar(src.path(), &paths(), io::sink()).unwrap();
    let b = write_tar(src.path(), &paths(), io::sink()).unwrap();
    assert_eq!(a.id, b.id);
    fs::write(src.path().join(&paths()[1]), b"changed").unwrap();
    let c = write_tar(src.path(), &paths(), io::sink()).unwrap();
    assert_ne!(a.id, c.id);
}

#[test]
fn a_corrupt_pack_leaves_no_fingerprint_dir() {
    let src = tempfile::tempdir().unwrap();
    let unit = "debug/.fingerprint/foo-0123456789abcdef";
    fs::create_dir_all(src.path().join(unit)).unwrap();
    fs::write(src.path().join(format!("{unit}/lib-foo")), b"hash").unwrap();
    let paths = vec![unit.to_string(), format!("{unit}/lib-foo")];
    let mut packed = Vec::new();
    encode(src.path(), &paths, 3, &mut packed).unwrap();
    let dst = tempfile::tempdir().unwrap();
    let bad = restore(
        &packed[..],
        dst.path(),
        &dst.path().join("s"),
        &"0".repeat(64),
        ANY,
        NONE,
    );
    assert!(bad.is_err());
    assert!(
        !dst.path().join(unit).exists(),
        "an empty fingerprint dir was left"
    );
}

#[test]
fn corrupt_pack_is_refused_before_anything_is_committed() {
    let src = tree();
    let mut packed = Vec::new();
    let info = encode(src.path(), &paths(), 3, &mut packed).unwrap();
    let dst = tempfile::tempdir().unwrap();
    // Claiming another id is the same as flipped content: the hash must not match.
    let staging = dst.path().join("s");
    let err = restore(
        &packed[..],
        dst.path(),
        &staging,
        &"0".repeat(64),
        ANY,
        NONE,
    )
    .unwrap_err();
    assert!(format!("{err:#}").contains("corrupt"), "{err:#}");
    assert_eq!(files_under(dst.path()), Vec::<PathBuf>::new());
    let mid = packed.len() / 2;
    packed[mid] ^= 0xff;
    assert!(restore(&packed[..], dst.path(), &staging, &info.id, ANY, NONE).is_err());
    assert_eq!(files_under(dst.path()), Vec::<PathBuf>::new());
}

/// Every file and symlink under `dir` (directories left empty do not count).
fn files_under(dir: &Path) -> Vec<PathBuf> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| !e.file_type().is_dir())
        .map(|e| e.into_path())
        .collect()
}

#[test]
fn a_corrupt_pack_replaces_nothing_that_was_there() {
    let src = tree();
    let mut packed = Vec::new();
    encode(src.path(), &paths(), 3, &mut packed).unwrap();
    let dst = tempfile::tempdir().unwrap();
    let rlib = dst.path().join(&paths()[0]);
    fs::create_dir_all(rlib.parent().unwrap()).unwrap();
    fs::write(&rlib, b"the old rlib").unwrap();
    let err = restore(
        &packed[..],
        dst.path(),
        &dst.path().join("s"),
        &"0".repeat(64),
        ANY,
        NONE,
    );
    assert!(err.is_err());
    assert_eq!(fs::read(&rlib).unwrap(), b"the old rlib");
    assert_eq!(files_under(dst.path()), vec![rlib]);
}

fn raw_tar(path: &str, kind: tar::EntryType, link: Option<&str>) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(kind);
    h.set_size(if kind == tar::EntryType::Regular {
        3
    } else {
        0
    });
    h.set_mode(0o644);
    set_name(&mut h, path).unwrap();
    if let Some(l) = link {
        h.set_link_name_literal(l).unwrap();
    }
    h.set_cksum();
    let data: &[u8] = if kind == tar::EntryType::Regular {
        b"bad"
    } else {
        b""
    };
    b.append(&h, data).unwrap();
    let tar = b.into_inner().unwrap();
    zstd::encode_all(&tar[..], 3).unwrap()
}

#[test]
fn escaping_entries_are_refused() {
    let outer = tempfile::tempdir().unwrap();
    let staging = outer.path().join("root/.staging");
    let cases = [
        raw_tar("../../escape", tar::EntryType::Regular, None),
        raw_tar("/tmp/escape", tar::EntryType::Regular, None),
        raw_tar("debug/evil", tar::EntryType::Symlink, Some("../../../etc")),
        raw_tar("debug/evil", tar::EntryType::Symlink, Some("/etc")),
        raw_tar("debug/hard", tar::EntryType::Link, Some("debug/x")),
    ];
    for packed in cases {
        let id = id_of(&zstd::decode_all(&packed[..]).unwrap());
        assert!(
            restore(
                &packed[..],
                &outer.path().join("root"),
                &staging,
                &id,
                ANY,
                NONE
            )
            .is_err()
        );
    }
    assert!(!outer.path().join("escape").exists());
    assert!(!outer.path().join("root/debug/evil").exists());
    assert!(!outer.path().join("root/.staging/debug/evil").exists());
}

#[test]
fn commit_replaces_a_symlinked_parent_instead_of_following_it() {
    let outer = tempfile::tempdir().unwrap();
    let root = outer.path().join("root");
    let elsewhere = outer.path().join("elsewhere");
    fs::create_dir_all(&root).unwrap();
    fs::create_dir_all(&elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, root.join("debug")).unwrap();

    let src = tree();
    let mut packed = Vec::new();
    let info = encode(src.path(), &paths()[..1], 3, &mut packed).unwrap();
    let staging = root.join(".staging");
    restore(&packed[..], &root, &staging, &info.id, ANY, NONE).unwrap();
    assert!(
        fs::read_dir(&elsewhere).unwrap().next().is_none(),
        "wrote through a symlink"
    );
    assert!(
        root.join("debug/deps/libfoo-0123456789abcdef.rlib")
            .is_file()
    );
}

#[test]
fn a_registry_pack_may_not_write_outside_the_download_dirs() {
    let outer = tempfile::tempdir().unwrap();
    let packed = raw_tar("bin/cargo", tar::EntryType::Regular, None);
    let id = id_of(&zstd::decode_all(&packed[..]).unwrap());
    let err = restore(
        &packed[..],
        outer.path(),
        &outer.path().join("s"),
        &id,
        |p, _| stash_core::registry::is_allowed(p),
        NONE,
    )
    .unwrap_err();
    assert!(
        format!("{err:#}").contains("outside what this layer may write"),
        "{err:#}"
    );
}

/// Regression: two packs creating the same parent directory at once used to fail one of
/// them with "File exists", leaving its unit out of the restore.
#[test]
fn packs_sharing_a_new_parent_restore_concurrently() {
    let src = tempfile::tempdir().unwrap();
    let deep = "debug/deps/a/b/c/d";
    fs::create_dir_all(src.path().join(deep)).unwrap();
    fs::write(src.path().join(format!("{deep}/one")), b"1").unwrap();
    fs::write(src.path().join(format!("{deep}/two")), b"2").unwrap();
    let packed: Vec<(Vec<u8>, String)> = ["one", "two"]
        .iter()
        .map(|f| {
            let mut out = Vec::new();
            let info = encode(src.path(), &[format!("{deep}/{f}")], 3, &mut out).unwrap();
            (out, info.id)
        })
        .collect();
    for round in 0..100 {
        let dst = tempfile::tempdir().unwrap();
        let barrier = std::sync::Barrier::new(2);
        std::thread::scope(|s| {
            for (i, (bytes, id)) in packed.iter().enumerate() {
                let (dst, barrier) = (dst.path(), &barrier);
                s.spawn(move || {
                    let staging = dst.join(format!(".staging-{i}"));
                    barrier.wait();
                    restore(&bytes[..], dst, &staging, id, ANY, NONE)
                        .unwrap_or_else(|e| panic!("round {round}: {e:#}"));
                });
            }
        });
        assert!(dst.path().join(format!("{deep}/one")).is_file());
        assert!(dst.path().join(format!("{deep}/two")).is_file());
    }
}

#[test]
fn a_file_that_changed_size_never_yields_a_lying_entry() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    fs::write(&path, vec![7u8; 3000]).unwrap();
    let header = tar::Header::new_ustar();
    // Shrank below the size in the header: an error, not zero padding.
    let mut out = Vec::new();
    let err = append_file(
        &mut out,
        &header,
        &mut File::open(&path).unwrap(),
        5000,
        &mut [0; 1024],
    )
    .unwrap_err();
    assert!(err.to_string().contains("shrank"), "{err}");
    // Grew: exactly the stated bytes, padded to the block.
    let mut out = Vec::new();
    append_file(
        &mut out,
        &header,
        &mut File::open(&path).unwrap(),
        1000,
        &mut [0; 1024],
    )
    .unwrap();
    assert_eq!(out.len(), 512 + 1024);
    assert!(out[512..1512].iter().all(|&b| b == 7));
    assert!(out[1512..].iter().all(|&b| b == 0));
}

/// Issue 14, item 9: the escape needed a pack to turn a directory another pack had just
/// checked real into a symlink. No entry may replace a directory any more, so a checked
/// parent stays real whatever commits meanwhile; and a symlink over `debug/deps` can no
/// longer wipe other units' files (item 10).
#[test]
fn no_entry_replaces_a_directory() {
    let outer = tempfile::tempdir().unwrap();
    let root = outer.path().join("root");
    fs::create_dir_all(root.join("t/x")).unwrap();
    fs::write(root.join("t/x/other-unit"), b"kept").unwrap();
    let cases = [
        raw_tar("t/x", tar::EntryType::Symlink, Some("..")),
        raw_tar("t/x", tar::EntryType::Regular, None),
    ];
    for packed in cases {
        let id = id_of(&zstd::decode_all(&packed[..]).unwrap());
        let err = restore(&packed[..], &root, &root.join(".s"), &id, ANY, NONE).unwrap_err();
        assert!(format!("{err:#}").contains("directory"), "{err:#}");
        assert!(fs::symlink_metadata(root.join("t/x")).unwrap().is_dir());
        assert_eq!(fs::read(root.join("t/x/other-unit")).unwrap(), b"kept");
    }
}

/// Issue 14, item 11: a tar stream longer than the manifest allows (here through a
/// large pax header, which no file size counts) stops at the cap.
#[test]
fn a_tar_longer_than_its_cap_is_refused() {
    let src = tempfile::tempdir().unwrap();
    fs::write(src.path().join("f"), b"x").unwrap();
    let mut b = tar::Builder::new(Vec::new());
    let big = "y".repeat(4 << 20);
    b.append_pax_extensions([("comment", big.as_bytes())])
        .unwrap();
    let mut h = tar::Header::new_ustar();
    h.set_size(1);
    h.set_mode(0o644);
    b.append_data(&mut h, "f", &b"x"[..]).unwrap();
    let tar = b.into_inner().unwrap();
    let id = id_of(&tar);
    let packed = zstd::encode_all(&tar[..], 3).unwrap();
    let dst = tempfile::tempdir().unwrap();
    let cap = stash_core::manifest::ExpansionCap {
        content: 1 << 20,
        tar: 1 << 20,
    };
    let err = restore(
        &packed[..],
        dst.path(),
        &dst.path().join(".s"),
        &id,
        ANY,
        cap,
    );
    assert!(format!("{:#}", err.unwrap_err()).contains("expands beyond"));
    let fine = restore(
        &packed[..],
        dst.path(),
        &dst.path().join(".s"),
        &id,
        ANY,
        NONE,
    );
    assert!(fine.is_ok());
}

/// Issue 14, item 11: a small patch rebuilding a large tar is capped like a pack.
#[test]
fn a_patch_expanding_beyond_its_cap_is_refused() {
    let tar_of = |size: usize| {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_ustar();
        h.set_size(size as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, "debug/big", &vec![0u8; size][..])
            .unwrap();
        b.into_inner().unwrap()
    };
    let (base, new) = (tar_of(10), tar_of(16 << 20));
    let mut patch = Vec::new();
    let mut base_file = tempfile::tempfile().unwrap();
    std::io::Write::write_all(&mut base_file, &base).unwrap();
    super::patch::encode(&base_file, &new[..], &mut patch, stash_delta::WINDOW_LEN).unwrap();
    assert!(patch.len() < 64 << 10, "patch is {} bytes", patch.len());
    let id = id_of(&new);
    let dst = tempfile::tempdir().unwrap();
    let cap = stash_core::manifest::ExpansionCap {
        content: 1 << 20,
        tar: 2 << 20,
    };
    let tar = super::patch::decode(base_file, std::io::Cursor::new(patch));
    let err = restore_tar(tar, dst.path(), &dst.path().join(".s"), &id, ANY, cap).unwrap_err();
    assert!(format!("{err:#}").contains("declares"), "{err:#}");
    assert!(!dst.path().join("debug/big").exists());
}

/// Issue 14, item 9: a path that turned into a directory between a check and a removal
/// is left alone, never deleted with what it holds; files and symlinks (not their
/// targets) are removed.
#[test]
fn removing_in_place_never_deletes_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("d");
    std::fs::create_dir(&d).unwrap();
    std::fs::write(d.join("kept"), b"x").unwrap();
    assert!(super::remove_non_dir(&d).unwrap());
    assert!(d.join("kept").exists());

    let f = dir.path().join("f");
    std::fs::write(&f, b"x").unwrap();
    assert!(!super::remove_non_dir(&f).unwrap());
    assert!(!f.exists());

    #[cfg(unix)]
    {
        let l = dir.path().join("l");
        std::os::unix::fs::symlink(&d, &l).unwrap();
        assert!(!super::remove_non_dir(&l).unwrap());
        assert!(!l.exists() && d.join("kept").exists());
    }
    assert!(!super::remove_non_dir(&dir.path().join("missing")).unwrap());
}

/// Issue 14, item 1: with a saving clock ahead, a pack's files land already moved back,
/// so a restore cut short never leaves an artifact dated in the future.
#[test]
fn a_pack_lands_its_mtimes_moved_back() {
    let src = tree();
    let mut packed = Vec::new();
    let info = encode(src.path(), &paths(), 3, &mut packed).unwrap();
    let dst = tempfile::tempdir().unwrap();
    let back = 3_600 * 1_000_000_000_i128 + 5;
    let limits = super::Limits {
        cap: NONE,
        back,
        in_place: true,
    };
    let staged = restore(
        &packed[..],
        dst.path(),
        &dst.path().join(".s"),
        &info.id,
        ANY,
        limits,
    )
    .unwrap();
    let rel = "debug/deps/libfoo-0123456789abcdef.rlib";
    let stored =
        FileTime::from_last_modification_time(&std::fs::metadata(src.path().join(rel)).unwrap());
    let landed =
        FileTime::from_last_modification_time(&std::fs::metadata(dst.path().join(rel)).unwrap());
    let nanos =
        |t: FileTime| i128::from(t.unix_seconds()) * 1_000_000_000 + i128::from(t.nanoseconds());
    assert_eq!(nanos(stored) - nanos(landed), back);
    let entry = staged.iter().find(|s| s.path == rel).unwrap();
    assert_eq!(entry.mtime, landed);
}

/// A pax mtime with non-ASCII text in its fraction is refused, never a panic (issue 15).
#[test]
fn a_non_ascii_pax_mtime_is_an_error() {
    assert!(super::unpack::parse_mtime("1700000000.12345678é").is_err());
    assert!(super::unpack::parse_mtime("1700000000.é").is_err());
    let t = super::unpack::parse_mtime("1700000000.5").unwrap();
    assert_eq!(
        (t.unix_seconds(), t.nanoseconds()),
        (1_700_000_000, 500_000_000)
    );
}

/// Bytes that zstd cannot shrink on their own, so any gain comes from finding a copy.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    super::patch::tests::pseudo_random(len, seed | 1)
}

/// Restores `packed` into `dst`, staging in `dst/.s`.
fn restore_into(packed: &[u8], dst: &Path, id: &str) -> Result<Vec<Staged>> {
    restore(packed, dst, &dst.join(".s"), id, ANY, NONE)
}

#[test]
fn a_libraries_metadata_is_packed_beside_its_rlibs_copy() {
    // rustc's rlib starts with the metadata that the .rmeta holds (its first member):
    // 3 MiB of metadata then 5 MiB of code, as in a large crate.
    let dir = tempfile::tempdir().unwrap();
    let deps = dir.path().join("debug/deps");
    fs::create_dir_all(&deps).unwrap();
    let meta = noise(3 << 20, 1);
    let mut rlib = meta.clone();
    rlib.extend(noise(5 << 20, 2));
    fs::write(deps.join("libbig-0123456789abcdef.rlib"), &rlib).unwrap();
    fs::write(deps.join("libbig-0123456789abcdef.rmeta"), &meta).unwrap();
    let paths: Vec<String> = ["rlib", "rmeta"]
        .map(|ext| format!("debug/deps/libbig-0123456789abcdef.{ext}"))
        .into();

    let mut packed = Vec::new();
    let info = encode(dir.path(), &paths, 3, &mut packed).unwrap();
    // The metadata is stored once: 8 MiB of noise, not 11.
    assert!(packed.len() < (17 << 20) / 2, "{} bytes", packed.len());

    let tar = zstd::decode_all(&packed[..]).unwrap();
    let names: Vec<String> = tar::Archive::new(&tar[..])
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    assert_eq!(names, [paths[1].clone(), paths[0].clone()]);

    let dst = tempfile::tempdir().unwrap();
    restore_into(&packed, dst.path(), &info.id).unwrap();
    assert_eq!(fs::read(dst.path().join(&paths[0])).unwrap(), rlib);
    assert_eq!(fs::read(dst.path().join(&paths[1])).unwrap(), meta);
}

#[test]
fn a_frame_with_a_wider_window_than_ours_is_refused() {
    let src = tree();
    let mut tar = Vec::new();
    let info = write_tar(src.path(), &paths(), &mut tar).unwrap();
    // A frame claiming a 128 MiB window, as a hostile store could send.
    // Streamed with no size given, so zstd cannot shrink the window to the input.
    let mut enc = zstd::Encoder::new(Vec::new(), 3).unwrap();
    enc.window_log(27).unwrap();
    enc.write_all(&tar).unwrap();
    let wide = enc.finish().unwrap();

    let dst = tempfile::tempdir().unwrap();
    let err = restore_into(&wide, dst.path(), &info.id).unwrap_err();
    assert!(format!("{err:#}").contains("memory"), "{err:#}");
    assert!(files_under(dst.path()).is_empty());
    let err = patch::read_to_file(&wide[..], &info.id, 1 << 20, dst.path()).unwrap_err();
    assert!(format!("{err:#}").contains("memory"), "{err:#}");

    let mut ours = Vec::new();
    encode(src.path(), &paths(), 3, &mut ours).unwrap();
    restore_into(&ours, dst.path(), &info.id).unwrap();
}

/// A reader fed piece by piece from another thread; an `Err` ends it as a cut link does.
struct Fed(std::sync::mpsc::Receiver<io::Result<Vec<u8>>>, Vec<u8>);

impl Read for Fed {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.1.is_empty() {
            match self.0.recv() {
                Ok(piece) => self.1 = piece?,
                Err(_) => return Ok(0),
            }
        }
        let n = out.len().min(self.1.len());
        out[..n].copy_from_slice(&self.1[..n]);
        self.1.drain(..n);
        Ok(n)
    }
}

fn wait_for(path: &Path) -> bool {
    (0..500).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(10));
        path.exists()
    })
}

/// Half a pack arrives and the link stalls: where is the file being written?
fn mid_pack(in_place: bool) -> (bool, bool, bool) {
    let src = tempfile::tempdir().unwrap();
    let rel = "registry/cache/x/big-1.0.0.crate";
    fs::create_dir_all(src.path().join("registry/cache/x")).unwrap();
    fs::write(src.path().join(rel), noise(4 << 20, 7)).unwrap();
    let mut packed = Vec::new();
    let info = encode(src.path(), &[rel.to_string()], 3, &mut packed).unwrap();

    let dst = tempfile::tempdir().unwrap();
    let (root, staging) = (dst.path().join("home"), dst.path().join("home/.staging"));
    let (tx, rx) = std::sync::mpsc::channel();
    let limits = Limits {
        cap: NONE,
        back: 0,
        in_place,
    };
    let restoring = {
        let (root, staging) = (root.clone(), staging.clone());
        std::thread::spawn(move || {
            restore(Fed(rx, Vec::new()), &root, &staging, &info.id, ANY, limits).map(|_| ())
        })
    };
    tx.send(Ok(packed[..packed.len() / 2].to_vec())).unwrap();
    let written = if in_place {
        root.join(rel)
    } else {
        staging.join(rel)
    };
    assert!(wait_for(&written), "nothing written after half the pack");
    let seen_mid = root.join(rel).exists();
    tx.send(Err(io::Error::other("connection reset"))).unwrap();
    let failed = restoring.join().unwrap().is_err();
    (seen_mid, failed, root.join(rel).exists())
}

#[test]
fn a_cargo_home_file_appears_only_once_its_pack_is_proven() {
    // CARGO_HOME: the file waits in staging, so a restore killed here leaves no torn
    // `.crate` for Cargo to trust.
    assert_eq!(mid_pack(false), (false, true, false));
    // target/: written in place (a unit without its fingerprint is rebuilt), and
    // removed when the pack fails.
    assert_eq!(mid_pack(true), (true, true, false));
}
