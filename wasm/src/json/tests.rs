//! The reader and writer against serde_json on the same texts.

use super::*;

/// Our tree turned into serde_json's, to compare the two readers.
fn to_serde(v: &Value) -> serde_json::Value {
    use serde_json::Value as S;
    match v {
        Value::Null => S::Null,
        Value::Bool(b) => S::Bool(*b),
        Value::Number(n) => serde_json::from_str(n).unwrap(),
        Value::String(s) => S::String(s.to_string()),
        Value::Array(items) => S::Array(items.iter().map(to_serde).collect()),
        Value::Object(pairs) => S::Object(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), to_serde(v)))
                .collect(),
        ),
    }
}

#[test]
fn reads_valid_json_as_serde_json() {
    for text in [
        "null",
        " true ",
        "false",
        "0",
        "-0",
        "12.5e-3",
        "1E+2",
        "18446744073709551615",
        r#""""#,
        r#""a\"b\\c\/d\b\f\n\r\t\u0000\u00e9\u20ac\ud83d\ude00 é""#,
        "[]",
        "[ 1 , [2, {}], \"x\" ]",
        "{}",
        "{\"a\" : {\"b\": [null]}, \"c\": 1}\n\t\r",
    ] {
        let ours = parse(text).unwrap_or_else(|e| panic!("{text}: {e:?}"));
        let want: serde_json::Value = serde_json::from_str(text).unwrap();
        assert_eq!(to_serde(&ours), want, "{text}");
    }
}

#[test]
fn rejects_invalid_json_as_serde_json() {
    for text in [
        "",
        " ",
        "nul",
        "tru",
        "[",
        "[1",
        "[1,]",
        "{",
        "{\"a\"}",
        "{\"a\":}",
        "{a:1}",
        "{\"a\":1,}",
        "01",
        "-",
        "1.",
        ".5",
        "1e",
        "1e+",
        "+1",
        "0x1",
        "1a",
        "\"abc",
        "\"\\q\"",
        "\"\\u12\"",
        "\"\\ud800\"",
        "\"\\udc00\"",
        "\"\\ud800\\u0041\"",
        "\"a\tb\"",
        "\"a\nb\"",
        "1 2",
        "[] []",
        "NaN",
        "Infinity",
    ] {
        assert!(parse(text).is_err(), "{text:?} parsed");
        assert!(
            serde_json::from_str::<serde_json::Value>(text).is_err(),
            "{text:?}"
        );
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(parse(&deep).unwrap_err().msg.contains("nested too deeply"));
    let ok = format!("{}{}", "[".repeat(128), "]".repeat(128));
    assert!(parse(&ok).is_ok());
}

#[test]
fn unsigned_integers_only() {
    let n = |t: &str| parse(t).unwrap().unsigned(u64::MAX);
    assert_eq!(n("0"), Ok(0));
    assert_eq!(n("18446744073709551615"), Ok(u64::MAX));
    for bad in ["-1", "1.0", "1e3", "18446744073709551616", "\"1\"", "null"] {
        assert!(n(bad).is_err(), "{bad}");
    }
    assert!(
        parse("4294967296")
            .unwrap()
            .unsigned(u32::MAX.into())
            .is_err()
    );
}

#[test]
fn error_paths_read_outside_in() {
    let e = Error::new("m")
        .in_field("c")
        .in_index(0)
        .in_field("b")
        .in_field("a");
    assert_eq!(e.path(), "a.b[0].c");
    assert_eq!(e.describe("w"), "w: field `a.b[0].c`: m");
    assert_eq!(Error::new("m").in_index(3).path(), "[3]");
    assert_eq!(Error::new("m").describe("w"), "w: m");
}

#[test]
fn writes_strings_as_serde_json() {
    let mut all = String::new();
    for c in (0..0x80u8)
        .map(char::from)
        .chain(['é', '€', '😀', '\u{2028}'])
    {
        all.push(c);
    }
    let mut w = Writer::default();
    w.open('[').str(&all).str("").uint(u64::MAX).opt_str(None);
    w.open('{').key("k\"").str("v").key("n").uint(0).close('}');
    w.close(']');
    let want = serde_json::json!([all, "", u64::MAX, null, {"k\"": "v", "n": 0}]);
    assert_eq!(w.out, serde_json::to_string(&want).unwrap());
}
