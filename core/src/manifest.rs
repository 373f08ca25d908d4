//! The snapshot manifest: which packs make up one saved layer and where they go.
//! The wire format is documented in `docs/format.md`; readers reject what they cannot
//! understand instead of guessing.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::ManifestError;
use crate::key::ExplainLine;
use crate::layout::STATE_DIR;
use crate::path::check_relative;
use crate::relocation::{Anchors, PathBound};
use crate::roots::{Layer, Root};
use crate::sources::SourceManifest;

/// Newest manifest schema this version writes and reads.
pub const MANIFEST_SCHEMA: u32 = 2;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
/// A snapshot: the packs and links of one layer at one key, and what the restore
/// needs to tell fresh from stale (docs/format.md, "Manifests").
pub struct Manifest {
    /// The schema it was written with ([`MANIFEST_SCHEMA`]).
    pub schema: u32,
    /// `target` or `registry`.
    pub layer: String,
    /// The key it was saved under.
    pub key: String,
    /// Seconds since the Unix epoch when the save finished.
    pub created: u64,
    /// `cargo-stash <version>` that wrote it.
    pub tool: String,
    /// Root name -> absolute path at save time (informational: restores use their own).
    pub roots: BTreeMap<String, String>,
    /// Every pack, whole or as a patch.
    pub packs: Vec<PackRef>,
    #[serde(default)]
    /// Hard links, recreated after the packs are unpacked.
    pub links: Vec<LinkRef>,
    /// The key's inputs, as `cargo stash key --explain` shows them.
    #[serde(default)]
    pub inputs: Vec<ExplainLine>,
    /// The checkout's tracked files at save time, for content-gated mtime restore.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sources: Option<SourceManifest>,
    /// The absolute paths the relocation scan looked for (checkout, target and build dir).
    /// Present only when every unit pack was scanned: only then does each pack's
    /// `path_bound` say whether it can be restored at another path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anchors: Option<Anchors>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
/// One pack of a snapshot: a unit's files or a batch of leftovers.
pub struct PackRef {
    /// BLAKE3 of the uncompressed tar, lowercase hex; the object is `v2/packs/<id>`.
    pub id: String,
    /// The root its paths are relative to ([`crate::Root`]).
    pub root: String,
    /// Unit id (`<profile>/<hash>`) or `batch-<n>`.
    pub group: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// The package name of a unit's pack; `None` for a batch.
    pub unit: Option<String>,
    /// Files in the pack.
    pub files: u64,
    /// Bytes of file content in the pack.
    pub bytes: u64,
    /// Bytes of the compressed object.
    pub stored: u64,
    /// When set, the object is a patch against this pack's uncompressed tar (itself
    /// stored whole) and is named `v2/packs/<id>.<base>`; see docs/format.md.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<String>,
    /// Set when the unit's artifacts embed one of the manifest's `anchors`: restored
    /// only where those paths are unchanged (docs/format.md, "Path-bound units").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_bound: Option<PathBound>,
}

impl PackRef {
    /// The name of this pack's object under `v2/packs/`.
    pub fn object(&self) -> String {
        object_name(&self.id, self.base.as_deref())
    }

    /// Every object a restore of this pack reads: its own and, for a patch, its base.
    /// A snapshot references (and `gc` keeps) all of them; one bad one spoils the pack.
    pub fn objects(&self) -> impl Iterator<Item = String> + '_ {
        std::iter::once(self.object()).chain(self.base.clone())
    }

    /// Whether any object this pack needs is among `bad`.
    pub fn needs_any(&self, bad: &std::collections::BTreeSet<String>) -> bool {
        self.objects().any(|o| bad.contains(&o))
    }
}

/// `<id>` for a whole pack, `<id>.<base>` for a patch against `base`.
pub fn object_name(id: &str, base: Option<&str>) -> String {
    match base {
        Some(b) => format!("{id}.{b}"),
        None => id.to_string(),
    }
}

/// Splits an object name made by [`object_name`]; `None` if it is not one.
pub fn parse_object_name(name: &str) -> Option<(&str, Option<&str>)> {
    match name.split_once('.') {
        Some((id, base)) if is_pack_id(id) && is_pack_id(base) => Some((id, Some(base))),
        None if is_pack_id(name) => Some((name, None)),
        _ => None,
    }
}

/// A hard link recreated after all packs are unpacked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkRef {
    /// The root of both paths ([`crate::Root`]).
    pub root: String,
    /// The link to make, relative to the root.
    pub path: String,
    /// The file it links to, relative to the same root.
    pub target: String,
}

