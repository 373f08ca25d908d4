//! `cargo stash gc`: deletes snapshots past the retention rules (`--max-age`, newest
//! `--keep` per restore prefix), then packs that no remaining snapshot references and
//! that are older than `--grace`, so packs a save in flight has just uploaded survive.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use futures::StreamExt;
use object_store::ObjectMeta;
use object_store::path::Path as ObjPath;
use stash_core::PackRef;
use stash_core::output::{DeletedSnapshot, GcOutput};
use stash_core::retention::{self, Listed, PackFate, Rules};

use super::{Ctx, Done};
use crate::error::UserError;
use crate::error::describe;
use crate::report::human_bytes;
use crate::store::LAYOUT;
use crate::store::{Store, parse_duration};
use stash_core::Layer;

/// The shortest `--grace` while saves may run ([`retention::GRACE_FLOOR_S`]).
pub const GRACE_FLOOR: Duration = Duration::from_secs(retention::GRACE_FLOOR_S);

/// What `gc` was asked to do, resolved.
pub struct GcOptions {
    pub max_age: Option<Duration>,
    pub keep: Option<usize>,
    pub grace: Duration,
    pub prefix: String,
    pub dry_run: bool,
}

impl GcOptions {
    /// `grace` is the flag's text and whether the user promised that no save runs.
    pub fn parse(
        max_age: Option<&str>,
        keep: Option<usize>,
        (grace, no_concurrent_saves): (&str, bool),
        prefix: Option<&str>,
        dry_run: bool,
    ) -> Result<GcOptions> {
        let dur = |flag: &str, v: &str| {
            parse_duration(v).map_err(|e| {
                UserError::new(
                    format!("--{flag} {v}: {e}"),
                    "give a number with a unit: 90m, 12h, 7d, 2w",
                )
            })
        };
        let grace_age = dur("grace", grace)?;
        if !retention::grace_allowed(grace_age.as_secs(), no_concurrent_saves) {
            return Err(UserError::new(
                format!(
                    "--grace {grace} is below the floor of {}h: a save running meanwhile may \
                     lose packs it uploaded or reuses, and publish a snapshot missing them",
                    GRACE_FLOOR.as_secs() / 3600
                ),
                "use --grace 25h or more (default 2d), or add --no-concurrent-saves when no \
                 save can write to the store during this gc",
            )
            .into());
        }
        Ok(GcOptions {
            max_age: max_age.map(|v| dur("max-age", v)).transpose()?,
            keep,
            grace: grace_age,
            prefix: prefix.unwrap_or_default().to_string(),
            dry_run,
        })
    }
}

/// The retention rules as core takes them.
impl GcOptions {
    fn rules(&self) -> Rules {
        Rules {
            max_age_s: self.max_age.map(|d| d.as_secs()),
            keep: self.keep,
        }
    }
}

