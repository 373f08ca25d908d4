//! A store is a URL plus the environment: where packs and manifests live. This module
//! turns `file://`, `s3://`, `gs://` and `az://` URLs into one `object_store` (built from
//! each cloud's standard env vars, with our retry and timeout settings), scrubs secrets
//! from every error it returns, and knows the object layout (`v2/packs/<id>`,
//! `v2/manifests/<layer>/<key>`). See docs/stores.md.

mod cloud;
mod diagnose;
mod publish;
mod secrets;
mod transfer;
mod url;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use futures::TryStreamExt;
use object_store::path::Path as ObjPath;
use object_store::{GetResultPayload, ObjectMeta, ObjectStore, ObjectStoreExt};
use stash_core::{Layer, Manifest};
use tokio_util::io::{StreamReader, SyncIoBridge};

use crate::error::UserError;
use crate::requests::{Counted, Requests};
use crate::state::Seen;
use cloud::cloud_store;
use diagnose::is_missing_object;
pub use publish::Published;
use secrets::Scrubbed;
pub use secrets::scrub;
pub use transfer::{Transfer, parse_duration};
pub use url::{Cloud, Location, parse_location};

#[derive(Clone, Debug)]
pub struct Store {
    pub inner: Arc<dyn ObjectStore>,
    /// The URL without credentials, for messages.
    pub display: String,
    /// The folder of a local store: a save writes its packs there directly and names
    /// them by a rename, instead of writing them twice.
    pub local: Option<PathBuf>,
    /// How long a whole `restore` or `save` may take (`CARGO_STASH_DEADLINE`).
    pub deadline: Duration,
    /// Every request made through `inner` so far (`requests` in `--json`).
    pub requests: Arc<Requests>,
    /// Packs this job found in the store, by object name: see [`Store::reusable_pack`].
    pub seen: Arc<std::sync::Mutex<BTreeMap<String, Seen>>>,
    /// Packs this job asked for and did not find: a save checks a pack before packing
    /// it and again before uploading, and one HEAD per pack is enough (a pack uploaded
    /// meanwhile by another job is only uploaded twice, same content).
    pub absent: Arc<std::sync::Mutex<std::collections::BTreeSet<String>>>,
    /// Upload buffers of all packs in flight, shared (see [`publish::UploadMemory`]).
    pub uploads: publish::UploadMemory,
}

/// A manifest as read from the store.
pub enum Found {
    Missing,
    /// Not a manifest this version reads: bad JSON, bad fields, an old schema.
    Bad(anyhow::Error),
    /// A newer schema: a newer cargo-stash wrote it.
    Newer(anyhow::Error),
    Good(Box<Manifest>),
}

/// The first part of every object's path. It changes when packs are named differently:
/// v1 named them by SHA-256, v2 by BLAKE3. Objects of other layouts are neither read
/// nor collected; `gc` of an older cargo-stash handles its own.
pub const LAYOUT: &str = "v2";

/// The embedded default: a folder under the user's cache dir.
pub fn default_dir() -> Result<PathBuf> {
    let base =
        dirs::cache_dir().context("no cache directory; pass --store or set CARGO_STASH_STORE")?;
    Ok(base.join("cargo-stash").join("store"))
}

impl Store {
    pub fn open(url: Option<&str>) -> Result<Store> {
        Store::open_with(url, &Transfer::from_env()?)
    }

    pub fn open_with(url: Option<&str>, transfer: &Transfer) -> Result<Store> {
        let store = Store::open_url(url, transfer)?;
        Ok(Store {
            deadline: transfer.deadline,
            ..store
        })
    }

    fn open_url(url: Option<&str>, transfer: &Transfer) -> Result<Store> {
        match url.map(str::trim).filter(|u| !u.is_empty()) {
            None => Store::local(default_dir()?),
            Some(u) => match parse_location(u)? {
                Location::Local(dir) => Store::local(dir),
                Location::Cloud {
                    cloud,
                    bucket,
                    prefix,
                } => {
                    let raw = cloud_store(cloud, &bucket, transfer)?;
                    let requests = Arc::new(Requests::default());
                    let inner: Arc<dyn ObjectStore> = if prefix.is_empty() {
                        Arc::new(Counted {
                            inner: Scrubbed(raw),
                            requests: requests.clone(),
                        })
                    } else {
                        Arc::new(Counted {
                            inner: Scrubbed(object_store::prefix::PrefixStore::new(
                                raw,
                                prefix.as_str(),
                            )),
                            requests: requests.clone(),
                        })
                    };
                    let display = if prefix.is_empty() {
                        format!("{}://{bucket}", cloud.scheme())
                    } else {
                        format!("{}://{bucket}/{prefix}", cloud.scheme())
                    };
                    Ok(Store {
                        inner,
                        display,
                        local: None,
                        deadline: transfer.deadline,
                        requests,
                        seen: Default::default(),
                        absent: Default::default(),
                        uploads: Default::default(),
                    })
                }
            },
        }
    }

