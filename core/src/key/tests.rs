use super::*;
use crate::error::KeyError;

const LOCK: &str = r#"
version = 4

[[package]]
name = "app"
version = "0.1.0"
dependencies = ["itoa"]

[[package]]
name = "itoa"
version = "1.0.15"
source = "registry+https://github.com/rust-lang/crates.io-index"
checksum = "4a5f13b858c8d314ee3e8f639011f7ccefe71f97f96e50151fb991f267928e2c"
"#;

const MANIFEST: &str = r#"
[package]
name = "app"
version = "0.1.0"
edition = "2021"

[dependencies]
itoa = "1"
helper = { path = "../helper", version = "0.1" }
"#;

fn inputs() -> KeyInputs {
    KeyInputs {
        schema: KEY_SCHEMA,
        os: "linux".into(),
        arch: "x64".into(),
        rustc: RustcInfo {
            release: "1.95.0".into(),
            commit_hash: "59807616e1f7c4b5a1a3d4e8f0c6b2d9e7a1c3f5".into(),
            host: "x86_64-unknown-linux-gnu".into(),
        },
        profile: "dev".into(),
        cargo_home: "/home/ci/.cargo".into(),
        lockfile: Some(LOCK.into()),
        manifests: [("app/Cargo.toml".to_string(), MANIFEST.to_string())].into(),
        ..Default::default()
    }
}

fn key(i: &KeyInputs) -> String {
    compute(i).unwrap().target.key
}

fn assert_changes(name: &str, f: impl FnOnce(&mut KeyInputs)) {
    let mut changed = inputs();
    f(&mut changed);
    assert_ne!(
        key(&inputs()),
        key(&changed),
        "{name} should change the key"
    );
}

fn assert_same(name: &str, f: impl FnOnce(&mut KeyInputs)) {
    let mut changed = inputs();
    f(&mut changed);
    assert_eq!(
        key(&inputs()),
        key(&changed),
        "{name} should not change the key"
    );
}

#[test]
fn key_is_readable() {
    let k = key(&inputs());
    assert!(k.starts_with("stash1-linux-x64-1.95.0_59807616-"), "{k}");
    assert_eq!(k.split('-').count(), 6, "{k}");
}

#[test]
fn inputs_that_change_artifacts_change_the_key() {
    assert_changes("toolchain", |i| i.rustc.release = "1.96.0".into());
    assert_changes("commit", |i| i.rustc.commit_hash = "0000000000".into());
    assert_changes("host", |i| {
        i.rustc.host = "aarch64-unknown-linux-gnu".into()
    });
    assert_changes("target", |i| {
        i.targets = vec!["wasm32-unknown-unknown".into()]
    });
    assert_changes("profile", |i| i.profile = "release".into());
    assert_changes("RUSTFLAGS", |i| {
        i.env
            .insert("RUSTFLAGS".into(), "-C target-cpu=native".into());
    });
    assert_changes("CARGO_PROFILE_*", |i| {
        i.env.insert("CARGO_PROFILE_DEV_DEBUG".into(), "0".into());
    });
    assert_changes("CC", |i| {
        i.env.insert("CC".into(), "clang".into());
    });
    assert_changes("user env var", |i| {
        i.extra_env.push("MY_FEATURE_FLAG".into());
        i.env.insert("MY_FEATURE_FLAG".into(), "1".into());
    });
    assert_changes("CARGO_HOME path", |i| i.cargo_home = "/other/.cargo".into());
    assert_changes("config.toml", |i| {
        i.config_files.insert(
            ".cargo/config.toml".into(),
            "[build]\nrustflags=[\"-Dwarnings\"]".into(),
        );
    });
    assert_changes("rust-toolchain", |i| i.toolchain_file = Some("1.95".into()));
    assert_changes("os", |i| i.os = "macos".into());
    assert_changes("prefix", |i| i.prefix = "lint".into());
    assert_changes("suffix", |i| i.suffix = "abc".into());
    assert_changes("dependency bump", |i| {
        i.lockfile = Some(LOCK.replace("1.0.15", "1.0.16"));
    });
    assert_changes("new dependency in a member", |i| {
        i.manifests.insert(
            "app/Cargo.toml".into(),
            MANIFEST.replace("itoa = \"1\"", "itoa = \"1\"\nryu = \"1\""),
        );
    });
}

