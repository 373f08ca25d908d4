//! The conformance suite: toml-lang/toml-test's TOML 1.1 cases (vendored in
//! `tests/toml-test/`, see its README). Every valid document must read into exactly the
//! values of its tagged JSON; every invalid one must be refused.

use std::path::{Path, PathBuf};

use serde_json::Value as Json;
use stash_toml::{Table, Value};

fn suite() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/toml-test")
}

/// The cases toml-test lists for TOML 1.1.0, as paths under `tests/toml-test/`.
fn cases() -> Vec<String> {
    let list = std::fs::read_to_string(suite().join("files-toml-1.1.0")).expect("the list");
    list.lines()
        .filter(|l| l.ends_with(".toml"))
        .map(str::to_string)
        .collect()
}

#[test]
fn reads_every_valid_case_into_its_values_and_refuses_every_invalid_one() {
    let (mut valid, mut invalid, mut not_utf8) = (0, 0, 0);
    let mut failures = Vec::new();
    for case in cases() {
        let bytes = std::fs::read(suite().join(&case)).expect("a listed case");
        // The reader takes text, as the CLI and the wasm module give it: a file that is
        // not UTF-8 is refused before it.
        let text = std::str::from_utf8(&bytes);
        if case.starts_with("valid/") {
            valid += 1;
            let json = suite().join(case.replace(".toml", ".json"));
            let expected: Json = serde_json::from_slice(&std::fs::read(json).expect("json"))
                .expect("toml-test's JSON");
            let outcome = match text {
                Err(_) => Err("not UTF-8".to_string()),
                Ok(text) => stash_toml::parse(text).map_err(|e| e.to_string()),
            };
            match outcome {
                Err(e) => failures.push(format!("{case}: refused: {e}")),
                Ok(doc) => {
                    if let Err(e) = same_table(&doc, &expected, "") {
                        failures.push(format!("{case}: {e}"));
                    }
                }
            }
        } else {
            invalid += 1;
            match text {
                Err(_) => not_utf8 += 1,
                Ok(text) => {
                    if let Ok(doc) = stash_toml::parse(text) {
                        failures.push(format!("{case}: accepted as {doc:?}"));
                    }
                }
            }
        }
    }
    eprintln!(
        "toml-test TOML 1.1: {} of {} cases pass ({valid} valid, {invalid} invalid, of \
         which {not_utf8} refused as not UTF-8)",
        valid + invalid - failures.len(),
        valid + invalid,
    );
    assert_eq!((valid, invalid), (220, 492), "the vendored list changed");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn same_table(t: &Table<'_>, json: &Json, at: &str) -> Result<(), String> {
    let Json::Object(map) = json else {
        return Err(format!("{at}: a table where toml-test has {json}"));
    };
    let ours: Vec<&str> = t.iter().map(|(k, _)| k).collect();
    let theirs: Vec<&str> = {
        let mut keys: Vec<&str> = map.keys().map(String::as_str).collect();
        keys.sort();
        keys
    };
    if ours != theirs {
        return Err(format!("{at}: keys {ours:?}, toml-test has {theirs:?}"));
    }
    for (k, v) in t.iter() {
        same_value(v, &map[k], &format!("{at}.{k}"))?;
    }
    Ok(())
}

fn same_value(v: &Value<'_>, json: &Json, at: &str) -> Result<(), String> {
    let mismatch = || Err(format!("{at}: {v:?}, toml-test has {json}"));
    match v {
        Value::Table(t) => return same_table(t, json, at),
        Value::Array { items, .. } => {
            let Json::Array(theirs) = json else {
                return mismatch();
            };
            if items.len() != theirs.len() {
                return mismatch();
            }
            for (i, (a, b)) in items.iter().zip(theirs).enumerate() {
                same_value(a, b, &format!("{at}[{i}]"))?;
            }
            return Ok(());
        }
        _ => {}
    }
    let (Some(Json::String(kind)), Some(Json::String(text))) =
        (json.get("type"), json.get("value"))
    else {
        return mismatch();
    };
    let same = match (v, kind.as_str()) {
        (Value::String(s), "string") => s == text,
        (Value::Integer(i), "integer") => text.parse::<i64>() == Ok(*i),
        (Value::Boolean(b), "bool") => text == if *b { "true" } else { "false" },
        (Value::Float(f), "float") => same_float(f, text),
        (Value::Datetime(d), _) => datetime(d) == Some((kind.as_str(), datetime_text(text))),
        _ => false,
    };
    if same { Ok(()) } else { mismatch() }
}

/// The same `f64` (any NaN matches any NaN; the sign of zero counts).
fn same_float(ours: &str, theirs: &str) -> bool {
    let read = |s: &str| -> Option<f64> {
        match s.trim_start_matches('+') {
            "inf" => Some(f64::INFINITY),
            "-inf" => Some(f64::NEG_INFINITY),
            "nan" | "-nan" => Some(f64::NAN),
            s => s.parse().ok(),
        }
    };
    match (read(ours), read(theirs)) {
        (Some(a), Some(b)) if a.is_nan() => b.is_nan(),
        (Some(a), Some(b)) => a == b && a.is_sign_negative() == b.is_sign_negative(),
        _ => false,
    }
}

/// Our date-time's toml-test type and its text in one normal form.
fn datetime(ours: &str) -> Option<(&'static str, String)> {
    let norm = datetime_text(ours);
    let dated = norm.len() >= 10 && norm.as_bytes()[4] == b'-';
    let timed = norm.contains(':');
    let offset = timed && (norm.ends_with('Z') || norm[norm.len() - 6..].starts_with(['+', '-']));
    Some(match (dated, timed, offset) {
        (true, true, true) => ("datetime", norm),
        (true, true, false) => ("datetime-local", norm),
        (true, false, _) => ("date-local", norm),
        (false, true, _) => ("time-local", norm),
        _ => return None,
    })
}

/// RFC 3339 spelled one way: `T` and `Z` upper case, seconds always, a fraction of at most
/// nine digits without trailing zeros, a zero offset as `Z`.
fn datetime_text(s: &str) -> String {
    let s = s.to_ascii_uppercase();
    let (date, rest) = if s.len() >= 10 && s.as_bytes()[4] == b'-' {
        (&s[..10], s.get(11..).unwrap_or(""))
    } else {
        ("", s.as_str())
    };
    if rest.is_empty() {
        return date.to_string();
    }
    let split = rest.find(['Z', '+', '-']).unwrap_or(rest.len());
    let (time, offset) = rest.split_at(split);
    let (clock, fraction) = time.split_once('.').unwrap_or((time, ""));
    let mut out = String::from(date);
    if !date.is_empty() {
        out.push('T');
    }
    out.push_str(clock);
    if clock.len() == 5 {
        out.push_str(":00");
    }
    let fraction = fraction[..fraction.len().min(9)].trim_end_matches('0');
    if !fraction.is_empty() {
        out.push('.');
        out.push_str(fraction);
    }
    out.push_str(match offset {
        "+00:00" | "-00:00" => "Z",
        o => o,
    });
    out
}
