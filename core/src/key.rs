//! Cache keys: [`KeyInputs`] in, a readable key and its restore ladder out.
//!
//! A key reads `[prefix-]stash1-<os>-<arch>-<toolchain>-<config>-<deps>[-suffix]`. Each
//! later segment is a short digest, so every ladder rung is a plain string prefix:
//! falling back across a dependency change keeps most units fresh, while falling back
//! across a toolchain or config change would restore nothing Cargo can reuse.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::digest::{Hasher, short_of};
pub use crate::digest::{HostSha256, use_host_sha256};
use crate::error::KeyError;
// The core's one sort routine, see there.
use crate::plan::sort::sorted_unique;
pub use crate::toml_reader::float::{HostFloat, use_host_float};

/// The version of [`KeyInputs`] and of the key algorithm. Bumping it changes every key.
pub const KEY_SCHEMA: u32 = 1;

/// Length of the digest segments of a key, in hex characters.
const DIGEST_LEN: usize = 10;

/// Everything that decides whether a saved target dir can be reused.
///
/// Filled by the native CLI from the filesystem, or by a JS plugin from the same files;
/// raw file contents go in and the core normalises them, so both agree.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct KeyInputs {
    pub schema: u32,
    /// User prefix, e.g. a job name. Goes first, so ladders never cross it.
    #[serde(default)]
    pub prefix: String,
    /// User suffix, e.g. a commit: saves a new snapshot per value, restores the newest.
    #[serde(default)]
    pub suffix: String,
    /// `linux`, `macos`, `windows`, ...
    pub os: String,
    /// `x64`, `arm64`, ...
    pub arch: String,
    pub rustc: RustcInfo,
    /// `--target` triples; empty means the host.
    #[serde(default)]
    pub targets: Vec<String>,
    #[serde(default = "default_profile")]
    pub profile: String,
    /// Environment; only variables that change artifacts are kept (see [`artifact_env`]).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// User additions to the environment allow-list.
    #[serde(default)]
    pub extra_env: Vec<String>,
    /// Absolute path of CARGO_HOME: registry units hash their source path under it.
    pub cargo_home: String,
    /// Contents of Cargo.lock, if any.
    #[serde(default)]
    pub lockfile: Option<String>,
    /// Workspace-relative path -> contents of every member's and the root's Cargo.toml.
    #[serde(default)]
    pub manifests: BTreeMap<String, String>,
    /// Label -> contents of every `.cargo/config.toml` that applies.
    #[serde(default)]
    pub config_files: BTreeMap<String, String>,
    /// Contents of `rust-toolchain.toml` / `rust-toolchain`, if any.
    #[serde(default)]
    pub toolchain_file: Option<String>,
}

fn default_profile() -> String {
    "dev".to_string()
}

/// The three fields of `rustc -vV` that identify a compiler.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RustcInfo {
    pub release: String,
    pub commit_hash: String,
    pub host: String,
}

impl RustcInfo {
    /// Reads `rustc -vV` output.
    pub fn parse_verbose_version(text: &str) -> Result<Self, KeyError> {
        let field = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
                .map(|v| v.trim().to_string())
        };
        let missing = |name: &str| KeyError::Field {
            field: format!("rustc.{name}"),
            reason: "missing from `rustc -vV` output".into(),
        };
        Ok(RustcInfo {
            release: field("release").ok_or_else(|| missing("release"))?,
            commit_hash: field("commit-hash").unwrap_or_else(|| "unknown".into()),
            host: field("host").ok_or_else(|| missing("host"))?,
        })
    }
}

/// A key and the prefixes to try, best first, when it has no snapshot.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Key {
    pub key: String,
    pub ladder: Vec<String>,
}

/// Keys of both layers plus the explanation of every input.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KeySet {
    pub target: Key,
    pub registry: Key,
    pub explain: Vec<ExplainLine>,
}

/// One input of a key: which segment it feeds and a digest of its value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExplainLine {
    pub input: String,
    pub segment: Segment,
    pub value: String,
    pub digest: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Segment {
    Prefix,
    Toolchain,
    Config,
    Deps,
    Suffix,
}

