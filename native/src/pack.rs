//! Packs: deterministic pax tars of one group of files, zstd-compressed, named by the
//! BLAKE3 hash of the uncompressed tar. Unpacking ([`restore`]) checks every path and the
//! hash, and replaces nothing until the hash is proven.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::Path;

use anyhow::{Context, Result};
use filetime::FileTime;
use sha2::{Digest, Sha256};

/// Counts and hashes bytes passing through a writer.
pub struct HashWriter<W> {
    inner: W,
    hasher: Sha256,
    pub len: u64,
}

impl<W: Write> HashWriter<W> {
    pub fn new(inner: W) -> Self {
        HashWriter {
            inner,
            hasher: Sha256::new(),
            len: 0,
        }
    }
    pub fn finish(self) -> (String, W) {
        (hex(&self.hasher.finalize()), self.inner)
    }
}

impl<W: Write> Write for HashWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Hashes a pack's tar on its way to the compressor: the pack id.
pub struct IdWriter<W> {
    inner: W,
    hasher: blake3::Hasher,
}

impl<W: Write> IdWriter<W> {
    pub fn new(inner: W) -> Self {
        IdWriter {
            inner,
            hasher: blake3::Hasher::new(),
        }
    }
    pub fn finish(self) -> String {
        self.hasher.finalize().to_hex().to_string()
    }
}

impl<W: Write> Write for IdWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The id of a whole tar in memory.
#[cfg(test)]
pub fn id_of(tar: &[u8]) -> String {
    blake3::hash(tar).to_hex().to_string()
}

/// Counts bytes written, e.g. compressed bytes on their way to the store.
pub struct CountWriter<W> {
    pub inner: W,
    pub count: u64,
}

impl<W: Write> Write for CountWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.count += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What a pack holds, measured while writing it.
#[derive(Clone, Debug, Default)]
pub struct PackInfo {
    pub id: String,
    pub files: u64,
    pub bytes: u64,
}

/// Writes the deterministic tar of `paths` (relative to `root`, sorted) to `out`, in
/// [`stash_core::layout::tar_order`].
///
/// Owner, group and names are zeroed and mtimes carried with nanoseconds in pax
/// records, so the same files always give the same bytes and so the same id.
pub fn write_tar<W: Write>(root: &Path, paths: &[String], out: W) -> Result<PackInfo> {
    write_tar_with(root, paths, out, &mut Vec::new())
}

/// [`write_tar`] copying file contents through `buf` (grown to [`COPY_BUF`]).
fn write_tar_with<W: Write>(
    root: &Path,
    paths: &[String],
    out: W,
    buf: &mut Vec<u8>,
) -> Result<PackInfo> {
    buf.resize(COPY_BUF, 0);
    let mut hashed = IdWriter::new(out);
    let mut info = PackInfo::default();
    {
        let mut tar = tar::Builder::new(&mut hashed);
        for i in stash_core::layout::tar_order(paths) {
            append(&mut tar, root, &paths[i], &mut info, buf)?;
        }
        tar.finish().context("finishing tar")?;
    }
    info.id = hashed.finish();
    Ok(info)
}

/// File contents are copied in pieces this large: the tar crate's own copy goes 8 KiB at a
/// time, which made hashing the pack id (BLAKE3 wants large updates) a tenth of a save's
/// CPU, and costs a read syscall per 8 KiB.
const COPY_BUF: usize = 1 << 20;

