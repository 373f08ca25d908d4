//! A small JSON reader and writer for the bindings' boundary, in place of serde_json.
//!
//! serde_json and the serde derives were a quarter of the wasm module, and serde's error
//! texts pulled in the float printer too. The boundary only needs: text to a tree, typed
//! fields read from that tree with the path of a bad one, and strings, integers, arrays
//! and objects written back. Numbers stay text until a field asks for an integer, so no
//! float code is linked.

use std::borrow::Cow;

/// A parsed JSON value borrowing from its text; strings with escapes are owned.
#[derive(Debug, PartialEq)]
pub enum Value<'a> {
    Null,
    Bool(bool),
    /// The number's text, checked against JSON's grammar.
    Number(&'a str),
    String(Cow<'a, str>),
    Array(Vec<Value<'a>>),
    /// Pairs in text order; duplicates are kept and rejected where a struct reads them.
    Object(Vec<(Cow<'a, str>, Value<'a>)>),
}

/// Why a value did not read, and where: `path` is built from the inside out.
#[derive(Debug, PartialEq)]
pub struct Error {
    /// Segments, innermost first: a field name, or an index as `[n]`.
    rev_path: Vec<String>,
    pub msg: String,
}

impl Error {
    pub fn new(msg: impl Into<String>) -> Self {
        Error {
            rev_path: Vec::new(),
            msg: msg.into(),
        }
    }

    /// The error of a field's value, seen from the object holding it.
    pub fn in_field(mut self, name: &str) -> Self {
        self.rev_path.push(name.to_string());
        self
    }

    /// The error of an array element, seen from the array.
    pub fn in_index(mut self, i: usize) -> Self {
        self.rev_path.push(format!("[{i}]"));
        self
    }

    /// `a.b[0].c`, the form of serde_path_to_error; empty at the top level.
    pub fn path(&self) -> String {
        let mut out = String::new();
        for seg in self.rev_path.iter().rev() {
            if !out.is_empty() && !seg.starts_with('[') {
                out.push('.');
            }
            out.push_str(seg);
        }
        out
    }

    /// `{what}: field `{path}`: {msg}`, or `{what}: {msg}` at the top level.
    pub fn describe(&self, what: &str) -> String {
        let path = self.path();
        if path.is_empty() {
            format!("{what}: {}", self.msg)
        } else {
            format!("{what}: field `{path}`: {}", self.msg)
        }
    }
}

/// Deeper nesting is refused rather than risking the wasm stack (serde_json's limit).
const MAX_DEPTH: usize = 128;

/// Parses a whole JSON text. Syntax errors carry no path: the text, not a field, is bad.
pub fn parse(text: &str) -> Result<Value<'_>, Error> {
    let mut p = Parser { text, pos: 0 };
    let v = p.value(0)?;
    p.skip_ws();
    if p.pos < text.len() {
        return Err(p.error("trailing characters after the value"));
    }
    Ok(v)
}

struct Parser<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn error(&self, what: &str) -> Error {
        Error::new(format!("invalid JSON at byte {}: {what}", self.pos))
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    /// Consumes `c` (after whitespace) if it comes next.
    fn eat(&mut self, c: u8) -> bool {
        self.skip_ws();
        let found = self.peek() == Some(c);
        if found {
            self.pos += 1;
        }
        found
    }

    fn expect(&mut self, c: u8, what: &str) -> Result<(), Error> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(self.error(what))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value<'a>, Error> {
        self.skip_ws();
        match self.peek() {
            Some(b'{' | b'[') if depth >= MAX_DEPTH => Err(self.error("nested too deeply")),
            Some(b'{') => self.object(depth + 1),
            Some(b'[') => self.array(depth + 1),
            Some(b'"') => Ok(Value::String(self.string()?)),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => self.literal(),
        }
    }

    fn literal(&mut self) -> Result<Value<'a>, Error> {
        let rest = &self.text[self.pos..];
        for (word, v) in [
            ("null", Value::Null),
            ("true", Value::Bool(true)),
            ("false", Value::Bool(false)),
        ] {
            if rest.starts_with(word) {
                self.pos += word.len();
                return Ok(v);
            }
        }
        Err(self.error("expected a value"))
    }

    fn object(&mut self, depth: usize) -> Result<Value<'a>, Error> {
        self.pos += 1;
        let mut pairs = Vec::new();
        if self.eat(b'}') {
            return Ok(Value::Object(pairs));
        }
        loop {
            self.skip_ws();
            if self.peek() != Some(b'"') {
                return Err(self.error("expected a string key"));
            }
            let key = self.string()?;
            self.expect(b':', "expected `:` after a key")?;
            pairs.push((key, self.value(depth)?));
            if self.eat(b'}') {
                return Ok(Value::Object(pairs));
            }
            self.expect(b',', "expected `,` or `}`")?;
        }
    }

    fn array(&mut self, depth: usize) -> Result<Value<'a>, Error> {
        self.pos += 1;
        let mut items = Vec::new();
        if self.eat(b']') {
            return Ok(Value::Array(items));
        }
        loop {
            items.push(self.value(depth)?);
            if self.eat(b']') {
                return Ok(Value::Array(items));
            }
            self.expect(b',', "expected `,` or `]`")?;
        }
    }

    /// `-?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?`, kept as text.
    fn number(&mut self) -> Result<Value<'a>, Error> {
        let start = self.pos;
        let b = self.text.as_bytes();
        let digits = |p: &mut Self| {
            let from = p.pos;
            while p.peek().is_some_and(|c| c.is_ascii_digit()) {
                p.pos += 1;
            }
            p.pos > from
        };
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        let leading_zero = self.peek() == Some(b'0');
        let int_start = self.pos;
        let mut ok = digits(self) && !(leading_zero && self.pos - int_start > 1);
        if ok && self.peek() == Some(b'.') {
            self.pos += 1;
            ok = digits(self);
        }
        if ok && matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            ok = digits(self);
        }
        if !ok || b.get(self.pos).is_some_and(|c| c.is_ascii_alphanumeric()) {
            return Err(self.error("invalid number"));
        }
        Ok(Value::Number(&self.text[start..self.pos]))
    }

    /// A string at `"`: borrowed when it has no escapes.
    fn string(&mut self) -> Result<Cow<'a, str>, Error> {
        self.pos += 1;
        let start = self.pos;
        let b = self.text.as_bytes();
        loop {
            match b.get(self.pos) {
                None => return Err(self.error("unterminated string")),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(Cow::Borrowed(&self.text[start..self.pos - 1]));
                }
                Some(b'\\') => break,
                Some(&c) if c < 0x20 => return Err(self.error("control character in a string")),
                Some(_) => self.pos += 1,
            }
        }
        let mut out = String::from(&self.text[start..self.pos]);
        self.escaped_rest(&mut out)?;
        Ok(Cow::Owned(out))
    }

    /// The rest of a string from its first `\`, unescaped into `out`.
    fn escaped_rest(&mut self, out: &mut String) -> Result<(), Error> {
        loop {
            let run = self.pos;
            while let Some(c) = self.peek() {
                if c == b'"' || c == b'\\' || c < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            out.push_str(&self.text[run..self.pos]);
            match self.peek() {
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(());
                }
                Some(b'\\') => {
                    self.pos += 1;
                    let c = self.escape()?;
                    out.push(c);
                }
                Some(_) => return Err(self.error("control character in a string")),
                None => return Err(self.error("unterminated string")),
            }
        }
    }

    /// The character of an escape, after its `\`.
    fn escape(&mut self) -> Result<char, Error> {
        let c = self
            .peek()
            .ok_or_else(|| self.error("unterminated string"))?;
        self.pos += 1;
        Ok(match c {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => return self.unicode_escape(),
            _ => return Err(self.error("invalid escape")),
        })
    }

    /// `\uXXXX`, a surrogate pair taking two of them.
    fn unicode_escape(&mut self) -> Result<char, Error> {
        let hi = self.hex4()?;
        if !(0xd800..0xdc00).contains(&hi) {
            return char::from_u32(hi).ok_or_else(|| self.error("lone surrogate in a string"));
        }
        if !self.text[self.pos..].starts_with("\\u") {
            return Err(self.error("lone surrogate in a string"));
        }
        self.pos += 2;
        let lo = self.hex4()?;
        if !(0xdc00..0xe000).contains(&lo) {
            return Err(self.error("lone surrogate in a string"));
        }
        let c = 0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00);
        char::from_u32(c).ok_or_else(|| self.error("invalid escape"))
    }

    fn hex4(&mut self) -> Result<u32, Error> {
        let mut n = 0;
        for _ in 0..4 {
            let d = self
                .peek()
                .and_then(|c| (c as char).to_digit(16))
                .ok_or_else(|| self.error("invalid \\u escape"))?;
            n = n * 16 + d;
            self.pos += 1;
        }
        Ok(n)
    }
}