/// Environment variables that change what Cargo or a build script produces.
const ENV_EXACT: &[&str] = &[
    "CARGO_INCREMENTAL",
    "RUSTFLAGS",
    "CARGO_ENCODED_RUSTFLAGS",
    "RUSTDOCFLAGS",
    "CARGO_ENCODED_RUSTDOCFLAGS",
    "RUSTC",
    "RUSTC_BOOTSTRAP",
    "RUSTC_LINKER",
    "CC",
    "CXX",
    "CFLAGS",
    "CXXFLAGS",
    "CPPFLAGS",
    "AR",
    "LD",
    "LDFLAGS",
    "RANLIB",
    "HOST_CC",
    "HOST_CXX",
    "HOST_CFLAGS",
    "HOST_CXXFLAGS",
    "TARGET_CC",
    "TARGET_CXX",
    "TARGET_CFLAGS",
    "TARGET_CXXFLAGS",
    "TARGET_AR",
    "PKG_CONFIG_PATH",
    "PKG_CONFIG_SYSROOT_DIR",
    "MACOSX_DEPLOYMENT_TARGET",
];

const ENV_PREFIXES: &[&str] = &[
    "CARGO_PROFILE_",
    "CARGO_BUILD_",
    "CARGO_TARGET_",
    "CARGO_UNSTABLE_",
    "CC_",
    "CXX_",
    "CFLAGS_",
    "CXXFLAGS_",
    "AR_",
];

/// Variables under an allowed prefix that only move output or tune parallelism.
const ENV_DENY: &[&str] = &[
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_TARGET_DIR",
    "CARGO_BUILD_BUILD_DIR",
    "CARGO_BUILD_JOBS",
];

/// Whether an environment variable can change artifacts (or is in `extra`).
pub fn is_artifact_env(name: &str, extra: &[String]) -> bool {
    if extra.iter().any(|e| e == name) {
        return true;
    }
    if ENV_DENY.contains(&name) {
        return false;
    }
    ENV_EXACT.contains(&name) || ENV_PREFIXES.iter().any(|p| name.starts_with(p))
}

/// Keeps only the variables that change artifacts. Never store the full environment: it
/// holds credentials.
pub fn artifact_env<I, K, V>(vars: I, extra: &[String]) -> BTreeMap<String, String>
where
    I: IntoIterator<Item = (K, V)>,
    K: Into<String>,
    V: Into<String>,
{
    // Inserts rather than `collect`: the same map (the last value of a name wins), without
    // a second sort routine in the wasm module.
    let mut out = BTreeMap::new();
    for (k, v) in vars {
        let k = k.into();
        if is_artifact_env(&k, extra) {
            out.insert(k, v.into());
        }
    }
    out
}

/// Cargo.lock reduced to the packages that come from a registry or git, one sorted line
/// each. Workspace members (no `source`) are left out so their version bumps are free.
///
/// A scanner of Cargo.lock's format rather than a TOML parser: see [`lockfile`].
pub fn reduce_lockfile(text: &str) -> Result<String, KeyError> {
    let lines = sorted_unique(lockfile::packages(text)?);
    Ok(join(&lines, "\n"))
}

/// `parts.join(sep)`, written out: std's `join` is a large generic routine, and the
/// core's joins of `String`s all share this small one in wasm.
pub(crate) fn join(parts: &[String], sep: &str) -> String {
    let len = parts.iter().map(String::len).sum::<usize>() + sep.len() * parts.len();
    let mut out = String::with_capacity(len);
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            out.push_str(sep);
        }
        out.push_str(part);
    }
    out
}

/// A member manifest with what does not change dependency artifacts removed: the
/// package version and the `path`/`version` of path dependencies. Key order, comments
/// and formatting are normalised away.
pub fn normalize_manifest(path: &str, text: &str) -> Result<String, KeyError> {
    let mut doc = canon::parse(text).map_err(|reason| KeyError::Manifest {
        path: path.to_string(),
        reason,
    })?;
    for section in ["package", "workspace"] {
        if let Some(t) = doc.get_mut(section).and_then(canon::Value::as_table_mut) {
            t.remove("version");
            if let Some(p) = t.get_mut("package").and_then(canon::Value::as_table_mut) {
                p.remove("version");
            }
            if let Some(deps) = t
                .get_mut("dependencies")
                .and_then(canon::Value::as_table_mut)
            {
                strip_path_deps(deps);
            }
        }
    }
    strip_dep_tables(&mut doc);
    if let Some(targets) = doc.get_mut("target").and_then(canon::Value::as_table_mut) {
        for cfg in targets.values_mut() {
            if let Some(cfg) = cfg.as_table_mut() {
                strip_dep_tables(cfg);
            }
        }
    }
    Ok(canon::to_string(&doc))
}

fn strip_dep_tables(table: &mut canon::Table) {
    for name in [
        "dependencies",
        "dev-dependencies",
        "build-dependencies",
        "dev_dependencies",
        "build_dependencies",
    ] {
        if let Some(deps) = table.get_mut(name).and_then(canon::Value::as_table_mut) {
            strip_path_deps(deps);
        }
    }
}

