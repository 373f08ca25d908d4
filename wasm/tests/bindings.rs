//! The bindings under Node (wasm-bindgen-test-runner): JSON in, JSON out, and errors
//! that reach JavaScript as `Error`s naming the field.

#![cfg(target_arch = "wasm32")]

use serde_json::{Value, json};
use stash_wasm::{
    classify, compute_key, explain, normalize_manifest, parse_rustc_version, plan, reduce_lockfile,
};
use wasm_bindgen::JsValue;
use wasm_bindgen_test::wasm_bindgen_test;

fn inputs() -> Value {
    json!({
        "schema": 1,
        "os": "linux",
        "arch": "x64",
        "rustc": {"release": "1.95.0", "commit_hash": "59807616e1fa2540724bfbac14d7976d7e4a3860", "host": "x86_64-unknown-linux-gnu"},
        "cargo_home": "/home/ci/.cargo",
        "lockfile": "version = 4\n\n[[package]]\nname = \"itoa\"\nversion = \"1.0.15\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\nchecksum = \"4a\"\n",
    })
}

/// The message of the JS `Error` a binding threw.
fn message<T: std::fmt::Debug>(r: Result<T, wasm_bindgen::JsError>) -> String {
    let err = JsValue::from(r.expect_err("should fail"));
    let err: js_sys::Error = err.into();
    String::from(err.message())
}

#[wasm_bindgen_test]
fn computes_a_key_with_a_ladder() {
    let out: Value =
        serde_json::from_str(&compute_key(&inputs().to_string(), None).unwrap()).unwrap();
    let key = out["target"]["key"].as_str().unwrap();
    assert!(
        key.starts_with("stash1-linux-x64-1.95.0_59807616-"),
        "{key}"
    );
    assert_eq!(out["target"]["ladder"][0], key);
    assert!(
        out["registry"]["key"]
            .as_str()
            .unwrap()
            .starts_with("stash1-registry-")
    );
    let lines: Value =
        serde_json::from_str(&explain(&inputs().to_string(), None).unwrap()).unwrap();
    assert_eq!(lines, out["explain"]);
}

#[wasm_bindgen_test]
fn a_lockfile_given_apart_is_the_same_input() {
    let whole = inputs();
    let lockfile = whole["lockfile"].as_str().unwrap().as_bytes().to_vec();
    let mut rest = whole.clone();
    rest["lockfile"] = Value::Null;
    let a = compute_key(&whole.to_string(), None).unwrap();
    assert_eq!(
        compute_key(&rest.to_string(), Some(lockfile.clone())).unwrap(),
        a
    );
    // Apart, it replaces the inputs' own.
    assert_eq!(compute_key(&whole.to_string(), Some(lockfile)).unwrap(), a);
    assert_ne!(compute_key(&rest.to_string(), None).unwrap(), a);
    assert!(message(compute_key(&rest.to_string(), Some(vec![0xff]))).contains("`lockfile`"));
}

#[wasm_bindgen_test]
fn errors_name_the_field() {
    let mut bad = inputs();
    bad["rustc"]["host"] = json!(7);
    assert!(message(compute_key(&bad.to_string(), None)).contains("`rustc.host`"));
    let mut empty = inputs();
    empty["os"] = json!("");
    assert!(message(compute_key(&empty.to_string(), None)).contains("`os`"));
    assert!(message(plan("[]", r#"{"keep_incremental": "yes"}"#)).contains("`keep_incremental`"));
    assert!(message(reduce_lockfile("[[package")).contains("Cargo.lock"));
    assert!(message(parse_rustc_version("nothing")).contains("rustc.release"));
}

#[wasm_bindgen_test]
fn normalises_lockfiles_and_manifests() {
    assert_eq!(
        reduce_lockfile(inputs()["lockfile"].as_str().unwrap()).unwrap(),
        "itoa 1.0.15 registry+https://github.com/rust-lang/crates.io-index 4a"
    );
    let a = normalize_manifest(
        "Cargo.toml",
        "[package]\nname = \"a\"\nversion = \"1.0.0\"\n",
    )
    .unwrap();
    let b = normalize_manifest(
        "Cargo.toml",
        "[package]\nversion = \"2.0.0\"\nname = \"a\"\n",
    )
    .unwrap();
    assert_eq!(a, b);
}

/// A lockfile is read by the full TOML reader: any valid TOML in it reads, floats too.
#[wasm_bindgen_test]
fn lockfiles_read_as_any_toml() {
    let lock = "version = 4\nx = [1.5, 1979-05-27T07:32:00Z]\n[[package]]\nname = \"a\"\n\
                source = \"s\"\nf = -0.25e1\n";
    assert_eq!(reduce_lockfile(lock).unwrap(), "a  s ");
}

/// Floats in wasm go through JavaScript's `Number` and `String`: the text must be what
/// Rust's `Display` gives natively (the canonical form), on many doubles.
#[wasm_bindgen_test]
fn manifest_floats_read_as_natively() {
    let reference = |x: f64| {
        if x % 1.0 == 0.0 {
            format!("{x}.0")
        } else {
            format!("{x}")
        }
    };
    let mut bits: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut xs = vec![
        0.1,
        0.5,
        1e21,
        1e-7,
        5e-324,
        1.7976931348623157e308,
        123.456,
    ];
    for _ in 0..5000 {
        bits ^= bits << 13;
        bits ^= bits >> 7;
        bits ^= bits << 17;
        xs.push(f64::from_bits(bits));
    }
    for x in xs.into_iter().filter(|x| x.is_finite() && *x != 0.0) {
        for literal in [format!("{x:e}"), format!("{x:.17e}"), format!("{x:.3e}")] {
            let want: f64 = literal.parse().unwrap();
            if want.is_infinite() {
                continue;
            }
            let got = normalize_manifest("Cargo.toml", &format!("f = {literal}\n"))
                .unwrap_or_else(|e| panic!("{literal}: {}", message::<String>(Err(e))));
            assert_eq!(got, format!("f = {}\n", reference(want)), "{literal}");
        }
    }
    assert!(normalize_manifest("Cargo.toml", "f = 1e400\n").is_err());
    assert_eq!(
        normalize_manifest("Cargo.toml", "f = [-0.0, -1e-400, inf, -nan, 1_0.5e1_0]\n").unwrap(),
        "f = [-0.0, -0.0, inf, nan, 105000000000.0]\n"
    );
}

#[wasm_bindgen_test]
fn classifies_and_plans_a_listing() {
    let h = "0123456789abcdef";
    let entries = json!([
        {"path": "debug", "kind": "dir"},
        {"path": "debug/deps", "kind": "dir"},
        {"path": format!("debug/deps/libitoa-{h}.rlib"), "kind": "file", "size": 10},
        {"path": "debug/incremental/x", "kind": "file", "size": 3},
    ])
    .to_string();
    let classes: Value = serde_json::from_str(&classify(&entries).unwrap()).unwrap();
    assert_eq!(
        classes[2],
        json!({"path": format!("debug/deps/libitoa-{h}.rlib"), "class": "unit", "unit": format!("debug/{h}"), "name": "itoa"})
    );
    let p: Value = serde_json::from_str(&plan(&entries, "{}").unwrap()).unwrap();
    assert_eq!(p["dropped"], json!(["debug/incremental/x"]));
    assert_eq!(p["groups"][0]["name"], format!("debug/{h}"));
}