impl<'a> Value<'a> {
    /// serde's wording of what a value is, for "invalid type" messages.
    fn kind(&self) -> String {
        match self {
            Value::Null => "null".into(),
            Value::Bool(b) => format!("boolean `{b}`"),
            Value::Number(n) => format!("number `{n}`"),
            Value::String(s) => format!("string \"{s}\""),
            Value::Array(_) => "sequence".into(),
            Value::Object(_) => "map".into(),
        }
    }

    pub fn invalid(&self, expected: &str) -> Error {
        Error::new(format!(
            "invalid type: {}, expected {expected}",
            self.kind()
        ))
    }

    pub fn object(&self) -> Result<&[(Cow<'a, str>, Value<'a>)], Error> {
        match self {
            Value::Object(pairs) => Ok(pairs),
            other => Err(other.invalid("an object")),
        }
    }

    pub fn array(&self) -> Result<&[Value<'a>], Error> {
        match self {
            Value::Array(items) => Ok(items),
            other => Err(other.invalid("an array")),
        }
    }

    pub fn string(&self) -> Result<String, Error> {
        match self {
            Value::String(s) => Ok(s.to_string()),
            other => Err(other.invalid("a string")),
        }
    }

    pub fn bool(&self) -> Result<bool, Error> {
        match self {
            Value::Bool(b) => Ok(*b),
            other => Err(other.invalid("a boolean")),
        }
    }

