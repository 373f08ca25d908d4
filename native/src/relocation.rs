//! The save-time relocation scan: gathers, for one unit, the evidence that its artifacts
//! embed the checkout's (or target or build dir's) absolute path; `stash_core::relocation`
//! decides. Runs before the pack is made, while rustc's `deps/*.d` (never packed) are
//! still on disk.

use std::collections::BTreeMap;
use std::path::Path;

use memchr::memmem;
use object::read::archive::{ArchiveFile, ArchiveMember};
use object::{FileKind, Object, ObjectSection, ReadRef};
use stash_core::layout::{Class, Entry, EntryKind, Profiles, classify};
use stash_core::relocation::{
    self, Anchor, Anchors, Evidence, PathBound, anchors_of, cargo_dep_info_absolute,
    is_source_map_entry, parse_rustc_dep_info,
};

use crate::workspace::Workspace;

/// Larger files are not read whole: a unit holding one is taken as path-bound.
const MAX_SCANNED: u64 = 1 << 30;

/// What the scan looks for, shared by every unit of a save.
#[derive(Clone, Debug)]
pub struct Scan {
    pub anchors: Anchors,
    /// rustc's working directory for workspace units: the workspace root. Crate metadata
    /// joins every source path to it.
    pub cwd: String,
}

impl Scan {
    pub fn new(ws: &Workspace) -> Scan {
        let mut anchors = Anchors::new();
        let checkout = crate::sources::checkout_root(&ws.root);
        anchors.insert(Anchor::Checkout, checkout.display().to_string());
        anchors.insert(Anchor::Target, ws.target_dir.display().to_string());
        if let Some(b) = &ws.build_dir {
            anchors.insert(Anchor::Build, b.display().to_string());
        }
        Scan {
            anchors,
            cwd: ws.root.display().to_string(),
        }
    }
}

/// rustc's dep-info files of each unit of a root, by unit id. They are dropped from the
/// snapshot but read by the scan.
pub fn dep_files(entries: &[Entry]) -> BTreeMap<String, Vec<String>> {
    let profiles = Profiles::find(entries);
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for e in entries.iter().filter(|e| e.kind == EntryKind::File) {
        let Some(stem) = e.path.strip_suffix(".d") else {
            continue;
        };
        // `deps/x-<hash>.d` belongs to the unit whose files are `deps/x-<hash>.*`.
        if let Class::Unit { id, .. } = classify(stem, &profiles) {
            out.entry(id).or_default().push(e.path.clone());
        }
    }
    out
}

/// The verdict on one unit: `dir` is its root, `paths` its packed files, `deps` its
/// rustc dep-info files. A file that cannot be read makes the unit path-bound: a scan
/// that cannot prove a unit clean never lets it move.
pub fn scan_unit(scan: &Scan, dir: &Path, paths: &[String], deps: &[String]) -> Option<PathBound> {
    match gather(scan, dir, paths, deps) {
        Ok(e) => relocation::verdict(&e, &scan.anchors),
        Err(e) => Some(PathBound {
            anchors: scan.anchors.keys().copied().collect(),
            why: format!("not scanned: {e:#}"),
        }),
    }
}

fn gather(scan: &Scan, dir: &Path, paths: &[String], deps: &[String]) -> anyhow::Result<Evidence> {
    let mut e = Evidence::default();
    let mut sources = Vec::new();
    for d in deps
        .iter()
        .chain(paths.iter().filter(|p| p.ends_with(".d")))
    {
        let text = read(&dir.join(d))?;
        let info = parse_rustc_dep_info(&String::from_utf8_lossy(&text));
        e.env_deps.extend(info.env);
        for f in &info.files {
            if is_generated(f, &scan.anchors) {
                let found = anchors_in_bytes(&read(Path::new(f))?, &scan.anchors);
                if !found.is_empty() {
                    e.generated.push((f.clone(), found));
                }
            }
        }
        sources.extend(info.files);
    }
    let is_run = paths.iter().any(|p| p.ends_with("/root-output"));
    let has_dep_info = !deps.is_empty() || paths.iter().any(|p| p.ends_with(".d"));
    // Without rustc's dep-info (removed by `cargo stash clean`, say) the variables a unit
    // compiled in are unknown: it is not proven clean.
    let compiled = paths
        .iter()
        .any(|p| !crate::pack::is_fingerprint(p) && p.contains("deps/"));
    anyhow::ensure!(
        is_run || has_dep_info || !compiled,
        "rustc's dep-info (deps/*.d) is missing"
    );
    for p in paths {
        let name = p.rsplit('/').next().unwrap_or(p);
        let full = dir.join(p);
        if !std::fs::symlink_metadata(&full).is_ok_and(|m| m.is_file()) {
            continue;
        }
        // `.fingerprint/<unit>/`, or `fingerprint/` in the build-dir new layout.
        if crate::pack::is_fingerprint(p) {
            if name.starts_with("dep-") {
                let bytes = read(&full)?;
                e.dep_info_paths
                    .extend(cargo_dep_info_absolute(&bytes).unwrap_or_default());
            }
            continue;
        }
        // A build script's directives: `output`, or `run/stdout` in the new layout.
        if matches!(name, "output" | "stdout") && paths.contains(&sibling(p, "root-output")) {
            let text = String::from_utf8_lossy(&read(&full)?).into_owned();
            e.script_output = text.lines().map(str::to_string).collect();
            let root = read(&dir.join(sibling(p, "root-output")))?;
            e.root_output = Some(String::from_utf8_lossy(&root).trim_end().to_string());
            continue;
        }
        // What a build script wrote into OUT_DIR: a unit compiling it is rebuilt at a new
        // path only if this run is redone too.
        if is_run && p.contains("/out/") && FileKind::parse(&read(&full)?[..]).is_err() {
            let found = anchors_in_bytes(&read(&full)?, &scan.anchors);
            if !found.is_empty() {
                e.generated.push((p.clone(), found));
            }
            continue;
        }
        if is_output(name) && holds_an_anchor(&full, &scan.anchors)? {
            let found = scan_output_file(&full, name, scan, &sources)?;
            if !found.is_empty() {
                e.outputs.push((p.clone(), found));
            }
        }
    }
    Ok(e)
}

fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    use anyhow::Context;
    let len = std::fs::metadata(path)
        .with_context(|| format!("reading {}", path.display()))?
        .len();
    anyhow::ensure!(
        len <= MAX_SCANNED,
        "{} is too large to scan",
        path.display()
    );
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

/// Read buffers of [`holds_an_anchor`], kept between calls. A pool, not one per thread:
/// scans run on tokio's blocking threads, of which a save of twice bat's target used
/// two dozen, and a buffer each held 24 MiB at the save's peak.
static BUFFERS: std::sync::Mutex<Vec<Vec<u8>>> = std::sync::Mutex::new(Vec::new());

/// Whether the file holds any anchor's bytes, read through one reused buffer: most
/// outputs hold none, and those are settled without allocating their size.
fn holds_an_anchor(path: &Path, anchors: &Anchors) -> anyhow::Result<bool> {
    let mut buf = BUFFERS
        .lock()
        .unwrap()
        .pop()
        .unwrap_or_else(|| vec![0; 1 << 20]);
    let found = search_file(path, anchors, &mut buf);
    BUFFERS.lock().unwrap().push(buf);
    found
}

fn search_file(path: &Path, anchors: &Anchors, buf: &mut [u8]) -> anyhow::Result<bool> {
    use anyhow::Context;
    use std::io::Read;
    let Some(shortest) = anchors
        .values()
        .filter(|r| !r.is_empty())
        .min_by_key(|r| r.len())
    else {
        return Ok(false);
    };
    // Every anchor not inside the shortest one must be looked for too.
    let needles: Vec<&[u8]> = anchors
        .values()
        .filter(|r| !r.is_empty() && (*r == shortest || !r.starts_with(shortest.as_str())))
        .map(|r| r.as_bytes())
        .collect();
    let keep = needles.iter().map(|n| n.len()).max().unwrap_or(1) - 1;
    let mut file =
        std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    let mut filled = 0;
    loop {
        let n = file
            .read(&mut buf[filled..])
            .with_context(|| format!("reading {}", path.display()))?;
        let end = filled + n;
        if needles
            .iter()
            .any(|nd| memmem::find(&buf[..end], nd).is_some())
        {
            return Ok(true);
        }
        if n == 0 {
            return Ok(false);
        }
        // Keep the tail: a match may straddle two reads.
        let tail = end.saturating_sub(keep);
        buf.copy_within(tail..end, 0);
        filled = end - tail;
    }
}

fn sibling(path: &str, name: &str) -> String {
    match path.rsplit_once('/') {
        Some((parent, _)) => format!("{parent}/{name}"),
        None => name.to_string(),
    }
}

/// A file a unit compiled that a build wrote: under the target or build dir.
fn is_generated(file: &str, anchors: &Anchors) -> bool {
    anchors_of(file, anchors)
        .iter()
        .any(|a| matches!(a, Anchor::Target | Anchor::Build))
}

/// Files that are compiled code or crate metadata; fingerprints, dep-info and build
/// script bookkeeping are read by their own rules.
fn is_output(name: &str) -> bool {
    !name.ends_with(".d")
        && !name.ends_with(".json")
        && !matches!(
            name,
            "output" | "stdout" | "root-output" | "stderr" | "invoked.timestamp"
        )
}

