//! Measures stash-delta on a real pair of files:
//!
//! ```text
//! cargo run --release -p stash-delta --example measure -- OLD NEW
//! ```
//!
//! Prints the patch size against zstd -3 of NEW, encode and decode speed (MB/s of NEW), and
//! checks that decoding gives NEW back. NEW is streamed both ways, as in real use: memory
//! is OLD, the index, the patch and block buffers.

use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [old, new] = args.as_slice() else {
        return Err("usage: measure OLD NEW".into());
    };
    let base = std::fs::read(old)?;

    let started = Instant::now();
    let mut patch = Vec::new();
    let stats = stash_delta::encode(&base, BufReader::new(File::open(new)?), &mut patch)?;
    let encode_secs = started.elapsed().as_secs_f64();

    // Timed into a sink, then checked in a second pass (reading NEW is not decoding).
    let started = Instant::now();
    stash_delta::decode(&base, &patch[..], io::sink())?;
    let decode_secs = started.elapsed().as_secs_f64();
    let mut check = CompareWriter {
        expected: BufReader::new(File::open(new)?),
        same: true,
    };
    let decoded = stash_delta::decode(&base, &patch[..], &mut check)?;
    let round_trip_ok = check.same && decoded == stats.new_len && check.at_end()?;

    let started = Instant::now();
    let mut zstd_len = Counter(0);
    zstd::stream::copy_encode(File::open(new)?, &mut zstd_len, 3)?;
    let zstd_secs = started.elapsed().as_secs_f64();

    let mb = stats.new_len as f64 / 1e6;
    println!("new file:      {} bytes", stats.new_len);
    println!("patch:         {} bytes", stats.patch_len);
    println!(
        "zstd -3 of new: {} bytes ({:.0} MB/s)",
        zstd_len.0,
        mb / zstd_secs
    );
    println!(
        "ratio:         {:.2}% of zstd -3",
        100.0 * stats.patch_len as f64 / zstd_len.0 as f64
    );
    println!(
        "encode:        {:.3} s, {:.0} MB/s",
        encode_secs,
        mb / encode_secs
    );
    println!(
        "decode:        {:.3} s, {:.0} MB/s",
        decode_secs,
        mb / decode_secs
    );
    println!(
        "details:       {} blocks, {} ops, {} diff bytes, {} extra bytes, index {} bytes",
        stats.blocks, stats.ops, stats.diff_bytes, stats.extra_bytes, stats.index_bytes
    );
    println!(
        "streams:       controls {} bytes, differences {} bytes, extra bytes {} bytes (compressed)",
        stats.ctrl_patch_bytes, stats.diff_patch_bytes, stats.extra_patch_bytes
    );
    println!(
        "round trip:    {}",
        if round_trip_ok { "ok" } else { "MISMATCH" }
    );
    if !round_trip_ok {
        std::process::exit(1);
    }
    Ok(())
}

/// Compares what is written with a reader, so the decoded output needs no memory.
struct CompareWriter<R> {
    expected: R,
    same: bool,
}

impl<R: Read> CompareWriter<R> {
    fn at_end(&mut self) -> io::Result<bool> {
        Ok(self.expected.read(&mut [0u8; 1])? == 0)
    }
}

impl<R: Read> Write for CompareWriter<R> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut expected = vec![0u8; buf.len()];
        match self.expected.read_exact(&mut expected) {
            Ok(()) => self.same &= expected == buf,
            Err(_) => self.same = false,
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

struct Counter(u64);

impl Write for Counter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