fn strip_path_deps(deps: &mut canon::Table) {
    for dep in deps.values_mut() {
        if let Some(d) = dep.as_table_mut()
            && d.remove("path").is_some()
        {
            d.remove("version");
        }
    }
}

/// `linux`, `macos`, `windows` ... from a Rust `target_os` value.
pub fn os_label(target_os: &str) -> String {
    sanitize(target_os)
}

/// `x64`, `arm64` ... from a Rust `target_arch` value (Node's names, which CI uses).
pub fn arch_label(target_arch: &str) -> String {
    match target_arch {
        "x86_64" => "x64".into(),
        "aarch64" => "arm64".into(),
        "x86" => "ia32".into(),
        other => sanitize(other),
    }
}

/// Keeps a key segment readable and free of the `-` separator.
fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

impl KeyInputs {
    fn validate(&self) -> Result<(), KeyError> {
        if self.schema != KEY_SCHEMA {
            return Err(KeyError::Schema {
                found: self.schema,
                supported: KEY_SCHEMA,
            });
        }
        let required = [
            ("os", &self.os),
            ("arch", &self.arch),
            ("rustc.release", &self.rustc.release),
            ("rustc.host", &self.rustc.host),
            ("cargo_home", &self.cargo_home),
        ];
        for (field, value) in required {
            if value.trim().is_empty() {
                return Err(KeyError::Field {
                    field: field.into(),
                    reason: "must not be empty".into(),
                });
            }
        }
        for (field, value) in [("prefix", &self.prefix), ("suffix", &self.suffix)] {
            if value.contains('/') {
                return Err(KeyError::Field {
                    field: field.into(),
                    reason: "must not contain `/` (keys are object names)".into(),
                });
            }
        }
        Ok(())
    }

    /// Every input as `(name, segment, value)`, in a fixed order.
    fn lines(&self) -> Result<Vec<(String, Segment, String)>, KeyError> {
        use Segment::*;
        let mut out = vec![
            ("prefix".into(), Prefix, self.prefix.clone()),
            ("os".into(), Prefix, self.os.clone()),
            ("arch".into(), Prefix, self.arch.clone()),
            (
                "rustc.release".into(),
                Toolchain,
                self.rustc.release.clone(),
            ),
            (
                "rustc.commit-hash".into(),
                Toolchain,
                self.rustc.commit_hash.clone(),
            ),
            ("rustc.host".into(), Config, self.rustc.host.clone()),
            (
                "rust-toolchain".into(),
                Config,
                self.toolchain_file.clone().unwrap_or_default(),
            ),
            (
                "targets".into(),
                Config,
                join(&sorted_unique(self.targets.clone()), ","),
            ),
            ("profile".into(), Config, self.profile.clone()),
            ("cargo_home".into(), Config, self.cargo_home.clone()),
        ];
        // By reference: cloning the map would bring B-tree cloning code into wasm.
        let env = self.env.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        for (k, v) in artifact_env(env, &self.extra_env) {
            out.push((format!("env.{k}"), Config, v));
        }
        for (label, text) in &self.config_files {
            out.push((format!("config:{label}"), Config, text.clone()));
        }
        let lock = match &self.lockfile {
            Some(text) => reduce_lockfile(text)?,
            None => String::new(),
        };
        out.push(("Cargo.lock".into(), Deps, lock));
        for (path, text) in &self.manifests {
            out.push((
                format!("manifest:{path}"),
                Deps,
                normalize_manifest(path, text)?,
            ));
        }
        out.push(("suffix".into(), Suffix, self.suffix.clone()));
        Ok(out)
    }
}

/// Computes the keys of both layers and the explanation.
pub fn compute(inputs: &KeyInputs) -> Result<KeySet, KeyError> {
    inputs.validate()?;
    let lines = inputs.lines()?;
    let digest_of = |seg: Segment| {
        let mut h = Hasher::default();
        h.field("schema", &KEY_SCHEMA.to_string());
        for (name, _, value) in lines.iter().filter(|l| l.1 == seg) {
            h.field(name, value);
        }
        h.short(DIGEST_LEN)
    };
    let head = if inputs.prefix.is_empty() {
        format!("stash{KEY_SCHEMA}")
    } else {
        format!("{}-stash{KEY_SCHEMA}", sanitize(&inputs.prefix))
    };
    let toolchain = format!(
        "{}_{}",
        sanitize(&inputs.rustc.release),
        inputs.rustc.commit_hash.chars().take(8).collect::<String>()
    );
    let config = digest_of(Segment::Config);
    let deps = digest_of(Segment::Deps);
    let platform = format!("{}-{}", sanitize(&inputs.os), sanitize(&inputs.arch));

    let config_rung = format!("{head}-{platform}-{toolchain}-{config}-");
    let base = format!("{config_rung}{deps}");
    let target = with_suffix(&base, &inputs.suffix, &config_rung);

    let registry_rung = format!("{head}-registry-");
    let registry = with_suffix(
        &format!("{registry_rung}{deps}"),
        &inputs.suffix,
        &registry_rung,
    );

    let explain = lines
        .iter()
        .map(|(name, seg, value)| ExplainLine {
            input: name.clone(),
            segment: *seg,
            value: summarize(value),
            digest: short_of(name, value),
        })
        .collect();
    Ok(KeySet {
        target,
        registry,
        explain,
    })
}

