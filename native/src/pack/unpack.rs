//! Unpacking a pack into its root without replacing anything before its hash is proven.
//!
//! The hash of a pack is only known at its end. Until then a file whose destination is
//! free is written in place (into an empty target/ that is every file: one write, no
//! rename), a file whose destination is taken goes to a staging dir, and fingerprints
//! and symlinks wait in memory. Once the hash matches, staged files are moved in,
//! symlinks made and fingerprints written last, so an interrupted restore leaves units
//! without fingerprints, which Cargo rebuilds. A pack that fails removes the files it
//! wrote in place; the empty directories it made stay, which Cargo does not mind.
//! CARGO_HOME has no fingerprints to guard its files: there every file is staged.

use std::collections::HashSet;
use std::fs::{self, File, FileTimes};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use filetime::FileTime;
use stash_core::manifest::ExpansionCap;
use stash_core::path::{check_relative, check_symlink, restored_mode};

/// What a pack may do to what it writes: expand at most to `cap`, and every mtime lands
/// `back` nanoseconds earlier than stored, when the saving machine's clock ran ahead of
/// this one's (`stash_core::sources::skew_shift`): then even a restore cut short leaves
/// no artifact newer than the checkout's files. Files go straight to free destinations
/// only if `in_place` (`stash_core::manifest::may_write_in_place`); otherwise every file
/// waits in the staging dir until the pack is proven.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub cap: ExpansionCap,
    pub back: i128,
    pub in_place: bool,
}

impl From<ExpansionCap> for Limits {
    fn from(cap: ExpansionCap) -> Limits {
        Limits {
            cap,
            back: 0,
            in_place: true,
        }
    }
}

fn earlier(t: FileTime, back: i128) -> FileTime {
    if back == 0 {
        return t;
    }
    let (secs, nanos) = stash_core::sources::shifted((t.unix_seconds(), t.nanoseconds()), back);
    FileTime::from_unix_time(secs, nanos)
}

/// Which entries a layer may write: by relative path and kind (see
/// `stash_core::manifest::may_write`).
pub type Allow = fn(&str, Kind) -> bool;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Symlink,
}

/// One entry of a restored pack.
#[derive(Clone, Debug)]
pub struct Staged {
    pub path: String,
    pub kind: Kind,
    pub mtime: FileTime,
    pub size: u64,
}

/// Fingerprints larger than this wait in the staging dir rather than in memory.
const HOLD_LIMIT: u64 = 1 << 20;

/// An entry that may only reach the root once the hash is proven.
enum Deferred {
    /// Written to the staging dir: its destination was taken.
    Staged,
    File {
        data: Vec<u8>,
        mode: u32,
    },
    Symlink(String),
    Dir {
        mode: u32,
    },
}

/// Unpacks a compressed pack into `root`, checking every path and the pack's hash; see
/// the module docs for what happens on the way. `staging` is created only if needed and
/// removed at the end.
pub fn restore<R: Read>(
    src: R,
    root: &Path,
    staging: &Path,
    expected_id: &str,
    allow: Allow,
    limits: impl Into<Limits>,
) -> Result<Vec<Staged>> {
    let limits = limits.into();
    Kit::with(|kit| {
        let src = io::BufReader::with_capacity(64 << 10, src);
        let tar = zstd::Decoder::with_context(src, &mut kit.dctx);
        unpack(tar, root, staging, expected_id, allow, limits, &mut kit.buf)
    })
}

/// A zstd context and a copy buffer per thread, kept from pack to pack: made afresh for
/// each pack they faulted in about 100 MiB of new pages per restore of bat's 151 packs.
struct Kit {
    dctx: zstd::zstd_safe::DCtx<'static>,
    buf: Vec<u8>,
}

/// A context grown past this (by a frame with a window over about 2 MiB) is dropped
/// after its pack.
const KEEP_DCTX: usize = 3 << 20;

