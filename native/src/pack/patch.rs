//! Packs stored as patches against another pack's tar (docs/format.md, "Patches").
//!
//! Save and restore hold the base tar in memory; the new tar streams through on both
//! sides, so a patch costs one base's worth of memory on top of a whole pack.

use std::io::{self, Read, Write};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use anyhow::{Context, Result, bail};
use stash_core::bases::BASE_MAX_BYTES;

use super::CountWriter;

/// Largest base tar read: a base of at most [`BASE_MAX_BYTES`] content bytes plus its
/// tar headers (a store claiming more is not believed).
pub const BASE_TAR_LIMIT: u64 = BASE_MAX_BYTES + BASE_MAX_BYTES / 8;

/// Decompresses a whole pack into memory, at most `limit` bytes of tar, and checks that
/// it is `id`. `size_hint` (the content bytes of a pack of the same unit) saves the
/// buffer's regrowth.
pub fn read_whole<R: Read>(src: R, id: &str, size_hint: u64, limit: u64) -> Result<Vec<u8>> {
    let limit = limit.min(BASE_TAR_LIMIT);
    let dec = zstd::Decoder::new(src).context("starting zstd")?;
    let hint = size_hint.saturating_add(size_hint / 16 + (1 << 20));
    let mut tar = Vec::with_capacity(hint.min(limit) as usize);
    dec.take(limit + 1)
        .read_to_end(&mut tar)
        .with_context(|| format!("reading base pack {id}"))?;
    if tar.len() as u64 > limit {
        bail!("base pack {id} holds more than {} MiB", limit >> 20);
    }
    let got = blake3::hash(&tar).to_hex();
    if got.as_str() != id {
        bail!("base pack hash is {got}, expected {id}: the pack is corrupt");
    }
    Ok(tar)
}

/// Writes the patch that rebuilds the tar read from `new_tar` out of `base`; returns the
/// patch's size.
pub fn encode<R: Read, W: Write>(base: &[u8], new_tar: R, out: W) -> Result<u64> {
    let mut counted = CountWriter {
        inner: out,
        count: 0,
    };
    stash_delta::encode(base, new_tar, &mut counted).context("writing patch")?;
    counted.flush().context("writing patch")?;
    Ok(counted.count)
}

/// Checks that `patch` rebuilds the tar `id` out of `base`, before anyone relies on it.
pub fn verify(base: &[u8], patch: impl Read, id: &str) -> Result<()> {
    let mut hasher = blake3::Hasher::new();
    stash_delta::decode(base, patch, &mut hasher).context("decoding the new patch")?;
    let got = hasher.finalize().to_hex();
    if got.as_str() != id {
        bail!("the patch rebuilds {got}, not {id}");
    }
    Ok(())
}

/// The tar a patch rebuilds, decoded on its own thread as it is read.
pub fn decode<R: Read + Send + 'static>(base: Arc<Vec<u8>>, patch: R) -> impl Read {
    let (tx, rx) = sync_channel(1);
    let decoder = std::thread::spawn(move || {
        let mut pipe = PipeWriter { tx };
        let res = stash_delta::decode(&base, patch, &mut pipe).map_err(io::Error::other);
        if let Err(e) = res {
            let _ = pipe.tx.send(Err(e));
        }
    });
    PipeReader {
        rx,
        decoder: Some(decoder),
        chunk: Vec::new(),
        pos: 0,
    }
}

const CHUNK: usize = 1 << 20;

/// Hands decoded bytes to the reading thread at most [`CHUNK`] at a time (the decoder
/// writes whole blocks), so a decode holds little beyond its own buffers; fails once the
/// reader is gone.
struct PipeWriter {
    tx: SyncSender<io::Result<Vec<u8>>>,
}

impl Write for PipeWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = data.len().min(CHUNK);
        self.tx
            .send(Ok(data[..n].to_vec()))
            .map_err(|_| io::Error::from(io::ErrorKind::BrokenPipe))?;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

struct PipeReader {
    rx: Receiver<io::Result<Vec<u8>>>,
    decoder: Option<std::thread::JoinHandle<()>>,
    chunk: Vec<u8>,
    pos: usize,
}

impl PipeReader {
    /// The decoder hung up: the end of the tar, unless it panicked.
    fn finished(&mut self) -> io::Result<usize> {
        match self.decoder.take().map(|d| d.join()) {
            Some(Err(_)) => Err(io::Error::other("the patch decoder panicked")),
            _ => Ok(0),
        }
    }
}

impl Read for PipeReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.chunk.len() {
            match self.rx.recv() {
                Ok(chunk) => (self.chunk, self.pos) = (chunk?, 0),
                Err(_) => return self.finished(),
            }
        }
        let n = out.len().min(self.chunk.len() - self.pos);
        out[..n].copy_from_slice(&self.chunk[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pseudo_random(n: usize, seed: u64) -> Vec<u8> {
        let mut x = seed;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    #[test]
    fn a_patch_rebuilds_the_new_tar_and_is_small() {
        let base = pseudo_random(3 << 20, 7);
        let mut new = base.clone();
        new.splice(1000..1000, b"inserted".iter().copied());
        for i in (0..new.len()).step_by(4096) {
            new[i] = new[i].wrapping_add(1);
        }
        let mut patch = Vec::new();
        let size = encode(&base, &new[..], &mut patch).unwrap();
        assert_eq!(size, patch.len() as u64);
        assert!(
            patch.len() < new.len() / 20,
            "patch is {} bytes",
            patch.len()
        );
        let mut rebuilt = Vec::new();
        decode(Arc::new(base), io::Cursor::new(patch))
            .read_to_end(&mut rebuilt)
            .unwrap();
        assert_eq!(rebuilt, new);
    }

    #[test]
    fn a_corrupt_patch_is_an_error_not_a_short_tar() {
        let base = pseudo_random(1 << 20, 3);
        let mut patch = Vec::new();
        encode(&base, &pseudo_random(1 << 20, 4)[..], &mut patch).unwrap();
        patch.truncate(patch.len() / 2);
        let mut rebuilt = Vec::new();
        let res = decode(Arc::new(base), io::Cursor::new(patch)).read_to_end(&mut rebuilt);
        assert!(res.is_err());
    }

    #[test]
    fn a_base_must_hash_to_its_id() {
        let tar = pseudo_random(10_000, 5);
        let packed = zstd::encode_all(&tar[..], 3).unwrap();
        let id = blake3::hash(&tar).to_hex().to_string();
        assert_eq!(
            read_whole(&packed[..], &id, 0, BASE_TAR_LIMIT).unwrap(),
            tar
        );
        let err = read_whole(&packed[..], &"0".repeat(64), 0, BASE_TAR_LIMIT).unwrap_err();
        assert!(format!("{err:#}").contains("corrupt"), "{err:#}");
    }

    /// A manifest that understates a patched pack's size bounds the base read for it:
    /// the base is refused past the limit, before it is all in memory.
    #[test]
    fn a_base_larger_than_its_limit_is_refused() {
        let tar = pseudo_random(3 << 20, 6);
        let packed = zstd::encode_all(&tar[..], 3).unwrap();
        let id = blake3::hash(&tar).to_hex().to_string();
        let err = read_whole(&packed[..], &id, 0, 1 << 20).unwrap_err();
        assert!(format!("{err:#}").contains("more than 1 MiB"), "{err:#}");
    }
}
