//! The bindings' JSON boundary against serde's: the same values read, the same JSON
//! written, and errors naming the field serde_path_to_error names.

use std::collections::BTreeMap;

use serde::Serialize;
use serde::de::DeserializeOwned;
use stash_core::layout::{Class, Profiles, classify};
use stash_core::{Entry, KeyInputs, PlanOptions, key, plan};

use crate::json::{Error, Value};
use crate::{read, write};

/// `x: field `{path}`: ...` as the old serde_json bindings worded the place of an error,
/// from serde_path_to_error; the reason after it is ours.
fn reference_place<T: DeserializeOwned>(json: &str) -> String {
    let de = &mut serde_json::Deserializer::from_str(json);
    let e = serde_path_to_error::deserialize::<_, T>(de)
        .err()
        .expect("bad input");
    match e.path().to_string().as_str() {
        "." => "x: ".to_string(),
        path => format!("x: field `{path}`: "),
    }
}

fn ours<T: std::fmt::Debug>(json: &str, read: impl FnOnce(&Value) -> Result<T, Error>) -> String {
    read::from_text("x", json, read).expect_err(json)
}

/// Our message starts with the place serde_path_to_error gives, not a deeper one.
fn assert_same_place(ours: &str, place: &str, json: &str) {
    assert!(
        ours.starts_with(place),
        "{json}\nours: {ours}\nwant: {place}..."
    );
    assert!(!ours[place.len()..].starts_with("field `"), "{ours}");
}

const BASE: &str = r#"{"schema":1,"os":"linux","arch":"x64","rustc":{"release":"1","commit_hash":"c","host":"h"},"cargo_home":"/c","env":{"A":"b"},"targets":["t"],"manifests":{"a/Cargo.toml":"x"}}"#;

