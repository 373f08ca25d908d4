//! Typed errors of the core. Each names the offending input so that both the CLI and a
//! JavaScript caller can tell the user which field or file to fix.

use thiserror::Error;

#[derive(Debug, Error, PartialEq)]
pub enum KeyError {
    #[error(
        "key inputs use schema {found}, this version understands {supported}; upgrade cargo-stash or regenerate the inputs"
    )]
    Schema { found: u32, supported: u32 },
    #[error("field `{field}` is invalid: {reason}")]
    Field { field: String, reason: String },
    #[error("Cargo.lock could not be parsed: {0}; run `cargo generate-lockfile` or fix the file")]
    Lockfile(String),
    #[error("manifest `{path}` could not be parsed: {reason}")]
    Manifest { path: String, reason: String },
}

#[derive(Debug, Error, PartialEq)]
pub enum PathError {
    #[error("path is empty")]
    Empty,
    #[error("path `{0}` is absolute; snapshot paths must be relative to their root")]
    Absolute(String),
    #[error("path `{0}` has a `..`, `.` or empty component and could escape its root")]
    Escapes(String),
    #[error("path `{0}` uses a backslash or NUL, which snapshots never contain")]
    BadChar(String),
    #[error("symlink `{path}` points to `{target}`, outside the directory being restored")]
    SymlinkEscapes { path: String, target: String },
}

#[derive(Debug, Error, PartialEq)]
pub enum ManifestError {
    #[error("manifest is not valid JSON: {0}")]
    Json(String),
    #[error(
        "manifest has schema {found}, this cargo-stash reads schema {supported}; use the cargo-stash version that saved it (upgrade cargo-stash for a newer schema)"
    )]
    Schema { found: u64, supported: u32 },
    #[error("manifest field `{field}` is invalid: {reason}")]
    Field { field: String, reason: String },
    #[error("manifest entry is unsafe: {0}")]
    Path(#[from] PathError),
}
