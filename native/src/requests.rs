//! Counts the requests a command makes to its store: on a real network their number,
//! more than their bytes, can decide how long a save or restore takes.
//!
//! [`Counted`] wraps the store and counts each operation as the request(s) a cloud
//! store makes for it: a GET (a download, a manifest read), a HEAD (an existence or age
//! check), a PUT (an upload; a multipart upload counts its start, each part and its
//! completion), a LIST (one per page of 1,000 objects, as S3 pages them), a DELETE. A
//! local (`file://`) store is counted the same way, so its numbers show what the same
//! command would ask of a bucket.

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use object_store::path::Path as ObjPath;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions, UploadPart,
};
use stash_core::output::RequestCounts;

/// Objects per page of a LIST, as S3 returns them.
const LIST_PAGE: u64 = 1000;

/// The running counts of one store.
#[derive(Debug, Default)]
pub struct Requests {
    get: AtomicU64,
    head: AtomicU64,
    put: AtomicU64,
    list: AtomicU64,
    delete: AtomicU64,
}

impl Requests {
    /// The counts so far.
    pub fn snapshot(&self) -> RequestCounts {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        RequestCounts {
            get: load(&self.get),
            head: load(&self.head),
            put: load(&self.put),
            list: load(&self.list),
            delete: load(&self.delete),
        }
    }

    fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// A store that counts its requests in a shared [`Requests`].
#[derive(Debug)]
pub struct Counted<T> {
    pub inner: T,
    pub requests: Arc<Requests>,
}

impl<T> std::fmt::Display for Counted<T>
where
    T: std::fmt::Display,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.inner.fmt(f)
    }
}

impl<T: ObjectStore> Counted<T> {
    /// Counts the pages of a listing as its objects arrive: a page starts at the first
    /// object and after every [`LIST_PAGE`] objects (an empty listing is one page).
    fn paged(
        &self,
        list: BoxStream<'static, object_store::Result<ObjectMeta>>,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        let requests = self.requests.clone();
        Requests::add(&requests.list, 1);
        let mut seen = 0u64;
        list.inspect(move |item| {
            if item.is_ok() {
                if seen > 0 && seen.is_multiple_of(LIST_PAGE) {
                    Requests::add(&requests.list, 1);
                }
                seen += 1;
            }
        })
        .boxed()
    }
}

#[async_trait::async_trait]
impl<T: ObjectStore> ObjectStore for Counted<T> {
    async fn put_opts(
        &self,
        location: &ObjPath,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        Requests::add(&self.requests.put, 1);
        tracing::debug!("PUT {location}");
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &ObjPath,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        Requests::add(&self.requests.put, 1);
        let upload = self.inner.put_multipart_opts(location, opts).await?;
        Ok(Box::new(CountedUpload {
            inner: upload,
            requests: self.requests.clone(),
        }))
    }

    async fn get_opts(
        &self,
        location: &ObjPath,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        let (counter, kind) = if options.head {
            (&self.requests.head, "HEAD")
        } else {
            (&self.requests.get, "GET")
        };
        Requests::add(counter, 1);
        tracing::debug!("{kind} {location}");
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(
        &self,
        location: &ObjPath,
        ranges: &[Range<u64>],
    ) -> object_store::Result<Vec<Bytes>> {
        Requests::add(&self.requests.get, ranges.len() as u64);
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<ObjPath>>,
    ) -> BoxStream<'static, object_store::Result<ObjPath>> {
        let requests = self.requests.clone();
        let counted = locations
            .inspect(move |_| Requests::add(&requests.delete, 1))
            .boxed();
        self.inner.delete_stream(counted)
    }

    fn list(
        &self,
        prefix: Option<&ObjPath>,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        tracing::debug!("LIST {prefix:?}");
        self.paged(self.inner.list(prefix))
    }

    fn list_with_offset(
        &self,
        prefix: Option<&ObjPath>,
        offset: &ObjPath,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.paged(self.inner.list_with_offset(prefix, offset))
    }

    async fn list_with_delimiter(
        &self,
        prefix: Option<&ObjPath>,
    ) -> object_store::Result<ListResult> {
        let listed = self.inner.list_with_delimiter(prefix).await?;
        let entries = (listed.objects.len() + listed.common_prefixes.len()) as u64;
        Requests::add(&self.requests.list, entries.div_ceil(LIST_PAGE).max(1));
        Ok(listed)
    }

