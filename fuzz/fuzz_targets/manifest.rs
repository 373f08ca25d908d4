//! A manifest read from a store: parsing and validation never panic, and whatever
//! passes leads only to checks that never panic either.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stash_core::Manifest;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = Manifest::from_json(data) {
        for layer in stash_core::Layer::ALL {
            let _ = m.check_layer(layer);
        }
        for p in &m.packs {
            let cap = p.expansion_cap();
            assert!(cap.tar >= cap.content);
        }
        // What was accepted writes back to something accepted.
        Manifest::from_json(&m.to_json()).expect("a valid manifest round-trips");
    }
});
