//! The one canonical text of a manifest's tree.
//!
//! The text is the one `toml::to_string` gave for a `toml::Table` before, so that keys
//! did not change when the serializer (and then the parser, see [`stash_toml`])
//! went: sorted keys, each table's own pairs under its header, then its sub-tables,
//! blank lines between sections, and `toml_writer`'s default string and key quoting.
//! The unit tests compare the two on tricky documents.

pub(super) use stash_toml::{Table, Value};

/// A document, or why it is not one (`line N: what`).
pub(super) fn parse(text: &str) -> Result<Table<'_>, String> {
    stash_toml::parse(text).map_err(|e| e.to_string())
}

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
