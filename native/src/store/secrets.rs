//! Secret scrubbing: credential values and request signatures never reach output, and
//! every error a cloud store returns passes through the scrubber.

use std::fmt;
use std::ops::Range;
use std::sync::OnceLock;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path as ObjPath;
use object_store::{
    CopyOptions, GetOptions, GetResult, GetResultPayload, ListResult, MultipartUpload, ObjectMeta,
    ObjectStore, PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions, UploadPart,
};

use super::diagnose::error_text;

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
pub(super) struct Scrubbed<T>(pub(super) T);

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
}
