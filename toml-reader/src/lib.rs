//! A TOML 1.1 reader: text in, a tree of sorted tables out.
//!
//! cargo-stash reads manifests (normalised into cache keys) and Cargo.lock with it, in
//! the native CLI and in the wasm module alike. It reads what the `toml` crate reads into
//! the same values (stash-core's tests compare the two) and passes toml-lang/toml-test's
//! TOML 1.1 suite (`tests/toml_test.rs`); invalid documents are refused with the line at
//! fault. Floats keep their canonical text only, see [`float`]; date-times too.
//!
//! It is its own crate, not the `toml` crate, for the wasm module's size (the `toml`
//! parser was a third of it) and for speed on large lockfiles: strings without escapes
//! are copied in one piece, and tables are sorted `Vec`s.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod float;
mod lexer;
mod scalar;

use std::borrow::Cow;

use lexer::{Lexer, is_control};

/// How a table came to be, which decides what may still add to it (TOML's "defining a
/// table twice" rules).
#[derive(Clone, Copy, Debug, PartialEq)]
enum Origin {
    /// Named only as the parent in a header: a later header or dotted key may still
    /// define it.
    Implied,
    /// Defined by its own header (or the document root).
    Header,
    /// Defined by dotted keys: later dotted keys in the same place may add to it.
    Dotted,
    /// An inline table or a static array's element: closed.
    Inline,
}

/// A table: pairs in key order, keys unique. A sorted `Vec`, lighter in wasm than a
/// B-tree.
#[derive(Clone, Debug, PartialEq)]
pub struct Table<'a> {
    pairs: Vec<(Cow<'a, str>, Value<'a>)>,
    origin: Origin,
}

/// A TOML value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value<'a> {
    /// A string of any of the four forms, unescaped: borrowed from the text unless it
    /// had escapes (or was multi-line).
    String(Cow<'a, str>),
    /// An integer; TOML's are 64-bit.
    Integer(i64),
    /// The canonical text (see [`float`]): `1.0`, `-0.0`, `inf`, `nan`, never an
    /// exponent.
    Float(String),
    /// `true` or `false`.
    Boolean(bool),
    /// The canonical text: `T` between date and time, `Z` upper case, seconds only when
    /// written, fraction trimmed to at most nine digits without trailing zeros. Offset,
    /// local date-time, local date or local time, as written.
    Datetime(String),
    /// An array.
    Array {
        /// The elements, in order.
        items: Vec<Value<'a>>,
        /// Made by `[[header]]`s, which may add elements (an array of tables); a static
        /// array `[..]` is not.
        appendable: bool,
    },
    /// A table: a `[header]`, a dotted key's, an inline table or an array's element.
    Table(Table<'a>),
}

impl<'a> Table<'a> {
    fn new(origin: Origin) -> Self {
        Table {
            pairs: Vec::new(),
            origin,
        }
    }

    fn find(&self, key: &str) -> Result<usize, usize> {
        self.pairs.binary_search_by(|(k, _)| k.as_ref().cmp(key))
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&Value<'a>> {
        let i = self.find(key).ok()?;
        Some(&self.pairs[i].1)
    }

    /// The value of `key`, to change.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Value<'a>> {
        let i = self.find(key).ok()?;
        Some(&mut self.pairs[i].1)
    }

    /// Takes `key` out, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<Value<'a>> {
        let i = self.find(key).ok()?;
        Some(self.pairs.remove(i).1)
    }

    /// The values, in key order, to change.
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut Value<'a>> {
        self.pairs.iter_mut().map(|(_, v)| v)
    }

    /// The values, in key order.
    pub fn values(&self) -> impl Iterator<Item = &Value<'a>> {
        self.pairs.iter().map(|(_, v)| v)
    }

    /// The pairs, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value<'a>)> {
        self.pairs.iter().map(|(k, v)| (k.as_ref(), v))
    }

    /// Whether it has no pairs.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// The value of `key`, made by `make` when missing.
    fn entry(&mut self, key: &Cow<'a, str>, make: impl FnOnce() -> Value<'a>) -> &mut Value<'a> {
        let i = match self.find(key) {
            Ok(i) => i,
            Err(i) => {
                self.pairs.insert(i, (key.clone(), make()));
                i
            }
        };
        &mut self.pairs[i].1
    }
}

