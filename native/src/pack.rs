//! Packs: deterministic pax tars of one group of files, zstd-compressed, named by the
//! sha256 of the uncompressed tar. Unpacking verifies that hash and every path before a
//! single file reaches its destination.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use filetime::FileTime;
use sha2::{Digest, Sha256};
use stow_core::path::{check_relative, check_symlink};

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

struct HashReader<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> Read for HashReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
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

/// Writes the deterministic tar of `paths` (relative to `root`, sorted) to `out`.
///
/// Owner, group and names are zeroed and mtimes carried with nanoseconds in pax
/// records, so the same files always give the same bytes and so the same id.
pub fn write_tar<W: Write>(root: &Path, paths: &[String], out: W) -> Result<PackInfo> {
    let mut hashed = HashWriter::new(out);
    let mut info = PackInfo::default();
    {
        let mut tar = tar::Builder::new(&mut hashed);
        for rel in paths {
            append(&mut tar, root, rel, &mut info)?;
        }
        tar.finish().context("finishing tar")?;
    }
    let (id, _) = hashed.finish();
    info.id = id;
    Ok(info)
}

fn append<W: Write>(
    tar: &mut tar::Builder<W>,
    root: &Path,
    rel: &str,
    info: &mut PackInfo,
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
        let file = File::open(&full).with_context(|| format!("opening {}", full.display()))?;
        // A file that changed size since the stat must not yield a tar lying about it.
        let mut limited = file.take(meta.len());
        tar.append(
            &header,
            &mut ExactReader {
                inner: &mut limited,
                left: meta.len(),
                path: &full,
            },
        )
        .with_context(|| format!("packing {}", full.display()))?;
    } else {
        tar.append(&header, io::empty())?;
    }
    Ok(())
}

/// Fails instead of padding when a file shrank while being packed.
struct ExactReader<'a, R> {
    inner: R,
    left: u64,
    path: &'a Path,
}

impl<R: Read> Read for ExactReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && self.left > 0 && !buf.is_empty() {
            return Err(io::Error::other(format!(
                "{} shrank while being packed",
                self.path.display()
            )));
        }
        self.left -= n as u64;
        Ok(n)
    }
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
    encode_with(root, paths, level, 0, out)
}

/// [`encode`] with `threads` zstd workers (0: on the calling thread). The id hashes the
/// uncompressed tar, so it does not depend on how the pack was compressed.
pub fn encode_with<W: Write>(
    root: &Path,
    paths: &[String],
    level: i32,
    threads: u32,
    out: W,
) -> Result<PackInfo> {
    let mut enc = zstd::Encoder::new(out, level).context("starting zstd")?;
    if threads > 0 {
        enc.multithread(threads).context("starting zstd workers")?;
    }
    let info = write_tar(root, paths, &mut enc)?;
    enc.finish().context("finishing zstd stream")?;
    Ok(info)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Symlink,
}

/// One entry written into a staging dir, waiting to be moved into place.
#[derive(Clone, Debug)]
pub struct Staged {
    pub path: String,
    pub kind: Kind,
    pub mtime: FileTime,
    pub size: u64,
}

/// Unpacks a compressed pack into `staging`, checking every path and, at the end, the
/// pack's hash. On error the caller removes `staging`; nothing has touched the root.
pub fn unpack<R: Read>(
    src: R,
    staging: &Path,
    expected_id: &str,
    allow: fn(&str) -> bool,
) -> Result<Vec<Staged>> {
    let dec = zstd::Decoder::new(src).context("starting zstd")?;
    let mut hashing = HashReader {
        inner: dec,
        hasher: Sha256::new(),
    };
    let mut staged = Vec::new();
    {
        let mut archive = tar::Archive::new(&mut hashing);
        for entry in archive.entries().context("reading pack")? {
            let entry = entry.context("reading pack entry")?;
            staged.push(unpack_entry(entry, staging, allow)?);
        }
    }
    io::copy(&mut hashing, &mut io::sink()).context("reading pack")?;
    let got = hex(&hashing.hasher.finalize());
    if got != expected_id {
        bail!("content hash is {got}, expected {expected_id}: the pack is corrupt");
    }
    Ok(staged)
}

