//! Test harness: real fixture workspaces copied to temp dirs, the real `cargo-stash`
//! binary, real `cargo build`s. Nothing here fakes Cargo or the store.

pub mod cargo;
pub mod fixture;
pub mod relay;
pub mod stash;

pub use cargo::{Artifact, build_json, build_json_env, rebuilt, run_app};
pub use fixture::{
    Project, clone_to, copy_built_fixture, copy_fixture, copy_project, reclone_in_place,
};
pub use stash::{Run, Stash, stash_bin};
