//! What a save may lean on from the restore before it in the same job: the restored
//! snapshot's packs (patch bases, relocation verdicts), the objects it found bad, and
//! whether an exact hit leaves nothing to add.

use std::collections::BTreeSet;

use stash_core::{Layer, PackRef, supersede};

use crate::state::RestoredUnits;
use crate::store::Store;
use crate::upload::Verdicts;
use crate::workspace::Workspace;

/// What this save may lean on from the restore before it.
pub struct Scope {
    /// The restore was an exact hit on this key with every pack restored.
    pub exact_hit: bool,
    /// Whether units this job did not use can be left out.
    pub prune_unused: bool,
    /// The packs of the snapshot restored in this job: bases for patches.
    pub previous: Vec<PackRef>,
    /// Objects the restore found missing or corrupt.
    pub distrust: BTreeSet<String>,
    /// Pack id -> relocation verdict of the restored snapshot, when it was scanned: an
    /// unchanged pack keeps its verdict without a new scan.
    pub verdicts: Verdicts,
}

/// The packs of the snapshot this job restored, if any, and whether its units were
/// scanned for paths; a save that cannot read them stores every pack whole.
async fn previous_packs(store: &Store, restored: Option<&str>) -> (Vec<PackRef>, bool) {
    let Some(key) = restored else {
        return (Vec::new(), false);
    };
    match store.manifest(Layer::Target, key).await {
        Ok(Some(m)) => (m.packs, m.anchors.is_some()),
        Ok(None) => (Vec::new(), false),
        Err(e) => {
            tracing::info!("packs stored whole: the restored snapshot is unreadable: {e:#}");
            (Vec::new(), false)
        }
    }
}

/// [`previous_packs`] on its own task, so the GET runs while the save gathers its groups.
pub fn read_previous(store: &Store, restored: Option<String>) -> Previous {
    let store = store.clone();
    tokio::spawn(async move { previous_packs(&store, restored.as_deref()).await })
}

/// The restored snapshot's packs being read, and whether they were scanned for paths.
pub type Previous = tokio::task::JoinHandle<(Vec<PackRef>, bool)>;

impl Scope {
    /// The packs of the snapshot restored in this job (bases for patches unless
    /// `no_patches`) and, when it was scanned, their relocation verdicts.
    pub async fn load_previous(&mut self, store: &Store, restored: Option<&str>, no_patches: bool) {
        let read = previous_packs(store, restored).await;
        self.take_previous(read, no_patches);
    }

    /// What [`read_previous`] read, as [`Scope::load_previous`] keeps it.
    pub fn take_previous(&mut self, (previous, scanned): (Vec<PackRef>, bool), no_patches: bool) {
        if scanned {
            self.verdicts = previous
                .iter()
                .map(|p| (p.id.clone(), p.path_bound.clone()))
                .collect();
        }
        if !no_patches {
            self.previous = previous;
        }
    }
}

/// Whether this job's content groups all came from the exact-hit snapshot it restored:
/// then there is nothing to add and the save skips itself (`stash_core::supersede`).
pub fn exact_hit_covers(ws: &Workspace, built: &BTreeSet<(String, String)>) -> bool {
    let restored = RestoredUnits::load(&ws.state_dir());
    let units: BTreeSet<(String, String)> = restored
        .units
        .keys()
        .map(|id| (id.root.to_string(), id.group.clone()))
        .collect();
    let bound: BTreeSet<String> = restored.path_bound.into_iter().map(|u| u.unit).collect();
    supersede::exact_hit_covers(&units, &bound, built)
}
