//! Native side of `scripts/bench-key.sh`: times `stash_core::key::compute` on the very
//! `KeyInputs` JSON the wasm side used, so the two numbers compare the same work.
//!
//! `cargo run --release -p stash-wasm --example bench_key -- inputs.json [runs]`

use std::time::Instant;

use stash_core::{KeyInputs, key};
use stash_wasm::boundary;

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("usage: bench_key <inputs.json> [runs]");
    let runs: usize = args
        .next()
        .map_or(20, |r| r.parse().expect("runs is a number"));
    let text = std::fs::read_to_string(&path).expect("reading the inputs");
    let mut times = Vec::with_capacity(runs);
    let mut key = String::new();
    for _ in 0..runs {
        let start = Instant::now();
        // Parsing the JSON is part of the work on both sides, by the same reader.
        let inputs: KeyInputs = boundary::read("key inputs", &text).expect("valid key inputs");
        key = key::compute(&inputs).expect("computable key").target.key;
        times.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    println!(
        "{}",
        serde_json::json!({ "median_ms": times[runs / 2], "key": key })
    );
}
