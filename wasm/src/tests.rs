//! The JSON boundary: errors that name the bad field, syntax errors that say where, and
//! the shapes written for JavaScript.

use stash_core::layout::{Class, Profiles, classify};
use stash_core::{Entry, KeyInputs, PlanOptions};

use crate::boundary::{Classified, read, write};

const BASE: &str = r#"{"schema":1,"os":"linux","arch":"x64","rustc":{"release":"1","commit_hash":"c","host":"h"},"cargo_home":"/c","env":{"A":"b"},"targets":["t"],"manifests":{"a/Cargo.toml":"x"}}"#;

fn err<T: serde::de::DeserializeOwned + std::fmt::Debug>(json: &str) -> String {
    read::<T>("x", json).expect_err(json)
}

#[test]
fn messages_say_what_was_wrong() {
    let missing = BASE.replace(r#""os":"linux","#, "");
    assert_eq!(err::<KeyInputs>(&missing), "x: missing field `os`");
    let wrong = BASE.replace(r#""release":"1""#, r#""release":1"#);
    assert_eq!(
        err::<KeyInputs>(&wrong),
        "x: field `rustc.release`: invalid type: integer `1`, expected a string"
    );
    let kind = r#"[{"path":"a","kind":"pipe"}]"#;
    assert_eq!(
        err::<Vec<Entry>>(kind),
        "x: field `[0].kind`: unknown variant `pipe`, expected one of `file`, `dir`, `symlink`"
    );
}

#[test]
fn nested_fields_are_named_by_their_path() {
    for (json, place) in [
        (
            BASE.replace(r#""a/Cargo.toml":"x""#, r#""a/Cargo.toml":5"#),
            "manifests.a/Cargo.toml",
        ),
        (BASE.replace(r#"["t"]"#, r#"["t",{}]"#), "targets[1]"),
        (BASE.replace(r#""schema":1"#, r#""schema":-1"#), "schema"),
        (
            BASE.replace(r#""schema":1"#, r#""schema":4294967296"#),
            "schema",
        ),
        (
            BASE.replace(r#""cargo_home":"/c""#, r#""cargo_home":null"#),
            "cargo_home",
        ),
    ] {
        let msg = err::<KeyInputs>(&json);
        assert!(
            msg.starts_with(&format!("x: field `{place}`: ")),
            "{json}: {msg}"
        );
    }
    let msg = err::<PlanOptions>(r#"{"used_units":["a",1]}"#);
    assert!(msg.starts_with("x: field `used_units[1]`: "), "{msg}");
}

#[test]
fn malformed_text_says_where_and_names_no_field() {
    // serde_json places an error at or just before the offending byte.
    for (json, at) in [
        ("{\"schema\":1,", 11..=12),
        ("{\"a\" 1}", 4..=5),
        ("[1,]", 2..=3),
        ("{} x", 2..=3),
        ("{\n\"a\" 1}", 5..=6),
    ] {
        let msg = err::<serde_json::Value>(json);
        let rest = msg
            .strip_prefix("x: invalid JSON at byte ")
            .unwrap_or_else(|| panic!("{json:?}: {msg}"));
        let byte: usize = rest.split(':').next().unwrap().parse().unwrap();
        assert!(at.contains(&byte), "{json:?}: {msg}");
        assert!(!msg.contains("line"), "{msg}");
    }
}

#[test]
fn defaults_come_from_core_serde_attributes() {
    let json = r#"{"schema":1,"os":"o","arch":"a","rustc":{"release":"r","commit_hash":"c","host":"h"},"cargo_home":"/c","unknown":[1]}"#;
    let inputs: KeyInputs = read("x", json).unwrap();
    assert_eq!(inputs.profile, "dev");
    assert!(inputs.env.is_empty() && inputs.lockfile.is_none());
    let options: PlanOptions = read("x", "{}").unwrap();
    assert_eq!(options, PlanOptions::default());
}

#[test]
fn classified_paths_carry_unit_and_name_only_for_units() {
    let h = "0123456789abcdef";
    let entries: Vec<Entry> = read(
        "x",
        &format!(
            r#"[{{"path":"debug","kind":"dir"}},{{"path":"debug/deps","kind":"dir"}},{{"path":"debug/deps/libitoa-{h}.rlib","kind":"file","size":1}},
               {{"path":"debug/incremental/x","kind":"file","size":3}},{{"path":".cargo-stash/s","kind":"file"}}]"#
        ),
    )
    .unwrap();
    let profiles = Profiles::find(&entries);
    let classes: Vec<Class> = entries
        .iter()
        .map(|e| classify(&e.path, &profiles))
        .collect();
    let out: Vec<Classified> = entries
        .iter()
        .zip(&classes)
        .map(|(e, c)| Classified::new(&e.path, c))
        .collect();
    let json: serde_json::Value = serde_json::from_str(&write(&out)).unwrap();
    assert_eq!(json[2]["class"], "unit");
    assert_eq!(json[2]["name"], "itoa");
    assert_eq!(json[2]["unit"], format!("debug/{h}"));
    assert_eq!(
        json[3],
        serde_json::json!({"path": "debug/incremental/x", "class": "incremental"})
    );
    assert_eq!(json[4]["class"], "internal");
}
