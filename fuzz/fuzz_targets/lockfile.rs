//! Cargo.lock's reduction behind every key, through the TOML reader: any text reads or
//! is an error (issue 14, item 2: the scanner it replaced once sliced inside a
//! multi-byte character).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = stash_core::key::reduce_lockfile(text);
    }
});