#[test]
fn error_paths_match_serde_path_to_error() {
    let key_inputs = [
        BASE.replace(r#""release":"1""#, r#""release":1"#),
        BASE.replace(r#""release":"1","#, ""),
        BASE.replace(r#""os":"linux","#, ""),
        BASE.replace(r#""a/Cargo.toml":"x""#, r#""a/Cargo.toml":5"#),
        BASE.replace(r#"["t"]"#, r#""t""#),
        BASE.replace(r#"["t"]"#, r#"["t",{}]"#),
        BASE.replace(r#""env":{"A":"b"}"#, r#""env":[]"#),
        BASE.replace(r#""env":{"A":"b"}"#, r#""env":{"A":null}"#),
        BASE.replace(r#""schema":1"#, r#""schema":-1"#),
        BASE.replace(r#""schema":1"#, r#""schema":"1""#),
        BASE.replace(r#""schema":1"#, r#""schema":1.5"#),
        BASE.replace(r#""schema":1"#, r#""schema":4294967296"#),
        BASE.replace(r#""os":"linux""#, r#""os":"linux","os":"macos""#),
        BASE.replace(r#""cargo_home":"/c""#, r#""cargo_home":null"#),
        BASE.replace(r#""rustc":{"#, r#""rustc": {"#)
            .replace(r#""host":"h""#, r#""host":7"#)
            .replace(',', ",\n "),
        BASE.replace(r#"{"release":"1","commit_hash":"c","host":"h"}"#, "true"),
        "[]".to_string(),
        "7".to_string(),
    ];
    for json in &key_inputs {
        let place = reference_place::<KeyInputs>(json);
        assert_same_place(&ours(json, read::key_inputs), &place, json);
    }
    for json in [
        r#"[{"path":"a","kind":"pipe"}]"#,
        r#"[{"path":"a","kind":"file"},{"path":"b","kind":"file","size":"1"}]"#,
        r#"[{"path":"a","kind":"file","link_id":-2}]"#,
        r#"[{"path":"a"}]"#,
        r#"{"path":"a"}"#,
    ] {
        let place = reference_place::<Vec<Entry>>(json);
        assert_same_place(&ours(json, read::entries), &place, json);
    }
    for json in [
        r#"{"batch_bytes":-1}"#,
        r#"{"keep_incremental":"yes"}"#,
        r#"{"used_units":["a",1]}"#,
    ] {
        let place = reference_place::<PlanOptions>(json);
        assert_same_place(&ours(json, read::plan_options), &place, json);
    }
    let env = r#"{"A":"b","B":["c"]}"#;
    let place = reference_place::<BTreeMap<String, String>>(env);
    assert_same_place(&ours(env, read::string_map), &place, env);
}

#[test]
fn messages_say_what_was_wrong() {
    let missing = BASE.replace(r#""os":"linux","#, "");
    assert_eq!(ours(&missing, read::key_inputs), "x: missing field `os`");
    let wrong = BASE.replace(r#""release":"1""#, r#""release":1"#);
    assert_eq!(
        ours(&wrong, read::key_inputs),
        "x: field `rustc.release`: invalid type: number `1`, expected a string"
    );
    let kind = r#"[{"path":"a","kind":"pipe"}]"#;
    assert_eq!(
        ours(kind, read::entries),
        "x: field `[0].kind`: unknown variant `pipe`, expected one of `file`, `dir`, `symlink`"
    );
}

#[test]
fn malformed_text_names_no_field() {
    for json in [
        &BASE[..40],
        "{\"schema\":1,",
        "{\"a\" 1}",
        "{\"a\":01}",
        "[1,]",
        "\"\\x\"",
        "{} x",
    ] {
        let msg = ours(json, read::key_inputs);
        assert!(msg.starts_with("x: invalid JSON at byte "), "{json}: {msg}");
        assert!(
            serde_json::from_str::<serde_json::Value>(json).is_err(),
            "{json}"
        );
    }
}

/// What serde_json read, we read: every field, defaults included.
#[test]
fn reads_what_serde_read() {
    let full = r#"{"schema":1,"prefix":"p","suffix":"s","os":"linux","arch":"x64",
        "rustc":{"release":"1.95.0","commit_hash":"abc","host":"h","extra":1},
        "targets":["b","a"],"profile":"release","env":{"RUSTFLAGS":"-C x","A":"1","A":"2"},
        "extra_env":["A"],"cargo_home":"/c","lockfile":"l\u00e9\ud83d\ude00\n\"q\"",
        "manifests":{"Cargo.toml":"[package]"},"config_files":{"c":"x"},
        "toolchain_file":null,"unknown":[{"deep":[true,false,null,-1.5e3]}]}"#;
    for json in [
        full,
        BASE,
        r#"{"schema":1,"os":"o","arch":"a","rustc":{"release":"r","commit_hash":"c","host":"h"},"cargo_home":"/c","lockfile":null}"#,
    ] {
        let want: KeyInputs = serde_json::from_str(json).unwrap();
        assert_eq!(
            read::from_text("x", json, read::key_inputs).unwrap(),
            want,
            "{json}"
        );
    }
    let entries = r#"[{"path":"a","kind":"dir"},{"path":"a/b","kind":"file","size":18446744073709551615,"link_id":7},
        {"path":"c","kind":"symlink","link_id":null}]"#;
    let want: Vec<Entry> = serde_json::from_str(entries).unwrap();
    assert_eq!(read::from_text("x", entries, read::entries).unwrap(), want);
    for options in [
        "{}",
        r#"{"keep_incremental":true,"keep_dep_files":true,"used_units":["b","a","b"],"batch_bytes":5}"#,
        r#"{"used_units":null}"#,
    ] {
        let want: PlanOptions = serde_json::from_str(options).unwrap();
        assert_eq!(
            read::from_text("x", options, read::plan_options).unwrap(),
            want
        );
    }
}

fn assert_same_json<T: Serialize>(ours: &str, value: &T) {
    assert_eq!(ours, serde_json::to_string(value).unwrap());
}

/// What serde_json wrote, we write, byte for byte.
#[test]
fn writes_what_serde_wrote() {
    let mut inputs: KeyInputs = serde_json::from_str(BASE).unwrap();
    inputs.suffix = "s\"\\\u{1}\u{7f}é\n".replace(['"', '\\'], "");
    inputs.manifests.clear();
    inputs
        .env
        .insert("CC".into(), "\"x\"\\\u{8}\u{c}\r\u{1f}é".into());
    inputs
        .manifests
        .insert("b\"\\\t\u{1}é".into(), "[package]\nname = \"x\"\n".into());
    let keys = key::compute(&inputs).unwrap();
    assert_same_json(&write::key_set(&keys), &keys);
    assert_same_json(&write::explain(&keys.explain), &keys.explain);
    assert_same_json(&write::rustc_info(&inputs.rustc), &inputs.rustc);
    let env = key::artifact_env(
        [
            ("CC", "\"x\"\u{8}\u{c}\r"),
            ("HOME", "h"),
            ("RUSTFLAGS", ""),
        ],
        &[],
    );
    assert_same_json(&write::string_map(&env), &env);

    let h = "0123456789abcdef";
    let entries: Vec<Entry> = serde_json::from_value(serde_json::json!([
        {"path": "debug", "kind": "dir"},
        {"path": "debug/deps", "kind": "dir"},
        {"path": format!("debug/deps/libitoa-{h}.rlib"), "kind": "file", "size": 10, "link_id": 1},
        {"path": "debug/itoa.rlib", "kind": "file", "size": 10, "link_id": 1},
        {"path": "debug/deps/x.d", "kind": "file", "size": 3},
        {"path": "debug/incremental/x", "kind": "file", "size": 3},
        {"path": ".cargo-stash/s", "kind": "file", "size": 3},
    ]))
    .unwrap();
    let p = plan::plan(&entries, &PlanOptions::default());
    assert_same_json(&write::plan(&p), &p);

    #[derive(Serialize)]
    struct Classified<'a> {
        path: &'a str,
        class: &'static str,
        #[serde(skip_serializing_if = "Option::is_none")]
        unit: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        name: Option<String>,
    }
    let profiles = Profiles::find(&entries);
    let classes: Vec<(&str, Class)> = entries
        .iter()
        .map(|e| (e.path.as_str(), classify(&e.path, &profiles)))
        .collect();
    let want: Vec<Classified> = classes
        .iter()
        .map(|(path, c)| {
            let (class, unit, name) = match c {
                Class::Unit { id, name } => ("unit", Some(id.clone()), Some(name.clone())),
                Class::Uplifted => ("uplifted", None, None),
                Class::Incremental => ("incremental", None, None),
                Class::DepFile => ("dep-file", None, None),
                Class::Other => ("other", None, None),
                Class::Internal => ("internal", None, None),
            };
            Classified {
                path,
                class,
                unit,
                name,
            }
        })
        .collect();
    assert_same_json(&write::classified(classes.into_iter()), &want);
}
