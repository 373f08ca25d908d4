//! End-to-end tests: real fixture workspaces, real `cargo build`s, the real binary and a
//! real local store. Grouped by topic; each test gets its own temp dirs.

mod faults_outside;
mod faults_stuck;
mod freshness;
mod git_freshness;
mod relocation;
mod safety;
mod save_restore;
mod stats_reasons;
