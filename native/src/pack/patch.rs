//! Packs stored as patches against another pack's tar (docs/format.md, "Patches").
//!
//! The base tar goes to an unnamed temporary file, never into memory: the encoder reads
//! it through a window of at most 80 MiB and the decoder reads only the bytes its ops
//! use, so a patch costs a few block buffers whatever the base's size. The new tar
//! streams through on both sides. Every reader of a base reads it at its own position
//! ([`At`]), so patches against one base, and a patch's check, run side by side.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use anyhow::{Context, Result, bail};
use stash_delta::SeekBase;

use super::{CountWriter, PackInfo};

/// Decompresses a whole pack into an unnamed temporary file in `dir` (gone when the file
/// is closed, whatever happens), at most `limit` bytes of tar (a store claiming more is
/// not believed: see `stash_core::bases::base_tar_limit`), and checks that it is `id`.
pub fn read_to_file<R: Read>(src: R, id: &str, limit: u64, dir: &Path) -> Result<File> {
    let mut dec = zstd::Decoder::new(src).context("starting zstd")?;
    dec.window_log_max(super::frames::WINDOW_LOG)
        .context("capping zstd's window")?;
    let mut dec = dec.take(limit + 1);
    let file = tempfile::tempfile_in(dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    let mut out = io::BufWriter::with_capacity(
        1 << 20,
        HashWriter {
            inner: &file,
            hasher: blake3::Hasher::new(),
            count: 0,
        },
    );
    io::copy(&mut dec, &mut out).with_context(|| format!("reading base pack {id}"))?;
    let written = out
        .into_inner()
        .map_err(|e| e.into_error())
        .context("writing the base to a temporary file")?;
    if written.count > limit {
        bail!("base pack {id} holds more than {} MiB", limit >> 20);
    }
    let got = written.hasher.finalize().to_hex();
    if got.as_str() != id {
        bail!("base pack hash is {got}, expected {id}: the pack is corrupt");
    }
    Ok(file)
}

/// Writes to `inner`, hashing and counting what it writes.
struct HashWriter<W> {
    inner: W,
    hasher: blake3::Hasher,
    count: u64,
}

impl<W: Write> Write for HashWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Writes the patch that rebuilds the tar read from `new_tar` out of the base tar in
/// `base`, holding at most `window` bytes of the base; returns the patch's size.
pub fn encode<R: Read, W: Write>(base: &File, new_tar: R, out: W, window: usize) -> Result<u64> {
    let mut counted = CountWriter {
        inner: out,
        count: 0,
    };
    let base = SeekBase::new(At::new(base)).context("reading the base")?;
    stash_delta::encode_from_within(base, new_tar, &mut counted, window)
        .context("writing patch")?;
    counted.flush().context("writing patch")?;
    Ok(counted.count)
}

/// [`encode`] and [`verify`] at once: a second thread decodes the patch as it is
/// written, so the check that it rebuilds `id` costs no time when a core is free.
pub fn encode_verified<R: Read, W: Write>(
    base: &File,
    new_tar: R,
    out: W,
    window: usize,
    id: &str,
) -> Result<u64> {
    let (size, rebuilt) = encode_checked(base, new_tar, out, window)?;
    if rebuilt != id {
        bail!("the patch rebuilds {rebuilt}, not {id}");
    }
    Ok(size)
}

/// The patch, against `base`, of the tar that `write_tar` writes (on a thread of its
/// own) of a group's files, checked as in [`encode_verified`], against the id that
/// `write_tar` returns. The new tar is never held whole, stored or compressed: a delta
/// save makes a likely patch this way, without packing the group first.
pub fn encode_from_files<W: Write>(
    base: &File,
    write_tar: impl FnOnce(&mut dyn Write) -> Result<PackInfo> + Send,
    out: W,
    window: usize,
) -> Result<(PackInfo, u64)> {
    std::thread::scope(|threads| {
        let (tx, rx) = sync_channel(4);
        let writer = threads.spawn(move || {
            let mut pipe = io::BufWriter::with_capacity(CHUNK, PipeWriter { tx });
            let info = write_tar(&mut pipe)?;
            pipe.flush().context("writing the tar")?;
            Ok::<_, anyhow::Error>(info)
        });
        let tar = PipeReader::of(rx);
        let encoded = encode_checked(base, tar, out, window);
        // A failed tar ends the encoder's input early: its error is the one to tell.
        let info = writer
            .join()
            .unwrap_or_else(|_| Err(anyhow::anyhow!("the tar writer panicked")))?;
        let (size, rebuilt) = encoded?;
        if rebuilt != info.id {
            bail!("the patch rebuilds {rebuilt}, not {}", info.id);
        }
        Ok((info, size))
    })
}

/// Writes the patch of `new_tar` against `base` while a second thread decodes it;
/// returns its size and the BLAKE3 of what it rebuilds.
fn encode_checked<R: Read, W: Write>(
    base: &File,
    new_tar: R,
    out: W,
    window: usize,
) -> Result<(u64, String)> {
    std::thread::scope(|threads| {
        let (tx, rx) = sync_channel(4);
        let checker = threads.spawn(move || {
            let patch = PipeReader::of(rx);
            rebuilt_id(base, patch)
        });
        // The checker hangs up when it fails: then its error is the one to tell.
        let tee = io::BufWriter::with_capacity(CHUNK, Tee { out, tx: Some(tx) });
        let written = encode(base, new_tar, tee, window);
        let checked = checker
            .join()
            .unwrap_or_else(|_| Err(anyhow::anyhow!("the patch check panicked")));
        match (written, checked) {
            (Ok(size), Ok(id)) => Ok((size, id)),
            (Ok(_), Err(e)) => Err(e),
            (Err(e), Ok(_)) => Err(e),
            (Err(written), Err(checked)) if is_broken_pipe(&written) => Err(checked),
            (Err(written), Err(_)) => Err(written),
        }
    })
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain()
        .filter_map(|c| c.downcast_ref::<io::Error>())
        .any(|e| e.kind() == io::ErrorKind::BrokenPipe)
}

/// Writes to `out` and hands a copy to the checker; dropping it ends the checker's input.
struct Tee<W> {
    out: W,
    tx: Option<SyncSender<io::Result<Vec<u8>>>>,
}

impl<W: Write> Write for Tee<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = self.out.write(data)?;
        let tx = self.tx.as_ref().ok_or(io::ErrorKind::BrokenPipe)?;
        tx.send(Ok(data[..n].to_vec()))
            .map_err(|_| io::Error::from(io::ErrorKind::BrokenPipe))?;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Checks that `patch` rebuilds the tar `id` out of `base`, before anyone relies on it.
pub fn verify(base: &File, patch: impl Read, id: &str) -> Result<()> {
    let got = rebuilt_id(base, patch)?;
    if got != id {
        bail!("the patch rebuilds {got}, not {id}");
    }
    Ok(())
}

/// The id (BLAKE3) of the tar that `patch` rebuilds out of `base`.
fn rebuilt_id(base: &File, patch: impl Read) -> Result<String> {
    let mut hasher = blake3::Hasher::new();
    let base = SeekBase::new(At::new(base)).context("reading the base")?;
    stash_delta::decode_from(base, patch, &mut hasher).context("decoding the new patch")?;
    Ok(hasher.finalize().to_hex().to_string())
}

/// A file read at a position of its own: readers sharing one open file (or its clones,
/// which share the kernel's offset) do not move each other's place.
pub struct At<'a> {
    file: &'a File,
    pos: u64,
}

