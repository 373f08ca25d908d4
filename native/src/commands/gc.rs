//! `cargo stash gc`: deletes snapshots past the retention rules (`--max-age`, newest
//! `--keep` per restore prefix), then packs that no remaining snapshot references and
//! that are older than `--grace`, so packs a save in flight has just uploaded survive.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use futures::StreamExt;
use object_store::ObjectMeta;
use object_store::path::Path as ObjPath;
use serde::Serialize;

use super::{Ctx, Done};
use crate::error::UserError;
use crate::error::describe;
use crate::report::human_bytes;
use crate::store::LAYOUT;
use crate::store::{PACK_REFRESH_AFTER, Store, parse_duration};
use stash_core::Layer;

/// The shortest `--grace` while saves may run. A save references stored packs younger
/// than [`PACK_REFRESH_AFTER`] and uploads the rest; the hour on top covers the save's
/// own duration, which `CARGO_STASH_DEADLINE` (default 10m) bounds.
pub const GRACE_FLOOR: Duration = Duration::from_secs(PACK_REFRESH_AFTER.as_secs() + 3600);

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
        if grace_age < GRACE_FLOOR && !no_concurrent_saves {
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

/// `--json` output of `gc`. Fields are only ever added.
#[derive(Serialize)]
struct GcOutput {
    version: u32,
    dry_run: bool,
    /// Snapshots deleted (or, with `--dry-run`, that would be).
    snapshots_deleted: Vec<DeletedSnapshot>,
    snapshots_kept: u64,
    /// Packs deleted (or that would be): unreferenced and older than the grace period.
    packs_deleted: u64,
    bytes_freed: u64,
    /// Unreferenced packs younger than the grace period: maybe a save in flight.
    packs_in_grace: u64,
    packs_kept: u64,
    /// Half-written objects a killed save left in a local store (`<name>#<n>`, which
    /// listings never show), deleted once older than the grace period.
    staging_deleted: u64,
    seconds: f64,
    warnings: Vec<String>,
}

#[derive(Serialize)]
struct DeletedSnapshot {
    layer: String,
    key: String,
    age_seconds: i64,
    /// `max-age` or `keep`.
    reason: String,
}

/// One snapshot as listed.
#[derive(Clone, Debug)]
pub struct Listed {
    pub layer: String,
    pub key: String,
    pub age_seconds: i64,
}

/// The restore prefix a key falls back under: `[prefix-]stashN-os-arch-toolchain-config-`
/// for target keys, `[prefix-]stashN-registry-` for registry keys. `--keep` counts per
/// prefix, so a lockfile change that makes a new key still ages out old ones.
pub fn rung(key: &str) -> String {
    let parts: Vec<&str> = key.split('-').collect();
    let head = parts.iter().position(|p| {
        p.strip_prefix("stash")
            .is_some_and(|v| !v.is_empty() && v.chars().all(|c| c.is_ascii_digit()))
    });
    let end = match head {
        Some(h) if parts.get(h + 1) == Some(&"registry") => h + 2,
        Some(h) if parts.len() > h + 5 => h + 5,
        _ => return key.to_string(),
    };
    format!("{}-", parts[..end].join("-"))
}

/// Which snapshots the rules delete, and why. A snapshot goes when any rule says so.
pub fn plan(snapshots: &[Listed], opts: &GcOptions) -> Vec<(usize, &'static str)> {
    let mut out = BTreeMap::new();
    if let Some(max) = opts.max_age {
        for (i, s) in snapshots.iter().enumerate() {
            if s.age_seconds > max.as_secs() as i64 {
                out.insert(i, "max-age");
            }
        }
    }
    if let Some(keep) = opts.keep {
        let mut groups: BTreeMap<(String, String), Vec<usize>> = BTreeMap::new();
        for (i, s) in snapshots.iter().enumerate() {
            groups
                .entry((s.layer.clone(), rung(&s.key)))
                .or_default()
                .push(i);
        }
        for mut members in groups.into_values() {
            members.sort_by_key(|&i| (snapshots[i].age_seconds, snapshots[i].key.clone()));
            for &i in members.iter().skip(keep) {
                out.entry(i).or_insert("keep");
            }
        }
    }
    out.into_iter().collect()
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
    let doomed = plan(&listed, opts);
    out.snapshots_kept = (listed.len() - doomed.len()) as u64;
    for (i, reason) in &doomed {
        let s = &listed[*i];
        out.snapshots_deleted.push(DeletedSnapshot {
            layer: s.layer.clone(),
            key: s.key.clone(),
            age_seconds: s.age_seconds,
            reason: (*reason).into(),
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
            Ok(Some(m)) => referenced.extend(
                m.packs
                    .iter()
                    .flat_map(|p| std::iter::once(p.object()).chain(p.base.clone())),
            ),
            Ok(None) => {} // Deleted meanwhile.
            Err(e) => {
                // Never delete a pack we cannot prove unreferenced.
                out.warnings.push(format!(
                    "packs not collected: a snapshot could not be read: {}",
                    describe(&e)
                ));
                return finish(ctx, out, start);
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
        if referenced.contains(&id) {
            out.packs_kept += 1;
        } else if meta.last_modified.timestamp() > grace_cutoff {
            out.packs_in_grace += 1;
        } else {
            candidates.push(meta);
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
    finish(ctx, out, start)
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

fn finish(ctx: &Ctx, mut out: GcOutput, start: Instant) -> Result<Done> {
    out.seconds = start.elapsed().as_secs_f64();
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
    ctx.report.result(&out, &human.join("\n"));
    Ok(Done::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(layer: &str, key: &str, age: i64) -> Listed {
        Listed {
            layer: layer.into(),
            key: key.into(),
            age_seconds: age,
        }
    }

    fn opts(max_age: Option<u64>, keep: Option<usize>) -> GcOptions {
        GcOptions {
            max_age: max_age.map(Duration::from_secs),
            keep,
            grace: Duration::from_secs(7200),
            prefix: String::new(),
            dry_run: false,
        }
    }

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

    #[test]
    fn rungs() {
        assert_eq!(
            rung("stash1-linux-x64-1.95.0_59807616-eb564e911a-a1acae545a"),
            "stash1-linux-x64-1.95.0_59807616-eb564e911a-"
        );
        assert_eq!(
            rung("job_a-stash1-linux-x64-1.95.0_59807616-eb564e911a-a1acae545a-abc123"),
            "job_a-stash1-linux-x64-1.95.0_59807616-eb564e911a-"
        );
        assert_eq!(rung("stash1-registry-a1acae545a"), "stash1-registry-");
        assert_eq!(rung("not-a-stash-key"), "not-a-stash-key");
    }

    #[test]
    fn keep_counts_per_rung_and_layer() {
        let s = [
            snap("target", "stash1-linux-x64-t_1-c1-d1", 10),
            snap("target", "stash1-linux-x64-t_1-c1-d2", 20),
            snap("target", "stash1-linux-x64-t_1-c1-d3", 30),
            snap("target", "stash1-linux-x64-t_1-c2-d1", 40),
            snap("registry", "stash1-registry-d1", 50),
        ];
        let p = plan(&s, &opts(None, Some(2)));
        assert_eq!(p, vec![(2, "keep")]);
        let p = plan(&s, &opts(None, Some(0)));
        assert_eq!(p.len(), 5);
    }

    #[test]
    fn max_age_and_keep_combine() {
        let s = [
            snap("target", "stash1-linux-x64-t_1-c1-d1", 10),
            snap("target", "stash1-linux-x64-t_1-c1-d2", 100_000),
            snap("target", "stash1-linux-x64-t_1-c1-d3", 5),
        ];
        let p = plan(&s, &opts(Some(86_400), Some(1)));
        assert_eq!(p, vec![(0, "keep"), (1, "max-age")]);
        assert!(plan(&s, &opts(None, None)).is_empty());
    }
}