#[test]
fn inputs_that_do_not_change_artifacts_keep_the_key() {
    for var in [
        "CARGO_TERM_COLOR",
        "RUST_BACKTRACE",
        "RUST_LOG",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_JOBS",
        "AWS_SECRET_ACCESS_KEY",
    ] {
        assert_same(var, |i| {
            i.env.insert(var.into(), "1".into());
        });
    }
    assert_same("member version bump", |i| {
        i.manifests.insert(
            "app/Cargo.toml".into(),
            MANIFEST.replace("version = \"0.1.0\"", "version = \"0.2.0\""),
        );
        i.lockfile = Some(LOCK.replace(
            "name = \"app\"\nversion = \"0.1.0\"",
            "name = \"app\"\nversion = \"0.2.0\"",
        ));
    });
    assert_same("path dependency moved", |i| {
        i.manifests.insert(
            "app/Cargo.toml".into(),
            MANIFEST.replace(
                "../helper\", version = \"0.1\"",
                "../../libs/helper\", version = \"0.2\"",
            ),
        );
    });
    assert_same("manifest formatting", |i| {
        i.manifests.insert(
            "app/Cargo.toml".into(),
            format!(
                "# comment\n{}",
                MANIFEST.replace("edition = \"2021\"", "edition   =   \"2021\"")
            ),
        );
    });
    assert_same("target order", |i| {
        i.targets = vec![];
    });
}

#[test]
fn ladder_falls_back_across_deps_but_not_config() {
    let base = compute(&inputs()).unwrap();
    let mut bumped = inputs();
    bumped.lockfile = Some(LOCK.replace("1.0.15", "1.0.16"));
    let bumped = compute(&bumped).unwrap();
    assert!(base.target.key.starts_with(&bumped.target.ladder[1]));

    let mut flags = inputs();
    flags.env.insert("RUSTFLAGS".into(), "-Copt-level=1".into());
    let flags = compute(&flags).unwrap();
    assert!(
        flags
            .target
            .ladder
            .iter()
            .all(|rung| !base.target.key.starts_with(rung))
    );
    // The registry layer falls back across everything.
    assert!(
        base.registry
            .key
            .starts_with(flags.registry.ladder.last().unwrap())
    );
}

#[test]
fn suffix_ladder_tries_any_suffix_first() {
    let mut i = inputs();
    i.suffix = "commit1".into();
    let k = compute(&i).unwrap().target;
    assert!(k.key.ends_with("-commit1"));
    assert_eq!(k.ladder.len(), 3);
    assert!(k.key.starts_with(&k.ladder[1]) && k.ladder[1].starts_with(&k.ladder[2]));
}

#[test]
fn bad_inputs_name_the_field() {
    let mut i = inputs();
    i.cargo_home.clear();
    assert!(compute(&i).unwrap_err().to_string().contains("cargo_home"));
    let mut i = inputs();
    i.schema = 99;
    assert!(matches!(
        compute(&i),
        Err(KeyError::Schema { found: 99, .. })
    ));
    let mut i = inputs();
    i.lockfile = Some("[[package]\n".into());
    assert!(matches!(compute(&i), Err(KeyError::Lockfile(_))));
}

#[test]
fn env_filter_never_keeps_secrets() {
    let env = artifact_env(
        [
            ("AWS_SECRET_ACCESS_KEY", "x"),
            ("RUSTFLAGS", "-g"),
            ("CARGO_REGISTRIES_X_TOKEN", "t"),
        ],
        &[],
    );
    assert_eq!(env.keys().collect::<Vec<_>>(), ["RUSTFLAGS"]);
}

#[test]
fn parses_rustc_verbose_version() {
    let info = RustcInfo::parse_verbose_version(
        "rustc 1.95.0 (59807616e 2026-04-14)\nbinary: rustc\ncommit-hash: 59807616e\ncommit-date: 2026-04-14\nhost: x86_64-unknown-linux-gnu\nrelease: 1.95.0\nLLVM version: 20.1\n",
    )
    .unwrap();
    assert_eq!(info.release, "1.95.0");
    assert_eq!(info.host, "x86_64-unknown-linux-gnu");
    assert!(RustcInfo::parse_verbose_version("nonsense").is_err());
}

/// What `reduce_lockfile` gave when it parsed the whole file with `toml`: the reference
/// ours (through `stash_toml`) must match on every valid lockfile.
fn reduce_with_toml(text: &str) -> String {
    let doc: toml::Table = text.parse().unwrap();
    let mut lines = std::collections::BTreeSet::new();
    for pkg in doc
        .get("package")
        .and_then(|p| p.as_array())
        .into_iter()
        .flatten()
    {
        let get = |k: &str| pkg.get(k).and_then(|v| v.as_str()).unwrap_or("");
        if pkg.get("source").is_some() {
            lines.insert(format!(
                "{} {} {} {}",
                get("name"),
                get("version"),
                get("source"),
                get("checksum")
            ));
        }
    }
    lines.into_iter().collect::<Vec<_>>().join("\n")
}