impl<'a> At<'a> {
    pub fn new(file: &'a File) -> Self {
        At { file, pos: 0 }
    }
}

impl Read for At<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = read_at(self.file, buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for At<'_> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let pos = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.file.metadata()?.len().checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = pos.ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
        Ok(self.pos)
    }
}

#[cfg(unix)]
fn read_at(file: &File, buf: &mut [u8], pos: u64) -> io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(file, buf, pos)
}

// Windows' positional read also moves the handle's offset, which no reader here uses.
#[cfg(windows)]
fn read_at(file: &File, buf: &mut [u8], pos: u64) -> io::Result<usize> {
    std::os::windows::fs::FileExt::seek_read(file, buf, pos)
}

/// The tar a patch rebuilds, decoded on its own thread as it is read.
pub fn decode<R: Read + Send + 'static>(base: File, patch: R) -> impl Read {
    let (tx, rx) = sync_channel(1);
    let decoder = std::thread::spawn(move || {
        let mut pipe = PipeWriter { tx };
        let res = SeekBase::new(At::new(&base)).and_then(|base| {
            stash_delta::decode_from(base, patch, &mut pipe).map_err(io::Error::other)
        });
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
    /// Reads what another thread of this module sends through `rx`.
    fn of(rx: Receiver<io::Result<Vec<u8>>>) -> Self {
        PipeReader {
            rx,
            decoder: None,
            chunk: Vec::new(),
            pos: 0,
        }
    }

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
pub(super) mod tests {
    use super::*;

    /// `data` in an unnamed temporary file, as [`read_to_file`] leaves a base.
    fn file_of(data: &[u8]) -> File {
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(data).unwrap();
        file
    }

    fn read_all(mut file: File) -> Vec<u8> {
        use std::io::Seek;
        file.seek(io::SeekFrom::Start(0)).unwrap();
        let mut out = Vec::new();
        file.read_to_end(&mut out).unwrap();
        out
    }

    /// A xorshift stream: bytes zstd cannot shrink (seed 0 gives zeros).
    pub(in crate::pack) fn pseudo_random(n: usize, seed: u64) -> Vec<u8> {
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
        let size = encode(
            &file_of(&base),
            &new[..],
            &mut patch,
            stash_delta::WINDOW_LEN,
        )
        .unwrap();
        assert_eq!(size, patch.len() as u64);
        assert!(
            patch.len() < new.len() / 20,
            "patch is {} bytes",
            patch.len()
        );
        let mut rebuilt = Vec::new();
        decode(file_of(&base), io::Cursor::new(patch))
            .read_to_end(&mut rebuilt)
            .unwrap();
        assert_eq!(rebuilt, new);
    }

    /// The patch checked while it is written is the patch [`encode`] writes, and a patch
    /// that does not rebuild the expected tar is refused.
    #[test]
    fn a_patch_is_checked_as_it_is_written() {
        let base = pseudo_random(3 << 20, 8);
        let mut new = base.clone();
        new.splice(5000..5000, b"moved".iter().copied());
        new.truncate(2 << 20);
        let base = file_of(&base);
        let id = blake3::hash(&new).to_hex().to_string();
        let (mut plain, mut checked) = (Vec::new(), Vec::new());
        encode(&base, &new[..], &mut plain, stash_delta::WINDOW_LEN).unwrap();
        let size =
            encode_verified(&base, &new[..], &mut checked, stash_delta::WINDOW_LEN, &id).unwrap();
        assert_eq!((size, &checked), (plain.len() as u64, &plain));
        let wrong = "0".repeat(64);
        let err = encode_verified(&base, &new[..], Vec::new(), stash_delta::WINDOW_LEN, &wrong)
            .unwrap_err();
        assert!(format!("{err:#}").contains("not 0000"), "{err:#}");
    }

    /// Readers of one file (and of its clones, which share the kernel's offset) each keep
    /// their own place.
    #[test]
    fn readers_of_one_base_keep_their_own_place() {
        let data = pseudo_random(1 << 16, 9);
        let file = file_of(&data);
        let clone = file.try_clone().unwrap();
        let (mut a, mut b) = (At::new(&file), At::new(&clone));
        b.seek(SeekFrom::Start(1000)).unwrap();
        let (mut x, mut y) = ([0u8; 100], [0u8; 100]);
        a.read_exact(&mut x).unwrap();
        b.read_exact(&mut y).unwrap();
        a.read_exact(&mut x).unwrap();
        assert_eq!((&x[..], &y[..]), (&data[100..200], &data[1000..1100]));
        assert_eq!(a.seek(SeekFrom::End(-1)).unwrap(), data.len() as u64 - 1);
    }

    #[test]
    fn a_corrupt_patch_is_an_error_not_a_short_tar() {
        let base = pseudo_random(1 << 20, 3);
        let mut patch = Vec::new();
        encode(
            &file_of(&base),
            &pseudo_random(1 << 20, 4)[..],
            &mut patch,
            stash_delta::WINDOW_LEN,
        )
        .unwrap();
        patch.truncate(patch.len() / 2);
        let mut rebuilt = Vec::new();
        let res = decode(file_of(&base), io::Cursor::new(patch)).read_to_end(&mut rebuilt);
        assert!(res.is_err());
    }

    #[test]
    fn a_base_must_hash_to_its_id() {
        let tar = pseudo_random(10_000, 5);
        let packed = zstd::encode_all(&tar[..], 3).unwrap();
        let id = blake3::hash(&tar).to_hex().to_string();
        let dir = tempfile::tempdir().unwrap();
        let file = read_to_file(&packed[..], &id, 64 << 20, dir.path()).unwrap();
        assert_eq!(read_all(file), tar);
        let err = read_to_file(&packed[..], &"0".repeat(64), 64 << 20, dir.path()).unwrap_err();
        assert!(format!("{err:#}").contains("corrupt"), "{err:#}");
    }

    /// A manifest that understates a patched pack's size bounds the base read for it:
    /// the base is refused past the limit, before it is all on disk.
    #[test]
    fn a_base_larger_than_its_limit_is_refused() {
        let tar = pseudo_random(3 << 20, 6);
        let packed = zstd::encode_all(&tar[..], 3).unwrap();
        let id = blake3::hash(&tar).to_hex().to_string();
        let dir = tempfile::tempdir().unwrap();
        let err = read_to_file(&packed[..], &id, 1 << 20, dir.path()).unwrap_err();
        assert!(format!("{err:#}").contains("more than 1 MiB"), "{err:#}");
        // Nothing is left behind, refused or not.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