/// The most a pack may expand to on restore, from what its manifest entry declares: a
/// forged pack of a few KiB must not fill the disk (issue 14, item 11).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExpansionCap {
    /// Bytes of file content, summed over the tar's headers.
    pub content: u64,
    /// Bytes of the uncompressed tar (headers, padding and content).
    pub tar: u64,
}

impl ExpansionCap {
    /// No cap: for packs this process just wrote.
    pub const NONE: ExpansionCap = ExpansionCap {
        content: u64::MAX,
        tar: u64::MAX,
    };
}

impl PackRef {
    /// `bytes` with 1/64 + 64 KiB of slack (a file that grew while it was packed); the
    /// tar adds up to 8 KiB per file for its headers, long names and a directory entry,
    /// plus 1 MiB.
    pub fn expansion_cap(&self) -> ExpansionCap {
        ExpansionCap::of(self.bytes, self.files)
    }
}

impl ExpansionCap {
    /// The cap of a pack of `bytes` content bytes in `files` files: see
    /// [`PackRef::expansion_cap`].
    pub fn of(bytes: u64, files: u64) -> ExpansionCap {
        let content = bytes.saturating_add(bytes / 64).saturating_add(64 << 10);
        let tar = content
            .saturating_add(files.saturating_mul(8 << 10))
            .saturating_add(1 << 20);
        ExpansionCap { content, tar }
    }
}

impl Manifest {
    /// Parses and validates a manifest read from a store.
    pub fn from_json(bytes: &[u8]) -> Result<Manifest, ManifestError> {
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| ManifestError::Json(e.to_string()))?;
        let schema = value
            .get("schema")
            .and_then(|s| s.as_u64())
            .ok_or_else(|| ManifestError::Field {
                field: "schema".into(),
                reason: "missing or not a number".into(),
            })?;
        // Schema 1 named packs by SHA-256: its ids would never verify, so it is refused.
        if schema != MANIFEST_SCHEMA as u64 {
            return Err(ManifestError::Schema {
                found: schema,
                supported: MANIFEST_SCHEMA,
            });
        }
        let m: Manifest =
            serde_json::from_value(value).map_err(|e| ManifestError::Json(e.to_string()))?;
        m.validate()?;
        Ok(m)
    }

    /// The manifest as stored: pretty JSON.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).expect("manifest serializes")
    }

    fn validate(&self) -> Result<(), ManifestError> {
        for (i, p) in self.packs.iter().enumerate() {
            if !is_pack_id(&p.id) {
                return Err(field(
                    format!("packs[{i}].id"),
                    "not a 64-digit lowercase hex digest",
                ));
            }
            if Root::parse(&p.root).is_none() {
                return Err(field(format!("packs[{i}].root"), "unknown root"));
            }
            if p.base
                .as_deref()
                .is_some_and(|b| !is_pack_id(b) || b == p.id)
            {
                return Err(field(
                    format!("packs[{i}].base"),
                    "not the 64-digit lowercase hex digest of another pack",
                ));
            }
        }
        for (i, l) in self.links.iter().enumerate() {
            if Root::parse(&l.root).is_none() {
                return Err(field(format!("links[{i}].root"), "unknown root"));
            }
            check_relative(&l.path)?;
            check_relative(&l.target)?;
        }
        if let Some(src) = &self.sources {
            for e in src.entries.iter().filter(|e| !e.path.is_empty()) {
                check_relative(&e.path)?;
            }
        }
        Ok(())
    }

    /// Checks that every pack and link stays where the `layer` being restored may write
    /// (see [`may_write`]), whatever the manifest's own fields claim: a manifest at a
    /// registry key that names `target` packs, or links into `bin/`, is refused whole.
    pub fn check_layer(&self, layer: Layer) -> Result<(), ManifestError> {
        if self.layer != layer.as_str() {
            return Err(field("layer".into(), "not the layer being restored"));
        }
        for (i, p) in self.packs.iter().enumerate() {
            if !in_layer(layer, &p.root) {
                return Err(field(
                    format!("packs[{i}].root"),
                    "not a root of this layer",
                ));
            }
        }
        for (i, l) in self.links.iter().enumerate() {
            if !in_layer(layer, &l.root) {
                return Err(field(
                    format!("links[{i}].root"),
                    "not a root of this layer",
                ));
            }
            let root = Root::parse(&l.root).expect("checked above");
            if !may_write(root, &l.path) || !may_write(root, &l.target) {
                return Err(field(
                    format!("links[{i}]"),
                    "outside what this layer may write",
                ));
            }
        }
        Ok(())
    }

    /// Bytes the snapshot's objects take in the store.
    pub fn stored_bytes(&self) -> u64 {
        self.packs.iter().map(|p| p.stored).sum()
    }
}