    /// A non-negative integer up to `max`, written without fraction or exponent.
    pub fn unsigned(&self, max: u64) -> Result<u64, Error> {
        let Value::Number(text) = self else {
            return Err(self.invalid("an unsigned integer"));
        };
        let mut n: u64 = 0;
        for c in text.bytes() {
            let d = match c {
                b'0'..=b'9' => u64::from(c - b'0'),
                _ => {
                    return Err(Error::new(format!(
                        "invalid value: `{text}`, expected an unsigned integer"
                    )));
                }
            };
            n = match n.checked_mul(10).and_then(|n| n.checked_add(d)) {
                Some(n) if n <= max => n,
                _ => {
                    return Err(Error::new(format!(
                        "invalid value: `{text}`, expected at most {max}"
                    )));
                }
            };
        }
        Ok(n)
    }

    /// `None` for `null`, else `read` of the value.
    pub fn nullable<T>(
        &self,
        read: impl FnOnce(&Self) -> Result<T, Error>,
    ) -> Result<Option<T>, Error> {
        match self {
            Value::Null => Ok(None),
            v => read(v).map(Some),
        }
    }

    /// Each element read by `read`; an error names its index.
    pub fn items<T>(
        &self,
        mut read: impl FnMut(&Self) -> Result<T, Error>,
    ) -> Result<Vec<T>, Error> {
        let items = self.array()?;
        let mut out = Vec::with_capacity(items.len());
        for (i, v) in items.iter().enumerate() {
            out.push(read(v).map_err(|e| e.in_index(i))?);
        }
        Ok(out)
    }

    pub fn strings(&self) -> Result<Vec<String>, Error> {
        self.items(Value::string)
    }

    /// Every `(key, value)` of an object with string values, in text order.
    pub fn string_pairs(&self) -> Result<Vec<(String, String)>, Error> {
        let pairs = self.object()?;
        let mut out = Vec::with_capacity(pairs.len());
        for (k, v) in pairs {
            out.push((k.to_string(), v.string().map_err(|e| e.in_field(k))?));
        }
        Ok(out)
    }
}

