//! What each path of a target dir or build dir is, from a listing alone.
//!
//! Cargo writes one unit (a crate compiled one way) as files named `<name>-<hash>` in
//! `.fingerprint/`, `deps/`, `build/` and `examples/` of a profile dir; the hash ties
//! them together. Cargo 1.100's build-dir layout puts a unit under
//! `build/<pkg>/<hash>/` instead. Profile dirs sit at `<root>/<profile>` or
//! `<root>/<triple>/<profile>`.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

/// Directory cargo-stash keeps its own state in, inside the target dir. Never packed.
pub const STATE_DIR: &str = ".cargo-stash";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
/// What a listed path is.
pub enum EntryKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link.
    Symlink,
}

/// One path of a listing, relative to its root, `/`-separated.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Relative to the root, `/`-separated.
    pub path: String,
    /// File, directory or symlink.
    pub kind: EntryKind,
    #[serde(default)]
    /// Bytes of a file (0 for the others).
    pub size: u64,
    /// Same value for paths that are hard links of one file (e.g. the inode), when the
    /// file has more than one link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link_id: Option<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
/// The kind of a target-dir path, as `clean` and the plan count them.
pub enum Category {
    /// Files of a Cargo unit, fingerprints included.
    Unit,
    /// Final artifacts Cargo copies (hard-links) out of `deps/`.
    Uplifted,
    /// `incremental/`: never read for freshness, 4-21 % of target/.
    Incremental,
    /// `*.d` dep files: not read for freshness.
    DepFile,
    /// Anything else: `.rustc_info.json`, `doc/`, `tmp/` ...
    Other,
}

#[derive(Clone, Debug, PartialEq, Eq)]
/// What a path of a target or build dir is, by where Cargo puts it.
pub enum Class {
    /// A file of one Cargo unit (fingerprint, deps or build script dir).
    Unit {
        /// `<profile dir>/<hash>`: unique within one root.
        id: String,
        /// Package or crate name, for humans.
        name: String,
    },
    /// An artifact Cargo copies out of `deps/` (see [`Category::Uplifted`]).
    Uplifted,
    /// Under `incremental/`.
    Incremental,
    /// A `*.d` dep file.
    DepFile,
    /// Anything else.
    Other,
    /// cargo-stash's own state: never saved.
    Internal,
}

impl Class {
    /// The report category of the class; `None` for our own state.
    pub fn category(&self) -> Option<Category> {
        Some(match self {
            Class::Unit { .. } => Category::Unit,
            Class::Uplifted => Category::Uplifted,
            Class::Incremental => Category::Incremental,
            Class::DepFile => Category::DepFile,
            Class::Other => Category::Other,
            Class::Internal => return None,
        })
    }
}

/// The profile dirs of a root, found from the listing.
#[derive(Clone, Debug, Default)]
pub struct Profiles(BTreeSet<String>);

const PROFILE_MARKERS: [&str; 3] = [".fingerprint", "deps", "build"];

impl Profiles {
    /// The profile dirs (`debug`, `release`, `<triple>/debug` ...) of a listing:
    /// the dirs holding `.fingerprint`, `deps` or `build`.
    pub fn find(entries: &[Entry]) -> Profiles {
        let dirs: Vec<&str> = entries
            .iter()
            .filter(|e| e.kind == EntryKind::Dir)
            .map(|e| e.path.trim_end_matches('/'))
            .collect();
        let mut found = BTreeSet::new();
        for depth in [1, 2] {
            for dir in &dirs {
                let comps: Vec<&str> = dir.split('/').collect();
                if comps.len() != depth + 1 || !PROFILE_MARKERS.contains(&comps[depth]) {
                    continue;
                }
                let profile = comps[..depth].join("/");
                // `debug/build/deps` is a unit dir of a package named `deps`, not a profile.
                let nested = depth == 2 && found.contains(comps[0]);
                if !nested && profile != STATE_DIR {
                    found.insert(profile);
                }
            }
        }
        Profiles(found)
    }

