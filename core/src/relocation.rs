//! Which units are path-bound: their artifacts embed an absolute path of the checkout
//! (or of a target or build dir) that a restore at another path would leave wrong.
//!
//! Cargo survives a move of the checkout: fingerprints and its own dep-info are relative.
//! But it never compares the values of the variables it sets on rustc
//! (`CARGO_MANIFEST_DIR`, `OUT_DIR`, `rustc-env`, ...), so a unit that compiled one in stays
//! fresh after a move and is wrong (docs/format.md, "Path-bound units"). Native gathers
//! the evidence at save; [`verdict`] decides, and [`moved`] tells restore whether the
//! anchors a verdict names are somewhere else now.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// An absolute path artifacts can embed, which a restore may find elsewhere.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Anchor {
    /// The checkout root (the git work tree, else the workspace root).
    Checkout,
    /// The target dir.
    Target,
    /// A separate build dir.
    Build,
}

/// Anchor -> absolute path, as the scan or a restore saw it.
pub type Anchors = BTreeMap<Anchor, String>;

/// Why a unit is path-bound, stored per pack in the manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathBound {
    /// The anchors its artifacts embed: it is restored only where all of them are unmoved.
    pub anchors: Vec<Anchor>,
    /// The first piece of evidence, for humans (`restore -v`, `stats`).
    pub why: String,
}

/// What the save's scan found about one unit. Every field is raw data: which of it
/// makes the unit path-bound is decided by [`verdict`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Evidence {
    /// `# env-dep:K=V` lines of rustc's dep-info (`deps/*.d`).
    pub env_deps: Vec<(String, String)>,
    /// Lines of the build script's `output`, and its `root-output` (the OUT_DIR prefix
    /// Cargo rewrites when the target dir moves).
    pub script_output: Vec<String>,
    /// The build script's `root-output`, when it has one.
    pub root_output: Option<String>,
    /// Absolute paths listed by Cargo's own dep-info (`.fingerprint/*/dep-*`).
    pub dep_info_paths: Vec<String>,
    /// Generated files the unit compiled (from rustc's dep-info) and the anchors found in
    /// their content.
    pub generated: Vec<(String, Vec<Anchor>)>,
    /// Output files (relative to their root) and the anchors found outside debug info.
    pub outputs: Vec<(String, Vec<Anchor>)>,
}

/// The anchors `value` lies under (`value` is one of them or below one).
pub fn anchors_of(value: &str, anchors: &Anchors) -> Vec<Anchor> {
    anchors
        .iter()
        .filter(|(_, root)| under(value, root))
        .map(|(a, _)| *a)
        .collect()
}

/// The anchors whose path appears anywhere in `text`.
pub fn anchors_in(text: &str, anchors: &Anchors) -> Vec<Anchor> {
    anchors
        .iter()
        .filter(|(_, root)| !root.is_empty() && text.contains(root.as_str()))
        .map(|(a, _)| *a)
        .collect()
}

