//! The patch decoder: any patch against any base decodes or is an error, never a panic
//! or an allocation past the format's limits. The first two bytes (little-endian) give
//! the base's length; the rest after the base is the patch.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((len, rest)) = data.split_first_chunk::<2>() else {
        return;
    };
    let at = usize::from(u16::from_le_bytes(*len)).min(rest.len());
    let (base, patch) = rest.split_at(at);
    let _ = stash_delta::decode(base, patch, std::io::sink());
});
