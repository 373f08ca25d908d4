//! The TOML reader, through the manifest normalisation that keys use: any text reads or
//! is an error, and a normalised manifest normalises to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stash_core::key::normalize_manifest;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(once) = normalize_manifest("Cargo.toml", text)
    {
        let twice = normalize_manifest("Cargo.toml", &once).expect("canonical text reads");
        assert_eq!(once, twice, "normalisation is idempotent");
    }
});