fn under(value: &str, root: &str) -> bool {
    !root.is_empty()
        && value
            .strip_prefix(root)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// Decides whether a unit is path-bound, and why. Evidence is checked from the most
/// specific (a variable rustc compiled in) to the safety net (the anchor's bytes in an
/// output outside debug info).
pub fn verdict(e: &Evidence, anchors: &Anchors) -> Option<PathBound> {
    let bound = |found: Vec<Anchor>, why: String| {
        (!found.is_empty()).then_some(PathBound {
            anchors: found,
            why,
        })
    };
    let mut all: Vec<PathBound> = Vec::new();
    for (k, v) in &e.env_deps {
        // `include!(concat!(env!("OUT_DIR"), ...))` compiles in the generated file, not
        // its path: Cargo's OUT_DIR is left to the checks of generated files and outputs
        // below, or every crate using the idiom (serde among them) would rebuild.
        if k == "OUT_DIR" {
            continue;
        }
        all.extend(bound(
            anchors_of(v, anchors),
            format!("compiles in {k}={v}"),
        ));
    }
    for line in &e.script_output {
        let Some(directive) = directive_of(line) else {
            continue;
        };
        // Cargo rewrites the OUT_DIR prefix of these lines when the target dir moves.
        let rest = match &e.root_output {
            Some(out) if !out.is_empty() => line.replace(out.as_str(), ""),
            _ => line.clone(),
        };
        all.extend(bound(
            anchors_in(&rest, anchors),
            format!("its build script printed {directive} with an absolute path"),
        ));
    }
    for p in &e.dep_info_paths {
        all.extend(bound(
            anchors_of(p, anchors),
            format!("reads {p} by absolute path"),
        ));
    }
    for (file, found) in &e.generated {
        all.extend(bound(
            found.clone(),
            format!("compiles generated {file}, which holds an absolute path"),
        ));
    }
    for (file, found) in &e.outputs {
        all.extend(bound(
            found.clone(),
            format!("{file} holds an absolute path outside debug info"),
        ));
    }
    let why = all.first()?.why.clone();
    let mut found: Vec<Anchor> = all.into_iter().flat_map(|b| b.anchors).collect();
    found.sort();
    found.dedup();
    Some(PathBound {
        anchors: found,
        why,
    })
}

/// The directive of a build-script output line that can carry a path into the build
/// (`rustc-env`, `rustc-link-search`, ...); `None` for lines that only tell Cargo when
/// to rerun, or are not directives.
fn directive_of(line: &str) -> Option<&str> {
    let rest = line
        .strip_prefix("cargo::")
        .or_else(|| line.strip_prefix("cargo:"))?;
    let name = rest.split(['=', ' ']).next()?;
    (!matches!(
        name,
        "rerun-if-changed" | "rerun-if-env-changed" | "warning" | "error"
    ))
    .then_some(name)
}

/// Whether a path-bound unit saved with `saved` anchors would be wrong where the
/// anchors are `now`: one of its anchors is elsewhere, or unknown on either side.
pub fn moved(pb: &PathBound, saved: &Anchors, now: &Anchors) -> bool {
    pb.anchors.iter().any(|a| match (saved.get(a), now.get(a)) {
        (Some(s), Some(n)) => s != n,
        _ => true,
    })
}

/// Drops from `manifest` the packs of units whose artifacts embed a path (checkout,
/// target or build dir) that is elsewhere `now`, and names them: with no fingerprint,
/// Cargo rebuilds them. A snapshot saved before the scan (no anchors) keeps every pack.
pub fn leave_out_moved(
    mut manifest: crate::Manifest,
    now: &Anchors,
) -> (crate::Manifest, Vec<crate::output::PathBoundUnit>) {
    let Some(saved) = manifest.anchors.clone() else {
        return (manifest, Vec::new());
    };
    let mut bound = Vec::new();
    manifest.packs.retain(|p| match &p.path_bound {
        Some(pb) if moved(pb, &saved, now) => {
            bound.push(crate::output::PathBoundUnit {
                unit: p.group.clone(),
                name: p.unit.clone().unwrap_or_default(),
                why: pb.why.clone(),
            });
            false
        }
        _ => true,
    });
    (manifest, bound)
}

/// The inputs and `# env-dep` pairs of one rustc dep-info file (Makefile syntax, spaces
/// in paths escaped with `\`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RustcDepInfo {
    /// The input files.
    pub files: Vec<String>,
    /// The `# env-dep` variables and their values.
    pub env: Vec<(String, String)>,
}

/// Reads one rustc dep-info file.
pub fn parse_rustc_dep_info(text: &str) -> RustcDepInfo {
    let mut out = RustcDepInfo::default();
    for line in text.lines() {
        if let Some(pair) = line.strip_prefix("# env-dep:") {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            out.env.push((k.to_string(), unescape_env(v)));
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        // `target: dep dep ...`; every target line lists the same inputs.
        let Some((_, deps)) = split_target(line) else {
            continue;
        };
        for dep in split_escaped(deps) {
            if !out.files.contains(&dep) {
                out.files.push(dep);
            }
        }
    }
    out
}

/// rustc escapes `\n` and `\r` in env-dep values.
fn unescape_env(v: &str) -> String {
    v.replace("\\n", "\n").replace("\\r", "\r")
}

/// Splits `target: deps` at the first `: ` not escaped (a Windows drive has none).
fn split_target(line: &str) -> Option<(&str, &str)> {
    let bytes = line.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b':' if bytes.get(i + 1).is_none_or(|b| *b == b' ') => {
                return Some((&line[..i], &line[i + 1..]));
            }
            _ => i += 1,
        }
    }
    None
}