/// The anchors found in an output outside debug info. Objects and archives are parsed
/// so DWARF (which keeps the build's directory, a cosmetic path) is skipped; crate
/// metadata is searched with its source map left out.
/// [`scan_output`] of a file that holds an anchor somewhere, reading only what the
/// parse needs: an object's headers and non-debug sections, so a debug binary's DWARF
/// (most of its bytes, where the checkout path always is) never sits in memory.
fn scan_output_file(
    path: &Path,
    name: &str,
    scan: &Scan,
    sources: &[String],
) -> anyhow::Result<Vec<Anchor>> {
    use anyhow::Context;
    let file = std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    let len = file
        .metadata()
        .with_context(|| format!("reading {}", path.display()))?
        .len();
    anyhow::ensure!(
        len <= MAX_SCANNED,
        "{} is too large to scan",
        path.display()
    );
    let cache = object::ReadCache::new(&file);
    let data = &cache;
    let whole = || {
        data.read_bytes_at(0, len)
            .map_err(|()| anyhow::anyhow!("reading {}", path.display()))
    };
    Ok(match FileKind::parse(data) {
        Ok(FileKind::Archive) => scan_archive(&file, name, scan, sources),
        Ok(kind) => match object::File::parse(data) {
            Ok(file) => scan_object(&file, scan, sources),
            Err(e) => {
                tracing::debug!("relocation scan: {name} ({kind:?}) searched whole: {e}");
                anchors_in_bytes(whole()?, &scan.anchors)
            }
        },
        Err(_) => scan_output(whole()?, name, scan, sources),
    })
}

/// An archive (an rlib) one member at a time, each through a cache of its own, so that
/// memory is what one member's scan reads (an object's non-debug sections), not the
/// archive: a workspace member's rlib can be hundreds of MB.
fn scan_archive(file: &std::fs::File, name: &str, scan: &Scan, sources: &[String]) -> Vec<Anchor> {
    let headers = object::ReadCache::new(file);
    scan_members(
        ArchiveFile::parse(&headers),
        name,
        scan,
        |member, member_name| {
            let (offset, size) = member.file_range();
            let cache = object::ReadCache::new(file);
            scan_member(cache.range(offset, size), size, member_name, scan, sources)
        },
    )
}

