//! Store URLs: which cloud, bucket and prefix a `--store` value names, or why it is refused.

use std::path::PathBuf;

use anyhow::Result;
use object_store::ObjectStoreScheme;

use super::secrets::scrub;
use crate::error::UserError;

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
    pub(super) fn scheme(self) -> &'static str {
        match self {
            Cloud::S3 => "s3",
            Cloud::Gcs => "gs",
            Cloud::Azure => "az",
        }
    }

    pub(super) fn bucket_word(self) -> &'static str {
        match self {
            Cloud::Azure => "container",
            _ => "bucket",
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
    // Our own checks first: credentials, options and a missing bucket get their own
    // message, where object_store would only say it does not recognise the URL.
    let cloud = match parsed.scheme() {
        "file" => None,
        "s3" | "s3a" => Some(Cloud::S3),
        "gs" => Some(Cloud::Gcs),
        "az" | "azure" => Some(Cloud::Azure),
        other => {
            return Err(bad_url(u, &format!("unsupported scheme `{other}://`")));
        }
    };
    if let Some(cloud) = cloud {
        check_cloud_url(u, &parsed, cloud)?;
    }
    // object_store's own parsing names the store kind and turns the rest into its path.
    let (scheme, path) = ObjectStoreScheme::parse(&parsed).map_err(|e| match cloud {
        None => bad_url(u, "a file:// URL needs an absolute path"),
        Some(_) => bad_url(u, &e.to_string()),
    })?;
    let cloud = match (scheme, cloud) {
        (ObjectStoreScheme::Local, None) => {
            let path = parsed
                .to_file_path()
                .map_err(|_| bad_url(u, "a file:// URL needs an absolute path"))?;
            return Ok(Location::Local(path));
        }
        (ObjectStoreScheme::AmazonS3, Some(c @ Cloud::S3))
        | (ObjectStoreScheme::GoogleCloudStorage, Some(c @ Cloud::Gcs))
        | (ObjectStoreScheme::MicrosoftAzure, Some(c @ Cloud::Azure)) => c,
        (other, _) => return Err(bad_url(u, &format!("not a store URL ({other:?})"))),
    };
    let bucket = parsed.host_str().unwrap_or_default().to_string();
    let prefix = path.to_string();
    Ok(Location::Cloud {
        cloud,
        bucket,
        prefix,
    })
}

/// What a cloud URL must not hold: credentials, options, an empty bucket name.
fn check_cloud_url(u: &str, parsed: &url::Url, cloud: Cloud) -> Result<()> {
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
    if parsed.host_str().unwrap_or_default().is_empty() {
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
    Ok(())
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
            let (kind, hint) = crate::error::classify(&err);
            assert_eq!(kind, crate::error::Kind::Input, "{url}");
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
}