fn split_escaped(deps: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = deps.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => cur.extend(chars.next()),
            ' ' => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// The absolute paths listed by Cargo's binary dep-info (`.fingerprint/*/dep-*`): Cargo
/// stores an input relative to the package or build root when it lies below one, and
/// absolute otherwise. `None` when the format is not the one this version reads.
pub fn cargo_dep_info_absolute(bytes: &[u8]) -> Option<Vec<String>> {
    let mut r = Reader(bytes);
    // Magic marker: a count of 1 and a path type of 255, then the format version.
    if r.u32()? != 1 || r.u8()? != u8::MAX {
        return None;
    }
    r.u8()?;
    let n = r.u32()?;
    let mut out = Vec::new();
    for _ in 0..n {
        r.u8()?;
        let path = String::from_utf8_lossy(r.bytes()?).into_owned();
        if r.u8()? != 0 {
            r.take(8)?;
            r.bytes()?;
        }
        if path.starts_with('/') || path.as_bytes().get(1) == Some(&b':') {
            out.push(path);
        }
    }
    Some(out)
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = (self.0.get(..n)?, self.0.get(n..)?);
        self.0 = rest;
        Some(head)
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    fn u32(&mut self) -> Option<usize> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?) as usize)
    }
    fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = self.u32()?;
        self.take(n)
    }
}

/// Whether the anchor found at `pos` of crate metadata (`.rmeta`, the `.rmeta` or
/// `.rustc` section of an rlib member or a dylib) is part of its source map, which rustc
/// makes absolute for downstream crates: every source file's absolute path, and the
/// directory it was compiled from (`cwd`, or a package root for a path dependency outside
/// the workspace), which rustc writes with a length prefix after a `0xc1` tag. Those are
/// paths to sources, not values the crate uses. Anything else found there (a constant,
/// a literal in a generic body) counts.
pub fn is_source_map_entry(data: &[u8], pos: usize, cwd: &str, sources: &[String]) -> bool {
    let end = data[pos..]
        .iter()
        .position(|b| *b < 0x20 || *b >= 0x7f || *b == b'"')
        .map_or(data.len(), |n| pos + n);
    let Ok(found) = std::str::from_utf8(&data[pos..end]) else {
        return false;
    };
    let absolute = |s: &String| {
        if s.starts_with('/') {
            s.clone()
        } else {
            format!("{cwd}/{s}")
        }
    };
    let mut files = sources.iter().map(absolute);
    if files.any(|f| f == found) {
        return true;
    }
    let is_dir = found == cwd
        || sources
            .iter()
            .map(absolute)
            .any(|f| f.strip_prefix(found).is_some_and(|r| r.starts_with('/')));
    is_dir && tagged_length(&data[..pos], found.len())
}

