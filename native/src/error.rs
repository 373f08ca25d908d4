//! Expected failures and their exit codes. A `UserError` carries what went wrong, the fix
//! and its [`Kind`]; everything else is an internal error. The code is decided once, in
//! `main`, and `--strict` once, in the command runner (`commands::run`).

use std::fmt;

/// What kind of failure an error is, and so its exit code (docs/cli.md, "Exit codes").
/// A bad command line is clap's, which exits 2 itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A bug or an I/O error outside the cache: exit 1.
    Internal,
    /// Miss, store down or too slow, unusable credentials, corrupt or missing pack: a
    /// warning and exit 0, or exit 3 under `--strict` (the runner decides; `ls` and `gc`
    /// fail with it always).
    Cache,
    /// No workspace, bad store URL, bad setting, unreadable key inputs: exit 4.
    Input,
}

impl Kind {
    pub fn exit_code(self) -> u8 {
        match self {
            Kind::Internal => 1,
            Kind::Cache => 3,
            Kind::Input => 4,
        }
    }
}

/// An expected failure: what went wrong, the fix, and its kind.
#[derive(Debug)]
pub struct UserError {
    pub message: String,
    pub hint: String,
    pub kind: Kind,
}

impl UserError {
    /// Bad input (exit 4).
    pub fn new(message: impl Into<String>, hint: impl Into<String>) -> Self {
        UserError {
            message: message.into(),
            hint: hint.into(),
            kind: Kind::Input,
        }
    }

    /// A cache problem that only fails the command under `--strict`.
    pub fn cache(message: impl Into<String>, hint: impl Into<String>) -> Self {
        UserError {
            kind: Kind::Cache,
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

/// The kind and hint of an error chain.
pub fn classify(err: &anyhow::Error) -> (Kind, Option<&str>) {
    // The outermost context decides: `--strict` wraps any cause as a cache problem.
    if let Some(u) = err.downcast_ref::<UserError>() {
        return (u.kind, Some(u.hint.as_str()));
    }
    for cause in err.chain() {
        if let Some(u) = cause.downcast_ref::<UserError>() {
            return (u.kind, Some(u.hint.as_str()));
        }
        if cause.downcast_ref::<stash_core::KeyError>().is_some() {
            return (Kind::Input, Some("fix the file or setting named above"));
        }
        if cause.downcast_ref::<stash_core::ManifestError>().is_some() {
            return (
                Kind::Input,
                Some("upgrade cargo-stash, or save the cache again"),
            );
        }
    }
    (Kind::Internal, None)
}

/// Whether an error is a cache problem (exit 3 only under `--strict`).
pub fn is_cache_problem(err: &anyhow::Error) -> bool {
    classify(err).0 == Kind::Cache
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