/// Whether `root`, as a manifest names it, is one of `layer`'s roots.
fn in_layer(layer: Layer, root: &str) -> bool {
    Root::parse(root).is_some_and(|r| layer.roots().contains(&r))
}

/// Whether a restore may write `path` (relative, already checked by
/// [`check_relative`]) under `root`. In CARGO_HOME only where Cargo keeps downloads
/// ([`crate::registry::ALLOWED`]): never `bin/`, config or credentials. In the target
/// and build dirs anything but our own state ([`STATE_DIR`]: the memo and staging),
/// which a pack must not be able to forge.
pub fn may_write(root: Root, path: &str) -> bool {
    match root {
        Root::CargoHome => crate::registry::is_allowed(path),
        Root::Target | Root::Build => path.split('/').next() != Some(STATE_DIR),
    }
}

/// Whether a restore may make symlinks under `root`. Not in CARGO_HOME: Cargo keeps none
/// in its downloads, and a link there (a `.crate` pointing at `bin/` or `config.toml`)
/// would have Cargo's own later writes land where a snapshot may not write.
pub fn may_symlink(root: Root) -> bool {
    matches!(root, Root::Target | Root::Build)
}

/// Whether a restore may write a file at its destination before its pack's hash is
/// proven, and so leave it half-written if the restore is killed. In the target and
/// build dirs yes: fingerprints go in last, and Cargo rebuilds a unit without one. Not in
/// CARGO_HOME: Cargo trusts the `.crate`, index file or git object it finds there, so a
/// torn one would break every later build, and the next save would store it.
pub fn may_write_in_place(root: Root) -> bool {
    matches!(root, Root::Target | Root::Build)
}

fn field(field: String, reason: &str) -> ManifestError {
    ManifestError::Field {
        field,
        reason: reason.into(),
    }
}