/// The key with an optional suffix, and the ladder: exact, any suffix, then `rung`.
fn with_suffix(base: &str, suffix: &str, rung: &str) -> Key {
    if suffix.is_empty() {
        Key {
            key: base.to_string(),
            ladder: vec![base.to_string(), rung.to_string()],
        }
    } else {
        let key = format!("{base}-{}", sanitize(suffix));
        Key {
            ladder: vec![key.clone(), base.to_string(), rung.to_string()],
            key,
        }
    }
}

/// Short human view of an input value: itself when short, else its size.
fn summarize(value: &str) -> String {
    let single_line = !value.contains('\n');
    if single_line && value.len() <= 80 {
        value.to_string()
    } else {
        format!("<{} lines, {} bytes>", value.lines().count(), value.len())
    }
}

/// A scanner of Cargo.lock: the packages' `name`, `version`, `source` and `checksum`
/// strings, nothing else kept. Packages are `[[package]]` tables or, in TOML's other
/// spelling, the inline tables of a root `package = [..]`.
///
/// Cargo.lock is TOML that Cargo writes in one fixed shape, so a full TOML parser (most
/// of the wasm module's size and time, see docs/benchmarks.md) is not needed to read it.
/// The scanner still follows TOML's grammar for everything it skips (comments, CRLF,
/// multi-line arrays, all string forms, inline tables, dotted keys), so any valid
/// lockfile reads as a TOML parser would read it and anything malformed is an error.
///
/// Reading the lockfile with [`crate::toml_reader`] instead was measured at 43 ms against
/// the scanner's 4.5 ms (native, release, 5,000 packages): it copies strings a character
/// at a time and builds the whole tree, which would put wasm `computeKey` far over budget.
mod lockfile {
    use std::borrow::Cow;

    use crate::error::KeyError;
    use crate::toml_reader::lexer::Lexer;

    /// The keys of a package that go into its line, in line order.
    const FIELDS: [&str; 4] = ["name", "version", "source", "checksum"];

    /// One `name version source checksum` line per package that has a `source`, in file
    /// order. A missing or non-string field reads as empty, as it always has.
    ///
    /// Lockfile v1's `[metadata]` checksums are read (validated) but not merged: they
    /// are a function of name, version and source, which the line has already.
    pub(super) fn packages(text: &str) -> Result<Vec<String>, KeyError> {
        let mut s = Scanner {
            lex: Lexer::new(text),
        };
        let mut out = Vec::new();
        // The fields of the `[[package]]` being read, if the current table is one.
        let mut pkg: Option<Fields> = None;
        let mut at_root = true;
        loop {
            s.skip_ws();
            match s.peek() {
                None => break,
                Some(b'#') => s.comment()?,
                Some(b'\n' | b'\r') => {}
                Some(b'[') => {
                    flush(&mut out, pkg.take());
                    at_root = false;
                    if s.header()? {
                        pkg = Some(Default::default());
                    }
                }
                Some(_) => {
                    let (key, dotted) = s.key_path()?;
                    s.skip_ws();
                    s.expect(b'=', "expected `=` after a key")?;
                    s.skip_ws();
                    if at_root && !dotted && key == "package" && s.peek() == Some(b'[') {
                        // TOML's other spelling: `package = [{ name = .. }, ..]`.
                        s.package_array(&mut out)?;
                    } else {
                        let value = s.value()?;
                        if let Some(fields) = pkg.as_mut() {
                            s.field(fields, &key, dotted, value)?;
                        }
                    }
                }
            }
            s.end_of_line()?;
        }
        flush(&mut out, pkg);
        Ok(out)
    }