/// A decoder that refuses frames with a wider window than cargo-stash writes: a store's
/// frame header would otherwise choose how much memory each decoder takes (up to 128 MiB).
fn capped_dctx() -> zstd::zstd_safe::DCtx<'static> {
    let mut dctx = zstd::zstd_safe::DCtx::create();
    dctx.set_parameter(zstd::zstd_safe::DParameter::WindowLogMax(
        super::frames::WINDOW_LOG,
    ))
    .expect("window log max is in zstd's range");
    dctx
}

thread_local! {
    static KIT: std::cell::RefCell<Option<Kit>> = const { std::cell::RefCell::new(None) };
}

impl Kit {
    /// Runs `f` with this thread's kit, made on first use.
    fn with<T>(f: impl FnOnce(&mut Kit) -> T) -> T {
        let mut kit = KIT.with(|k| k.borrow_mut().take()).unwrap_or_else(|| Kit {
            dctx: capped_dctx(),
            buf: vec![0; 256 << 10],
        });
        let res = f(&mut kit);
        // A large pack's frames carry an 8 MiB window, and a context keeps the buffers it
        // grew: one kept per thread would hold `--jobs` of them. Small packs, the many,
        // keep theirs.
        if kit.dctx.sizeof() <= KEEP_DCTX {
            KIT.with(|k| *k.borrow_mut() = Some(kit));
        }
        res
    }
}

/// [`restore`] of an uncompressed tar (a pack rebuilt from a patch).
pub fn restore_tar<R: Read>(
    tar: R,
    root: &Path,
    staging: &Path,
    expected_id: &str,
    allow: Allow,
    limits: impl Into<Limits>,
) -> Result<Vec<Staged>> {
    let limits = limits.into();
    Kit::with(|kit| unpack(tar, root, staging, expected_id, allow, limits, &mut kit.buf))
}

fn unpack<R: Read>(
    tar: R,
    root: &Path,
    staging: &Path,
    expected_id: &str,
    allow: Allow,
    Limits {
        cap,
        back,
        in_place,
    }: Limits,
    buf: &mut [u8],
) -> Result<Vec<Staged>> {
    let mut u = Unpacker {
        root,
        staging,
        allow,
        cap,
        back,
        in_place,
        content: 0,
        entries: Vec::new(),
        deferred: Vec::new(),
        written: Vec::new(),
        real_dirs: HashSet::new(),
        buf,
    };
    fs::create_dir_all(root).with_context(|| format!("creating {}", root.display()))?;
    let res = u.read(tar, expected_id).and_then(|()| u.commit());
    if res.is_err() {
        for path in &u.written {
            let _ = fs::remove_file(path);
        }
    }
    if u.deferred
        .iter()
        .any(|(_, d)| matches!(d, Deferred::Staged))
    {
        let _ = remove_any(staging);
    }
    res.map(|()| u.entries)
}

struct Unpacker<'a, 'b> {
    root: &'a Path,
    staging: &'a Path,
    allow: Allow,
    /// What the manifest lets this pack expand to, and the file content read so far.
    cap: ExpansionCap,
    /// Nanoseconds every mtime of the pack lands earlier than stored (see [`Limits`]).
    back: i128,
    /// Whether a file may be written at a free destination before the pack is proven.
    in_place: bool,
    content: u64,
    entries: Vec<Staged>,
    /// Index into `entries` and what is left to do for it.
    deferred: Vec<(usize, Deferred)>,
    /// Files written in place, to remove if the pack fails.
    written: Vec<PathBuf>,
    /// Directories under root already seen to be real ones (not symlinks).
    real_dirs: HashSet<PathBuf>,
    buf: &'b mut [u8],
}

impl Unpacker<'_, '_> {
    fn read<R: Read>(&mut self, tar: R, expected_id: &str) -> Result<()> {
        let mut hashing = HashReader {
            inner: tar,
            hasher: blake3::Hasher::new(),
            left: self.cap.tar,
        };
        {
            let mut archive = tar::Archive::new(&mut hashing);
            for entry in archive.entries().context("reading pack")? {
                self.entry(entry.context("reading pack entry")?)?;
            }
        }
        io::copy(&mut hashing, &mut io::sink()).context("reading pack")?;
        let got = hashing.hasher.finalize().to_hex();
        if got.as_str() != expected_id {
            bail!("content hash is {got}, expected {expected_id}: the pack is corrupt");
        }
        Ok(())
    }

