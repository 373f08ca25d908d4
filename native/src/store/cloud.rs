//! Cloud builders: one object_store per cloud from its standard environment variables,
//! the bucket from the URL, and our transfer settings.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use object_store::{ObjectStore, RetryConfig};

use super::diagnose::error_text;
use super::secrets::scrub;
use super::{Cloud, Transfer};
use crate::error::UserError;

impl Cloud {
    pub(super) fn credentials_hint(self) -> &'static str {
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

/// Builds the store of one cloud: the builder's `from_env` (AWS_*, GOOGLE_*, AZURE_*),
/// the bucket from the URL, then our timeouts and retries. One path for every cloud.
pub(super) fn cloud_store(
    cloud: Cloud,
    bucket: &str,
    transfer: &Transfer,
) -> Result<Arc<dyn ObjectStore>> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
