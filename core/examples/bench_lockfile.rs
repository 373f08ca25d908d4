//! Times reading a generated Cargo.lock natively: the TOML reader alone
//! (`stash_toml::parse`) and the key's reduction of it (`key::reduce_lockfile`). The
//! lockfile has the shape of `scripts/bench-key.sh`'s: `[[package]]` tables with name,
//! version, source, checksum and two dependencies.
//!
//! `cargo run --release -p stash-core --example bench_lockfile -- [packages] [runs]`
//! (default 5000 packages, 20 runs; prints the median and the minimum).

use std::time::Instant;

use stash_core::key;

fn lockfile(packages: usize) -> String {
    let mut lock =
        String::from("version = 4\n\n[[package]]\nname = \"bench\"\nversion = \"0.1.0\"\n");
    // A checksum-like 64-hex-digit string per package, from a fixed xorshift.
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..packages {
        let mut checksum = String::with_capacity(64);
        for _ in 0..4 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            checksum.push_str(&format!("{state:016x}"));
        }
        lock.push_str(&format!(
            "\n[[package]]\nname = \"crate-{i}\"\nversion = \"1.{}.{}\"\n\
             source = \"registry+https://github.com/rust-lang/crates.io-index\"\n\
             checksum = \"{checksum}\"\ndependencies = [\n \"crate-{}\",\n \"crate-{}\",\n]\n",
            i % 50,
            i % 7,
            (i + 1) % packages,
            (i + 7) % packages,
        ));
    }
    lock
}

/// Median and minimum of `runs` timings of `f`, in milliseconds.
fn time(runs: usize, mut f: impl FnMut()) -> (f64, f64) {
    let mut ms: Vec<f64> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    ms.sort_by(f64::total_cmp);
    (ms[runs / 2], ms[0])
}

fn main() {
    let mut args = std::env::args().skip(1);
    let packages: usize = args.next().map_or(5000, |n| n.parse().expect("packages"));
    let runs: usize = args.next().map_or(20, |n| n.parse().expect("runs"));
    let text = lockfile(packages);
    let lines = key::reduce_lockfile(&text).expect("a valid lockfile");
    assert_eq!(
        lines.lines().count(),
        packages,
        "one line per registry package"
    );
    let (parse, parse_min) = time(runs, || {
        std::hint::black_box(stash_toml::parse(&text).expect("valid"));
    });
    let (reduce, reduce_min) = time(runs, || {
        std::hint::black_box(key::reduce_lockfile(&text).expect("valid"));
    });
    println!(
        "lockfile: {packages} packages, {} KiB; median (min) of {runs} runs",
        text.len() / 1024
    );
    println!("stash_toml::parse          {parse:.2} ms ({parse_min:.2})");
    println!("key::reduce_lockfile       {reduce:.2} ms ({reduce_min:.2})");
}