fn assert_lock(text: &str, expected: &str) {
    assert_eq!(reduce_with_toml(text), expected, "reference on {text:?}");
    assert_eq!(
        reduce_lockfile(text).unwrap(),
        expected,
        "reduce_lockfile on {text:?}"
    );
}

const ITOA: &str = "itoa 1.0.15 registry+https://github.com/rust-lang/crates.io-index \
                    4a5f13b858c8d314ee3e8f639011f7ccefe71f97f96e50151fb991f267928e2c";

#[test]
fn lockfile_reduction_matches_toml_on_cargo_output() {
    assert_lock(LOCK, ITOA);
    assert_lock(&LOCK.replace('\n', "\r\n"), ITOA);
    assert_lock("", "");
    assert_lock("version = 4\n", "");
}

#[test]
fn lockfile_reduction_edge_cases() {
    // Comments everywhere, keys in any order, spacing, a multi-line array, no newline at
    // the end, a package without source (a member) and one without checksum (git).
    let text = "# This file is automatically @generated by Cargo.\n\
        # It is not intended for manual editing.\n\
        version = 3 # trailing\n\
        \n\
        [[package]]\n\
        checksum=\"abc\" # c\n\
        source   =   \"registry+https://x\"\n\
        \tversion = \"1.0.0\"\n\
        name = 'lit'\n\
        dependencies = [\n \"a 1.0 (registry+https://x)\", # why\n \"b\",\n]\n\
        \n\
        [[package]]\n\
        name = \"member\"\n\
        version = \"0.1.0\"\n\
        \n\
        [[ package ]]\n\
        name = \"gitdep\"\n\
        version = \"0.2.0\"\n\
        source = \"git+https://g/x?rev=1#abcdef\"";
    assert_lock(
        text,
        "gitdep 0.2.0 git+https://g/x?rev=1#abcdef \nlit 1.0.0 registry+https://x abc",
    );
    // Escapes, quoted keys and other string forms.
    assert_lock(
        "[[package]]\n\"name\" = \"a\\\"b\\\\c\\u00e9\"\nversion = \"\"\"\n1\"\"\"\nsource = '''s'''\n",
        "a\"b\\cé 1 s ",
    );
    // Other tables and arrays of tables are not packages, and end the current one.
    assert_lock(
        "[[package]]\nname = \"x\"\n[package.extra]\nsource = \"s\"\n\
         [[patch.unused]]\nname = \"y\"\nversion = \"1\"\nsource = \"s\"\n\
         [other]\nsource = { a = [1, 2.5, true, 1979-05-27T07:32:00Z], b = {} }\n",
        "",
    );
    // Duplicates collapse; a non-string field reads as empty.
    assert_lock(
        "[[package]]\nname = \"d\"\nsource = 1\n[[package]]\nname = \"d\"\nsource = 1\n",
        "d   ",
    );
}

#[test]
fn lockfile_v1_metadata_is_read_but_not_merged() {
    let text = "[[package]]\n\
        name = \"itoa\"\n\
        version = \"0.4.8\"\n\
        source = \"registry+https://github.com/rust-lang/crates.io-index\"\n\
        \n\
        [metadata]\n\
        \"checksum itoa 0.4.8 (registry+https://github.com/rust-lang/crates.io-index)\" = \"b71991ff\"\n";
    assert_lock(
        text,
        "itoa 0.4.8 registry+https://github.com/rust-lang/crates.io-index ",
    );
}

#[test]
fn malformed_lockfiles_are_errors_with_a_line() {
    for (text, what) in [
        (
            "[[package]\n",
            "line 1: unclosed table header `[[package`, expected `]]`",
        ),
        ("[[package]]\nname = \"x\n", "line 2: unterminated string"),
        (
            "[[package]]\nname = \"x\"\nname = \"y\"\n",
            "line 3: duplicate key `name`",
        ),
        (
            "[[package]]\nname = \"x\" junk\n",
            "line 2: expected a newline",
        ),
        (
            "[[package]]\ndependencies = [\"a\"\n",
            "line 3: expected `,` or `]`",
        ),
        ("[[package]]\nname = \"\\q\"\n", "line 2: invalid escape"),
        ("[[package]]\nname\n", "line 2: expected `=`"),
        ("[[package]]\nname = \n", "line 2: expected a value"),
        ("[[package]]\rname = \"x\"\n", "line 1: expected a newline"),
        ("a = '''x\n", "line 2: unterminated multi-line string"),
    ] {
        assert!(
            text.parse::<toml::Table>().is_err(),
            "toml accepts {text:?}"
        );
        match reduce_lockfile(text) {
            Err(KeyError::Lockfile(msg)) => assert!(msg.starts_with(what), "{text:?}: {msg}"),
            other => panic!("{text:?}: {other:?}"),
        }
    }
}

