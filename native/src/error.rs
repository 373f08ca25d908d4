//! Expected failures and their exit codes. A `UserError` carries what went wrong and the
//! fix; everything else is an internal error. The code is decided once, in `main`.

use std::fmt;

/// Exit codes: a documented contract (see docs/cli.md).
#[allow(dead_code)] // The whole table is the documented contract; clap exits with USAGE itself.
pub mod exit {
    pub const OK: u8 = 0;
    /// Internal or I/O error.
    pub const FAILURE: u8 = 1;
    /// Bad command line (clap).
    pub const USAGE: u8 = 2;
    /// Cache problem (miss, store unreachable, corrupt pack) with `--strict`.
    pub const CACHE: u8 = 3;
    /// Bad input: no workspace, bad store URL, unreadable manifest schema.
    pub const INPUT: u8 = 4;
}

#[derive(Debug)]
pub struct UserError {
    pub message: String,
    pub hint: String,
    pub code: u8,
}

impl UserError {
    pub fn new(message: impl Into<String>, hint: impl Into<String>) -> Self {
        UserError {
            message: message.into(),
            hint: hint.into(),
            code: exit::INPUT,
        }
    }

    /// A cache problem that only fails the command under `--strict`.
    pub fn cache(message: impl Into<String>, hint: impl Into<String>) -> Self {
        UserError {
            code: exit::CACHE,
            ..UserError::new(message, hint)
        }
    }
}

impl fmt::Display for UserError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for UserError {}

/// The exit code and hint for an error chain.
pub fn classify(err: &anyhow::Error) -> (u8, Option<&str>) {
    // The outermost context decides: `--strict` wraps any cause as a cache problem.
    if let Some(u) = err.downcast_ref::<UserError>() {
        return (u.code, Some(u.hint.as_str()));
    }
    for cause in err.chain() {
        if let Some(u) = cause.downcast_ref::<UserError>() {
            return (u.code, Some(u.hint.as_str()));
        }
        if cause.downcast_ref::<stash_core::KeyError>().is_some() {
            return (exit::INPUT, Some("fix the file or setting named above"));
        }
        if cause.downcast_ref::<stash_core::ManifestError>().is_some() {
            return (
                exit::INPUT,
                Some("upgrade cargo-stash, or save the cache again"),
            );
        }
    }
    (exit::FAILURE, None)
}

/// Whether an error is a cache problem (exit 3 only under `--strict`).
pub fn is_cache_problem(err: &anyhow::Error) -> bool {
    classify(err).0 == exit::CACHE
}

/// An error and its causes on one line, like `{:#}`, without repeating a cause whose
/// text the message before it already ends with (object_store errors print their source).
pub fn describe(err: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if out.ends_with(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_drops_causes_already_printed() {
        let io = std::io::Error::other("No such file");
        let err = anyhow::Error::msg(format!("object not found: {io}")).context("downloading pack");
        assert_eq!(
            describe(&err),
            "downloading pack: object not found: No such file"
        );
        let nested = anyhow::Error::new(io)
            .context("object not found")
            .context("downloading");
        assert_eq!(
            describe(&nested),
            "downloading: object not found: No such file"
        );
    }
}