/// Whether `id` is a pack id: 64 lowercase hex digits (BLAKE3).
pub fn is_pack_id(id: &str) -> bool {
    id.len() == 64
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod pack_objects_tests {
    use super::*;

    #[test]
    fn a_patch_needs_its_base_too() {
        let mut p = PackRef {
            id: "a".repeat(64),
            root: "target".into(),
            group: "debug/x".into(),
            unit: None,
            files: 1,
            bytes: 1,
            stored: 1,
            base: None,
            path_bound: None,
        };
        assert_eq!(p.objects().collect::<Vec<_>>(), ["a".repeat(64)]);
        p.base = Some("b".repeat(64));
        let objects: Vec<String> = p.objects().collect();
        assert_eq!(
            objects,
            [
                format!("{}.{}", "a".repeat(64), "b".repeat(64)),
                "b".repeat(64)
            ]
        );
        assert!(p.needs_any(&["b".repeat(64)].into()));
        assert!(!p.needs_any(&["a".repeat(64)].into()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Manifest {
        Manifest {
            schema: MANIFEST_SCHEMA,
            layer: "target".into(),
            key: "stash1-x".into(),
            created: 1,
            tool: "cargo-stash 0.1.0".into(),
            roots: BTreeMap::new(),
            packs: vec![PackRef {
                id: "a".repeat(64),
                root: "target".into(),
                group: "batch-0".into(),
                unit: None,
                files: 1,
                bytes: 1,
                stored: 1,
                base: None,
                path_bound: None,
            }],
            links: vec![],
            inputs: vec![],
            sources: None,
            anchors: None,
        }
    }

    #[test]
    fn symlinks_only_in_target_and_build() {
        assert!(may_symlink(Root::Target) && may_symlink(Root::Build));
        assert!(!may_symlink(Root::CargoHome));
    }

    #[test]
    fn files_go_in_place_only_where_fingerprints_guard_them() {
        assert!(may_write_in_place(Root::Target) && may_write_in_place(Root::Build));
        assert!(!may_write_in_place(Root::CargoHome));
    }

    #[test]
    fn round_trips() {
        let m = sample();
        assert_eq!(Manifest::from_json(&m.to_json()).unwrap(), m);
    }

    #[test]
    fn rejects_unknown_schema_and_escaping_links() {
        let mut m = sample();
        m.schema = 7;
        assert!(matches!(
            Manifest::from_json(&m.to_json()),
            Err(ManifestError::Schema { found: 7, .. })
        ));
        let mut m = sample();
        m.links.push(LinkRef {
            root: "target".into(),
            path: "../../etc/x".into(),
            target: "debug/app".into(),
        });
        assert!(matches!(
            Manifest::from_json(&m.to_json()),
            Err(ManifestError::Path(_))
        ));
        let mut m = sample();
        m.packs[0].id = "../x".into();
        assert!(Manifest::from_json(&m.to_json()).is_err());
        let mut m = sample();
        m.packs[0].base = Some("../../x".into());
        assert!(Manifest::from_json(&m.to_json()).is_err());
        let mut m = sample();
        m.packs[0].base = Some(m.packs[0].id.clone());
        assert!(Manifest::from_json(&m.to_json()).is_err());
    }

    #[test]
    fn object_names_round_trip() {
        let (a, b) = ("a".repeat(64), "b".repeat(64));
        assert_eq!(
            parse_object_name(&object_name(&a, None)),
            Some((&a[..], None))
        );
        let patch = object_name(&a, Some(&b));
        assert_eq!(parse_object_name(&patch), Some((&a[..], Some(&b[..]))));
        assert_eq!(parse_object_name("x.y"), None);
        assert_eq!(parse_object_name(&format!("{a}.")), None);
    }

    fn registry_sample() -> Manifest {
        let mut m = sample();
        m.layer = "registry".into();
        m.packs[0].root = "cargo-home".into();
        m
    }

    #[test]
    fn a_registry_snapshot_may_write_only_downloads_in_cargo_home() {
        assert!(registry_sample().check_layer(Layer::Registry).is_ok());
        // Issue 14, item 8: a target or build root in a registry snapshot would write
        // anywhere in CARGO_HOME, since that is the only root the layer restores into.
        for root in ["target", "build"] {
            let mut m = registry_sample();
            m.packs[0].root = root.into();
            assert!(m.check_layer(Layer::Registry).is_err(), "{root}");
        }
        // Links are held to the same allow-list as pack entries.
        for (path, target) in [
            ("bin/cargo-evil", "registry/cache/x/a.crate"),
            ("registry/cache/x/b.crate", "config.toml"),
            ("registry/index-not/x", "registry/cache/x/a.crate"),
        ] {
            let mut m = registry_sample();
            m.links.push(LinkRef {
                root: "cargo-home".into(),
                path: path.into(),
                target: target.into(),
            });
            assert!(
                m.check_layer(Layer::Registry).is_err(),
                "{path} -> {target}"
            );
        }
        let mut m = registry_sample();
        m.links.push(LinkRef {
            root: "target".into(),
            path: "registry/cache/x/b.crate".into(),
            target: "registry/cache/x/a.crate".into(),
        });
        assert!(m.check_layer(Layer::Registry).is_err());
        // A manifest of another layer is not restored as this one.
        assert!(registry_sample().check_layer(Layer::Target).is_err());
        assert!(sample().check_layer(Layer::Registry).is_err());
    }

    #[test]
    fn a_target_snapshot_may_not_write_our_own_state() {
        assert!(sample().check_layer(Layer::Target).is_ok());
        assert!(may_write(Root::Target, "debug/deps/libx.rlib"));
        assert!(may_write(Root::Build, "debug/.fingerprint/x-1/lib-x"));
        assert!(!may_write(Root::Target, ".cargo-stash/memo.json"));
        assert!(!may_write(Root::Build, ".cargo-stash"));
        assert!(may_write(Root::Target, ".cargo-stash-not/x"));
        assert!(may_write(Root::CargoHome, "registry/cache/x/a.crate"));
        assert!(!may_write(Root::CargoHome, "bin/cargo"));
        assert!(!may_write(Root::CargoHome, "credentials.toml"));
        let mut m = sample();
        m.packs[0].root = "cargo-home".into();
        assert!(m.check_layer(Layer::Target).is_err());
        let mut m = sample();
        m.links.push(LinkRef {
            root: "target".into(),
            path: ".cargo-stash/memo.json".into(),
            target: "debug/app".into(),
        });
        assert!(m.check_layer(Layer::Target).is_err());
    }

    #[test]
    fn a_pack_may_expand_only_to_what_its_entry_declares() {
        let mut p = sample().packs[0].clone();
        (p.bytes, p.files) = (1, 1);
        let cap = p.expansion_cap();
        assert_eq!(cap.content, 1 + (64 << 10));
        assert_eq!(cap.tar, cap.content + (8 << 10) + (1 << 20));
        (p.bytes, p.files) = (640 << 20, 2_000);
        let cap = p.expansion_cap();
        assert_eq!(cap.content, (640 << 20) + (10 << 20) + (64 << 10));
        (p.bytes, p.files) = (u64::MAX, u64::MAX);
        assert_eq!(p.expansion_cap(), ExpansionCap::NONE);
    }
}