pub async fn run(ctx: &Ctx, opts: &GcOptions) -> Result<Done> {
    let start = Instant::now();
    let store = ctx.store()?;
    let mut out = GcOutput {
        version: stash_core::output::OUTPUT_VERSION,
        dry_run: opts.dry_run,
        snapshots_deleted: Vec::new(),
        snapshots_kept: 0,
        packs_deleted: 0,
        bytes_freed: 0,
        packs_in_grace: 0,
        packs_kept: 0,
        staging_deleted: 0,
        seconds: 0.0,
        warnings: Vec::new(),
        requests: Default::default(),
    };

    // 1. Snapshots past the retention rules.
    let now = crate::state::unix_now() as i64;
    let listed: Vec<Listed> = list_snapshots(&store)
        .await?
        .into_iter()
        .filter(|(_, key, _)| key.starts_with(&opts.prefix))
        .map(|(layer, key, meta)| Listed {
            layer,
            key,
            age_seconds: now - meta.last_modified.timestamp(),
        })
        .collect();
    let doomed = retention::doomed(&listed, opts.rules());
    out.snapshots_kept = (listed.len() - doomed.len()) as u64;
    for (i, reason) in doomed {
        let s = &listed[i];
        out.snapshots_deleted.push(DeletedSnapshot {
            layer: s.layer.clone(),
            key: s.key.clone(),
            age_seconds: s.age_seconds,
            reason,
        });
    }
    if !opts.dry_run {
        let deletions: Vec<Result<()>> = futures::stream::iter(&out.snapshots_deleted)
            .map(|s| {
                let store = &store;
                async move {
                    store
                        .delete(&Store::manifest_path(layer(&s.layer)?, &s.key))
                        .await
                }
            })
            .buffer_unordered(ctx.jobs)
            .collect()
            .await;
        deletions.into_iter().collect::<Result<Vec<()>>>()?;
    }

    // 2. Packs no remaining snapshot references. Listed again, after the deletions, so
    // a snapshot published meanwhile protects its packs.
    let dropped: BTreeSet<(String, String)> = if opts.dry_run {
        out.snapshots_deleted
            .iter()
            .map(|s| (s.layer.clone(), s.key.clone()))
            .collect()
    } else {
        BTreeSet::new()
    };
    let remaining: Vec<(String, String)> = list_snapshots(&store)
        .await?
        .into_iter()
        .map(|(layer, key, _)| (layer, key))
        .filter(|lk| !dropped.contains(lk))
        .collect();
    let manifests: Vec<Result<Option<stash_core::Manifest>>> = futures::stream::iter(&remaining)
        .map(|(layer, key)| {
            let store = &store;
            async move { store.manifest(self::layer(layer)?, key).await }
        })
        .buffer_unordered(ctx.jobs)
        .collect()
        .await;
    let mut referenced = BTreeSet::new();
    for m in manifests {
        match m {
            // A patch keeps its base alive too.
            Ok(Some(m)) => referenced.extend(m.packs.iter().flat_map(PackRef::objects)),
            Ok(None) => {} // Deleted meanwhile.
            Err(e) => {
                // Never delete a pack we cannot prove unreferenced.
                out.warnings.push(format!(
                    "packs not collected: a snapshot could not be read: {}",
                    describe(&e)
                ));
                return finish(ctx, out, start, &store);
            }
        }
    }
    let grace_cutoff = now - opts.grace.as_secs() as i64;
    let mut candidates = Vec::new();
    // Packs no snapshot references, and packs a local save left half-written when it
    // was killed (never referenced); both only once older than the grace period.
    let mut listed = store
        .list(&ObjPath::from(format!("{LAYOUT}/packs")))
        .await?;
    listed.extend(store.list(&ObjPath::from(format!("{LAYOUT}/tmp"))).await?);
    for meta in listed {
        let Some(id) = meta.location.filename().map(str::to_string) else {
            continue;
        };
        let age = now - meta.last_modified.timestamp();
        match retention::pack_fate(referenced.contains(&id), age, opts.grace.as_secs()) {
            PackFate::Referenced => out.packs_kept += 1,
            PackFate::InGrace => out.packs_in_grace += 1,
            PackFate::Delete => candidates.push(meta),
        }
    }
    if let Some(dir) = &store.local {
        for (path, size) in stale_staging(&dir.join(LAYOUT), grace_cutoff) {
            if opts.dry_run || std::fs::remove_file(&path).is_ok() {
                out.staging_deleted += 1;
                out.bytes_freed += size;
            }
        }
    }
    let swept: Vec<Result<Option<u64>>> = futures::stream::iter(candidates)
        .map(|meta| {
            let store = &store;
            async move { sweep(store, meta, grace_cutoff, opts.dry_run).await }
        })
        .buffer_unordered(ctx.jobs)
        .collect()
        .await;
    for s in swept {
        match s? {
            Some(bytes) => {
                out.packs_deleted += 1;
                out.bytes_freed += bytes;
            }
            None => out.packs_in_grace += 1,
        }
    }
    finish(ctx, out, start, &store)
}

/// Deletes one unreferenced pack unless it was rewritten since it was listed (a save
/// refreshing it); returns its size when deleted.
async fn sweep(
    store: &Store,
    listed: ObjectMeta,
    grace_cutoff: i64,
    dry_run: bool,
) -> Result<Option<u64>> {
    if dry_run {
        return Ok(Some(listed.size));
    }
    match store.head(&listed.location).await? {
        Some(now) if now.last_modified.timestamp() <= grace_cutoff => {
            store.delete(&listed.location).await?;
            Ok(Some(now.size))
        }
        Some(_) => Ok(None),
        None => Ok(None),
    }
}

