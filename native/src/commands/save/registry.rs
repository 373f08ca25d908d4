//! The registry layer of a save: CARGO_HOME's downloaded crates, index and git
//! databases, under their own key, through the same upload pipeline as the target dir.

use std::collections::BTreeSet;
use std::sync::Arc;

use anyhow::Result;
use stash_core::manifest::MANIFEST_SCHEMA;
use stash_core::output::SaveOutput;
use stash_core::{Layer, Manifest, Root, registry, supersede};

use super::at_key::{content_groups, decide};
use super::finish_publish;
use crate::commands::Ctx;
use crate::error::describe;
use crate::listing;
use crate::state::unix_now;
use crate::store::Store;
use crate::upload::{Bases, Job, upload_all};
use crate::workspace::{Workspace, cargo_home};

/// Saves the registry layer under its own key before `until`, into `out.registry`; a
/// failure is a warning of the target layer's save.
pub async fn save_registry(
    ctx: &Ctx,
    (ws, store, until): (&Workspace, &Store, tokio::time::Instant),
    key: &str,
    distrust: &BTreeSet<String>,
    out: &mut SaveOutput,
) {
    let mut reg = SaveOutput::start("registry", key);
    let work = save_layer(ctx, ws, store, key, distrust, &mut reg);
    match store.within(until, "registry save", work).await {
        Ok(()) => out.registry = Some(Box::new(reg)),
        Err(e) => out
            .warnings
            .push(format!("registry layer not saved: {}", describe(&e))),
    }
}

/// Saves the registry layer (downloaded crates, index, git databases) under its own key,
/// unless the store has it already.
async fn save_layer(
    ctx: &Ctx,
    ws: &Workspace,
    store: &Store,
    key: &str,
    distrust: &BTreeSet<String>,
    out: &mut SaveOutput,
) -> Result<()> {
    let home = cargo_home()?;
    let mut entries = Vec::new();
    for sub in ["registry/index", "registry/cache", "git/db"] {
        for mut e in listing::list(&home.join(sub))? {
            e.path = format!("{sub}/{}", e.path);
            entries.push(e);
        }
    }
    let lock = match std::fs::read_to_string(ws.root.join("Cargo.lock")) {
        Ok(text) => Some(registry::lock_packages(&text)?),
        Err(_) => None,
    };
    let plan = registry::plan(&entries, lock.as_ref(), 32 << 20);
    let built = content_groups(plan.groups.iter().map(|g| (Root::CargoHome.as_str(), g)));
    let (decision, carried) = decide(ctx, store, Layer::Registry, key, &built, distrust).await?;
    if let Some(outcome) = decision.outcome_without_publishing() {
        out.outcome = outcome;
        return Ok(());
    }
    let home = Arc::new(home);
    let work = plan
        .groups
        .into_iter()
        .map(|group| Job {
            root: Root::CargoHome.as_str(),
            dir: home.clone(),
            deps: Vec::new(),
            scan: None,
            group,
        })
        .collect();
    let (packs, _) = upload_all(
        ctx,
        store,
        ws,
        work,
        Bases {
            previous: Vec::new(),
            distrust,
            verdicts: Default::default(),
            patches: false,
        },
        out,
    )
    .await?;
    let packs = supersede::snapshot_packs(packs, carried, &decision);
    out.packs = packs.len() as u64;
    let manifest = Manifest {
        schema: MANIFEST_SCHEMA,
        layer: Layer::Registry.to_string(),
        key: key.to_string(),
        created: unix_now(),
        tool: format!("cargo-stash {}", env!("CARGO_PKG_VERSION")),
        roots: [(Root::CargoHome.to_string(), home.display().to_string())].into(),
        packs,
        links: Vec::new(),
        inputs: Vec::new(),
        sources: None,
        anchors: None,
    };
    finish_publish(store, &decision, manifest, out).await
}