fn append<W: Write>(
    tar: &mut tar::Builder<W>,
    root: &Path,
    rel: &str,
    info: &mut PackInfo,
    buf: &mut [u8],
) -> Result<()> {
    let full = root.join(rel);
    let meta =
        fs::symlink_metadata(&full).with_context(|| format!("reading {}", full.display()))?;
    let mtime = FileTime::from_last_modification_time(&meta);
    let mut header = tar::Header::new_ustar();
    header.set_mode(mode_of(&meta));
    header.set_mtime(mtime.unix_seconds().max(0) as u64);
    header.set_uid(0);
    header.set_gid(0);
    let mut pax = format_record(
        "mtime",
        &format!("{}.{:09}", mtime.unix_seconds(), mtime.nanoseconds()),
    );
    let name = if meta.is_dir() {
        format!("{rel}/")
    } else {
        rel.to_string()
    };
    if name.len() > 99 {
        pax.extend(format_record("path", &name));
    }
    let ft = meta.file_type();
    if ft.is_symlink() {
        let target =
            fs::read_link(&full).with_context(|| format!("reading link {}", full.display()))?;
        let target = target
            .to_str()
            .context("symlink target is not UTF-8")?
            .to_string();
        if target.len() > 99 {
            pax.extend(format_record("linkpath", &target));
        }
        header.set_entry_type(tar::EntryType::Symlink);
        header.set_link_name_literal(truncate(&target).as_bytes())?;
        header.set_size(0);
    } else if ft.is_dir() {
        header.set_entry_type(tar::EntryType::Directory);
        header.set_size(0);
    } else {
        header.set_entry_type(tar::EntryType::Regular);
        header.set_size(meta.len());
        info.files += 1;
        info.bytes += meta.len();
    }
    write_pax(tar, &pax)?;
    set_name(&mut header, &name)?;
    header.set_cksum();
    if ft.is_file() {
        let mut file = File::open(&full).with_context(|| format!("opening {}", full.display()))?;
        append_file(tar.get_mut(), &header, &mut file, meta.len(), buf)
            .with_context(|| format!("packing {}", full.display()))?;
    } else {
        tar.append(&header, io::empty())?;
    }
    Ok(())
}

/// Writes a regular file's entry: header, exactly `len` bytes of `file`, padding. A file
/// that changed size since the stat fails rather than yield a tar lying about it.
fn append_file<W: Write>(
    out: &mut W,
    header: &tar::Header,
    file: &mut File,
    len: u64,
    buf: &mut [u8],
) -> io::Result<()> {
    out.write_all(header.as_bytes())?;
    let mut left = len;
    while left > 0 {
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = match file.read(&mut buf[..want]) {
            Ok(0) => return Err(io::Error::other("the file shrank while being packed")),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        out.write_all(&buf[..n])?;
        left -= n as u64;
    }
    let pad = (512 - len % 512) % 512;
    out.write_all(&[0; 512][..pad as usize])
}

fn truncate(s: &str) -> &str {
    let mut end = s.len().min(99);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn set_name(header: &mut tar::Header, name: &str) -> Result<()> {
    let bytes = truncate(name).as_bytes();
    let old = header.as_old_mut();
    old.name = [0; 100];
    old.name[..bytes.len()].copy_from_slice(bytes);
    Ok(())
}

fn format_record(key: &str, value: &str) -> Vec<u8> {
    // The length prefix counts itself, so find the fixed point.
    let body = format!(" {key}={value}\n");
    let mut len = body.len() + 1;
    while format!("{len}{body}").len() != len {
        len += 1;
    }
    format!("{len}{body}").into_bytes()
}

fn write_pax<W: Write>(tar: &mut tar::Builder<W>, records: &[u8]) -> Result<()> {
    let mut header = tar::Header::new_ustar();
    header.set_entry_type(tar::EntryType::XHeader);
    header.set_size(records.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(0);
    set_name(&mut header, "PaxHeader")?;
    header.set_cksum();
    tar.append(&header, records)?;
    Ok(())
}

#[cfg(unix)]
fn mode_of(meta: &fs::Metadata) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o7777
}

#[cfg(not(unix))]
fn mode_of(meta: &fs::Metadata) -> u32 {
    if meta.is_dir() { 0o755 } else { 0o644 }
}

/// Writes the compressed pack of `paths` to `out`; returns what it holds.
#[cfg(test)]
pub fn encode<W: Write>(root: &Path, paths: &[String], level: i32, out: W) -> Result<PackInfo> {
    encode_with(root, paths, &mut Frames::new(level), 1, out)
}

/// [`encode`] with reused compressors, compressing `threads` chunks at once. The bytes
/// do not depend on `threads`, and the id hashes the uncompressed tar anyway.
pub fn encode_with<W: Write>(
    root: &Path,
    paths: &[String],
    frames: &mut Frames,
    threads: usize,
    out: W,
) -> Result<PackInfo> {
    let mut buf = frames.take_copy_buf();
    let res = (|| {
        let mut enc = frames.writer(out, threads).context("starting zstd")?;
        let info = write_tar_with(root, paths, &mut enc, &mut buf)?;
        enc.finish().context("finishing zstd stream")?;
        Ok(info)
    })();
    frames.put_copy_buf(buf);
    res
}

mod frames;
pub mod patch;
mod unpack;
pub use frames::Frames;
pub use unpack::{
    Allow, Kind, Limits, Staged, ensure_real_dirs, is_fingerprint, remove_any, remove_non_dir,
    restore, restore_tar,
};

#[cfg(test)]
mod tests;