/// Whether `before` ends with the `0xc1` tag and the LEB128 length `len`.
fn tagged_length(before: &[u8], len: usize) -> bool {
    let mut leb = Vec::new();
    let mut n = len;
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            leb.push(byte);
            break;
        }
        leb.push(byte | 0x80);
    }
    leb.insert(0, 0xc1);
    before.ends_with(&leb)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn anchors() -> Anchors {
        [
            (Anchor::Checkout, "/ci/a/repo".to_string()),
            (Anchor::Target, "/ci/a/repo/target".to_string()),
        ]
        .into()
    }

    #[test]
    fn env_dep_under_the_checkout_is_path_bound() {
        let e = Evidence {
            env_deps: vec![
                ("CARGO_PKG_NAME".into(), "app".into()),
                ("CARGO_MANIFEST_DIR".into(), "/ci/a/repo/app".into()),
            ],
            ..Default::default()
        };
        let v = verdict(&e, &anchors()).unwrap();
        assert_eq!(v.anchors, vec![Anchor::Checkout]);
        assert!(
            v.why.contains("CARGO_MANIFEST_DIR=/ci/a/repo/app"),
            "{}",
            v.why
        );
        // A sibling directory sharing the prefix is not under the root.
        let e = Evidence {
            env_deps: vec![("X".into(), "/ci/a/repo2/x".into())],
            ..Default::default()
        };
        assert_eq!(verdict(&e, &anchors()), None);
    }

    #[test]
    fn out_dir_lines_rewritten_by_cargo_are_not_evidence() {
        let out = "/ci/a/repo/target/debug/build/x-0123456789abcdef/out";
        let e = Evidence {
            script_output: vec![
                format!("cargo:rustc-link-search=native={out}"),
                "cargo:rerun-if-changed=/ci/a/repo/x/build.rs".into(),
                "cargo:warning=/ci/a/repo".into(),
            ],
            root_output: Some(out.into()),
            ..Default::default()
        };
        assert_eq!(verdict(&e, &anchors()), None);
        let e = Evidence {
            script_output: vec!["cargo::rustc-env=DATA=/ci/a/repo/x/data".into()],
            root_output: Some(out.into()),
            ..Default::default()
        };
        let v = verdict(&e, &anchors()).unwrap();
        assert!(v.why.contains("rustc-env"), "{}", v.why);
    }

    #[test]
    fn target_dir_paths_name_both_anchors() {
        let e = Evidence {
            env_deps: vec![(
                "CARGO_BIN_EXE_app".into(),
                "/ci/a/repo/target/debug/build/x-0123456789abcdef/out".into(),
            )],
            outputs: vec![("debug/deps/x".into(), vec![Anchor::Checkout])],
            ..Default::default()
        };
        let v = verdict(&e, &anchors()).unwrap();
        assert_eq!(v.anchors, vec![Anchor::Checkout, Anchor::Target]);
        // OUT_DIR alone is the include! idiom: only what it compiled in counts.
        let out_dir = "/ci/a/repo/target/debug/build/x-0123456789abcdef/out";
        let mut e = Evidence {
            env_deps: vec![("OUT_DIR".into(), out_dir.into())],
            ..Default::default()
        };
        assert_eq!(verdict(&e, &anchors()), None);
        e.generated
            .push((format!("{out_dir}/gen.rs"), vec![Anchor::Checkout]));
        assert!(verdict(&e, &anchors()).is_some());
    }

    #[test]
    fn moved_only_when_a_named_anchor_moved() {
        let pb = PathBound {
            anchors: vec![Anchor::Target],
            why: String::new(),
        };
        let mut now = anchors();
        now.insert(Anchor::Checkout, "/ci/b/repo".into());
        assert!(!moved(&pb, &anchors(), &now));
        now.insert(Anchor::Target, "/ci/b/repo/target".into());
        assert!(moved(&pb, &anchors(), &now));
        now.remove(&Anchor::Target);
        assert!(moved(&pb, &anchors(), &now));
    }

    #[test]
    fn parses_rustc_dep_info() {
        let text = "/t/debug/deps/a-1.d: src/lib.rs /t/debug/build/a-2/out/gen.rs src/my\\ file.rs\n\n\
                    src/lib.rs:\n\n# env-dep:CARGO_MANIFEST_DIR=/ci/a/repo\n# env-dep:OUT_DIR=/t/o\n";
        let d = parse_rustc_dep_info(text);
        assert_eq!(
            d.files,
            vec![
                "src/lib.rs",
                "/t/debug/build/a-2/out/gen.rs",
                "src/my file.rs"
            ]
        );
        assert_eq!(d.env[0], ("CARGO_MANIFEST_DIR".into(), "/ci/a/repo".into()));
        assert_eq!(d.env.len(), 2);
    }

    #[test]
    fn reads_absolute_paths_of_cargo_dep_info() {
        let files = [
            (0u8, "src/lib.rs", false),
            (1, "/ci/a/repo/README.md", true),
        ];
        let mut b = vec![1, 0, 0, 0, 255, 1];
        b.extend((files.len() as u32).to_le_bytes());
        for (ty, p, checksum) in files {
            b.push(ty);
            b.extend((p.len() as u32).to_le_bytes());
            b.extend(p.as_bytes());
            b.push(u8::from(checksum));
            if checksum {
                b.extend(7u64.to_le_bytes());
                b.extend(2u32.to_le_bytes());
                b.extend(b"ab");
            }
        }
        b.extend(0u32.to_le_bytes());
        assert_eq!(
            cargo_dep_info_absolute(&b),
            Some(vec!["/ci/a/repo/README.md".to_string()])
        );
        assert_eq!(cargo_dep_info_absolute(b"\x02\0\0\0old"), None);
    }

    #[test]
    fn source_map_entries_are_not_values() {
        let mut data =
            b"\x00\x00\x0asrc/lib.rs\xc1\x0a/ci/a/repo\xc1\x15/ci/a/repo/src/lib.rs".to_vec();
        // A constant holding the package dir, untagged; a quoted literal; a longer path.
        data.extend(b"\x00\x00\x0a/ci/a/repo\x00\"/ci/a/repo\"\x00/ci/a/repo/x");
        // A path dependency outside the workspace: its own root, tagged.
        data.extend(b"\x00(/ci/a/dep/src/lib.rs\xc1\x09/ci/a/dep");
        let sources = vec!["src/lib.rs".to_string(), "/ci/a/dep/src/lib.rs".to_string()];
        let check = |needle: &[u8]| -> Vec<bool> {
            memfind(&data, needle)
                .into_iter()
                .map(|p| is_source_map_entry(&data, p, "/ci/a/repo", &sources))
                .collect()
        };
        assert_eq!(check(b"/ci/a/repo"), vec![true, true, false, false, false]);
        assert_eq!(check(b"/ci/a/dep"), vec![true, true]);
    }

    fn memfind(hay: &[u8], needle: &[u8]) -> Vec<usize> {
        (0..hay.len())
            .filter(|i| hay[*i..].starts_with(needle))
            .collect()
    }
}