    /// A package's fields so far.
    type Fields<'a> = [Option<Cow<'a, str>>; 4];

    fn flush(out: &mut Vec<String>, pkg: Option<Fields>) {
        if let Some([name, version, source @ Some(_), checksum]) = pkg {
            let mut line = String::with_capacity(160);
            for (i, field) in [name, version, source, checksum].iter().enumerate() {
                if i > 0 {
                    line.push(' ');
                }
                line.push_str(field.as_deref().unwrap_or(""));
            }
            out.push(line);
        }
    }

    struct Scanner<'a> {
        lex: Lexer<'a>,
    }

    impl<'a> std::ops::Deref for Scanner<'a> {
        type Target = Lexer<'a>;
        fn deref(&self) -> &Lexer<'a> {
            &self.lex
        }
    }

    impl std::ops::DerefMut for Scanner<'_> {
        fn deref_mut(&mut self) -> &mut Self::Target {
            &mut self.lex
        }
    }

    impl<'a> Scanner<'a> {
        fn error(&self, what: &str) -> KeyError {
            KeyError::Lockfile(self.error_at(self.pos, what))
        }

        /// Records `key = value` of a package if it is one of [`FIELDS`]. A dotted key
        /// (`source.x = 1`) makes the field a table: present, and not a string.
        fn field(
            &self,
            fields: &mut Fields<'a>,
            key: &str,
            dotted: bool,
            value: Option<Cow<'a, str>>,
        ) -> Result<(), KeyError> {
            let Some(i) = FIELDS.iter().position(|f| *f == key) else {
                return Ok(());
            };
            match (&fields[i], dotted) {
                (Some(_), true) => {}
                (Some(_), false) => {
                    return Err(self.error(&format!("duplicate key `{key}` in a [[package]]")));
                }
                (None, true) => fields[i] = Some(Cow::Borrowed("")),
                (None, false) => fields[i] = Some(value.unwrap_or_default()),
            }
            Ok(())
        }

        /// The root `package = [..]` array: each inline table in it is a package.
        fn package_array(&mut self, out: &mut Vec<String>) -> Result<(), KeyError> {
            self.pos += 1;
            loop {
                self.skip_trivia()?;
                if self.peek() == Some(b']') {
                    break;
                }
                if self.peek() == Some(b'{') {
                    let mut fields = Fields::default();
                    self.inline_table_into(Some(&mut fields))?;
                    flush(out, Some(fields));
                } else {
                    self.value()?;
                }
                self.skip_trivia()?;
                match self.peek() {
                    Some(b',') => self.pos += 1,
                    Some(b']') => break,
                    _ => return Err(self.error("expected `,` or `]` in an array")),
                }
            }
            self.pos += 1;
            Ok(())
        }

        /// A `[table]` or `[[array]]` header; whether it opens a `[[package]]`.
        fn header(&mut self) -> Result<bool, KeyError> {
            self.pos += 1;
            let array = self.peek() == Some(b'[');
            if array {
                self.pos += 1;
            }
            self.skip_ws();
            let (key, dotted) = self.key_path()?;
            self.skip_ws();
            let close: &[u8] = if array { b"]]" } else { b"]" };
            if !self.b[self.pos..].starts_with(close) {
                let close = if array { "`]]`" } else { "`]`" };
                let open = if array { "[[" } else { "[" };
                return Err(self.error(&format!(
                    "unclosed table header `{open}{key}`, expected {close}"
                )));
            }
            self.pos += close.len();
            Ok(array && !dotted && key == "package")
        }

        /// A possibly dotted key: its first part, and whether there were more.
        fn key_path(&mut self) -> Result<(Cow<'a, str>, bool), KeyError> {
            let first = self.simple_key()?;
            let mut dotted = false;
            loop {
                let save = self.pos;
                self.skip_ws();
                if self.peek() != Some(b'.') {
                    self.pos = save;
                    return Ok((first, dotted));
                }
                self.pos += 1;
                self.skip_ws();
                self.simple_key()?;
                dotted = true;
            }
        }

        fn simple_key(&mut self) -> Result<Cow<'a, str>, KeyError> {
            match self.peek() {
                Some(b'"') if self.peek_at(1) != Some(b'"') || self.peek_at(2) != Some(b'"') => {
                    self.basic_string()
                }
                Some(b'\'') if self.peek_at(1) != Some(b'\'') || self.peek_at(2) != Some(b'\'') => {
                    self.literal_string()
                }
                _ => {
                    let start = self.pos;
                    while let Some(b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_') =
                        self.b.get(self.pos)
                    {
                        self.pos += 1;
                    }
                    if start == self.pos {
                        return Err(self.error("expected a key"));
                    }
                    Ok(Cow::Borrowed(&self.text[start..self.pos]))
                }
            }
        }

        /// Any value; its text if it is a string.
        fn value(&mut self) -> Result<Option<Cow<'a, str>>, KeyError> {
            let starts = |s: &Self, d: &[u8]| s.b[s.pos..].starts_with(d);
            Ok(Some(match self.peek() {
                Some(b'"') if starts(self, b"\"\"\"") => self.ml_string(b'"')?,
                Some(b'\'') if starts(self, b"'''") => self.ml_string(b'\'')?,
                Some(b'"') => self.basic_string()?,
                Some(b'\'') => self.literal_string()?,
                Some(b'[') => {
                    self.array()?;
                    return Ok(None);
                }
                Some(b'{') => {
                    self.inline_table()?;
                    return Ok(None);
                }
                _ => {
                    self.scalar()?;
                    return Ok(None);
                }
            }))
        }

        fn array(&mut self) -> Result<(), KeyError> {
            self.pos += 1;
            loop {
                self.skip_trivia()?;
                if self.peek() == Some(b']') {
                    break;
                }
                self.value()?;
                self.skip_trivia()?;
                match self.peek() {
                    Some(b',') => self.pos += 1,
                    Some(b']') => break,
                    _ => return Err(self.error("expected `,` or `]` in an array")),
                }
            }
            self.pos += 1;
            Ok(())
        }

        fn inline_table(&mut self) -> Result<(), KeyError> {
            self.inline_table_into(None)
        }

        /// An inline table, its package fields recorded into `fields` when given.
        fn inline_table_into(
            &mut self,
            mut fields: Option<&mut Fields<'a>>,
        ) -> Result<(), KeyError> {
            self.pos += 1;
            loop {
                self.skip_trivia()?;
                if self.peek() == Some(b'}') {
                    break;
                }
                let (key, dotted) = self.key_path()?;
                self.skip_ws();
                self.expect(b'=', "expected `=` after a key")?;
                self.skip_ws();
                let value = self.value()?;
                if let Some(f) = fields.as_deref_mut() {
                    self.field(f, &key, dotted, value)?;
                }
                self.skip_trivia()?;
                match self.peek() {
                    Some(b',') => self.pos += 1,
                    Some(b'}') => break,
                    _ => return Err(self.error("expected `,` or `}` in an inline table")),
                }
            }
            self.pos += 1;
            Ok(())
        }

        /// A number, boolean or date-time, skipped. A space is allowed inside because a
        /// date-time may use one between date and time.
        fn scalar(&mut self) -> Result<(), KeyError> {
            let start = self.pos;
            while let Some(c) = self.peek() {
                if !(c.is_ascii_alphanumeric()
                    || matches!(c, b'_' | b'+' | b'-' | b'.' | b':' | b' '))
                {
                    break;
                }
                self.pos += 1;
            }
            while self.pos > start && self.b[self.pos - 1] == b' ' {
                self.pos -= 1;
            }
            if self.pos == start {
                return Err(self.error("expected a value"));
            }
            Ok(())
        }

        /// A `"basic string"`, unescaped.
        fn basic_string(&mut self) -> Result<Cow<'a, str>, KeyError> {
            self.pos += 1;
            let start = self.pos;
            // Fast path: no escapes, the text is borrowed.
            loop {
                self.skip_plain_string_bytes();
                match self.peek() {
                    Some(b'"') => {
                        self.pos += 1;
                        return Ok(Cow::Borrowed(&self.text[start..self.pos - 1]));
                    }
                    Some(b'\\') => break,
                    c => self.string_char(c)?,
                }
            }
            let mut out = self.text[start..self.pos].to_string();
            loop {
                match self.peek() {
                    Some(b'"') => {
                        self.pos += 1;
                        return Ok(Cow::Owned(out));
                    }
                    Some(b'\\') => self.escape(&mut out)?,
                    c => {
                        // Up to the next `"`, `\\` or control byte: all ASCII, so the
                        // slice never ends inside a multi-byte character.
                        let from = self.pos;
                        self.string_char(c)?;
                        self.skip_plain_string_bytes();
                        out.push_str(&self.text[from..self.pos]);
                    }
                }
            }
        }

        /// Steps over bytes that a basic string holds as they are (not `"`, `\\` or a
        /// control character), eight at a time while it can.
        #[inline(always)]
        fn skip_plain_string_bytes(&mut self) {
            const ONES: u64 = 0x0101_0101_0101_0101;
            const HIGHS: u64 = 0x8080_8080_8080_8080;
            // Bytes equal to `b`, or below 0x20, get their high bit set (ASCII bytes only;
            // a non-ASCII byte also stops the fast loop, and the byte loop takes it).
            let eq = |w: u64, b: u8| {
                let x = w ^ (ONES * u64::from(b));
                x.wrapping_sub(ONES) & !x
            };
            while let Some(chunk) = self.b.get(self.pos..self.pos + 8) {
                let w = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
                let stop =
                    w.wrapping_sub(ONES * 0x20) | eq(w, b'"') | eq(w, b'\\') | eq(w, 0x7f) | w;
                if stop & HIGHS != 0 {
                    break;
                }
                self.pos += 8;
            }
            while let Some(&c) = self.b.get(self.pos) {
                if c < 0x20 || c == b'"' || c == b'\\' || c == 0x7f {
                    break;
                }
                self.pos += 1;
            }
        }

        /// A `'literal string'`.
        fn literal_string(&mut self) -> Result<Cow<'a, str>, KeyError> {
            self.pos += 1;
            let start = self.pos;
            loop {
                match self.peek() {
                    Some(b'\'') => {
                        self.pos += 1;
                        return Ok(Cow::Borrowed(&self.text[start..self.pos - 1]));
                    }
                    c => self.string_char(c)?,
                }
            }
        }

        /// Steps over one character of a single-line string, which must not end there.
        fn string_char(&mut self, c: Option<u8>) -> Result<(), KeyError> {
            match c {
                None | Some(b'\n' | b'\r') => Err(self.error("unterminated string")),
                Some(b'\t') => {
                    self.pos += 1;
                    Ok(())
                }
                Some(c) if c < 0x20 || c == 0x7f => {
                    Err(self.error("control character in a string"))
                }
                Some(_) => {
                    self.pos += 1;
                    Ok(())
                }
            }
        }

        /// A `"""multi-line"""` or `'''multi-line'''` string, read by the shared lexer.
        fn ml_string(&mut self, quote: u8) -> Result<Cow<'a, str>, KeyError> {
            Ok(Cow::Owned(self.lex.ml_string(quote)?))
        }
    }
}

