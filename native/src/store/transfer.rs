//! Transfer settings: retries, timeouts and the deadline of a whole restore or save,
//! read from `CARGO_STASH_*` environment variables.

use std::time::Duration;

use anyhow::Result;
use object_store::{BackoffConfig, RetryConfig};

use crate::error::UserError;

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

    pub(super) fn retry_config(&self) -> RetryConfig {
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

/// A duration as `humantime` reads it: `90s`, `15m`, `6h`, `7d`, `2w`, `500ms`,
/// `1h 30m`. A bare number is seconds, as these settings have always taken it.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        return t
            .parse()
            .map(Duration::from_secs)
            .map_err(|_| format!("`{t}` is too large"));
    }
    humantime::parse_duration(t).map_err(|e| format!("`{t}` is not a duration: {e}"))
}

/// The longest `CARGO_STASH_DEADLINE`: `gc`'s grace floor is the pack refresh age plus
/// one hour, so a save must be over within that hour (docs/stores.md).
pub const MAX_DEADLINE: Duration = Duration::from_secs(3600);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        for (text, secs) in [
            ("7d", 7 * 86400),
            ("90", 90),
            (" 90s ", 90),
            ("6h", 6 * 3600),
            ("15m", 15 * 60),
            ("15min", 15 * 60),
            ("2w", 14 * 86400),
            ("3 days", 3 * 86400),
            ("1h 30m", 5400),
        ] {
            assert_eq!(
                parse_duration(text),
                Ok(Duration::from_secs(secs)),
                "{text}"
            );
        }
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        for bad in ["h", "7x", "", "soon", "-5s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