impl<'a> Value<'a> {
    /// The table, if it is one.
    pub fn as_table(&self) -> Option<&Table<'a>> {
        match self {
            Value::Table(t) => Some(t),
            _ => None,
        }
    }

    /// The table, if it is one, to change.
    pub fn as_table_mut(&mut self) -> Option<&mut Table<'a>> {
        match self {
            Value::Table(t) => Some(t),
            _ => None,
        }
    }

    /// The string, if it is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The elements, if it is an array.
    pub fn as_array(&self) -> Option<&[Value<'a>]> {
        match self {
            Value::Array { items, .. } => Some(items),
            _ => None,
        }
    }
}

/// Why a text is not a TOML document: `line N: what`.
#[derive(Clone, Debug, PartialEq)]
pub struct Error(String);

impl Error {
    /// The message, starting `line N: `.
    pub fn message(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

/// Deeper nesting of arrays, inline tables or keys is an error, as in `toml`; it also
/// bounds the parser's recursion.
const MAX_DEPTH: usize = 80;

/// A TOML document (a byte-order mark at the start is skipped), or why it is not one.
pub fn parse(text: &str) -> Result<Table<'_>, Error> {
    parse_document(text).map_err(Error)
}

fn parse_document(text: &str) -> Result<Table<'_>, String> {
    let mut p = Parser {
        lex: Lexer::new(text),
        depth: 0,
        keys: Vec::new(),
    };
    let mut root = Table::new(Origin::Header);
    // The keys of the last header, and whether it was `[[...]]`.
    let mut current: Vec<Cow<'_, str>> = Vec::new();
    loop {
        p.skip_ws();
        match p.peek() {
            None => return Ok(root),
            Some(b'#') => p.comment()?,
            Some(b'\n' | b'\r') => {}
            Some(b'[') => current = p.header(&mut root)?,
            Some(_) => {
                let table = open_current(&mut root, &current);
                p.key_value(table, false)?;
            }
        }
        p.end_of_line()?;
    }
}

/// The table the last header opened (the last element of an array of tables).
fn open_current<'t, 'a>(root: &'t mut Table<'a>, path: &[Cow<'a, str>]) -> &'t mut Table<'a> {
    let mut t = root;
    for k in path {
        t = match t.get_mut(k) {
            Some(Value::Table(next)) => next,
            Some(Value::Array { items, .. }) => match items.last_mut() {
                Some(Value::Table(next)) => next,
                _ => unreachable!("a header's path holds only tables"),
            },
            _ => unreachable!("a header's path holds only tables"),
        };
    }
    t
}

pub(crate) struct Parser<'a> {
    lex: Lexer<'a>,
    depth: usize,
    /// The parts of the key being read, kept to reuse its allocation.
    keys: Vec<Cow<'a, str>>,
}

impl<'a> std::ops::Deref for Parser<'a> {
    type Target = Lexer<'a>;
    fn deref(&self) -> &Lexer<'a> {
        &self.lex
    }
}

impl std::ops::DerefMut for Parser<'_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.lex
    }
}

impl<'a> Parser<'a> {
    fn error(&self, what: &str) -> String {
        self.error_at(self.pos, what)
    }

    /// A `[table]` or `[[array]]` header, applied to `root`; its keys.
    fn header(&mut self, root: &mut Table<'a>) -> Result<Vec<Cow<'a, str>>, String> {
        let start = self.pos;
        self.pos += 1;
        let array = self.peek() == Some(b'[');
        if array {
            self.pos += 1;
        }
        self.skip_ws();
        let keys = self.key_path()?;
        self.skip_ws();
        let close: &[u8] = if array { b"]]" } else { b"]" };
        if !self.starts(close) {
            let (open, close) = if array { ("[[", "]]") } else { ("[", "]") };
            let mut what = String::from("unclosed table header `");
            what.push_str(open);
            what.push_str(&join(&keys, "."));
            what.push_str("`, expected `");
            what.push_str(close);
            what.push('`');
            return Err(self.error(&what));
        }
        self.pos += close.len();
        define_header(root, &keys, array).map_err(|what| self.error_at(start, &what))?;
        Ok(keys)
    }

    /// `key = value`, added to `table`. In an inline table, `toml` also allows newlines
    /// and comments around the `=`.
    fn key_value(&mut self, table: &mut Table<'a>, inline: bool) -> Result<(), String> {
        let start = self.pos;
        let mut keys = std::mem::take(&mut self.keys);
        keys.clear();
        self.key_path_into(&mut keys)?;
        self.skip_around_equals(inline)?;
        self.expect(b'=', "expected `=` after a key")?;
        self.skip_around_equals(inline)?;
        let value = self.value()?;
        insert_dotted(table, &keys, value).map_err(|what| self.error_at(start, &what))?;
        self.keys = keys;
        Ok(())
    }

    fn skip_around_equals(&mut self, inline: bool) -> Result<(), String> {
        if inline {
            Ok(self.skip_trivia()?)
        } else {
            self.skip_ws();
            Ok(())
        }
    }

    /// A possibly dotted key, as its parts.
    fn key_path(&mut self) -> Result<Vec<Cow<'a, str>>, String> {
        let mut keys = Vec::new();
        self.key_path_into(&mut keys)?;
        Ok(keys)
    }