/// Manifests whose canonical text must stay what `toml::to_string` gave, so that keys
/// did not change when the full `toml` crate went.
const TRICKY_MANIFESTS: &[&str] = &[
    "",
    "[package]\nname = \"a\"\n",
    "b = 1\n[a]\nx = 1\n",
    "[a.b]\nx = 1\n[a]\nz = 1\n",
    "c = 1\n[a.b.c]\n[a]\nz = [1, 2]\n",
    "[empty]\n[outer.inner]\n",
    "[[bin]]\nname = \"x\"\n[[bin]]\n[[bin]]\npath = \"p\"\n[bin.sub]\nq = 1\n",
    "a = [{ x = 1 }, { y = { z = [] } }]\nb = [[{ c = 1 }]]\nc = []\nd = {}\ne = [1, \"s\", 2.5]\n",
    "f = [1.0, -0.0, 0.5, 1e300, inf, -inf, nan, -nan, 3.14159]\n",
    "i = [0x1F, 0o17, 0b101, -9223372036854775808, 1_000]\n",
    "d = [1979-05-27T07:32:00Z, 1979-05-27 07:32:00.999+01:30, 1979-05-27, 07:32:00, 1979-05-27T00:32:00.5]\n",
    "\"quoted key\" = 1\n\"it's\" = 2\n'lit\"' = 2.5\n\"a\\\"b\" = 3\n\"back\\\\slash\" = 4\n\"tab\\tkey\" = 5\n\"nl\\nkey\" = 6\n\"\" = 7\n\"é\" = 8\n\"both'\\\"\" = 9\n[\"dotted.header\".x]\ny = 1\n",
    "s = [\"plain/path: ok.\", \"\", \"tab\\there\", \"say \\\"hi\\\"\", \"it's\", \"back\\\\slash\", \"C:\\\\it's\", \"line1\\nline2\", \"q\\\"\\\"\\\"q\\nx\", \"'''\\\"\\\"\\\"\\nx\", \"ctl\\u0001\", \"del\\u007f\", \"cr\\r\", \"é\", \"a\\\\b\\nc\", \"x'y\\\"z\", \"\\\"\\\"\\\"\\\"\\\"\\\"\"]\n",
    "[target.'cfg(unix)'.dependencies]\nlibc = { version = \"0.2\", features = [\"std\"] }\n[target.\"x86_64-pc-windows-msvc\".build-dependencies]\ncc = \"1\"\n",
    "[workspace]\nmembers = [\"a\", \"b\"]\n[workspace.package]\nedition = \"2021\"\n[workspace.dependencies]\nserde = { version = \"1\", default-features = false }\n",
    "a.b.c = 1\na.d = { e = 2 }\n[x]\ny.z = [{ w = 1 }]\n",
];

#[test]
fn canonical_text_matches_toml_to_string() {
    for text in TRICKY_MANIFESTS {
        let table: toml::Table = text.parse().unwrap_or_else(|e| panic!("{text:?}: {e}"));
        let ours = canon::to_string(&canon::parse(text).unwrap());
        assert_eq!(ours, toml::to_string(&table).unwrap(), "on {text:?}");
    }
}

#[test]
fn manifest_normalisation_drops_what_does_not_change_artifacts() {
    let text = "\
        # comment\n\
        [package]\n\
        version = \"1.2.3\"\n\
        name = \"app\"\n\
        [dependencies]\n\
        helper = { path = \"../helper\", version = \"0.1\", features = [\"x\"] }\n\
        serde = { version = \"1\" }\n\
        [target.'cfg(unix)'.dev-dependencies]\n\
        local = { path = \"l\", version = \"2\" }\n\
        [workspace.package]\n\
        version = \"9.9.9\"\n\
        [workspace.dependencies]\n\
        inner = { path = \"crates/inner\", version = \"0.3\" }\n";
    assert_eq!(
        normalize_manifest("Cargo.toml", text).unwrap(),
        "[dependencies.helper]\nfeatures = [\"x\"]\n\n\
         [dependencies.serde]\nversion = \"1\"\n\n\
         [package]\nname = \"app\"\n\n\
         [target.\"cfg(unix)\".dev-dependencies.local]\n\n\
         [workspace.dependencies.inner]\n\n\
         [workspace.package]\n"
    );
    assert!(matches!(
        normalize_manifest("m/Cargo.toml", "[package\n"),
        Err(KeyError::Manifest { path, .. }) if path == "m/Cargo.toml"
    ));
    assert!(normalize_manifest("Cargo.toml", "a = 99999999999999999999\n").is_err());
}

