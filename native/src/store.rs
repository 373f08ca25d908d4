//! A store is a URL plus the environment: where packs and manifests live. This module
//! turns `file://`, `s3://`, `gs://` and `az://` URLs into one `object_store` (built from
//! each cloud's standard env vars, with our retry and timeout settings), scrubs secrets
//! from every error it returns, and knows the object layout (`v2/packs/<id>`,
//! `v2/manifests/<layer>/<key>`). See docs/stores.md.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::{Context, Result};
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path as ObjPath;
use object_store::{
    BackoffConfig, CopyOptions, GetOptions, GetResult, GetResultPayload, ListResult,
    MultipartUpload, ObjectMeta, ObjectStore, ObjectStoreExt, PutMode, PutMultipartOptions,
    PutOptions, PutPayload, PutResult, RenameOptions, RetryConfig, UploadPart,
};
use stash_core::Manifest;
use tokio_util::io::{StreamReader, SyncIoBridge};

use crate::error::UserError;
use crate::requests::{Counted, Requests};
use crate::state::Seen;

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

/// Where a store URL points, before anything is opened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    Local(PathBuf),
    Cloud {
        cloud: Cloud,
        bucket: String,
        /// Object prefix inside the bucket, without leading or trailing `/`.
        prefix: String,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cloud {
    S3,
    Gcs,
    Azure,
}

impl Cloud {
    fn scheme(self) -> &'static str {
        match self {
            Cloud::S3 => "s3",
            Cloud::Gcs => "gs",
            Cloud::Azure => "az",
        }
    }

    fn bucket_word(self) -> &'static str {
        match self {
            Cloud::Azure => "container",
            _ => "bucket",
        }
    }

    fn credentials_hint(self) -> &'static str {
        match self {
            Cloud::S3 => {
                "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (plus AWS_SESSION_TOKEN for temporary \
                 credentials), or run with a role (AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN, ECS or \
                 instance metadata); for S3-compatible servers also AWS_ENDPOINT"
            }
            Cloud::Gcs => {
                "set GOOGLE_SERVICE_ACCOUNT (path to a key file) or GOOGLE_SERVICE_ACCOUNT_KEY (its JSON), \
                 or GOOGLE_APPLICATION_CREDENTIALS, or run on GCP with a service account"
            }
            Cloud::Azure => {
                "set AZURE_STORAGE_ACCOUNT_NAME plus AZURE_STORAGE_ACCOUNT_KEY or AZURE_STORAGE_SAS_KEY \
                 (or AZURE_CLIENT_ID/AZURE_CLIENT_SECRET/AZURE_TENANT_ID); for Azurite set \
                 AZURE_STORAGE_USE_EMULATOR=true"
            }
        }
    }
}

/// Parses a store URL: `file:///path`, `s3://bucket/prefix`,
/// `gs://bucket/prefix`, `az://container/prefix`.
pub fn parse_location(url: &str) -> Result<Location> {
    let u = url.trim();
    if !u.contains("://") {
        let shown = hide_userinfo(u);
        return Err(bad_url(&shown, &without_scheme(&shown)));
    }
    let parsed = url::Url::parse(u).map_err(|e| bad_url(u, &e.to_string()))?;
    let cloud = match parsed.scheme() {
        "file" => {
            let path = parsed
                .to_file_path()
                .map_err(|_| bad_url(u, "a file:// URL needs an absolute path"))?;
            return Ok(Location::Local(path));
        }
        "s3" | "s3a" => Cloud::S3,
        "gs" => Cloud::Gcs,
        "az" | "azure" => Cloud::Azure,
        other => {
            return Err(bad_url(u, &format!("unsupported scheme `{other}://`")));
        }
    };
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(bad_url(
            u,
            "credentials do not belong in the store URL; use the environment variables in docs/stores.md",
        ));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(bad_url(
            u,
            "store URLs take no `?query` or `#fragment`; options come from environment variables",
        ));
    }
    let bucket = parsed.host_str().unwrap_or_default().to_string();
    if bucket.is_empty() {
        return Err(bad_url(
            u,
            &format!(
                "no {} name: write {}://{}/prefix",
                cloud.bucket_word(),
                cloud.scheme(),
                cloud.bucket_word().to_uppercase()
            ),
        ));
    }
    let prefix = ObjPath::from_url_path(parsed.path())
        .map_err(|e| bad_url(u, &format!("bad prefix: {e}")))?
        .to_string();
    Ok(Location::Cloud {
        cloud,
        bucket,
        prefix,
    })
}

