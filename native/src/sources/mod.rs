//! The source side of content-gated mtime restore (`stash_core::sources` decides):
//! `checkout` lists, hashes and re-dates the tracked files of the checkout; `git` reads the
//! repository state and the git metadata files build scripts watch, and gives them their
//! saved mtimes back when `stash_core::sources::git_plan` says so.

mod checkout;
mod git;

pub use checkout::{apply, checkout_root, scan};
pub use git::{restore_git, settle_git_index};