    /// The profile dirs, sorted.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// The profile dir containing `path` and the rest of the path below it.
    fn split<'a>(&self, path: &'a str) -> Option<(&'a str, &'a str)> {
        self.0.iter().find_map(|p| {
            let rest = path.strip_prefix(p.as_str())?;
            if rest.is_empty() {
                Some((&path[..p.len()], ""))
            } else {
                Some((&path[..p.len()], rest.strip_prefix('/')?))
            }
        })
    }
}

/// Classifies one path of a root.
pub fn classify(path: &str, profiles: &Profiles) -> Class {
    if path == STATE_DIR || path.starts_with(".cargo-stash/") {
        return Class::Internal;
    }
    let Some((profile, rest)) = profiles.split(path) else {
        return Class::Other;
    };
    let comps: Vec<&str> = rest.split('/').filter(|c| !c.is_empty()).collect();
    let unit = |name: &str, hash: &str| Class::Unit {
        id: format!("{profile}/{hash}"),
        name: name.to_string(),
    };
    match comps.as_slice() {
        [] => Class::Other,
        ["incremental", ..] => Class::Incremental,
        [".fingerprint", dir, ..] => match split_hash(dir) {
            Some((name, hash)) => unit(name, hash),
            None => Class::Other,
        },
        ["build", dir, more @ ..] => match (split_hash(dir), more.first()) {
            (Some((name, hash)), _) => unit(name, hash),
            (None, Some(hash)) if is_hash(hash) => unit(dir, hash),
            _ => Class::Other,
        },
        ["deps", file] => file_class(file, unit, Class::Other),
        ["examples", file] => file_class(file, unit, Class::Uplifted),
        [file] if *file == ".cargo-lock" => Class::Other,
        [file] => file_class(file, unit, Class::Uplifted),
        _ => Class::Other,
    }
}

/// Class of a file in `deps/`, `examples/` or a profile dir: dep file, unit file, or
/// `plain` when it has no hash.
fn file_class(file: &str, unit: impl Fn(&str, &str) -> Class, plain: Class) -> Class {
    if file.ends_with(".d") {
        return Class::DepFile;
    }
    match find_hash(file) {
        Some((name, hash)) => {
            let name = name
                .strip_prefix("lib")
                .filter(|_| is_lib(file))
                .unwrap_or(name);
            unit(name, hash)
        }
        None => plain,
    }
}

/// The order a pack's tar holds `paths` (sorted): as given, but a library's `.rmeta`
/// right before its `.rlib`.
///
/// rustc writes the same metadata twice: as the `.rmeta` and as `lib.rmeta`, the first
/// member of the `.rlib` archive. Sorted by name the `.rmeta` comes after the whole
/// `.rlib`, too far back for zstd's window in a large crate; placed just before, its
/// copy starts a few hundred bytes later. Measured on bat's deps with 8 MiB frames:
/// clap_builder's pack 4.40 -> 3.59 MB, syntect's 3.27 -> 2.70 MB.
pub fn tar_order(paths: &[String]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..paths.len()).collect();
    let mut i = 0;
    while i + 1 < paths.len() {
        let twins = paths[i]
            .strip_suffix(".rlib")
            .zip(paths[i + 1].strip_suffix(".rmeta"))
            .is_some_and(|(a, b)| a == b);
        if twins {
            order.swap(i, i + 1);
            i += 1;
        }
        i += 1;
    }
    order
}

fn is_lib(file: &str) -> bool {
    [".rlib", ".rmeta", ".so", ".dylib", ".a"]
        .iter()
        .any(|ext| file.ends_with(ext))
}

/// `serde-0123456789abcdef` -> (`serde`, `0123456789abcdef`).
fn split_hash(dir: &str) -> Option<(&str, &str)> {
    let (name, hash) = dir.rsplit_once('-')?;
    is_hash(hash).then_some((name, hash))
}

/// Finds `-<16 hex>` followed by the end or a `.` in a file name.
fn find_hash(file: &str) -> Option<(&str, &str)> {
    file.match_indices('-').find_map(|(i, _)| {
        let hash = file.get(i + 1..i + 17)?;
        let after = &file[i + 17..];
        (is_hash(hash) && (after.is_empty() || after.starts_with('.'))).then(|| (&file[..i], hash))
    })
}

