//! The snapshot manifest: which packs make up one saved layer and where they go.
//! The wire format is documented in `docs/format.md`; readers reject what they cannot
//! understand instead of guessing.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::ManifestError;
use crate::key::ExplainLine;
use crate::path::check_relative;
use crate::relocation::{Anchors, PathBound};
use crate::sources::SourceManifest;

/// Newest manifest schema this version writes and reads.
pub const MANIFEST_SCHEMA: u32 = 2;

/// Root names a pack may be restored into.
pub const ROOTS: [&str; 3] = ["target", "build", "cargo-home"];

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub schema: u32,
    /// `target` or `registry`.
    pub layer: String,
    pub key: String,
    /// Seconds since the Unix epoch when the save finished.
    pub created: u64,
    /// `cargo-stash <version>` that wrote it.
    pub tool: String,
    /// Root name -> absolute path at save time (informational: restores use their own).
    pub roots: BTreeMap<String, String>,
    pub packs: Vec<PackRef>,
    #[serde(default)]
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
pub struct PackRef {
    /// BLAKE3 of the uncompressed tar, lowercase hex; the object is `v2/packs/<id>`.
    pub id: String,
    pub root: String,
    /// Unit id (`<profile>/<hash>`) or `batch-<n>`.
    pub group: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
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
    pub root: String,
    pub path: String,
    pub target: String,
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
            if !ROOTS.contains(&p.root.as_str()) {
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
            if !ROOTS.contains(&l.root.as_str()) {
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

    pub fn stored_bytes(&self) -> u64 {
        self.packs.iter().map(|p| p.stored).sum()
    }
}

fn field(field: String, reason: &str) -> ManifestError {
    ManifestError::Field {
        field,
        reason: reason.into(),
    }
}

pub fn is_pack_id(id: &str) -> bool {
    id.len() == 64
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
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
}