/// How hard to try: retries with exponential backoff and timeouts for every request.
/// Read from `CARGO_STASH_RETRIES`, `CARGO_STASH_RETRY_TIMEOUT`, `CARGO_STASH_TIMEOUT`,
/// `CARGO_STASH_CONNECT_TIMEOUT`.
#[derive(Clone, Debug, PartialEq)]
pub struct Transfer {
    /// Retries of one request after a transient error (5xx, 429, connection reset).
    pub retries: usize,
    /// Give up retrying one request after this long.
    pub retry_timeout: Duration,
    /// One request, body included.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// Silence on a connection: each read of an answer must come within this, so a
    /// server that accepts and never answers fails fast while big bodies still stream.
    pub read_timeout: Duration,
    /// The whole `restore` or `save`, all requests and retries included.
    pub deadline: Duration,
}

impl Default for Transfer {
    fn default() -> Self {
        // A cache must not stall a build: fail over to a cold build within about a minute
        // when the store is down, but ride out short blips.
        Transfer {
            retries: 3,
            retry_timeout: Duration::from_secs(60),
            timeout: Duration::from_secs(300),
            connect_timeout: Duration::from_secs(5),
            read_timeout: Duration::from_secs(20),
            deadline: Duration::from_secs(600),
        }
    }
}

impl Transfer {
    pub fn from_env() -> Result<Transfer> {
        let mut t = Transfer::default();
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        if let Some(v) = var("CARGO_STASH_RETRIES") {
            t.retries = v.trim().parse().map_err(|_| {
                UserError::new(
                    format!("CARGO_STASH_RETRIES=`{v}` is not a number"),
                    "set it to a count such as 3",
                )
            })?;
        }
        for (name, slot) in [
            ("CARGO_STASH_RETRY_TIMEOUT", &mut t.retry_timeout),
            ("CARGO_STASH_TIMEOUT", &mut t.timeout),
            ("CARGO_STASH_CONNECT_TIMEOUT", &mut t.connect_timeout),
            ("CARGO_STASH_READ_TIMEOUT", &mut t.read_timeout),
            ("CARGO_STASH_DEADLINE", &mut t.deadline),
        ] {
            if let Some(v) = var(name) {
                *slot = parse_duration(&v).map_err(|e| {
                    UserError::new(
                        format!("{name}=`{v}` is not a duration: {e}"),
                        "use a number with a unit: 30s, 5m, 1h",
                    )
                })?;
            }
        }
        if t.deadline > MAX_DEADLINE {
            return Err(UserError::new(
                format!(
                    "CARGO_STASH_DEADLINE is {}s, over the {}s a save may take",
                    t.deadline.as_secs(),
                    MAX_DEADLINE.as_secs()
                ),
                "gc's grace floor counts on a save being over within an hour: use 1h or less",
            )
            .into());
        }
        Ok(t)
    }

    fn retry_config(&self) -> RetryConfig {
        RetryConfig {
            backoff: BackoffConfig {
                init_backoff: Duration::from_millis(100),
                max_backoff: Duration::from_secs(10),
                base: 2.0,
            },
            max_retries: self.retries,
            retry_timeout: self.retry_timeout,
        }
    }
}