    /// A possibly dotted key, its parts appended to `keys`.
    fn key_path_into(&mut self, keys: &mut Vec<Cow<'a, str>>) -> Result<(), String> {
        keys.push(self.simple_key()?);
        loop {
            let save = self.pos;
            self.skip_ws();
            if self.peek() != Some(b'.') {
                self.pos = save;
                return Ok(());
            }
            self.pos += 1;
            self.skip_ws();
            keys.push(self.simple_key()?);
            if keys.len() > MAX_DEPTH {
                return Err(self.error("key has too many parts"));
            }
        }
    }

    fn simple_key(&mut self) -> Result<Cow<'a, str>, String> {
        match self.peek() {
            Some(q @ (b'"' | b'\'')) => {
                if self.starts(&[q; 3]) {
                    return Err(self.error("a key cannot be a multi-line string"));
                }
                if q == b'"' {
                    self.basic_string()
                } else {
                    self.literal_string()
                }
            }
            _ => {
                let start = self.pos;
                while let Some(b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_') = self.peek()
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

    fn value(&mut self) -> Result<Value<'a>, String> {
        Ok(match self.peek() {
            Some(b'"') if self.starts(b"\"\"\"") => {
                Value::String(Cow::Owned(self.ml_string(b'"')?))
            }
            Some(b'\'') if self.starts(b"'''") => Value::String(Cow::Owned(self.ml_string(b'\'')?)),
            Some(b'"') => Value::String(self.basic_string()?),
            Some(b'\'') => Value::String(self.literal_string()?),
            Some(b'[') => self.nested(Self::array)?,
            Some(b'{') => self.nested(Self::inline_table)?,
            _ => self.scalar()?,
        })
    }

    /// Runs `f` one level deeper, within [`MAX_DEPTH`].
    fn nested(
        &mut self,
        f: fn(&mut Self) -> Result<Value<'a>, String>,
    ) -> Result<Value<'a>, String> {
        if self.depth >= MAX_DEPTH {
            return Err(self.error("values are nested too deeply"));
        }
        self.depth += 1;
        let v = f(self);
        self.depth -= 1;
        v
    }

    fn array(&mut self) -> Result<Value<'a>, String> {
        self.pos += 1;
        let mut items = Vec::new();
        loop {
            self.skip_trivia()?;
            if self.peek() == Some(b']') {
                break;
            }
            items.push(self.value()?);
            self.skip_trivia()?;
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => break,
                _ => return Err(self.error("expected `,` or `]` in an array")),
            }
        }
        self.pos += 1;
        Ok(Value::Array {
            items,
            appendable: false,
        })
    }

    /// `{ k = v, ... }`; TOML 1.1 allows newlines, comments and a trailing comma.
    fn inline_table(&mut self) -> Result<Value<'a>, String> {
        self.pos += 1;
        let mut table = Table::new(Origin::Inline);
        loop {
            self.skip_trivia()?;
            if self.peek() == Some(b'}') {
                break;
            }
            self.key_value(&mut table, true)?;
            self.skip_trivia()?;
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => break,
                _ => return Err(self.error("expected `,` or `}` in an inline table")),
            }
        }
        self.pos += 1;
        close(&mut table);
        Ok(Value::Table(table))
    }
}

/// Marks every table under `t` (an inline table, whole) as closed to later additions.
fn close(t: &mut Table<'_>) {
    t.origin = Origin::Inline;
    for v in t.values_mut() {
        close_value(v);
    }
}

fn close_value(v: &mut Value<'_>) {
    match v {
        Value::Table(t) => close(t),
        Value::Array { items, .. } => items.iter_mut().for_each(close_value),
        _ => {}
    }
}

