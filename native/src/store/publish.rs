//! The writes of a save: packs (a rename into a local store, a streamed upload to a
//! bucket) and the manifest that publishes a snapshot (create-if-absent or an atomic
//! replace, as `stash_core::supersede` decides).

use std::path::Path;

use anyhow::{Context, Result, bail};
use object_store::buffered::BufWriter;
use object_store::{PutMode, PutOptions, PutPayload};
use stash_core::supersede::{self, Publish};
use stash_core::{Layer, Manifest};
use tokio::io::AsyncWriteExt;

use super::Store;

/// Upload buffer per pack in flight; larger packs go up as multipart uploads.
const UPLOAD_BUFFER: usize = 8 << 20;

/// Parts of one multipart upload in flight, each a buffer of its own: object_store's
/// default of 8 let a save of twice bat's target (`--jobs` uploads at once, many of
/// them large) pass 200 MB; 3 still send a 19 MB pack (bat's binary) all at once.
const PARTS_IN_FLIGHT: usize = 3;

/// MiB of upload buffers all uploads of a job may hold at once. Each upload holds up to
/// its size, at most `PARTS_IN_FLIGHT + 1` buffers, so without a common bound `--jobs`
/// large packs in flight could hold 32 MiB each. On the same-region link a save of
/// twice bat's target took as long with 24 or 48 MiB as unbounded, and its peak RSS
/// did not move either: uploads were not what drove it (see docs/benchmarks.md).
const UPLOAD_MEMORY_MIB: u32 = 48;

/// The budget of [`UPLOAD_MEMORY_MIB`], shared by the clones of a store.
#[derive(Clone, Debug)]
pub struct UploadMemory(std::sync::Arc<tokio::sync::Semaphore>);

impl Default for UploadMemory {
    fn default() -> UploadMemory {
        let permits = UPLOAD_MEMORY_MIB as usize;
        UploadMemory(std::sync::Arc::new(tokio::sync::Semaphore::new(permits)))
    }
}

/// MiB of buffers an upload of `size` bytes holds at most.
fn upload_mib(size: u64) -> u32 {
    let most = (UPLOAD_BUFFER * (PARTS_IN_FLIGHT + 1)) as u64;
    size.min(most).div_ceil(1 << 20).max(1) as u32
}

/// What publishing a snapshot did.
pub enum Published {
    /// The manifest was written; `Some(why)` when it replaced one found wanting.
    Saved(Option<String>),
    /// A manifest was already at the key (another save's, maybe just now).
    AlreadySaved,
    /// No content worth a snapshot: nothing written.
    NothingToSave,
}

impl Store {
    /// Publishes the manifest as decided: create-if-absent, or an atomic overwrite of a
    /// snapshot found wanting. A snapshot left without content is not published.
    pub async fn publish_snapshot(
        &self,
        decision: &Publish,
        manifest: Manifest,
    ) -> Result<Published> {
        if !supersede::worth_publishing(&manifest.packs) {
            return Ok(Published::NothingToSave);
        }
        let layer = Layer::parse(&manifest.layer).context("a snapshot of an unknown layer")?;
        let key = manifest.key.clone();
        if let Publish::Replace(why) = decision {
            self.replace_manifest(layer, &key, manifest.to_json())
                .await?;
            return Ok(Published::Saved(Some(why.to_string())));
        }
        let created = self.create_manifest(layer, &key, manifest.to_json());
        Ok(match created.await? {
            true => Published::Saved(None),
            false => Published::AlreadySaved,
        })
    }

    /// Publishes a manifest unless one exists for the key; `false` when it existed.
    pub async fn create_manifest(&self, layer: Layer, key: &str, bytes: Vec<u8>) -> Result<bool> {
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

    /// Publishes a manifest over whatever is at its key. The write is atomic (a PUT, or
    /// a staged file renamed into place), so readers see the old or the new one whole.
    pub async fn replace_manifest(&self, layer: Layer, key: &str, bytes: Vec<u8>) -> Result<()> {
        let path = Store::manifest_path(layer, key);
        self.inner
            .put_opts(&path, PutPayload::from(bytes), PutOptions::default())
            .await
            .map(|_| ())
            .map_err(|e| self.explain(e, &format!("writing {path}")))
    }

    /// Puts a packed file in the store under its id: a rename in a local store, else an
    /// upload.
    pub async fn publish_pack(&self, id: &str, tmp: &Path) -> Result<()> {
        let size = tokio::fs::metadata(tmp)
            .await
            .with_context(|| format!("reading {}", tmp.display()))?
            .len();
        self.put_pack(id, (tmp, size)).await?;
        // Present and young: a later pack of this save patched against it (a sibling)
        // needs no HEAD to say so, and an earlier "absent" no longer holds.
        self.absent.lock().unwrap().remove(id);
        let modified = crate::state::unix_now() as i64;
        self.seen
            .lock()
            .unwrap()
            .insert(id.to_string(), crate::state::Seen { modified, size });
        Ok(())
    }

    /// [`Store::publish_pack`]'s transfer.
    async fn put_pack(&self, id: &str, (tmp, size): (&Path, u64)) -> Result<()> {
        let Some(dir) = &self.local else {
            return self.upload_pack(id, (tmp, size)).await;
        };
        let dest = dir.join(Store::pack_path(id).as_ref());
        if let Some(parent) = dest.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        // Replacing a stored copy is harmless (same id, same content) and renews its age.
        tokio::fs::rename(tmp, &dest)
            .await
            .with_context(|| format!("storing pack {id} as {}", dest.display()))
    }

    /// Streams a packed file to the store with bounded memory; aborts the upload on error.
    async fn upload_pack(&self, id: &str, (tmp, size): (&Path, u64)) -> Result<()> {
        let mut file = tokio::fs::File::open(tmp)
            .await
            .with_context(|| format!("opening {}", tmp.display()))?;
        let _memory = self.uploads.0.acquire_many(upload_mib(size)).await?;
        let mut writer =
            BufWriter::with_capacity(self.inner.clone(), Store::pack_path(id), UPLOAD_BUFFER)
                .with_max_concurrency(PARTS_IN_FLIGHT);
        // Abort only a writer that was not shut down: object_store's `BufWriter::abort`
        // panics after a failed `shutdown` (a small pack is one PUT, sent at shutdown). A
        // multipart upload whose completion failed is left to the bucket's lifecycle rule.
        if let Err(e) = tokio::io::copy(&mut file, &mut writer).await {
            let _ = writer.abort().await;
            bail!("uploading pack {id}: {e}");
        }
        if let Err(e) = writer.shutdown().await {
            bail!("uploading pack {id}: {e}");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_upload_counts_its_size_up_to_its_buffers() {
        assert_eq!(upload_mib(0), 1);
        assert_eq!(upload_mib(300 << 10), 1);
        assert_eq!(upload_mib((5 << 20) + 1), 6);
        assert_eq!(upload_mib(1 << 30), 32);
        // The largest fits the budget: no upload waits for permits that cannot come.
        assert!(upload_mib(u64::MAX) <= UPLOAD_MEMORY_MIB);
    }
}
