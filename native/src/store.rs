//! A store is a URL: where packs and manifests live. This module turns the URL into an
//! `object_store` and knows the object layout (`v1/packs/<id>`,
//! `v1/manifests/<layer>/<key>`), nothing more.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use futures::TryStreamExt;
use object_store::path::Path as ObjPath;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use stow_core::Manifest;

use crate::error::UserError;

#[derive(Clone, Debug)]
pub struct Store {
    pub inner: Arc<dyn ObjectStore>,
    /// The URL without credentials, for messages.
    pub display: String,
}

/// The embedded default: a folder under the user's cache dir.
pub fn default_dir() -> Result<PathBuf> {
    let base =
        dirs::cache_dir().context("no cache directory; pass --store or set CARGO_STOW_STORE")?;
    Ok(base.join("cargo-stow").join("store"))
}

impl Store {
    pub fn open(url: Option<&str>) -> Result<Store> {
        match url.map(str::trim).filter(|u| !u.is_empty()) {
            None => Store::local(default_dir()?),
            Some(u) if u.starts_with("file://") => {
                let parsed = url::Url::parse(u).map_err(|e| bad_url(u, &e.to_string()))?;
                let path = parsed
                    .to_file_path()
                    .map_err(|_| bad_url(u, "a file:// URL needs an absolute path"))?;
                Store::local(path)
            }
            Some(u) if !u.contains("://") => Store::local(std::path::absolute(u)?),
            Some(u) => Err(bad_url(
                u,
                "unsupported scheme; use file:///path (s3://, gs:// and az:// need a build with cloud stores)",
            )),
        }
    }

    fn local(dir: PathBuf) -> Result<Store> {
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("creating store folder {}", dir.display()))?;
        let fs = object_store::local::LocalFileSystem::new_with_prefix(&dir)
            .with_context(|| format!("opening store folder {}", dir.display()))?;
        Ok(Store {
            inner: Arc::new(fs),
            display: format!("file://{}", dir.display()),
        })
    }

    pub fn pack_path(id: &str) -> ObjPath {
        ObjPath::from(format!("v1/packs/{id}"))
    }

    pub fn manifest_path(layer: &str, key: &str) -> ObjPath {
        ObjPath::from(format!("v1/manifests/{layer}/{key}"))
    }

    pub async fn head(&self, path: &ObjPath) -> Result<Option<ObjectMeta>> {
        match self.inner.head(path).await {
            Ok(m) => Ok(Some(m)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e).with_context(|| format!("checking {path} in {}", self.display)),
        }
    }

    /// Reads and validates a manifest; `None` when there is none.
    pub async fn manifest(&self, layer: &str, key: &str) -> Result<Option<Manifest>> {
        let path = Store::manifest_path(layer, key);
        let bytes = match self.inner.get(&path).await {
            Ok(r) => r.bytes().await.with_context(|| format!("reading {path}"))?,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => {
                return Err(e).with_context(|| format!("reading {path} from {}", self.display));
            }
        };
        let m =
            Manifest::from_json(&bytes).with_context(|| format!("manifest {path} is unusable"))?;
        Ok(Some(m))
    }

    /// Every manifest of a layer whose key starts with `prefix`.
    pub async fn list_manifests(
        &self,
        layer: &str,
        prefix: &str,
    ) -> Result<Vec<(String, ObjectMeta)>> {
        let dir = ObjPath::from(format!("v1/manifests/{layer}"));
        let all: Vec<ObjectMeta> = self
            .inner
            .list(Some(&dir))
            .try_collect()
            .await
            .with_context(|| format!("listing snapshots in {}", self.display))?;
        Ok(all
            .into_iter()
            .filter_map(|m| {
                let key = m.location.filename()?.to_string();
                key.starts_with(prefix).then_some((key, m))
            })
            .collect())
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
            Err(object_store::Error::AlreadyExists { .. }) => Ok(false),
            Err(e) => Err(e).with_context(|| format!("writing {path} to {}", self.display)),
        }
    }
}

fn bad_url(url: &str, why: &str) -> anyhow::Error {
    UserError::new(
        format!("store URL `{}` is invalid: {why}", redact(url)),
        "pass --store file:///absolute/path (or set CARGO_STOW_STORE)",
    )
    .into()
}

/// Strips a `user:password@` part so URLs can be printed.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if !u.username().is_empty() || u.password().is_some() => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.to_string()
        }
        _ => url.to_string(),
    }
}