    fn entry<R: Read>(&mut self, mut entry: tar::Entry<'_, R>) -> Result<()> {
        let raw = entry.path_bytes().into_owned();
        let path = String::from_utf8(raw).context("pack has a non-UTF-8 path")?;
        let path = path.trim_end_matches('/').to_string();
        check_relative(&path)?;
        let kind = match entry.header().entry_type() {
            tar::EntryType::Symlink => Kind::Symlink,
            tar::EntryType::Directory => Kind::Dir,
            _ => Kind::File,
        };
        if !(self.allow)(&path, kind) {
            bail!("pack entry `{path}` is outside what this layer may write");
        }
        let mtime = pax_mtime(&mut entry)?.unwrap_or_else(|| {
            FileTime::from_unix_time(entry.header().mtime().unwrap_or(0) as i64, 0)
        });
        let mtime = earlier(mtime, self.back);
        let mode = restored_mode(entry.header().mode().unwrap_or(0o644));
        let size = entry.size();
        // Checked on the header, before a byte of content is written.
        self.content = self.content.saturating_add(size);
        if self.content > self.cap.content {
            bail!(
                "pack holds more than the {} bytes of content its manifest declares: refused",
                self.cap.content
            );
        }
        let index = self.entries.len();
        let (kind, deferred) = match entry.header().entry_type() {
            tar::EntryType::Regular => (Kind::File, self.file(&path, &mut entry, mode, mtime)?),
            tar::EntryType::Directory => {
                // Missing directories are made now, except a unit's fingerprint dir: an
                // empty one left by a pack that failed would look like a restored unit.
                if !is_fingerprint(&path) {
                    self.real_dir(Path::new(&path))?;
                }
                (Kind::Dir, Some(Deferred::Dir { mode }))
            }
            tar::EntryType::Symlink => {
                let target = entry.link_name_bytes().context("symlink without target")?;
                let target = std::str::from_utf8(&target).context("non-UTF-8 symlink target")?;
                check_symlink(&path, target)?;
                (Kind::Symlink, Some(Deferred::Symlink(target.to_string())))
            }
            other => bail!("pack entry `{path}` has unsupported type {other:?}"),
        };
        if let Some(d) = deferred {
            self.deferred.push((index, d));
        }
        self.entries.push(Staged {
            path,
            kind,
            mtime,
            size,
        });
        Ok(())
    }

    /// Writes a regular file in place, to staging, or into memory (small fingerprints).
    fn file<R: Read>(
        &mut self,
        path: &str,
        entry: &mut tar::Entry<'_, R>,
        mode: u32,
        mtime: FileTime,
    ) -> Result<Option<Deferred>> {
        if is_fingerprint(path) && entry.size() <= HOLD_LIMIT {
            let mut data = Vec::with_capacity(entry.size() as usize);
            entry
                .read_to_end(&mut data)
                .with_context(|| format!("reading {path}"))?;
            return Ok(Some(Deferred::File { data, mode }));
        }
        let dest = self.root.join(path);
        let parent = Path::new(path).parent().unwrap_or(Path::new(""));
        let in_place = self.in_place
            && !is_fingerprint(path)
            && self.real_dir(parent)?
            && matches!(fs::symlink_metadata(&dest), Err(e) if e.kind() == io::ErrorKind::NotFound);
        let file = if in_place {
            let f = File::create_new(&dest);
            // Recorded before writing: a half-written file must go too.
            self.written.push(dest.clone());
            f
        } else {
            let staged = self.staging.join(path);
            if let Some(p) = staged.parent() {
                fs::create_dir_all(p).with_context(|| format!("creating {}", p.display()))?;
            }
            File::create(staged)
        };
        let mut file = file.with_context(|| format!("creating {}", dest.display()))?;
        copy(entry, &mut file, self.buf).with_context(|| format!("writing {path}"))?;
        // A fingerprint's atime starts at a sentinel: a build that reads it moves it,
        // which is how save tells used units from unused ones (see `usage`).
        let atime = is_fingerprint(path).then_some(crate::usage::SENTINEL_ATIME);
        finish_file(&file, mode, atime, mtime).with_context(|| format!("writing {path}"))?;
        Ok((!in_place).then_some(Deferred::Staged))
    }

