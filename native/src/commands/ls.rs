//! `cargo stash ls`: snapshots in the store, newest first, with their size.

use anyhow::Result;
use futures::StreamExt;
use stash_core::Layer;
use stash_core::output::{ListedSnapshot, LsOutput};

use super::{Ctx, Done};
use crate::error::describe;
use crate::report::human_bytes;
use crate::state::unix_now;

pub async fn run(ctx: &Ctx, prefix: Option<&str>) -> Result<Done> {
    let store = ctx.store()?;
    let now = unix_now() as i64;
    let mut listed = Vec::new();
    for layer in Layer::ALL {
        for (key, meta) in store.list_manifests(layer, prefix.unwrap_or("")).await? {
            listed.push((layer, key, meta));
        }
    }
    let mut snapshots: Vec<ListedSnapshot> = futures::stream::iter(listed)
        .map(|(layer, key, meta)| {
            let store = store.clone();
            async move {
                let manifest = store.manifest(layer, &key).await;
                let (stored_bytes, bytes, packs, error) = match manifest {
                    Ok(Some(m)) => (
                        m.stored_bytes(),
                        m.packs.iter().map(|p| p.bytes).sum(),
                        m.packs.len() as u64,
                        None,
                    ),
                    Ok(None) => (0, 0, 0, Some("deleted while listing".to_string())),
                    Err(e) => (0, 0, 0, Some(describe(&e))),
                };
                ListedSnapshot {
                    layer: layer.to_string(),
                    key,
                    stored_bytes,
                    bytes,
                    packs,
                    manifest_bytes: meta.size,
                    saved: meta.last_modified.to_rfc3339(),
                    age_seconds: now - meta.last_modified.timestamp(),
                    error,
                }
            }
        })
        .buffer_unordered(ctx.jobs)
        .collect()
        .await;
    snapshots.sort_by_key(|s| s.age_seconds);
    let human = snapshots
        .iter()
        .map(|s| match &s.error {
            Some(e) => format!(
                "{:<8} {}  {} ago  unreadable: {e}",
                s.layer,
                s.key,
                age(s.age_seconds)
            ),
            None => format!(
                "{:<8} {}  {} ago  {} in {} packs ({} stored)",
                s.layer,
                s.key,
                age(s.age_seconds),
                human_bytes(s.bytes),
                s.packs,
                human_bytes(s.stored_bytes)
            ),
        })
        .collect::<Vec<_>>()
        .join("\n");
    ctx.report.result(
        &LsOutput {
            version: stash_core::output::OUTPUT_VERSION,
            snapshots,
        },
        if human.is_empty() {
            "no snapshots"
        } else {
            &human
        },
    );
    Ok(Done::Ok)
}

fn age(secs: i64) -> String {
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}
