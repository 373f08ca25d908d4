//! What a restore leaves in the state dir for later commands: the memo of restored
//! packs (the next save skips packing them) and the restored units' fingerprints
//! (`cargo stash stats`).

use std::path::PathBuf;

use anyhow::Result;
use stash_core::output::PathBoundUnit;
use stash_core::{PackRef, Root, UnitId};

use crate::download::Unpacked;
use crate::memo::{self, Memo};
use crate::pack;
use crate::state::RestoredUnits;
use crate::workspace::Workspace;

/// Records each restored pack's id by the stat of its files, so the next save knows
/// every unchanged pack without reading it.
pub fn remember_packs(
    ws: &Workspace,
    results: &[(PackRef, Result<Vec<pack::Staged>>)],
    root_of: &dyn Fn(&str) -> PathBuf,
) {
    let mut memo = Memo::load(&ws.state_dir());
    for (p, staged) in results
        .iter()
        .filter_map(|(p, r)| Some((p, r.as_ref().ok()?)))
    {
        let paths: Vec<String> = staged.iter().map(|s| s.path.clone()).collect();
        let root = match Root::parse(&p.root) {
            Some(Root::Build) => Root::Build,
            _ => Root::Target,
        };
        if let Some(stat) = memo::stat(root.as_str(), &root_of(&p.root), &paths) {
            memo.insert(stat, p.object());
        }
    }
    if let Err(e) = memo.store(&ws.state_dir()) {
        tracing::debug!("memo not written: {e:#}");
    }
}

/// Keeps the fingerprint JSON of every restored unit for `cargo stash stats`. Reading a
/// fingerprint moves its atime, so it is put back to the sentinel `usage` looks for.
pub fn remember_fingerprints(
    ws: &Workspace,
    results: &Unpacked,
    root_of: &dyn Fn(&str) -> PathBuf,
    path_bound: &[PathBoundUnit],
) {
    let mut units = RestoredUnits {
        path_bound: path_bound.to_vec(),
        ..Default::default()
    };
    for (p, staged) in results
        .iter()
        .filter_map(|(p, r)| Some((p, r.as_ref().ok()?)))
    {
        let Some(name) = &p.unit else { continue };
        let root = root_of(&p.root);
        let mut jsons = std::collections::BTreeMap::new();
        for s in staged
            .iter()
            .filter(|s| s.kind == pack::Kind::File && pack::is_fingerprint(&s.path))
        {
            if !s.path.ends_with(".json") {
                continue;
            }
            let path = root.join(&s.path);
            if let Some(v) = std::fs::read(&path)
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
            {
                let file = s.path.rsplit('/').next().unwrap_or_default().to_string();
                jsons.insert(file, v);
            }
            let _ = filetime::set_file_atime(&path, crate::usage::SENTINEL_ATIME);
        }
        if let Some(root) = Root::parse(&p.root) {
            let id = UnitId::new(root, p.group.clone());
            units.units.insert(id, (name.clone(), jsons));
        }
    }
    if let Err(e) = units.store(&ws.state_dir()) {
        tracing::debug!("restored units not recorded: {e:#}");
    }
}
