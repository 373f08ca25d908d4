//! Golden vectors: inputs -> keys and listings -> plans, shared with the wasm package's
//! `node --test` suite so every implementation is pinned to the same answers.
//!
//! `STASH_BLESS=1 cargo test -p stash-core --test golden` rewrites the expected outputs
//! after an intended change; review the diff like code.

use std::path::PathBuf;

use serde_json::{Value, json};
use stash_core::{KeyInputs, PlanOptions, key, plan};

fn golden(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name)
}

fn check(name: &str, compute: impl Fn(&Value) -> Value) {
    let path = golden(name);
    let mut doc: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let bless = std::env::var_os("STASH_BLESS").is_some();
    let mut failures = Vec::new();
    for case in doc["cases"].as_array_mut().unwrap() {
        let got = compute(case);
        if bless {
            case["expected"] = got;
        } else if case["expected"] != got {
            failures.push(format!(
                "{}: expected {}\n got {}",
                case["name"], case["expected"], got
            ));
        }
    }
    if bless {
        std::fs::write(&path, serde_json::to_string_pretty(&doc).unwrap() + "\n").unwrap();
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn key_vectors() {
    check("keys.json", |case| {
        match serde_json::from_value::<KeyInputs>(case["inputs"].clone()) {
            Ok(inputs) => match key::compute(&inputs) {
                Ok(k) => json!({ "target": k.target, "registry": k.registry }),
                Err(e) => json!({ "error": e.to_string() }),
            },
            Err(e) => json!({ "error": e.to_string() }),
        }
    });
}

#[test]
fn plan_vectors() {
    check("plans.json", |case| {
        let entries: Vec<stash_core::Entry> =
            serde_json::from_value(case["entries"].clone()).unwrap();
        let opts: PlanOptions = serde_json::from_value(case["options"].clone()).unwrap();
        let p = plan::plan(&entries, &opts);
        json!({ "groups": p.groups, "links": p.links, "dropped": p.dropped, "unused_units": p.unused_units })
    });
}
