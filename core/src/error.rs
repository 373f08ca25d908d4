//! Typed errors of the core. Each names the offending input so that both the CLI and a
//! JavaScript caller can tell the user which field or file to fix.

use thiserror::Error;

#[derive(Debug, Error, PartialEq)]
/// Why key inputs could not be turned into a key.
pub enum KeyError {
    #[error(
        "key inputs use schema {found}, this version understands {supported}; upgrade cargo-stash or regenerate the inputs"
    )]
    /// The inputs were written for another schema version.
    Schema {
        /// The schema of the inputs.
        found: u32,
        /// The schema this version reads.
        supported: u32,
    },
    #[error("field `{field}` is invalid: {reason}")]
    /// A field of the inputs has a value the key cannot use.
    Field {
        /// The field, by name.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    #[error("Cargo.lock could not be parsed: {0}; run `cargo generate-lockfile` or fix the file")]
    /// Cargo.lock is not valid.
    Lockfile(String),
    #[error("manifest `{path}` could not be parsed: {reason}")]
    /// A member's Cargo.toml is not valid.
    Manifest {
        /// The manifest's path.
        path: String,
        /// What the parser said.
        reason: String,
    },
}

#[derive(Debug, Error, PartialEq)]
/// Why a path from a snapshot or a listing is refused.
pub enum PathError {
    #[error("path is empty")]
    /// The path is empty.
    Empty,
    #[error("path `{0}` is absolute; snapshot paths must be relative to their root")]
    /// The path is absolute.
    Absolute(String),
    #[error("path `{0}` has a `..`, `.` or empty component and could escape its root")]
    /// The path could leave its root.
    Escapes(String),
    #[error("path `{0}` uses a backslash or NUL, which snapshots never contain")]
    /// The path holds a character snapshot paths never hold.
    BadChar(String),
    #[error("symlink `{path}` points to `{target}`, outside the directory being restored")]
    /// A symlink points outside the directory being restored.
    SymlinkEscapes {
        /// The link.
        path: String,
        /// Where it points.
        target: String,
    },
}

#[derive(Debug, Error, PartialEq)]
/// Why a manifest read from the store cannot be used.
pub enum ManifestError {
    #[error("manifest is not valid JSON: {0}")]
    /// Not JSON, or not the manifest's shape.
    Json(String),
    #[error(
        "manifest has schema {found}, this cargo-stash reads schema {supported}; use the cargo-stash version that saved it (upgrade cargo-stash for a newer schema)"
    )]
    /// Written with a schema this version does not read.
    Schema {
        /// The manifest's schema.
        found: u64,
        /// The schema this version reads.
        supported: u32,
    },
    #[error("manifest field `{field}` is invalid: {reason}")]
    /// A field has a value no cargo-stash writes.
    Field {
        /// The field, as a path (`packs[3].root`).
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    #[error("manifest entry is unsafe: {0}")]
    /// A pack, link or source path is unsafe.
    Path(#[from] PathError),
}
