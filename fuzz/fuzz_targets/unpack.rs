//! The pax and tar entry checks: any tar (its id made to match, as a writer to the store
//! can) unpacks into a fresh root or is refused, never panics, and never leaves an entry
//! outside the root. Runs the restore's own code, native/src/pack/unpack.rs.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stash_core::manifest::ExpansionCap;

#[allow(dead_code)]
#[path = "../../native/src/pack/unpack.rs"]
mod unpack;

/// The frame window unpack.rs caps its decoders at.
#[allow(dead_code)]
#[path = "../../native/src/pack/frames.rs"]
mod frames;

/// What unpack.rs takes from the binary's `usage` module.
mod usage {
    pub const SENTINEL_ATIME: filetime::FileTime = filetime::FileTime::from_unix_time(1, 0);
}

fuzz_target!(|data: &[u8]| {
    let outer = tempfile::tempdir().unwrap();
    let root = outer.path().join("root");
    let id = blake3::hash(data).to_hex().to_string();
    let cap = ExpansionCap {
        content: 1 << 20,
        tar: 4 << 20,
    };
    let allow: unpack::Allow = |p, _| stash_core::manifest::may_write(stash_core::Root::Target, p);
    let _ = unpack::restore_tar(data, &root, &root.join(".cargo-stash/s"), &id, allow, cap);
    // Only the root may be next to where it was made.
    for e in std::fs::read_dir(outer.path()).unwrap() {
        assert_eq!(
            e.unwrap().file_name(),
            "root",
            "an entry was written outside the root"
        );
    }
});