    fn local(dir: PathBuf) -> Result<Store> {
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("creating store folder {}", dir.display()))?;
        let fs = object_store::local::LocalFileSystem::new_with_prefix(&dir)
            .with_context(|| format!("opening store folder {}", dir.display()))?;
        let requests = Arc::new(Requests::default());
        Ok(Store {
            inner: Arc::new(Counted {
                inner: fs,
                requests: requests.clone(),
            }),
            display: format!("file://{}", dir.display()),
            local: Some(dir),
            deadline: Transfer::default().deadline,
            requests,
            seen: Default::default(),
            absent: Default::default(),
            uploads: Default::default(),
        })
    }

    /// Where a pack (`<id>`) or a patch (`<id>.<base>`) is stored.
    pub fn pack_path(object: &str) -> ObjPath {
        ObjPath::from(format!("{LAYOUT}/packs/{object}"))
    }

    pub fn manifest_path(layer: Layer, key: &str) -> ObjPath {
        ObjPath::from(format!("{LAYOUT}/manifests/{layer}/{key}"))
    }

    pub async fn head(&self, path: &ObjPath) -> Result<Option<ObjectMeta>> {
        match self.inner.head(path).await {
            Ok(m) => Ok(Some(m)),
            Err(e) if is_missing_object(&e) => Ok(None),
            Err(e) => Err(self.explain(e, &format!("checking {path}"))),
        }
    }

    /// The stored pack's size if a save may reference it without uploading it again: it
    /// exists and is younger than `stash_core::retention::PACK_REFRESH_AFTER_S`. An older pack is re-uploaded,
    /// which renews its age so a concurrent `gc` keeps it. `object` is a pack id, or a
    /// patch's `<id>.<base>`.
    ///
    /// A pack this job already downloaded or checked (`seen`, handed from restore to
    /// save in the state file) is not asked for again: its age is reckoned now from the
    /// time the store reported, and `gc` deletes no pack younger than its grace period,
    /// which exceeds the refresh age. A pack found missing or corrupt at restore
    /// is never reused (the save's `distrust`), whatever was seen.
    pub async fn reusable_pack(&self, object: &str) -> Result<Option<u64>> {
        let known = self.seen.lock().unwrap().get(object).copied();
        let seen = match known {
            Some(seen) => seen,
            None if self.absent.lock().unwrap().contains(object) => return Ok(None),
            None => {
                let Some(meta) = self.head(&Store::pack_path(object)).await? else {
                    self.absent.lock().unwrap().insert(object.to_string());
                    return Ok(None);
                };
                self.remember(object, &meta)
            }
        };
        let age = crate::state::unix_now() as i64 - seen.modified;
        Ok(stash_core::retention::may_reference(age).then_some(seen.size))
    }

    fn remember(&self, object: &str, meta: &ObjectMeta) -> Seen {
        let seen = Seen {
            modified: meta.last_modified.timestamp(),
            size: meta.size,
        };
        self.seen.lock().unwrap().insert(object.to_string(), seen);
        seen
    }

    /// Whether this job already knows if `object` is stored (seen or found absent), so
    /// [`Store::reusable_pack`] asks nothing.
    pub fn knows(&self, object: &str) -> bool {
        self.seen.lock().unwrap().contains_key(object)
            || self.absent.lock().unwrap().contains(object)
    }

    /// A stored pack (or patch) as a blocking reader: read it on a blocking thread.
    pub async fn open_pack(&self, object: &str) -> Result<Box<dyn std::io::Read + Send>> {
        let got = self
            .inner
            .get(&Store::pack_path(object))
            .await
            .map_err(|e| self.explain(e, &format!("downloading pack {object}")))?;
        self.remember(object, &got.meta);
        // A local store hands out the file itself: read it directly, in large blocks,
        // rather than through the stream object_store builds for other stores.
        Ok(match got.payload {
            GetResultPayload::File(file, _) => {
                Box::new(std::io::BufReader::with_capacity(1 << 20, file))
            }
            GetResultPayload::Stream(stream) => Box::new(SyncIoBridge::new(StreamReader::new(
                stream.map_err(std::io::Error::other),
            ))),
        })
    }

    /// [`Store::reusable_pack`] of a pack stored whole (`base` is `None`) or as a patch.
    /// A patch is reusable only while its base is too: a save referencing it must keep
    /// both out of `gc`'s reach.
    pub async fn reusable(&self, id: &str, base: Option<&str>) -> Result<Option<u64>> {
        let object = stash_core::manifest::object_name(id, base);
        let Some(size) = self.reusable_pack(&object).await? else {
            return Ok(None);
        };
        if let Some(b) = base
            && self.reusable_pack(b).await?.is_none()
        {
            return Ok(None);
        }
        Ok(Some(size))
    }

    /// Reads and validates a manifest; `None` when there is none, an error when it is
    /// there but unusable.
    pub async fn manifest(&self, layer: Layer, key: &str) -> Result<Option<Manifest>> {
        match self.read_manifest(layer, key).await? {
            Found::Missing => Ok(None),
            Found::Good(m) => Ok(Some(*m)),
            Found::Bad(e) | Found::Newer(e) => Err(e),
        }
    }

    /// Reads a manifest and tells a missing one from an unusable one; only a store
    /// problem (unreachable, credentials) is an error.
    pub async fn read_manifest(&self, layer: Layer, key: &str) -> Result<Found> {
        let path = Store::manifest_path(layer, key);
        let bytes = match self.inner.get(&path).await {
            Ok(r) => r
                .bytes()
                .await
                .map_err(|e| self.explain(e, &format!("reading {path}")))?,
            Err(e) if is_missing_object(&e) => return Ok(Found::Missing),
            Err(e) => return Err(self.explain(e, &format!("reading {path}"))),
        };
        Ok(match Manifest::from_json(&bytes) {
            Ok(m) => Found::Good(Box::new(m)),
            Err(e) => {
                let newer = matches!(e, stash_core::ManifestError::Schema { found, .. }
                    if found > u64::from(stash_core::manifest::MANIFEST_SCHEMA));
                let err = anyhow::Error::new(e).context(format!("manifest {path} is unusable"));
                if newer {
                    Found::Newer(err)
                } else {
                    Found::Bad(err)
                }
            }
        })
    }

    /// Every manifest of a layer whose key starts with `prefix`.
    pub async fn list_manifests(
        &self,
        layer: Layer,
        prefix: &str,
    ) -> Result<Vec<(String, ObjectMeta)>> {
        let dir = ObjPath::from(format!("{LAYOUT}/manifests/{layer}"));
        let all = self.list(&dir).await?;
        Ok(all
            .into_iter()
            .filter_map(|m| {
                let key = m.location.filename()?.to_string();
                key.starts_with(prefix).then_some((key, m))
            })
            .collect())
    }

    /// Every object under `dir`.
    pub async fn list(&self, dir: &ObjPath) -> Result<Vec<ObjectMeta>> {
        self.inner
            .list(Some(dir))
            .try_collect()
            .await
            .map_err(|e| self.explain(e, &format!("listing {dir}")))
    }

    /// Deletes one object; an object already gone is fine.
    pub async fn delete(&self, path: &ObjPath) -> Result<()> {
        match self.inner.delete(path).await {
            Ok(()) => Ok(()),
            Err(e) if is_missing_object(&e) => Ok(()),
            Err(e) => Err(self.explain(e, &format!("deleting {path}"))),
        }
    }

    /// Runs `work` within `until`; past it, a cache problem naming the store and the
    /// setting to change. Work cut off is dropped like a killed process's.
    pub async fn within<T>(
        &self,
        until: tokio::time::Instant,
        what: &str,
        work: impl std::future::Future<Output = Result<T>>,
    ) -> Result<T> {
        match tokio::time::timeout_at(until, work).await {
            Ok(r) => r,
            Err(_) => Err(UserError::cache(
                format!(
                    "{what} gave up: {} did not finish within the {}s deadline \
                     (CARGO_STASH_DEADLINE)",
                    self.display,
                    self.deadline.as_secs_f64()
                ),
                "the store may be down or too slow; CARGO_STASH_DEADLINE (default 10m) sets how \
                 long restore and save may take, CARGO_STASH_READ_TIMEOUT (default 20s) how long \
                 a silent connection is waited on",
            )
            .into()),
        }
    }

    fn cloud(&self) -> Option<Cloud> {
        [Cloud::S3, Cloud::Gcs, Cloud::Azure]
            .into_iter()
            .find(|c| self.display.starts_with(&format!("{}://", c.scheme())))
    }
}