    /// Makes `rel` and its parents real directories under root, creating missing ones.
    /// False when something else (a symlink above all) is in the way: the caller stages
    /// instead, and commit replaces it once the pack is proven.
    fn real_dir(&mut self, rel: &Path) -> Result<bool> {
        let mut dir = self.root.to_path_buf();
        for comp in rel.components() {
            dir.push(comp);
            if self.real_dirs.contains(&dir) {
                continue;
            }
            match fs::symlink_metadata(&dir) {
                Ok(m) if m.is_dir() => {}
                Ok(_) => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::NotFound => create_dir_shared(&dir)?,
                Err(e) => return Err(e).with_context(|| format!("reading {}", dir.display())),
            }
            self.real_dirs.insert(dir.clone());
        }
        Ok(true)
    }

    /// Puts every deferred entry in place, fingerprints last, then directory mtimes.
    fn commit(&mut self) -> Result<()> {
        let deferred = std::mem::take(&mut self.deferred);
        let (fingerprints, rest): (Vec<_>, Vec<_>) = deferred
            .into_iter()
            .partition(|(i, _)| is_fingerprint(&self.entries[*i].path));
        for (i, d) in rest.iter().chain(&fingerprints) {
            let s = &self.entries[*i];
            ensure_real_dirs(self.root, &s.path)?;
            let dest = self.root.join(&s.path);
            match d {
                Deferred::Staged => replace_with(&dest, |d| {
                    fs::rename(self.staging.join(&s.path), d)
                        .with_context(|| format!("moving {} into place", d.display()))
                })?,
                Deferred::File { data, mode } => replace_with(&dest, |d| {
                    let mut f =
                        File::create(d).with_context(|| format!("creating {}", d.display()))?;
                    f.write_all(data)
                        .with_context(|| format!("writing {}", d.display()))?;
                    finish_file(&f, *mode, Some(crate::usage::SENTINEL_ATIME), s.mtime)
                        .with_context(|| format!("writing {}", d.display()))
                })?,
                Deferred::Symlink(target) => put_symlink(target, &dest, &s.path)?,
                Deferred::Dir { mode } => {
                    if !fs::symlink_metadata(&dest).is_ok_and(|m| m.is_dir()) {
                        remove_non_dir(&dest)?;
                        create_dir_shared(&dest)?;
                    }
                    set_mode(&dest, restored_mode(*mode) | 0o700)?;
                }
            }
        }
        // Adding children changed directory mtimes: set them last, deepest first.
        for (i, _) in rest.iter().rev() {
            let s = &self.entries[*i];
            if s.kind == Kind::Dir {
                filetime::set_file_mtime(self.root.join(&s.path), s.mtime)?;
            }
        }
        Ok(())
    }
}

/// Replaces a file or symlink at `dest` by `put`. A directory is never removed: it may
/// hold other packs' files, and a directory checked real must stay real while other
/// packs write under it (see [`put_symlink`]).
fn replace_with(dest: &Path, put: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    refuse_dir(dest)?;
    put(dest)
}

fn refuse_dir(dest: &Path) -> Result<()> {
    if fs::symlink_metadata(dest).is_ok_and(|m| m.is_dir()) {
        bail!(
            "{} is a directory, which a pack entry may not replace",
            dest.display()
        );
    }
    Ok(())
}