/// `90`, `90s`, `15m`, `6h`, `7d`, `2w`, `500ms`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{t}` does not start with a number"))?;
    let secs = match unit.trim() {
        "ms" => return Ok(Duration::from_millis(n)),
        "" | "s" | "sec" | "secs" => 1,
        "m" | "min" | "mins" => 60,
        "h" | "hour" | "hours" => 3600,
        "d" | "day" | "days" => 86_400,
        "w" | "week" | "weeks" => 7 * 86_400,
        other => return Err(format!("unknown unit `{other}` (use ms, s, m, h, d or w)")),
    };
    Ok(Duration::from_secs(n.saturating_mul(secs)))
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
        })
    }

    /// Where a pack (`<id>`) or a patch (`<id>.<base>`) is stored.
    pub fn pack_path(object: &str) -> ObjPath {
        ObjPath::from(format!("{LAYOUT}/packs/{object}"))
    }

    pub fn manifest_path(layer: &str, key: &str) -> ObjPath {
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
            None => {
                let Some(meta) = self.head(&Store::pack_path(object)).await? else {
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
    pub async fn manifest(&self, layer: &str, key: &str) -> Result<Option<Manifest>> {
        match self.read_manifest(layer, key).await? {
            Found::Missing => Ok(None),
            Found::Good(m) => Ok(Some(*m)),
            Found::Bad(e) | Found::Newer(e) => Err(e),
        }
    }

    /// Reads a manifest and tells a missing one from an unusable one; only a store
    /// problem (unreachable, credentials) is an error.
    pub async fn read_manifest(&self, layer: &str, key: &str) -> Result<Found> {
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

    /// Publishes a manifest over whatever is at its key. The write is atomic (a PUT, or
    /// a staged file renamed into place), so readers see the old or the new one whole.
    pub async fn replace_manifest(&self, layer: &str, key: &str, bytes: Vec<u8>) -> Result<()> {
        let path = Store::manifest_path(layer, key);
        self.inner
            .put_opts(&path, PutPayload::from(bytes), PutOptions::default())
            .await
            .map(|_| ())
            .map_err(|e| self.explain(e, &format!("writing {path}")))
    }

    /// Every manifest of a layer whose key starts with `prefix`.
    pub async fn list_manifests(
        &self,
        layer: &str,
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

    /// Publishes a manifest unless one exists for the key; `false` when it existed.
    pub async fn create_manifest(&self, layer: &str, key: &str, bytes: Vec<u8>) -> Result<bool> {
        let path = Store::manifest_path(layer, key);
        let opts = PutOptions {
            mode: PutMode::Create,
            ..Default::default()
        };
        match self
            .inner
            .put_opts(&path, PutPayload::from(bytes), opts)
            .await
        {
            Ok(_) => Ok(true),
            // S3-style stores answer a lost create race with 412 Precondition Failed.
            Err(
                object_store::Error::AlreadyExists { .. }
                | object_store::Error::Precondition { .. },
            ) => Ok(false),
            Err(e) => Err(self.explain(e, &format!("writing {path}"))),
        }
    }

    /// Turns a store error into what failed, why, and the fix.
    pub fn explain(&self, err: object_store::Error, what: &str) -> anyhow::Error {
        let text = scrub(&error_text(&err));
        let (message, hint) = match diagnose(&err, &text) {
            Problem::Credentials => (
                format!(
                    "{} rejected or could not find the credentials",
                    self.display
                ),
                self.cloud()
                    .map_or("check the store's credentials", Cloud::credentials_hint)
                    .to_string(),
            ),
            Problem::MissingBucket => (
                format!(
                    "the {} of {} does not exist",
                    self.cloud().map_or("bucket", Cloud::bucket_word),
                    self.display
                ),
                format!(
                    "create it, or point --store / CARGO_STASH_STORE at an existing one{}",
                    if self.cloud() == Some(Cloud::S3) {
                        " (for an S3-compatible server check AWS_ENDPOINT too)"
                    } else {
                        ""
                    }
                ),
            ),
            Problem::Unreachable => (
                format!("{} is unreachable", self.display),
                "check the endpoint and network; CARGO_STASH_TIMEOUT, CARGO_STASH_RETRIES and \
                 CARGO_STASH_RETRY_TIMEOUT tune how long to wait"
                    .to_string(),
            ),
            Problem::Other => {
                return anyhow::anyhow!("{text}").context(format!("{what} in {}", self.display));
            }
        };
        anyhow::anyhow!("{text}").context(UserError::cache(format!("{what}: {message}"), hint))
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

enum Problem {
    Credentials,
    MissingBucket,
    Unreachable,
    Other,
}

fn diagnose(err: &object_store::Error, text: &str) -> Problem {
    let has = |needles: &[&str]| needles.iter().any(|n| text.contains(n));
    if has(&[
        "NoSuchBucket",
        "ContainerNotFound",
        "bucket does not exist",
        "container does not exist",
    ]) {
        return Problem::MissingBucket;
    }
    if matches!(
        err,
        object_store::Error::Unauthenticated { .. } | object_store::Error::PermissionDenied { .. }
    ) || has(&[
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "AccessDenied",
        "AuthenticationFailed",
        "AuthorizationFailure",
        "credential",
        "Credential",
        "MissingAccount",
        "Error getting token",
        "Error fetching token",
    ]) {
        return Problem::Credentials;
    }
    if has(&[
        "error sending request",
        "Connection refused",
        "connection refused",
        "timed out",
        "dns error",
        "Connection reset",
        "connection closed",
        "operation timed out",
    ]) {
        return Problem::Unreachable;
    }
    Problem::Other
}

/// A missing object (not a missing bucket, which S3 also answers with 404).
fn is_missing_object(err: &object_store::Error) -> bool {
    matches!(err, object_store::Error::NotFound { .. })
        && !matches!(
            diagnose(err, &error_text(err)),
            Problem::MissingBucket | Problem::Credentials
        )
}

/// An error and its causes on one line, without repeating text a parent already shows.
fn error_text(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(c) = cause {
        let s = c.to_string();
        if !text.contains(&s) {
            text.push_str(": ");
            text.push_str(&s);
        }
        cause = c.source();
    }
    text
}

/// Builds the store of one cloud: the builder's `from_env` (AWS_*, GOOGLE_*, AZURE_*),
/// the bucket from the URL, then our timeouts and retries. One path for every cloud.
fn cloud_store(cloud: Cloud, bucket: &str, transfer: &Transfer) -> Result<Arc<dyn ObjectStore>> {
    use object_store::aws::AmazonS3Builder;
    use object_store::azure::MicrosoftAzureBuilder;
    use object_store::gcp::GoogleCloudStorageBuilder;
    let url = format!("{}://{bucket}", cloud.scheme());
    let built = match cloud {
        Cloud::S3 => configure(AmazonS3Builder::from_env(), &url, transfer),
        Cloud::Gcs => configure(GoogleCloudStorageBuilder::from_env(), &url, transfer),
        Cloud::Azure => configure(MicrosoftAzureBuilder::from_env(), &url, transfer),
    };
    built.map_err(|e| {
        let text = scrub(&error_text(&e));
        // Unusable credentials are a cache problem like rejected ones: the build goes on.
        anyhow::anyhow!("{text}").context(UserError::cache(
            format!("cannot configure store {url}"),
            cloud.credentials_hint(),
        ))
    })
}

/// What the three object_store builders have in common.
trait CloudBuilder: Sized {
    type Key: FromStr;
    fn with_url(self, url: &str) -> Self;
    fn with_config(self, key: Self::Key, value: &str) -> Self;
    fn config(&self, key: &Self::Key) -> Option<String>;
    fn with_retry(self, retry: RetryConfig) -> Self;
    fn build_store(self) -> object_store::Result<Arc<dyn ObjectStore>>;
}

macro_rules! cloud_builder {
    ($builder:ty, $key:ty) => {
        impl CloudBuilder for $builder {
            type Key = $key;
            fn with_url(self, url: &str) -> Self {
                <$builder>::with_url(self, url)
            }
            fn with_config(self, key: $key, value: &str) -> Self {
                <$builder>::with_config(self, key, value)
            }
            fn config(&self, key: &$key) -> Option<String> {
                self.get_config_value(key)
            }
            fn with_retry(self, retry: RetryConfig) -> Self {
                <$builder>::with_retry(self, retry)
            }
            fn build_store(self) -> object_store::Result<Arc<dyn ObjectStore>> {
                Ok(Arc::new(self.build()?))
            }
        }
    };
}

cloud_builder!(
    object_store::aws::AmazonS3Builder,
    object_store::aws::AmazonS3ConfigKey
);
cloud_builder!(
    object_store::gcp::GoogleCloudStorageBuilder,
    object_store::gcp::GoogleConfigKey
);
cloud_builder!(
    object_store::azure::MicrosoftAzureBuilder,
    object_store::azure::AzureConfigKey
);

fn configure<B: CloudBuilder>(
    builder: B,
    url: &str,
    transfer: &Transfer,
) -> object_store::Result<Arc<dyn ObjectStore>> {
    let builder = apply_transfer(builder.with_url(url), transfer);
    builder.build_store()
}

/// Timeouts go through the builders' typed client config keys, so they add to (rather
/// than replace) client settings read from the environment such as `AWS_ALLOW_HTTP`.
fn apply_transfer<B: CloudBuilder>(mut b: B, transfer: &Transfer) -> B {
    let secs = |d: Duration| format!("{}ms", d.as_millis());
    for (key, value) in [
        ("timeout", secs(transfer.timeout)),
        ("connect_timeout", secs(transfer.connect_timeout)),
        ("read_timeout", secs(transfer.read_timeout)),
    ] {
        if let Ok(k) = key.parse() {
            b = b.with_config(k, &value);
        }
    }
    // An explicit http:// endpoint (SeaweedFS, MinIO on a laptop) is consent to plain HTTP.
    let http_endpoint = ["aws_endpoint", "azure_storage_endpoint", "google_base_url"]
        .iter()
        .filter_map(|k| k.parse().ok())
        .filter_map(|k| b.config(&k))
        .any(|v| v.starts_with("http://"));
    if http_endpoint && let Ok(k) = "allow_http".parse() {
        b = b.with_config(k, "true");
    }
    b.with_retry(transfer.retry_config())
}

/// A store value that is not a URL (`s3:/user:pw@bucket`), with anything that may be
/// a `user:password@` part masked: `scrub` only knows it after `://`.
fn hide_userinfo(u: &str) -> String {
    let Some(at) = u.rfind('@') else {
        return u.to_string();
    };
    let start = u.find(':').filter(|&c| c < at).map_or(0, |c| c + 1);
    let start = start + u[start..at].len() - u[start..at].trim_start_matches('/').len();
    format!("{}***{}", &u[..start], &u[at..])
}

/// Why a store value without `://` is refused: a typo of a cloud URL (`s3:/bucket`)
/// or a bare path would otherwise silently become a local folder named after it.
fn without_scheme(u: &str) -> String {
    let scheme = u.split_once(':').map(|(s, _)| s.to_ascii_lowercase());
    match scheme.as_deref() {
        Some(s @ ("s3" | "s3a" | "gs" | "az" | "azure" | "file")) => {
            let rest = u
                .split_once(':')
                .map_or("", |(_, r)| r.trim_start_matches('/'));
            let root = if s == "file" { "/" } else { "" };
            format!("`{s}:` must be followed by `//` (did you mean `{s}://{root}{rest}`?)")
        }
        _ => "it has no scheme; a local folder is written file:///absolute/path".to_string(),
    }
}

fn bad_url(url: &str, why: &str) -> anyhow::Error {
    UserError::new(
        format!("store URL `{}` is invalid: {why}", scrub(url)),
        "pass --store (or CARGO_STASH_STORE) as file:///absolute/path, s3://bucket/prefix, \
         gs://bucket/prefix or az://container/prefix",
    )
    .into()
}

/// Values of credential-like environment variables; never printed.
fn secrets() -> &'static [String] {
    static SECRETS: OnceLock<Vec<String>> = OnceLock::new();
    SECRETS.get_or_init(|| secrets_in(std::env::vars()))
}

fn secrets_in(vars: impl Iterator<Item = (String, String)>) -> Vec<String> {
    const CLOUDS: [&str; 5] = ["AWS_", "AZURE_", "AZURITE_", "GOOGLE_", "CARGO_STASH_"];
    const SECRET_WORDS: [&str; 8] = [
        "SECRET",
        "KEY",
        "TOKEN",
        "PASSWORD",
        "SAS",
        "SIGNATURE",
        "CREDENTIAL",
        "CONNECTION_STRING",
    ];
    let mut out: Vec<String> = vars
        .filter(|(k, v)| {
            CLOUDS.iter().any(|c| k.starts_with(c))
                && SECRET_WORDS.iter().any(|w| k.contains(w))
                && v.trim().len() >= 4
        })
        .flat_map(|(_, v)| {
            // A JSON key file also leaks if only its private key shows up.
            let mut parts = vec![v.trim().to_string()];
            parts.extend(
                v.split(['"', '\n', '\\'])
                    .filter(|p| p.len() >= 16 && !p.contains(' '))
                    .map(str::to_string),
            );
            parts
        })
        .collect();
    // Longest first, so a secret containing another is replaced whole.
    out.sort_by_key(|s| std::cmp::Reverse(s.len()));
    out.dedup();
    out
}

/// Removes secrets from text meant for output: credential env values, and signature or
/// token query parameters of request URLs (Azure SAS, presigned S3).
/// The longest `CARGO_STASH_DEADLINE`: `gc`'s grace floor is the pack refresh age plus
/// one hour, so a save must be over within that hour (docs/stores.md).
pub const MAX_DEADLINE: Duration = Duration::from_secs(3600);

pub fn scrub(text: &str) -> String {
    scrub_with(text, secrets())
}

fn scrub_with(text: &str, secrets: &[String]) -> String {
    let mut out = strip_userinfo(text);
    for s in secrets {
        if out.contains(s.as_str()) {
            out = out.replace(s.as_str(), "***");
        }
    }
    for param in [
        "sig=",
        "X-Amz-Signature=",
        "X-Amz-Credential=",
        "X-Amz-Security-Token=",
        "token=",
    ] {
        let mut from = 0;
        while let Some(i) = out[from..].find(param) {
            let start = from + i + param.len();
            let end = out[start..]
                .find(['&', ' ', ')', '"', '\''])
                .map_or(out.len(), |e| start + e);
            out.replace_range(start..end, "***");
            from = start + 3;
        }
    }
    out
}

/// Replaces the `user:password@` of every URL in `text` (an endpoint with credentials in
/// it, a mistyped store URL) with `***@`, parsable or not.
fn strip_userinfo(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let authority_end = tail
            .find(['/', '?', '#', ' ', '"', '\'', '`', '<', '>', '\n'])
            .unwrap_or(tail.len());
        match tail[..authority_end].rfind('@') {
            Some(at) => {
                out.push_str("***");
                rest = &tail[at..];
            }
            None => rest = tail,
        }
    }
    out.push_str(rest);
    out
}

/// Wraps a cloud store so that every error it returns, including those of streamed
/// downloads and multipart uploads, has its secrets scrubbed. Error kinds are kept.
#[derive(Debug)]
struct Scrubbed<T>(T);

impl<T: fmt::Display> fmt::Display for Scrubbed<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[derive(Debug)]
struct ScrubbedError(String);

impl fmt::Display for ScrubbedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ScrubbedError {}

fn clean(err: object_store::Error) -> object_store::Error {
    use object_store::Error as E;
    // The variant's own Display adds its prefix and path (no secrets) around this text.
    let source = |e: &E| -> Box<dyn std::error::Error + Send + Sync> {
        let chain = std::error::Error::source(e)
            .map(error_text)
            .unwrap_or_default();
        Box::new(ScrubbedError(scrub(&chain)))
    };
    match &err {
        E::Generic { store, .. } => E::Generic {
            store,
            source: source(&err),
        },
        E::NotFound { path, .. } => E::NotFound {
            path: path.clone(),
            source: source(&err),
        },
        E::AlreadyExists { path, .. } => E::AlreadyExists {
            path: path.clone(),
            source: source(&err),
        },
        E::Precondition { path, .. } => E::Precondition {
            path: path.clone(),
            source: source(&err),
        },
        E::NotModified { path, .. } => E::NotModified {
            path: path.clone(),
            source: source(&err),
        },
        E::PermissionDenied { path, .. } => E::PermissionDenied {
            path: path.clone(),
            source: source(&err),
        },
        E::Unauthenticated { path, .. } => E::Unauthenticated {
            path: path.clone(),
            source: source(&err),
        },
        E::NotSupported { .. } => E::NotSupported {
            source: source(&err),
        },
        _ => err,
    }
}

#[async_trait::async_trait]
impl<T: ObjectStore> ObjectStore for Scrubbed<T> {
    async fn put_opts(
        &self,
        location: &ObjPath,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.0
            .put_opts(location, payload, opts)
            .await
            .map_err(clean)
    }

    async fn put_multipart_opts(
        &self,
        location: &ObjPath,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        let upload = self
            .0
            .put_multipart_opts(location, opts)
            .await
            .map_err(clean)?;
        Ok(Box::new(ScrubbedUpload(upload)))
    }

    async fn get_opts(
        &self,
        location: &ObjPath,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        let mut got = self.0.get_opts(location, options).await.map_err(clean)?;
        got.payload = match got.payload {
            GetResultPayload::Stream(s) => GetResultPayload::Stream(s.map_err(clean).boxed()),
            other => other,
        };
        Ok(got)
    }

    async fn get_ranges(
        &self,
        location: &ObjPath,
        ranges: &[Range<u64>],
    ) -> object_store::Result<Vec<Bytes>> {
        self.0.get_ranges(location, ranges).await.map_err(clean)
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<ObjPath>>,
    ) -> BoxStream<'static, object_store::Result<ObjPath>> {
        self.0.delete_stream(locations).map_err(clean).boxed()
    }

    fn list(
        &self,
        prefix: Option<&ObjPath>,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.0.list(prefix).map_err(clean).boxed()
    }

    fn list_with_offset(
        &self,
        prefix: Option<&ObjPath>,
        offset: &ObjPath,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.0
            .list_with_offset(prefix, offset)
            .map_err(clean)
            .boxed()
    }

    async fn list_with_delimiter(
        &self,
        prefix: Option<&ObjPath>,
    ) -> object_store::Result<ListResult> {
        self.0.list_with_delimiter(prefix).await.map_err(clean)
    }

    async fn copy_opts(
        &self,
        from: &ObjPath,
        to: &ObjPath,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.0.copy_opts(from, to, options).await.map_err(clean)
    }

    async fn rename_opts(
        &self,
        from: &ObjPath,
        to: &ObjPath,
        options: RenameOptions,
    ) -> object_store::Result<()> {
        self.0.rename_opts(from, to, options).await.map_err(clean)
    }
}

#[derive(Debug)]
struct ScrubbedUpload(Box<dyn MultipartUpload>);

#[async_trait::async_trait]
impl MultipartUpload for ScrubbedUpload {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        let part = self.0.put_part(data);
        Box::pin(async move { part.await.map_err(clean) })
    }

    async fn complete(&mut self) -> object_store::Result<PutResult> {
        self.0.complete().await.map_err(clean)
    }

    async fn abort(&mut self) -> object_store::Result<()> {
        self.0.abort().await.map_err(clean)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cloud(url: &str) -> (Cloud, String, String) {
        match parse_location(url).unwrap() {
            Location::Cloud {
                cloud,
                bucket,
                prefix,
            } => (cloud, bucket, prefix),
            other => panic!("{url} parsed as {other:?}"),
        }
    }

    #[test]
    fn parses_cloud_urls() {
        assert_eq!(
            cloud("s3://my-bucket/ci/cache"),
            (Cloud::S3, "my-bucket".into(), "ci/cache".into())
        );
        assert_eq!(cloud("s3://b"), (Cloud::S3, "b".into(), String::new()));
        assert_eq!(
            cloud("gs://bkt/a/b/"),
            (Cloud::Gcs, "bkt".into(), "a/b".into())
        );
        assert_eq!(
            cloud("az://container/p"),
            (Cloud::Azure, "container".into(), "p".into())
        );
        assert_eq!(
            cloud("azure://container"),
            (Cloud::Azure, "container".into(), String::new())
        );
    }

    #[test]
    fn parses_local_paths() {
        assert_eq!(
            parse_location("file:///tmp/store").unwrap(),
            Location::Local("/tmp/store".into())
        );
    }

    #[test]
    fn urls_without_a_scheme_are_refused_with_the_accepted_forms() {
        for (url, why) in [
            ("rel/dir", "file:///absolute/path"),
            ("/abs/dir", "file:///absolute/path"),
            ("s3:/bucket/p", "did you mean `s3://bucket/p`"),
            ("gs:bucket", "did you mean `gs://bucket`"),
            ("file:/tmp/x", "did you mean `file:///tmp/x`"),
            ("s3:/AK:pw0123@bucket", "did you mean `s3://***@bucket`"),
        ] {
            let err = parse_location(url).unwrap_err();
            let text = format!("{err:#}");
            assert!(text.contains(why), "{url}: {text}");
            let (code, hint) = crate::error::classify(&err);
            assert_eq!(code, crate::error::exit::INPUT, "{url}");
            assert!(hint.unwrap().contains("s3://bucket/prefix"), "{url}");
        }
    }

    #[test]
    fn bad_urls_say_why_and_hide_credentials() {
        for (url, why) in [
            ("ftp://host/x", "unsupported scheme"),
            ("s3:///prefix", "no bucket name"),
            ("az:///prefix", "no container name"),
            ("s3://bucket/p?region=x", "no `?query`"),
            ("file://relative", "absolute path"),
        ] {
            let err = format!("{:#}", parse_location(url).unwrap_err());
            assert!(err.contains(why), "{url}: {err}");
        }
        let err = format!(
            "{:#}",
            parse_location("s3://AKIA:supersecret@bucket/x").unwrap_err()
        );
        assert!(err.contains("credentials do not belong"), "{err}");
        assert!(!err.contains("supersecret"), "{err}");
    }

    #[test]
    fn durations() {
        assert_eq!(
            parse_duration("7d").unwrap(),
            Duration::from_secs(7 * 86400)
        );
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("6h").unwrap(), Duration::from_secs(6 * 3600));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert!(parse_duration("h").is_err());
        assert!(parse_duration("5y").is_err());
    }

    #[test]
    fn scrubs_env_secrets_and_signatures() {
        let secrets = secrets_in(
            [
                ("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG"),
                ("AWS_REGION", "us-east-1"),
                ("AZURE_STORAGE_SAS_KEY", "sv=2021&sig=abcdefSIG"),
                ("HOME", "/root"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string())),
        );
        let text = "GET https://a.blob.core.windows.net/c/x?sv=1&sig=OTHERSIG&se=2 failed; \
                    key wJalrXUtnFEMI/K7MDENG in us-east-1";
        let out = scrub_with(text, &secrets);
        assert!(!out.contains("wJalrXUtnFEMI"), "{out}");
        assert!(!out.contains("OTHERSIG"), "{out}");
        assert!(out.contains("us-east-1"), "{out}");
        assert!(out.contains("se=2"), "{out}");
        let urls = "GET http://minio:passw0rd@127.0.0.1:9000/b failed; store `s3://AK:s3cret@bu cket/x`; \
                    https://host/p?X-Amz-Signature=abc123&y=1 file:///tmp/a@b";
        let out = scrub_with(urls, &[]);
        for secret in ["passw0rd", "s3cret", "abc123"] {
            assert!(!out.contains(secret), "{out}");
        }
        assert!(out.contains("http://***@127.0.0.1:9000/b"), "{out}");
        assert!(
            out.contains("file:///tmp/a@b"),
            "a path is not userinfo: {out}"
        );
    }

    /// GCS has no emulator here: check the configuration a gs:// URL and GOOGLE_* settings
    /// produce, and that a store builds from them without touching the network.
    #[test]
    fn gcs_config_from_url_and_keys() {
        use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
        let key = r#"{"private_key": "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n", "client_email": "ci@p.iam.gserviceaccount.com", "private_key_id": "k1"}"#;
        let b = GoogleCloudStorageBuilder::new()
            .with_config(GoogleConfigKey::ServiceAccountKey, key)
            .with_config(
                "google_base_url".parse::<GoogleConfigKey>().unwrap(),
                "http://127.0.0.1:4443",
            );
        let b = apply_transfer(
            CloudBuilder::with_url(b, "gs://ci-cache"),
            &Transfer::default(),
        );
        assert_eq!(
            b.get_config_value(&GoogleConfigKey::BaseUrl).as_deref(),
            Some("http://127.0.0.1:4443")
        );
        // The bucket comes from the URL at build time; the key is parsed then too.
        let built = b.build();
        let err = built.map(|_| ()).unwrap_err().to_string();
        assert!(
            err.contains("private key") || err.contains("PEM") || err.contains("key"),
            "{err}"
        );
    }

    #[test]
    fn cloud_builders_take_transfer_settings() {
        use object_store::ClientConfigKey;
        use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
        let b = AmazonS3Builder::new()
            .with_config(AmazonS3ConfigKey::Endpoint, "http://127.0.0.1:8333");
        let t = Transfer {
            timeout: Duration::from_secs(7),
            ..Transfer::default()
        };
        let b = apply_transfer(b, &t);
        assert_eq!(
            b.get_config_value(&AmazonS3ConfigKey::Client(ClientConfigKey::Timeout))
                .as_deref(),
            Some("7000ms")
        );
        assert_eq!(
            b.get_config_value(&AmazonS3ConfigKey::Client(ClientConfigKey::AllowHttp))
                .as_deref(),
            Some("true")
        );
    }
}