    async fn copy_opts(
        &self,
        from: &ObjPath,
        to: &ObjPath,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        // A server-side copy is a PUT with a copy source.
        Requests::add(&self.requests.put, 1);
        self.inner.copy_opts(from, to, options).await
    }

    async fn rename_opts(
        &self,
        from: &ObjPath,
        to: &ObjPath,
        options: RenameOptions,
    ) -> object_store::Result<()> {
        // A copy and a delete on a bucket.
        Requests::add(&self.requests.put, 1);
        Requests::add(&self.requests.delete, 1);
        self.inner.rename_opts(from, to, options).await
    }
}

#[derive(Debug)]
struct CountedUpload {
    inner: Box<dyn MultipartUpload>,
    requests: Arc<Requests>,
}

#[async_trait::async_trait]
impl MultipartUpload for CountedUpload {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        Requests::add(&self.requests.put, 1);
        self.inner.put_part(data)
    }

    async fn complete(&mut self) -> object_store::Result<PutResult> {
        Requests::add(&self.requests.put, 1);
        self.inner.complete().await
    }

    async fn abort(&mut self) -> object_store::Result<()> {
        Requests::add(&self.requests.delete, 1);
        self.inner.abort().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::TryStreamExt;
    use object_store::ObjectStoreExt;
    use object_store::memory::InMemory;

    #[tokio::test]
    async fn counts_each_kind_and_list_pages() {
        let store = Counted {
            inner: InMemory::new(),
            requests: Arc::new(Requests::default()),
        };
        for k in 0..1001 {
            let path = ObjPath::from(format!("d/{k}"));
            store
                .put(&path, PutPayload::from_static(b"x"))
                .await
                .unwrap();
        }
        store.get(&ObjPath::from("d/1")).await.unwrap();
        store.head(&ObjPath::from("d/2")).await.unwrap();
        assert!(store.head(&ObjPath::from("missing")).await.is_err());
        let all: Vec<_> = store
            .list(Some(&ObjPath::from("d")))
            .try_collect()
            .await
            .unwrap();
        assert_eq!(all.len(), 1001);
        let none: Vec<_> = store
            .list(Some(&ObjPath::from("e")))
            .try_collect()
            .await
            .unwrap();
        assert!(none.is_empty());
        store.delete(&ObjPath::from("d/3")).await.unwrap();
        assert_eq!(
            store.requests.snapshot(),
            RequestCounts {
                get: 1,
                head: 2,
                put: 1001,
                list: 3,
                delete: 1,
            }
        );
    }

    /// A pack the restore downloaded is reusable without a HEAD while it is young, and
    /// asked for again (then found too old) once its reported age passes the refresh
    /// limit: the same answer a HEAD gives, reckoned at the check.
    #[tokio::test]
    async fn a_seen_pack_needs_no_head_while_young() {
        use crate::state::Seen;
        use crate::store::Store;
        use stash_core::retention::PACK_REFRESH_AFTER_S;
        let dir = tempfile::tempdir().unwrap();
        let url = format!("file://{}", dir.path().display());
        let store = Store::open(Some(&url)).unwrap();
        let path = Store::pack_path("young");
        store
            .inner
            .put(&path, PutPayload::from_static(b"pack"))
            .await
            .unwrap();
        let now = crate::state::unix_now() as i64;
        let seen = |modified| Seen { modified, size: 4 };
        store
            .seen
            .lock()
            .unwrap()
            .insert("young".into(), seen(now - 60));
        assert_eq!(store.reusable_pack("young").await.unwrap(), Some(4));
        assert_eq!(store.requests.snapshot().head, 0);

        let old = now - PACK_REFRESH_AFTER_S as i64 - 60;
        store.seen.lock().unwrap().insert("young".into(), seen(old));
        assert_eq!(store.reusable_pack("young").await.unwrap(), None);
        // Not there: asked once, remembered as absent.
        assert_eq!(store.reusable_pack("other").await.unwrap(), None);
        assert_eq!(store.reusable_pack("other").await.unwrap(), None);
        assert_eq!(store.requests.snapshot().head, 1);
        // Not seen: asked, found, remembered.
        store.seen.lock().unwrap().clear();
        assert_eq!(store.reusable_pack("young").await.unwrap(), Some(4));
        assert_eq!(store.reusable_pack("young").await.unwrap(), Some(4));
        assert_eq!(store.requests.snapshot().head, 2);
    }
}