#[cfg(test)]
mod leave_out_tests {
    use super::*;
    use crate::manifest::{MANIFEST_SCHEMA, PackRef};

    fn pack(group: &str, bound: Option<Anchor>) -> PackRef {
        PackRef {
            id: "a".repeat(64),
            root: "target".into(),
            group: group.into(),
            unit: Some(format!("{group}-name")),
            files: 1,
            bytes: 1,
            stored: 1,
            base: None,
            path_bound: bound.map(|a| PathBound {
                anchors: vec![a],
                why: format!("embeds {a:?}"),
            }),
        }
    }

    #[test]
    fn only_units_bound_to_a_moved_anchor_are_left_out() {
        let at = |checkout: &str| -> Anchors {
            [
                (Anchor::Checkout, checkout.to_string()),
                (Anchor::Target, "/t".to_string()),
            ]
            .into()
        };
        let manifest = crate::Manifest {
            schema: MANIFEST_SCHEMA,
            layer: "target".into(),
            key: "k".into(),
            created: 0,
            tool: "t".into(),
            roots: Default::default(),
            packs: vec![
                pack("debug/free", None),
                pack("debug/co", Some(Anchor::Checkout)),
                pack("debug/tg", Some(Anchor::Target)),
            ],
            links: Vec::new(),
            inputs: Vec::new(),
            sources: None,
            anchors: Some(at("/a")),
        };
        let (kept, bound) = leave_out_moved(manifest.clone(), &at("/a"));
        assert_eq!((kept.packs.len(), bound.len()), (3, 0));
        let (kept, bound) = leave_out_moved(manifest.clone(), &at("/b"));
        let groups: Vec<&str> = kept.packs.iter().map(|p| p.group.as_str()).collect();
        assert_eq!(groups, ["debug/free", "debug/tg"]);
        assert_eq!(bound.len(), 1);
        assert_eq!(
            (bound[0].unit.as_str(), bound[0].name.as_str()),
            ("debug/co", "debug/co-name")
        );
        // A snapshot saved before the scan keeps every pack.
        let unscanned = crate::Manifest {
            anchors: None,
            ..manifest
        };
        assert_eq!(leave_out_moved(unscanned, &at("/b")).0.packs.len(), 3);
    }
}