fn is_hash(s: &str) -> bool {
    s.len() == 16
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(p: &str) -> Entry {
        Entry {
            path: p.into(),
            kind: EntryKind::Dir,
            size: 0,
            link_id: None,
        }
    }

    fn profiles() -> Profiles {
        Profiles::find(&[
            dir("debug"),
            dir("debug/.fingerprint"),
            dir("debug/deps"),
            dir("debug/build"),
            dir("debug/build/deps"),
            dir("x86_64-unknown-linux-gnu/release/deps"),
            dir("doc"),
        ])
    }

    const H: &str = "0123456789abcdef";

    fn unit(p: &str, name: &str) -> Class {
        Class::Unit {
            id: format!("{p}/{H}"),
            name: name.into(),
        }
    }

    #[test]
    fn finds_profile_dirs() {
        let p = profiles();
        assert_eq!(
            p.iter().collect::<Vec<_>>(),
            ["debug", "x86_64-unknown-linux-gnu/release"]
        );
    }

    #[test]
    fn classifies_cargo_paths() {
        let p = profiles();
        let c = |path: &str| classify(path, &p);
        assert_eq!(
            c(&format!("debug/.fingerprint/serde-{H}/lib-serde")),
            unit("debug", "serde")
        );
        assert_eq!(
            c(&format!("debug/deps/libserde-{H}.rlib")),
            unit("debug", "serde")
        );
        assert_eq!(
            c(&format!("debug/deps/liblibc-{H}.rmeta")),
            unit("debug", "libc")
        );
        assert_eq!(c(&format!("debug/deps/app-{H}")), unit("debug", "app"));
        assert_eq!(c(&format!("debug/deps/app-{H}.d")), Class::DepFile);
        assert_eq!(
            c(&format!("debug/build/zstd-sys-{H}/out/lib.a")),
            unit("debug", "zstd-sys")
        );
        assert_eq!(
            c(&format!("debug/build/zstd-sys/{H}/fingerprint/x")),
            unit("debug", "zstd-sys")
        );
        assert_eq!(
            c(&format!("debug/examples/demo-{H}")),
            unit("debug", "demo")
        );
        assert_eq!(c("debug/examples/demo"), Class::Uplifted);
        assert_eq!(c("debug/app"), Class::Uplifted);
        assert_eq!(c("debug/app.d"), Class::DepFile);
        assert_eq!(
            c("debug/incremental/app-1x/s-abc/dep-graph.bin"),
            Class::Incremental
        );
        assert_eq!(
            c(&format!(
                "x86_64-unknown-linux-gnu/release/deps/libfoo-{H}.rlib"
            )),
            unit("x86_64-unknown-linux-gnu/release", "foo")
        );
        assert_eq!(c(".rustc_info.json"), Class::Other);
        assert_eq!(c("doc/index.html"), Class::Other);
        assert_eq!(c(".cargo-stash/state.json"), Class::Internal);
    }

    #[test]
    fn tar_order_puts_each_rmeta_before_its_own_rlib() {
        let paths: Vec<String> = [
            ".fingerprint/a-0123456789abcdef/lib-a",
            "deps/liba-0123456789abcdef.rlib",
            "deps/liba-0123456789abcdef.rmeta",
            "deps/libb-1123456789abcdef.rlib",
            "deps/libc-2123456789abcdef.rmeta",
            "deps/libd-3123456789abcdef.rlib",
            "deps/libd-3123456789abcdef.rmeta",
        ]
        .map(String::from)
        .into();
        assert_eq!(tar_order(&paths), [0, 2, 1, 3, 4, 6, 5]);
        // An rlib followed by another crate's rmeta stays where it is.
        let other: Vec<String> = [
            "deps/liba-0123456789abcdef.rlib",
            "deps/liba-1123456789abcdef.rmeta",
        ]
        .map(String::from)
        .into();
        assert_eq!(tar_order(&other), [0, 1]);
        assert!(tar_order(&[]).is_empty());
    }
}