/// The one canonical text of a manifest's tree.
///
/// The text is the one `toml::to_string` gave for a `toml::Table` before, so that keys
/// did not change when the serializer (and then the parser, see [`crate::toml_reader`])
/// went: sorted keys, each table's own pairs under its header, then its sub-tables,
/// blank lines between sections, and `toml_writer`'s default string and key quoting.
/// The unit tests compare the two on tricky documents.
mod canon {
    pub(super) use crate::toml_reader::{Table, Value, parse};

    /// An array of tables is written as `[[key]]` sections, like `toml` did.
    fn is_array_of_tables(v: &Value) -> bool {
        matches!(v, Value::Array { items, .. }
            if !items.is_empty() && items.iter().all(|v| matches!(v, Value::Table(_))))
    }

    fn is_section(v: &Value) -> bool {
        matches!(v, Value::Table(_)) || is_array_of_tables(v)
    }

    /// The canonical text of a document.
    pub(super) fn to_string(doc: &Table) -> String {
        let mut sections = Vec::new();
        section(&mut sections, "", doc, false);
        super::join(&sections, "\n")
    }

    /// Appends the section of `table` (header and own pairs), if it has one, then those
    /// of its sub-tables, depth first in key order. `path` is the encoded header key.
    fn section(out: &mut Vec<String>, path: &str, table: &Table, array: bool) {
        let has_pairs = table.values().any(|v| !is_section(v));
        let has_children = table.values().any(is_section);
        // An empty leaf table or an array element needs a header; a table holding only
        // sub-tables is implied by theirs.
        if has_pairs || array || (!has_children && !path.is_empty()) {
            let mut s = String::new();
            if array || !path.is_empty() {
                let brackets = if array { 2 } else { 1 };
                s.push_str(&"[["[..brackets]);
                s.push_str(path);
                s.push_str(&"]]"[..brackets]);
                s.push('\n');
            }
            for (k, v) in table.iter().filter(|(_, v)| !is_section(v)) {
                key(&mut s, k);
                s.push_str(" = ");
                inline(&mut s, v);
                s.push('\n');
            }
            out.push(s);
        }
        for (k, v) in table.iter().filter(|(_, v)| is_section(v)) {
            let mut child = String::from(path);
            if !child.is_empty() {
                child.push('.');
            }
            key(&mut child, k);
            match v {
                Value::Table(t) => section(out, &child, t, false),
                Value::Array { items, .. } => {
                    for item in items {
                        if let Value::Table(t) = item {
                            section(out, &child, t, true);
                        }
                    }
                }
                _ => {}
            }
        }
    }

