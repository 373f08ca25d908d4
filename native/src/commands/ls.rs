//! `cargo stow ls`: snapshots in the store, newest first.

use anyhow::Result;
use serde::Serialize;

use super::Ctx;
use crate::report::human_bytes;

#[derive(Serialize)]
struct Snapshot {
    layer: String,
    key: String,
    /// Size of the manifest object, bytes.
    manifest_bytes: u64,
    /// RFC 3339 time the snapshot was published.
    saved: String,
    age_seconds: i64,
}

#[derive(Serialize)]
struct LsOutput {
    version: u32,
    snapshots: Vec<Snapshot>,
}

pub async fn run(ctx: &Ctx, prefix: Option<&str>) -> Result<u8> {
    let store = ctx.store()?;
    let now = chrono_now();
    let mut snapshots = Vec::new();
    for layer in ["target", "registry"] {
        for (key, meta) in store.list_manifests(layer, prefix.unwrap_or("")).await? {
            snapshots.push(Snapshot {
                layer: layer.into(),
                key,
                manifest_bytes: meta.size,
                saved: meta.last_modified.to_rfc3339(),
                age_seconds: now - meta.last_modified.timestamp(),
            });
        }
    }
    snapshots.sort_by_key(|s| s.age_seconds);
    let human = snapshots
        .iter()
        .map(|s| {
            format!(
                "{:<8} {}  {} ago  manifest {}",
                s.layer,
                s.key,
                age(s.age_seconds),
                human_bytes(s.manifest_bytes)
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
    ctx.report.result(
        &LsOutput {
            version: stow_core::output::OUTPUT_VERSION,
            snapshots,
        },
        if human.is_empty() {
            "no snapshots"
        } else {
            &human
        },
    );
    Ok(0)
}

fn chrono_now() -> i64 {
    crate::state::unix_now() as i64
}

fn age(secs: i64) -> String {
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}