/// The anchors of every member of `archive`, each found by `scan_one` (`None`: the member
/// could not be read). An archive or member that cannot be read holds every anchor.
fn scan_members<'d, R: ReadRef<'d>>(
    archive: object::Result<ArchiveFile<'d, R>>,
    name: &str,
    scan: &Scan,
    mut scan_one: impl FnMut(&ArchiveMember<'d>, &str) -> Option<Vec<Anchor>>,
) -> Vec<Anchor> {
    let every = || scan.anchors.keys().copied().collect();
    let archive = match archive {
        Ok(a) => a,
        Err(e) => {
            tracing::debug!("relocation scan: unreadable archive {name}: {e}");
            return every();
        }
    };
    let mut found = Vec::new();
    for member in archive.members() {
        let member = match member {
            Ok(m) => m,
            Err(e) => {
                tracing::debug!("relocation scan: unreadable archive {name}: {e}");
                return every();
            }
        };
        let member_name = String::from_utf8_lossy(member.name()).into_owned();
        match scan_one(&member, &member_name) {
            Some(here) => found.extend(here),
            None => {
                tracing::debug!("relocation scan: unreadable member {member_name} of {name}");
                return every();
            }
        }
    }
    found.sort();
    found.dedup();
    found
}

/// One archive member: an object through its sections, anything else (the crate
/// metadata, a nested archive) read whole. `None` if it cannot be read.
fn scan_member<'d, R: ReadRef<'d>>(
    data: R,
    size: u64,
    name: &str,
    scan: &Scan,
    sources: &[String],
) -> Option<Vec<Anchor>> {
    if let Ok(kind) = FileKind::parse(data)
        && kind != FileKind::Archive
        && let Ok(file) = object::File::parse(data)
    {
        return Some(scan_object(&file, scan, sources));
    }
    // A fresh allocation of the cache, so aligned as object's ELF reader wants.
    let bytes = data.read_bytes_at(0, size).ok()?;
    Some(scan_output(bytes, name, scan, sources))
}

fn scan_output(data: &[u8], name: &str, scan: &Scan, sources: &[String]) -> Vec<Anchor> {
    // Most outputs (every registry crate's) hold no anchor at all, not even in debug
    // info: one pass over the bytes settles them without parsing.
    if anchors_in_bytes(data, &scan.anchors).is_empty() {
        return Vec::new();
    }
    match FileKind::parse(data) {
        // A nested archive (none in rustc's output) is read from memory.
        Ok(FileKind::Archive) => scan_members(ArchiveFile::parse(data), name, scan, |m, m_name| {
            // Members sit at 2-byte offsets; object's ELF reader wants its header
            // aligned, which a fresh allocation is.
            let aligned = m.data(data).ok()?.to_vec();
            Some(scan_output(&aligned, m_name, scan, sources))
        }),
        Ok(kind) => match object::File::parse(data) {
            Ok(file) => scan_object(&file, scan, sources),
            Err(e) => {
                tracing::debug!("relocation scan: {name} ({kind:?}) searched whole: {e}");
                anchors_in_bytes(data, &scan.anchors)
            }
        },
        Err(_) if name.ends_with(".rmeta") => {
            let found = anchors_in_metadata(data, scan, sources);
            if !found.is_empty() {
                tracing::debug!("relocation scan: {found:?} in metadata {name} ({sources:?})");
            }
            found
        }
        Err(_) => Vec::new(),
    }
}

fn scan_object<'d, R: ReadRef<'d>>(
    file: &object::File<'d, R>,
    scan: &Scan,
    sources: &[String],
) -> Vec<Anchor> {
    let mut found = Vec::new();
    for section in file.sections() {
        let name = section.name().unwrap_or_default();
        if is_debug_section(name) {
            continue;
        }
        let data = match section.data() {
            Ok(d) => d,
            Err(e) => {
                tracing::debug!("relocation scan: unreadable section {name}: {e}");
                return scan.anchors.keys().copied().collect();
            }
        };
        let here = if is_metadata_section(name) {
            anchors_in_metadata(data, scan, sources)
        } else {
            anchors_in_bytes(data, &scan.anchors)
        };
        if !here.is_empty() {
            tracing::debug!("relocation scan: {here:?} in section {name}");
        }
        found.extend(here);
    }
    found.sort();
    found.dedup();
    found
}

/// rustc's crate metadata: `.rmeta` in an rlib's `lib.rmeta` member, `.rustc` in a dylib
/// or proc-macro (`__rustc` on macOS).
fn is_metadata_section(name: &str) -> bool {
    matches!(name, ".rmeta" | ".rustc" | "__rustc" | "__rmeta")
}

fn is_debug_section(name: &str) -> bool {
    name.starts_with(".debug")
        || name.starts_with(".zdebug")
        || name.starts_with("__debug")
        || name.starts_with("__apple")
}

fn anchors_in_bytes(data: &[u8], anchors: &Anchors) -> Vec<Anchor> {
    // Outer anchors first: one inside another (target/ in the checkout) can only occur
    // where the outer one does, so a miss of the outer saves a pass over the bytes.
    let mut sorted: Vec<(&Anchor, &String)> =
        anchors.iter().filter(|(_, r)| !r.is_empty()).collect();
    sorted.sort_by_key(|(_, r)| r.len());
    let mut found = Vec::new();
    let mut absent: Vec<&str> = Vec::new();
    for (anchor, root) in sorted {
        let inside_absent = absent.iter().any(|outer| {
            root.strip_prefix(outer)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        });
        if inside_absent {
            continue;
        }
        if memmem::find(data, root.as_bytes()).is_some() {
            found.push(*anchor);
        } else {
            absent.push(root);
        }
    }
    found.sort();
    found
}

fn anchors_in_metadata(data: &[u8], scan: &Scan, sources: &[String]) -> Vec<Anchor> {
    scan.anchors
        .iter()
        .filter(|(_, root)| {
            !root.is_empty()
                && memmem::find_iter(data, root.as_bytes())
                    .any(|pos| !is_source_map_entry(data, pos, &scan.cwd, sources))
        })
        .map(|(a, _)| *a)
        .collect()
}

/// The anchors a restore sees here: checkout, target and build dir.
pub fn anchors_now(ws: &Workspace) -> Anchors {
    Scan::new(ws).anchors
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_an_anchor_straddling_two_reads() {
        let dir = tempfile::tempdir().unwrap();
        let anchors: Anchors = [
            (Anchor::Checkout, "/ci/a/repo".to_string()),
            (Anchor::Target, "/ci/a/repo/target".to_string()),
            (Anchor::Build, "/ci/build/x".to_string()),
        ]
        .into();
        let file = dir.path().join("out");
        for (at, anchor, expected) in [
            ((1 << 20) - 4, "/ci/a/repo", true),
            ((2 << 20) - 3, "/ci/build/x", true),
            (5, "/ci/a/rep", false),
        ] {
            let mut data = vec![0u8; 3 << 20];
            data[at..at + anchor.len()].copy_from_slice(anchor.as_bytes());
            std::fs::write(&file, &data).unwrap();
            assert_eq!(
                holds_an_anchor(&file, &anchors).unwrap(),
                expected,
                "{anchor} at {at}"
            );
        }
    }
}
