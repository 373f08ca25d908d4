//! stash-delta against a kept bsdiff-family crate (qbsdiff) on a real pair of files, one
//! codec per run so that `/usr/bin/time -v` reads each one's peak memory alone:
//!
//! ```text
//! cargo run --release -p stash-delta --example versus -- stash-delta|qbsdiff OLD NEW
//! ```
//!
//! Prints one JSON line: patch bytes, encode and decode seconds, and whether decoding gave
//! NEW back. `zstd --patch-from` is the CLI's, measured beside it by the caller
//! (docs/format.md, "Why our own codec").

use std::time::Instant;

type Codec = fn(&[u8], &[u8]) -> Result<Vec<u8>, Box<dyn std::error::Error>>;
type Patcher = fn(&[u8], &[u8]) -> Result<Vec<u8>, Box<dyn std::error::Error>>;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [codec, old, new] = args.as_slice() else {
        return Err("usage: versus stash-delta|qbsdiff OLD NEW".into());
    };
    let (encode, decode): (Codec, Patcher) = match codec.as_str() {
        "stash-delta" => (ours_encode, ours_decode),
        "qbsdiff" => (qbsdiff_encode, qbsdiff_decode),
        other => return Err(format!("unknown codec {other}").into()),
    };
    let (base, target) = (std::fs::read(old)?, std::fs::read(new)?);

    let started = Instant::now();
    let patch = encode(&base, &target)?;
    let encode_secs = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let decoded = decode(&base, &patch)?;
    let decode_secs = started.elapsed().as_secs_f64();
    println!(
        "{{\"codec\":\"{codec}\",\"new_bytes\":{},\"patch_bytes\":{},\"encode_secs\":{encode_secs:.3},\"decode_secs\":{decode_secs:.3},\"round_trip\":{}}}",
        target.len(),
        patch.len(),
        decoded == target
    );
    Ok(())
}

fn ours_encode(base: &[u8], new: &[u8]) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
    let mut patch = Vec::new();
    stash_delta::encode(base, new, &mut patch)?;
    Ok(patch)
}

fn ours_decode(base: &[u8], patch: &[u8]) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
    let mut out = Vec::new();
    stash_delta::decode(base, patch, &mut out)?;
    Ok(out)
}

fn qbsdiff_encode(base: &[u8], new: &[u8]) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
    let mut patch = Vec::new();
    qbsdiff::Bsdiff::new(base, new).compare(std::io::Cursor::new(&mut patch))?;
    Ok(patch)
}

fn qbsdiff_decode(base: &[u8], patch: &[u8]) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
    let mut out = Vec::new();
    qbsdiff::Bspatch::new(patch)?.apply(base, std::io::Cursor::new(&mut out))?;
    Ok(out)
}