    fn inline(s: &mut String, v: &Value) {
        match v {
            Value::String(text) => string(s, text),
            Value::Integer(i) => integer(s, *i),
            Value::Boolean(b) => s.push_str(if *b { "true" } else { "false" }),
            Value::Float(text) | Value::Datetime(text) => s.push_str(text),
            Value::Array { items, .. } => {
                s.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        s.push_str(", ");
                    }
                    inline(s, item);
                }
                s.push(']');
            }
            Value::Table(t) => {
                s.push('{');
                for (i, (k, v)) in t.iter().enumerate() {
                    s.push_str(if i > 0 { ", " } else { " " });
                    key(s, k);
                    s.push_str(" = ");
                    inline(s, v);
                }
                s.push_str(if t.is_empty() { "}" } else { " }" });
            }
        }
    }

    /// Decimal, by hand: `core::fmt`'s integer code is not needed in wasm for this.
    fn integer(s: &mut String, i: i64) {
        if i < 0 {
            s.push('-');
        }
        let mut digits = [0u8; 20];
        let mut n = i.unsigned_abs();
        let mut at = digits.len();
        loop {
            at -= 1;
            digits[at] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        for &d in &digits[at..] {
            s.push(d as char);
        }
    }

    fn is_bare(b: u8) -> bool {
        b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
    }

    fn is_control(b: u8) -> bool {
        (b <= 0x1f && b != b'\t') || b == 0x7f
    }

    /// `toml_writer`'s default key: bare, else `"basic"` without escapes, else
    /// `'literal'`, else `"basic"` with escapes.
    fn key(s: &mut String, k: &str) {
        let b = k.as_bytes();
        if !b.is_empty() && b.iter().all(|&c| is_bare(c)) {
            s.push_str(k);
            return;
        }
        let control = b.iter().any(|&c| is_control(c));
        let single = b.contains(&b'\'');
        let double = b.contains(&b'"');
        let backslash = b.contains(&b'\\');
        if !control && !single && (double || backslash) {
            s.push('\'');
            s.push_str(k);
            s.push('\'');
        } else {
            s.push('"');
            escaped(s, k, false);
            s.push('"');
        }
    }

    /// `toml_writer`'s default string: the first of basic, literal, multi-line basic,
    /// multi-line literal that needs no escapes, else escaped.
    fn string(s: &mut String, v: &str) {
        let b = v.as_bytes();
        if b.iter()
            .all(|&c| is_bare(c) || matches!(c, b'.' | b'/' | b' ' | b':'))
        {
            s.push('"');
            s.push_str(v);
            s.push('"');
            return;
        }
        let run = |q: u8| b.split(|&c| c != q).map(<[u8]>::len).max().unwrap_or(0);
        let (max_single, max_double) = (run(b'\''), run(b'"'));
        let control = b.iter().any(|&c| is_control(c) && c != b'\n');
        let backslash = b.contains(&b'\\');
        let newline = b.contains(&b'\n');
        let (delim, escape, ml) = if !control && !backslash && max_double == 0 && !newline {
            ("\"", true, false)
        } else if !control && max_single == 0 && !newline {
            ("'", false, false)
        } else if !control && !backslash && max_double <= 2 {
            ("\"\"\"", true, true)
        } else if !control && max_single <= 2 {
            ("'''", false, true)
        } else if newline {
            ("\"\"\"", true, true)
        } else {
            ("\"", true, false)
        };
        s.push_str(delim);
        if ml && newline {
            s.push('\n');
        }
        if escape {
            escaped(s, v, ml);
        } else {
            s.push_str(v);
        }
        s.push_str(delim);
    }

    /// The body of a basic string: `toml_writer`'s escapes; in a multi-line string
    /// newlines and up to two quotes in a row stay as they are.
    fn escaped(s: &mut String, v: &str, ml: bool) {
        let max_quotes = if ml { 2 } else { 0 };
        let mut quotes = 0;
        let mut start = 0;
        for (i, &c) in v.as_bytes().iter().enumerate() {
            let esc = match c {
                b'"' => {
                    quotes += 1;
                    if quotes <= max_quotes {
                        continue;
                    }
                    "\\\""
                }
                0x8 => "\\b",
                b'\t' => "\\t",
                b'\n' if ml => {
                    quotes = 0;
                    continue;
                }
                b'\n' => "\\n",
                0xc => "\\f",
                b'\r' => "\\r",
                b'\\' => "\\\\",
                c if c <= 0x1f || c == 0x7f => "",
                _ => {
                    quotes = 0;
                    continue;
                }
            };
            quotes = 0;
            s.push_str(&v[start..i]);
            if esc.is_empty() {
                const HEX: &[u8; 16] = b"0123456789ABCDEF";
                s.push_str("\\u00");
                s.push(HEX[usize::from(c >> 4)] as char);
                s.push(HEX[usize::from(c & 0xf)] as char);
            } else {
                s.push_str(esc);
            }
            start = i + 1;
        }
        s.push_str(&v[start..]);
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod toml_tests;