#[test]
fn lockfile_strings_read_the_same_at_every_alignment() {
    for pad in 0..20 {
        for special in ["\\\"", "\\\\", "\t", "é", "\\u00e9", "~", " "] {
            let name = format!("{}{special}{}", "a".repeat(pad), "b".repeat(pad % 11));
            let text = format!("[[package]]\nname = \"{name}\"\nsource = \"s{name}\"\n");
            assert_lock(&text, &reduce_with_toml(&text));
            assert!(!reduce_lockfile(&text).unwrap().is_empty());
        }
        for bad in ["\u{1}", "\u{7f}", "\u{1f}"] {
            let text = format!("[[package]]\nname = \"{}{bad}x\"\n", "a".repeat(pad));
            assert!(text.parse::<toml::Table>().is_err());
            assert!(reduce_lockfile(&text).is_err(), "{text:?}");
        }
    }
}

/// Issue 14, item 2: an escape then non-ASCII text sliced inside a character (exit 101).
#[test]
fn an_escape_before_non_ascii_text_reads_like_toml() {
    for body in ["\\té", "\\t\\u00e9ü€😀 x", "a\\\\é", "\\u00e9é", "é\\té"] {
        let text =
            format!("x = \"{body}\"\n[[package]]\nname = \"{body}\"\nsource = \"s{body}\"\n");
        assert_lock(&text, &reduce_with_toml(&text));
    }
    // toml-test's valid/multibyte.toml, in its spirit: escapes and multi-byte text mixed.
    let text = "# Test multibyte throughout\n\
        # Tést\n\
        [\"Tést\"]\n\
        \"∂åƒ\" = \"Ƭ\\tḗ\\nśƫ\"\n\
        [[package]]\n\
        name = \"ünï\\\"cødé\"\n\
        source = 'ßøü®çé'\n";
    assert_lock(text, "ünï\"cødé  ßøü®çé ");
}

/// Issue 14, item 2: TOML's inline spelling of the package array read as no packages.
#[test]
fn an_inline_package_array_reads_like_toml() {
    let text = "version = 4\n\
        package = [\n\
          { name = \"a\", version = \"1\", source = \"s\", checksum = \"c\" },\n\
          { name = \"member\", version = \"0.1.0\" }, # no source\n\
          { name = \"d\", source.kind = \"x\" },\n\
        ]\n";
    assert_lock(text, "a 1 s c\nd   ");
    // Only at the root: elsewhere `package` is just a key.
    assert_lock("[t]\npackage = [{ name = \"a\", source = \"s\" }]\n", "");
    assert!(reduce_lockfile("package = [{ name = \"a\", name = \"b\" }]\n").is_err());
}

/// Keys are a compatibility contract: a new cargo-stash must find the snapshots an
/// older one saved. Pinned on the workspace fixture (its Cargo.lock and four manifests)
/// as computed before the lockfile scanner gave way to the TOML reader (issue 15).
#[test]
fn keys_of_the_workspace_fixture_are_pinned() {
    let mut i = inputs();
    i.lockfile = Some(include_str!("../../../tests/fixtures/workspace/Cargo.lock").into());
    i.manifests = [
        (
            "Cargo.toml",
            include_str!("../../../tests/fixtures/workspace/Cargo.toml"),
        ),
        (
            "app/Cargo.toml",
            include_str!("../../../tests/fixtures/workspace/app/Cargo.toml"),
        ),
        (
            "util/Cargo.toml",
            include_str!("../../../tests/fixtures/workspace/util/Cargo.toml"),
        ),
        (
            "derive/Cargo.toml",
            include_str!("../../../tests/fixtures/workspace/derive/Cargo.toml"),
        ),
    ]
    .map(|(path, text)| (path.to_string(), text.to_string()))
    .into();
    let keys = compute(&i).unwrap();
    assert_eq!(
        keys.target.key,
        "stash1-linux-x64-1.95.0_59807616-c302e1069a-a1acae545a"
    );
    assert_eq!(keys.registry.key, "stash1-registry-a1acae545a");
}
