//! Stand-in codec (zstd with the base as a reference prefix) until stow-delta lands.

use std::io::{self, Read, Write};

pub fn encode<R: Read, W: Write>(base: &[u8], mut new: R, out: W) -> io::Result<()> {
    let mut enc = zstd::stream::write::Encoder::with_ref_prefix(out, 3, base)?;
    enc.long_distance_matching(true)?;
    enc.window_log(window_log(base.len()))?;
    io::copy(&mut new, &mut enc)?;
    enc.finish()?;
    Ok(())
}

pub fn decode<R: Read, W: Write>(base: &[u8], patch: R, mut out: W) -> io::Result<u64> {
    let mut dec = zstd::stream::read::Decoder::with_ref_prefix(io::BufReader::new(patch), base)?;
    dec.window_log_max(31)?;
    io::copy(&mut dec, &mut out)
}

fn window_log(base: usize) -> u32 {
    let need = (base + (8 << 20)).next_power_of_two().trailing_zeros();
    need.clamp(20, 30)
}
