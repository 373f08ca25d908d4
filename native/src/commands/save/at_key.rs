//! What a save does at its key: the store's snapshot there is read and its objects
//! checked, then `stash_core::supersede` decides to create, replace or leave it.

use std::collections::BTreeSet;

use anyhow::Result;
use futures::StreamExt;
use stash_core::supersede::{self, Publish, Stored as AtKey};
use stash_core::{Group, Layer, PackRef};

use crate::commands::Ctx;
use crate::store::{Found, Store};

/// `(root, group)` of the groups that make a snapshot worth publishing.
pub fn content_groups<'a>(
    groups: impl Iterator<Item = (&'a str, &'a Group)>,
) -> BTreeSet<(String, String)> {
    groups
        .filter(|(_, g)| supersede::is_content(&g.name))
        .map(|(root, g)| (root.to_string(), g.name.clone()))
        .collect()
}

/// What to do at `key`: reads the stored snapshot, checks that the objects it names are
/// there (unless the units already decide), and applies `stash_core::supersede`.
pub async fn decide(
    ctx: &Ctx,
    store: &Store,
    layer: Layer,
    key: &str,
    built: &BTreeSet<(String, String)>,
    distrust: &BTreeSet<String>,
) -> Result<(Publish, Vec<PackRef>)> {
    if built.is_empty() {
        return Ok((Publish::Nothing, Vec::new()));
    }
    let found = store.read_manifest(layer, key).await?;
    let manifest = match &found {
        Found::Missing => return Ok((supersede::decide(&AtKey::Absent, built), Vec::new())),
        Found::Bad(e) => {
            tracing::info!("replacing {key}: {e:#}");
            let decision = supersede::decide(&AtKey::Unreadable, built);
            return Ok((decision, Vec::new()));
        }
        Found::Newer(_) => return Ok((supersede::decide(&AtKey::Newer, built), Vec::new())),
        Found::Good(m) => m,
    };
    let mut bad = distrust.clone();
    let objects: BTreeSet<String> = manifest
        .packs
        .iter()
        .flat_map(PackRef::objects)
        .filter(|o| !bad.contains(o))
        .collect();
    let heads: Vec<(String, Result<bool>)> = futures::stream::iter(objects)
        .map(|o| async move {
            let there = store.head(&Store::pack_path(&o)).await.map(|m| m.is_some());
            (o, there)
        })
        .buffer_unordered(ctx.jobs)
        .collect()
        .await;
    for (object, there) in heads {
        if !there? {
            bad.insert(object);
        }
    }
    let decision = supersede::decide(
        &AtKey::Readable {
            manifest,
            bad_objects: &bad,
        },
        built,
    );
    Ok((decision, supersede::carried_over(manifest, &bad, built)))
}
