//! Error diagnosis: turns an object_store error into what failed, why, and the fix, and
//! tells a missing object from a missing bucket or rejected credentials.

use super::secrets::scrub;
use super::{Cloud, Store};
use crate::error::UserError;

impl Store {
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
        // No credentials in the environment: S3 and GCS then ask the instance metadata
        // service, which refuses or is absent off a cloud VM (Azure stops at its account).
        "Error performing token request",
        "/latest/api/token",
        "computeMetadata",
        "169.254.169.254",
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
pub(super) fn is_missing_object(err: &object_store::Error) -> bool {
    matches!(err, object_store::Error::NotFound { .. })
        && !matches!(
            diagnose(err, &error_text(err)),
            Problem::MissingBucket | Problem::Credentials
        )
}

/// An error and its causes on one line, without repeating text a parent already shows.
pub(super) fn error_text(err: &(dyn std::error::Error + 'static)) -> String {
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