/// Applies `[keys]` (or `[[keys]]`) to `root`.
fn define_header<'a>(
    root: &mut Table<'a>,
    keys: &[Cow<'a, str>],
    array: bool,
) -> Result<(), String> {
    let (last, parents) = keys.split_last().expect("a key path has a part");
    let mut t = root;
    for k in parents {
        t = header_parent(t, k)?;
    }
    let v = t.entry(last, || {
        if array {
            Value::Array {
                items: Vec::new(),
                appendable: true,
            }
        } else {
            Value::Table(Table::new(Origin::Implied))
        }
    });
    match v {
        Value::Array {
            items,
            appendable: true,
        } if array => {
            items.push(Value::Table(Table::new(Origin::Header)));
            Ok(())
        }
        Value::Table(t) if !array && t.origin == Origin::Implied => {
            t.origin = Origin::Header;
            Ok(())
        }
        _ => Err(redefined(keys)),
    }
}

/// The table named `key` in `t` on a header's path, made (implied) when missing.
fn header_parent<'t, 'a>(
    t: &'t mut Table<'a>,
    key: &Cow<'a, str>,
) -> Result<&'t mut Table<'a>, String> {
    let v = t.entry(key, || Value::Table(Table::new(Origin::Implied)));
    match v {
        Value::Table(next) if next.origin != Origin::Inline => Ok(next),
        Value::Array {
            items,
            appendable: true,
        } => match items.last_mut() {
            Some(Value::Table(next)) => Ok(next),
            _ => Err(not_a_table(key)),
        },
        _ => Err(not_a_table(key)),
    }
}

/// Sets `keys` (dotted) to `value` in `t`.
fn insert_dotted<'a>(
    t: &mut Table<'a>,
    keys: &[Cow<'a, str>],
    value: Value<'a>,
) -> Result<(), String> {
    let (last, parents) = keys.split_last().expect("a key path has a part");
    let mut t = t;
    // Whether `t` is an array element reached through the path, not the start.
    let mut in_element = false;
    for k in parents {
        (t, in_element) = dotted_step(t, k)?;
    }
    match t.find(last) {
        Err(i) if !in_element => {
            t.pairs.insert(i, (last.clone(), value));
            Ok(())
        }
        _ => Err(duplicate(keys)),
    }
}

/// The table a dotted key's part `key` leads to from `t`, and whether it is the last
/// element of an array of tables.
fn dotted_step<'t, 'a>(
    t: &'t mut Table<'a>,
    key: &Cow<'a, str>,
) -> Result<(&'t mut Table<'a>, bool), String> {
    match t.entry(key, || Value::Table(Table::new(Origin::Dotted))) {
        // Dotted keys define a table only a header had implied, as `toml` does.
        Value::Table(next) if matches!(next.origin, Origin::Dotted | Origin::Implied) => {
            next.origin = Origin::Dotted;
            Ok((next, false))
        }
        // And they reach through the last table of a `[[header]]` array, though they
        // cannot set a key right in it: `toml`'s rules again.
        Value::Array {
            items,
            appendable: true,
        } => match items.last_mut() {
            Some(Value::Table(next)) => Ok((next, true)),
            _ => Err(not_a_table(key)),
        },
        _ => Err(not_a_table(key)),
    }
}

fn quoted(what: &str, key: &str, rest: &str) -> String {
    let mut msg = String::from(what);
    msg.push_str(" `");
    msg.push_str(key);
    msg.push('`');
    msg.push_str(rest);
    msg
}

fn redefined(keys: &[Cow<'_, str>]) -> String {
    quoted("table", &join(keys, "."), " is defined twice")
}

fn duplicate(keys: &[Cow<'_, str>]) -> String {
    quoted("duplicate key", &join(keys, "."), "")
}

/// `parts.join(sep)`, written out: std's `join` is a large generic routine in wasm.
fn join(parts: &[Cow<'_, str>], sep: &str) -> String {
    let mut out = String::new();
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            out.push_str(sep);
        }
        out.push_str(part);
    }
    out
}

fn not_a_table(key: &str) -> String {
    quoted("key", key, " is already defined and cannot be extended")
}

impl<'a> Table<'a> {
    /// A table of `pairs` (the last value of a key wins), e.g. a reference tree in tests.
    pub fn from_pairs<K: Into<Cow<'a, str>>>(
        pairs: impl IntoIterator<Item = (K, Value<'a>)>,
    ) -> Self {
        let mut t = Table::new(Origin::Header);
        for (k, v) in pairs {
            *t.entry(&k.into(), || Value::Boolean(false)) = v;
        }
        t
    }
}