/// The fields of a struct-like object, read by name.
pub struct Fields<'v, 'a> {
    pairs: &'v [(Cow<'a, str>, Value<'a>)],
}

impl<'v, 'a> Fields<'v, 'a> {
    pub fn of(v: &'v Value<'a>) -> Result<Self, Error> {
        Ok(Fields { pairs: v.object()? })
    }

    /// The value of `name`, if present; a second one is an error, as with serde.
    fn find(&self, name: &str) -> Result<Option<&'v Value<'a>>, Error> {
        let mut found = self.pairs.iter().filter(|(k, _)| k == name);
        let first = found.next().map(|(_, v)| v);
        if found.next().is_some() {
            return Err(Error::new(format!("duplicate field `{name}`")));
        }
        Ok(first)
    }

    /// A required field read by `read`.
    pub fn required<T>(
        &self,
        name: &str,
        read: impl FnOnce(&Value<'a>) -> Result<T, Error>,
    ) -> Result<T, Error> {
        match self.find(name)? {
            Some(v) => read(v).map_err(|e| e.in_field(name)),
            None => Err(Error::new(format!("missing field `{name}`"))),
        }
    }

    /// An optional field read by `read`; absent is `T::default()`.
    pub fn optional<T: Default>(
        &self,
        name: &str,
        read: impl FnOnce(&Value<'a>) -> Result<T, Error>,
    ) -> Result<T, Error> {
        match self.find(name)? {
            Some(v) => read(v).map_err(|e| e.in_field(name)),
            None => Ok(T::default()),
        }
    }
}

/// Appends JSON text. Output is compact and escapes as serde_json does, so the text is
/// what the bindings produced before.
#[derive(Default)]
pub struct Writer {
    pub out: String,
    /// Whether the next value or key follows another in the same array or object.
    comma: bool,
}

impl Writer {
    fn sep(&mut self) {
        if self.comma {
            self.out.push(',');
        }
        self.comma = true;
    }

    pub fn open(&mut self, bracket: char) -> &mut Self {
        self.sep();
        self.out.push(bracket);
        self.comma = false;
        self
    }

    pub fn close(&mut self, bracket: char) -> &mut Self {
        self.out.push(bracket);
        self.comma = true;
        self
    }

    /// An object key; its value follows.
    pub fn key(&mut self, k: &str) -> &mut Self {
        self.str(k);
        self.out.push(':');
        self.comma = false;
        self
    }

    pub fn str(&mut self, s: &str) -> &mut Self {
        self.sep();
        self.out.push('"');
        escape_into(&mut self.out, s);
        self.out.push('"');
        self
    }

    pub fn opt_str(&mut self, s: Option<&str>) -> &mut Self {
        match s {
            Some(s) => self.str(s),
            None => self.raw("null"),
        }
    }

    pub fn uint(&mut self, n: u64) -> &mut Self {
        self.sep();
        self.out.push_str(&n.to_string());
        self
    }

    fn raw(&mut self, text: &str) -> &mut Self {
        self.sep();
        self.out.push_str(text);
        self
    }

    pub fn str_array<S: AsRef<str>>(&mut self, items: &[S]) -> &mut Self {
        self.open('[');
        for s in items {
            self.str(s.as_ref());
        }
        self.close(']')
    }

    /// `"k":"v"` for each pair, inside an open object.
    pub fn str_fields(&mut self, pairs: &[(&str, &str)]) -> &mut Self {
        for (k, v) in pairs {
            self.key(k).str(v);
        }
        self
    }
}

/// serde_json's escapes: `"`, `\` and control characters; everything else as is.
fn escape_into(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut start = 0;
    for (i, &c) in s.as_bytes().iter().enumerate() {
        let esc = match c {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x8 => "\\b",
            0xc => "\\f",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if esc.is_empty() {
            out.push_str("\\u00");
            out.push(HEX[usize::from(c >> 4)] as char);
            out.push(HEX[usize::from(c & 0xf)] as char);
        } else {
            out.push_str(esc);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
}

#[cfg(test)]
mod tests;
