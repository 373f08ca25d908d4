use super::*;

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
    assert!(k.starts_with("stow1-linux-x64-1.95.0_59807616-"), "{k}");
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