fn unpack_entry<R: Read>(
    mut entry: tar::Entry<'_, R>,
    staging: &Path,
    allow: fn(&str) -> bool,
) -> Result<Staged> {
    let raw = entry.path_bytes().into_owned();
    let path = String::from_utf8(raw).context("pack has a non-UTF-8 path")?;
    let path = path.trim_end_matches('/').to_string();
    check_relative(&path)?;
    if !allow(&path) {
        bail!("pack entry `{path}` is outside what this layer may write");
    }
    let mtime = pax_mtime(&mut entry)?
        .unwrap_or_else(|| FileTime::from_unix_time(entry.header().mtime().unwrap_or(0) as i64, 0));
    let mode = entry.header().mode().unwrap_or(0o644);
    let dest = staging.join(&path);
    if let Some(parent) = dest.parent() {
        fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    let kind = match entry.header().entry_type() {
        tar::EntryType::Regular => {
            let f = File::create(&dest).with_context(|| format!("creating {}", dest.display()))?;
            let mut w = io::BufWriter::with_capacity(256 << 10, f);
            io::copy(&mut entry, &mut w).with_context(|| format!("writing {}", dest.display()))?;
            w.flush()
                .with_context(|| format!("writing {}", dest.display()))?;
            drop(w);
            set_mode(&dest, mode)?;
            // A fingerprint's atime starts at a sentinel: a build that reads it moves it,
            // which is how save tells used units from unused ones (see `usage`).
            let atime = if is_fingerprint(&path) {
                crate::usage::SENTINEL_ATIME
            } else {
                FileTime::now()
            };
            filetime::set_file_times(&dest, atime, mtime)?;
            Kind::File
        }
        tar::EntryType::Directory => {
            fs::create_dir_all(&dest)?;
            set_mode(&dest, mode | 0o700)?;
            Kind::Dir
        }
        tar::EntryType::Symlink => {
            let target = entry.link_name_bytes().context("symlink without target")?;
            let target = std::str::from_utf8(&target).context("non-UTF-8 symlink target")?;
            check_symlink(&path, target)?;
            symlink(target, &dest)?;
            Kind::Symlink
        }
        other => bail!("pack entry `{path}` has unsupported type {other:?}"),
    };
    Ok(Staged {
        path,
        kind,
        mtime,
        size: entry.size(),
    })
}

fn pax_mtime<R: Read>(entry: &mut tar::Entry<'_, R>) -> Result<Option<FileTime>> {
    let Some(exts) = entry.pax_extensions()? else {
        return Ok(None);
    };
    for ext in exts {
        let ext = ext?;
        if ext.key_bytes() == b"mtime" {
            let v = std::str::from_utf8(ext.value_bytes()).context("bad pax mtime")?;
            return Ok(Some(parse_mtime(v)?));
        }
    }
    Ok(None)
}

fn parse_mtime(v: &str) -> Result<FileTime> {
    let (secs, frac) = v.split_once('.').unwrap_or((v, "0"));
    let secs: i64 = secs.parse().context("bad pax mtime")?;
    let frac = format!("{:0<9}", &frac[..frac.len().min(9)]);
    Ok(FileTime::from_unix_time(
        secs,
        frac.parse().context("bad pax mtime")?,
    ))
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode & 0o7777))
        .with_context(|| format!("setting mode of {}", path.display()))
}

#[cfg(not(unix))]
fn set_mode(_: &Path, _: u32) -> Result<()> {
    Ok(())
}

#[cfg(unix)]
fn symlink(target: &str, dest: &Path) -> Result<()> {
    std::os::unix::fs::symlink(target, dest)
        .with_context(|| format!("creating link {}", dest.display()))
}

#[cfg(not(unix))]
fn symlink(_: &str, dest: &Path) -> Result<()> {
    bail!("symlinks are not supported here: {}", dest.display())
}

/// Moves staged entries into `root`. Fingerprints go last: if this is interrupted, a
/// unit lacks its fingerprint and Cargo rebuilds it instead of trusting a partial unit.
pub fn commit(staging: &Path, root: &Path, staged: &[Staged]) -> Result<()> {
    let (fingerprints, rest): (Vec<&Staged>, Vec<&Staged>) =
        staged.iter().partition(|s| is_fingerprint(&s.path));
    let mut dirs = Vec::new();
    for s in rest.into_iter().chain(fingerprints) {
        let dest = root.join(&s.path);
        ensure_real_dirs(root, &s.path)?;
        match s.kind {
            Kind::Dir => {
                match fs::symlink_metadata(&dest) {
                    Ok(m) if m.is_dir() => {}
                    Ok(_) => {
                        remove_any(&dest)?;
                        create_dir_shared(&dest)?;
                    }
                    Err(_) => create_dir_shared(&dest)?,
                }
                dirs.push(s);
            }
            Kind::File | Kind::Symlink => {
                if let Ok(m) = fs::symlink_metadata(&dest)
                    && m.is_dir()
                {
                    remove_any(&dest)?;
                }
                fs::rename(staging.join(&s.path), &dest)
                    .with_context(|| format!("moving {} into place", dest.display()))?;
            }
        }
    }
    // Directory mtimes last, deepest first, since adding children changed them.
    for s in dirs.iter().rev() {
        filetime::set_file_mtime(root.join(&s.path), s.mtime)?;
    }
    Ok(())
}

pub fn is_fingerprint(path: &str) -> bool {
    path.split('/')
        .any(|c| c == ".fingerprint" || c == "fingerprint")
}

/// Creates the parents of `rel` under `root` as real directories. Anything else in the
/// way, a symlink above all, is removed rather than followed: writes never leave root.
pub fn ensure_real_dirs(root: &Path, rel: &str) -> Result<()> {
    let mut dir = PathBuf::from(root);
    let comps: Vec<&str> = rel.split('/').collect();
    for comp in &comps[..comps.len().saturating_sub(1)] {
        dir.push(comp);
        match fs::symlink_metadata(&dir) {
            Ok(m) if m.is_dir() => continue,
            Ok(_) => remove_any(&dir)?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("reading {}", dir.display())),
        }
        create_dir_shared(&dir)?;
    }
    Ok(())
}

/// Creates a directory another pack may be creating at the same moment: losing that
/// race to a real directory is success.
fn create_dir_shared(dir: &Path) -> Result<()> {
    match fs::create_dir(dir) {
        Err(e)
            if e.kind() == io::ErrorKind::AlreadyExists
                && fs::symlink_metadata(dir).is_ok_and(|m| m.is_dir()) =>
        {
            Ok(())
        }
        res => res.with_context(|| format!("creating {}", dir.display())),
    }
}

/// Removes a file, a symlink (not its target) or a directory tree.
pub fn remove_any(path: &Path) -> Result<()> {
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let res = if meta.is_dir() {
        fs::remove_dir_all(path)
    } else {
        fs::remove_file(path)
    };
    match res {
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("removing {}", path.display()))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests;
