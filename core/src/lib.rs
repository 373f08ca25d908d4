//! stash-core: everything cargo-stash decides, with no I/O.
//!
//! The native CLI and the WebAssembly package both call this crate, so a cache key or a
//! sanitization plan is computed by exactly one piece of code on every platform. Inputs
//! are plain data (file contents, listings, environment maps); outputs are plain data.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod bases;
pub mod downloads;
pub mod error;
pub mod key;
pub mod key_parts;
pub mod ladder;
pub mod layout;
pub mod manifest;
pub mod miss;
pub mod output;
pub mod path;
pub mod plan;
pub mod registry;
pub mod relocation;
pub mod retention;
pub mod roots;
pub mod sources;
pub mod stats;
pub mod supersede;
pub mod usage;

mod digest;

pub use error::{KeyError, ManifestError, PathError};
pub use key::{Key, KeyInputs, KeySet, RustcInfo};
pub use layout::{Category, Class, Entry, EntryKind};
pub use manifest::{LinkRef, Manifest, PackRef};
pub use plan::{Group, Plan, PlanOptions};
pub use roots::{Layer, Root, UnitId};