/// Whether a file name is a local store's staging file: object_store writes `<name>#<n>`
/// and renames it to `<name>`, so one whose writer was killed stays, unlisted.
pub fn is_staging_name(name: &str) -> bool {
    name.rsplit_once('#').is_some_and(|(base, n)| {
        !base.is_empty() && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())
    })
}

/// Staging files under `dir` last written before `cutoff` (Unix seconds), with sizes.
fn stale_staging(dir: &std::path::Path, cutoff: i64) -> Vec<(std::path::PathBuf, u64)> {
    walkdir::WalkDir::new(dir)
        .follow_links(false)
        .into_iter()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_file())
        .filter(|e| e.file_name().to_str().is_some_and(is_staging_name))
        .filter_map(|e| {
            let meta = e.metadata().ok()?;
            let written = filetime::FileTime::from_last_modification_time(&meta).unix_seconds();
            (written <= cutoff).then(|| (e.into_path(), meta.len()))
        })
        .collect()
}

/// The layer a listed snapshot belongs to (listing keeps only known ones).
fn layer(name: &str) -> Result<Layer> {
    Layer::parse(name).with_context(|| format!("unknown layer `{name}`"))
}

/// `(layer, key, meta)` of every snapshot in the store.
async fn list_snapshots(store: &Store) -> Result<Vec<(String, String, ObjectMeta)>> {
    let all = store
        .list(&ObjPath::from(format!("{LAYOUT}/manifests")))
        .await?;
    Ok(all
        .into_iter()
        .filter_map(|meta| {
            let parts: Vec<String> = meta
                .location
                .parts()
                .map(|p| p.as_ref().to_string())
                .collect();
            match parts.as_slice() {
                // Only the layers this version knows: another layer's snapshots are not ours.
                [v, m, layer, key]
                    if v == LAYOUT && m == "manifests" && Layer::parse(layer).is_some() =>
                {
                    Some((layer.clone(), key.clone(), meta.clone()))
                }
                _ => None,
            }
        })
        .collect())
}

fn finish(ctx: &Ctx, mut out: GcOutput, start: Instant, store: &Store) -> Result<Done> {
    out.seconds = start.elapsed().as_secs_f64();
    out.requests = store.requests.snapshot();
    for w in &out.warnings {
        ctx.report.warn(w);
    }
    let verb = if out.dry_run {
        "would delete"
    } else {
        "deleted"
    };
    let mut human: Vec<String> = out
        .snapshots_deleted
        .iter()
        .map(|s| format!("{verb} {} {} ({})", s.layer, s.key, s.reason))
        .collect();
    human.push(format!(
        "gc: {verb} {} snapshots ({} kept) and {} packs ({}); {} unreferenced packs within the \
         grace period, {} packs in use",
        out.snapshots_deleted.len(),
        out.snapshots_kept,
        out.packs_deleted,
        human_bytes(out.bytes_freed),
        out.packs_in_grace,
        out.packs_kept
    ));
    if out.staging_deleted > 0 {
        human.push(format!(
            "gc: {verb} {} half-written objects left by killed saves",
            out.staging_deleted
        ));
    }
    if ctx.global.verbose > 0 {
        human.push(format!("gc: {}", out.requests));
    }
    ctx.report.result(&out, &human.join("\n"));
    Ok(Done::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staging_names() {
        assert!(is_staging_name("stash1-linux-x64-a-b-c#1"));
        assert!(is_staging_name("0123abcd#42"));
        assert!(!is_staging_name("stash1-linux-x64-a-b-c"));
        assert!(!is_staging_name("#1"));
        assert!(!is_staging_name("key#"));
        assert!(!is_staging_name("key#1a"));
    }

    #[test]
    fn grace_has_a_floor_unless_no_save_runs() {
        let parse = |g, promise| GcOptions::parse(None, None, (g, promise), None, false);
        let err = format!("{:#}", parse("1h", false).err().unwrap());
        assert!(err.contains("floor of 25h"), "{err}");
        assert!(parse("0s", false).is_err());
        assert_eq!(parse("25h", false).unwrap().grace, GRACE_FLOOR);
        assert_eq!(parse("0s", true).unwrap().grace, Duration::ZERO);
    }
}