/// Makes the symlink `dest` -> `target` where nothing or a file or symlink is. Never in
/// place of a directory (a symlink over `debug/deps` would hide every unit's files), and
/// never by removing one: since no pack removes a real directory, a parent checked real
/// by `ensure_real_dirs` cannot turn into a symlink before the link is made, so the
/// link lands inside the root whatever other packs commit at the same time (issue 14,
/// item 9). A symlink that appeared meanwhile fails the pack.
fn put_symlink(target: &str, dest: &Path, path: &str) -> Result<()> {
    refuse_dir(dest)?;
    match fs::symlink_metadata(dest) {
        Ok(_) => fs::remove_file(dest).with_context(|| format!("removing {}", dest.display()))?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("reading {}", dest.display())),
    }
    symlink(target, dest).with_context(|| format!("pack entry `{path}`"))
}

/// Copies an entry through one reused buffer, straight into the file.
fn copy(src: &mut impl Read, dst: &mut File, buf: &mut [u8]) -> io::Result<()> {
    loop {
        match src.read(buf) {
            Ok(0) => return Ok(()),
            Ok(n) => dst.write_all(&buf[..n])?,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Mode and times through the open file: no second path lookup per file. Without an
/// atime the file keeps the one it was created with (now).
fn finish_file(file: &File, mode: u32, atime: Option<FileTime>, mtime: FileTime) -> Result<()> {
    set_file_mode(file, mode)?;
    let mut times = FileTimes::new().set_modified(system_time(mtime));
    if let Some(a) = atime {
        times = times.set_accessed(system_time(a));
    }
    file.set_times(times)?;
    Ok(())
}

fn system_time(t: FileTime) -> SystemTime {
    let secs = t.unix_seconds();
    let whole = if secs >= 0 {
        UNIX_EPOCH + Duration::from_secs(secs as u64)
    } else {
        UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs())
    };
    whole + Duration::from_nanos(u64::from(t.nanoseconds()))
}

/// Hashes the tar as it is read, and stops it at the expansion cap.
struct HashReader<R> {
    inner: R,
    hasher: blake3::Hasher,
    /// Bytes the tar may still hold.
    left: u64,
}

impl<R: Read> Read for HashReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.left = self.left.checked_sub(n as u64).ok_or_else(|| {
            io::Error::other("the pack expands beyond what its manifest declares: refused")
        })?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
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

pub(super) fn parse_mtime(v: &str) -> Result<FileTime> {
    let (secs, frac) = v.split_once('.').unwrap_or((v, "0"));
    let secs: i64 = secs.parse().context("bad pax mtime")?;
    // Digits only, checked before slicing: a byte index into other text could fall
    // inside a multi-byte character and panic (issue 15).
    anyhow::ensure!(frac.bytes().all(|b| b.is_ascii_digit()), "bad pax mtime");
    let frac = format!("{:0<9}", &frac[..frac.len().min(9)]);
    Ok(FileTime::from_unix_time(
        secs,
        frac.parse().context("bad pax mtime")?,
    ))
}

#[cfg(unix)]
fn set_file_mode(file: &File, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(fs::Permissions::from_mode(restored_mode(mode)))?;
    Ok(())
}

#[cfg(not(unix))]
fn set_file_mode(_: &File, _: u32) -> Result<()> {
    Ok(())
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(restored_mode(mode)))
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

pub fn is_fingerprint(path: &str) -> bool {
    stash_core::usage::is_fingerprint(path)
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
            // A directory that appeared since is fine: `create_dir_shared` accepts it.
            Ok(_) => {
                remove_non_dir(&dir)?;
            }
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

/// Removes a file or a symlink (not its target), never a directory; `Ok(true)` when
/// `path` is a directory (now). A restore never deletes a real directory: it may hold
/// other units' files, and a directory another pack has just checked to be real must
/// stay one, or a symlink could take its place before that pack writes below it
/// (issue 14, item 9).
pub fn remove_non_dir(path: &Path) -> Result<bool> {
    match fs::remove_file(path) {
        Ok(()) => Ok(false),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(_) if fs::symlink_metadata(path).is_ok_and(|m| m.is_dir()) => Ok(true),
        Err(e) => Err(e).with_context(|| format!("removing {}", path.display())),
    }
}

/// Removes a file, a symlink (not its target) or a directory tree: only for our own
/// staging directories, which no pack may write.
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
