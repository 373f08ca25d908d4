//! Strings, numbers, booleans and date-times of TOML 1.1, each into the form the
//! canonical writer prints.

use std::borrow::Cow;

use super::{Parser, Value, float, is_control};

impl<'a> Parser<'a> {
    /// A `"basic string"`, unescaped. Runs of plain text are copied whole, and a string
    /// without escapes (nearly all of them) is one slice of the text, copied once.
    pub(super) fn basic_string(&mut self) -> Result<Cow<'a, str>, String> {
        self.pos += 1;
        let start = self.pos;
        loop {
            self.skip_plain_string_bytes();
            match self.peek() {
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(Cow::Borrowed(&self.text[start..self.pos - 1]));
                }
                Some(b'\\') => break,
                c => self.string_char(c)?,
            }
        }
        let mut out = String::with_capacity(self.pos - start + 16);
        out.push_str(&self.text[start..self.pos]);
        loop {
            match self.peek() {
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(Cow::Owned(out));
                }
                Some(b'\\') => self.escape(&mut out)?,
                c => {
                    // Up to the next `"`, `\\` or control byte: all ASCII, so the slice
                    // never ends inside a multi-byte character.
                    let from = self.pos;
                    self.string_char(c)?;
                    self.skip_plain_string_bytes();
                    out.push_str(&self.text[from..self.pos]);
                }
            }
        }
    }

    /// A `'literal string'`.
    pub(super) fn literal_string(&mut self) -> Result<Cow<'a, str>, String> {
        self.pos += 1;
        let start = self.pos;
        loop {
            match self.peek() {
                Some(b'\'') => {
                    self.pos += 1;
                    return Ok(Cow::Borrowed(&self.text[start..self.pos - 1]));
                }
                c => self.string_char(c)?,
            }
        }
    }

    /// Steps over one character of a single-line string, which must not end there.
    /// Only its first byte is checked: the others of a UTF-8 character are never quotes
    /// or control bytes, and the next call steps over them.
    #[inline(always)]
    fn string_char(&mut self, c: Option<u8>) -> Result<(), String> {
        match c {
            None | Some(b'\n' | b'\r') => Err(self.error("unterminated string")),
            Some(c) if is_control(c) => Err(self.error("control character in a string")),
            Some(_) => {
                self.pos += 1;
                Ok(())
            }
        }
    }

    /// A number, boolean or date-time.
    pub(super) fn scalar(&mut self) -> Result<Value<'a>, String> {
        let start = self.pos;
        self.skip_atom();
        // A date-time may have a space between date and time.
        if is_date(&self.b[start..self.pos])
            && self.peek() == Some(b' ')
            && matches!(self.b.get(self.pos + 1..self.pos + 4), Some([a, b, b':']) if a.is_ascii_digit() && b.is_ascii_digit())
        {
            self.pos += 1;
            self.skip_atom();
        }
        let atom = &self.text[start..self.pos];
        let what = |s: &Self, what: &str| {
            let mut msg = String::from(what);
            msg.push_str(" `");
            msg.push_str(atom);
            msg.push('`');
            s.error_at(start, &msg)
        };
        match atom {
            "" => Err(self.error("expected a value")),
            "true" => Ok(Value::Boolean(true)),
            "false" => Ok(Value::Boolean(false)),
            _ if is_date(atom.as_bytes()) || atom.as_bytes().get(2) == Some(&b':') => {
                datetime(atom)
                    .map(Value::Datetime)
                    .ok_or_else(|| what(self, "invalid date-time"))
            }
            _ => number(atom).map_err(|e| what(self, e)),
        }
    }

    fn skip_atom(&mut self) {
        while let Some(b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z' | b'_' | b'+' | b'-' | b'.' | b':') =
            self.peek()
        {
            self.pos += 1;
        }
    }
}

/// Starts like `YYYY-MM-DD`.
fn is_date(b: &[u8]) -> bool {
    b.len() >= 10
        && b[4] == b'-'
        && b[7] == b'-'
        && [0, 1, 2, 3, 5, 6, 8, 9]
            .iter()
            .all(|&i| b[i].is_ascii_digit())
}

/// An integer or a float, or why not.
fn number(atom: &str) -> Result<Value<'static>, &'static str> {
    let (negative, body) = match atom.as_bytes().first() {
        Some(b'+') => (false, &atom[1..]),
        Some(b'-') => (true, &atom[1..]),
        _ => (false, atom),
    };
    match body {
        "inf" => return Ok(Value::Float(if negative { "-inf" } else { "inf" }.into())),
        "nan" => return Ok(Value::Float("nan".into())),
        _ => {}
    }
    let radix = match body.get(..2) {
        Some("0x") => 16,
        Some("0o") => 8,
        Some("0b") => 2,
        _ => 10,
    };
    if radix != 10 {
        if body.len() != atom.len() {
            return Err("a hexadecimal, octal or binary integer cannot have a sign:");
        }
        return integer(&body[2..], radix, false);
    }
    if body.bytes().any(|c| matches!(c, b'.' | b'e' | b'E')) {
        return decimal_float(atom, body);
    }
    if body.len() > 1 && body.starts_with('0') {
        return Err("leading zeros are not allowed in");
    }
    integer(body, 10, negative)
}

/// Digits of `radix` with single `_` between digits, as an `i64`.
fn integer(digits: &str, radix: u32, negative: bool) -> Result<Value<'static>, &'static str> {
    let clean = digits_of(digits, radix).ok_or("invalid number")?;
    let mut v: i64 = 0;
    for c in clean.chars() {
        let d = i64::from(c.to_digit(radix).unwrap_or(0));
        v = v
            .checked_mul(i64::from(radix))
            .and_then(|v| {
                if negative {
                    v.checked_sub(d)
                } else {
                    v.checked_add(d)
                }
            })
            .ok_or("integer does not fit in 64 bits:")?;
    }
    Ok(Value::Integer(v))
}

/// `digits` without its underscores, if each sits between two digits of `radix`.
fn digits_of(digits: &str, radix: u32) -> Option<String> {
    let b = digits.as_bytes();
    let mut out = String::with_capacity(b.len());
    for (i, &c) in b.iter().enumerate() {
        if c == b'_' {
            let around = |j: Option<usize>| {
                j.and_then(|j| b.get(j))
                    .is_some_and(|&d| (d as char).is_digit(radix))
            };
            if !around(i.checked_sub(1)) || !around(Some(i + 1)) {
                return None;
            }
        } else if (c as char).is_digit(radix) {
            out.push(c as char);
        } else {
            return None;
        }
    }
    (!out.is_empty()).then_some(out)
}

/// `int [. digits] [e [sign] digits]`, at least one of the two parts.
fn decimal_float(atom: &str, body: &str) -> Result<Value<'static>, &'static str> {
    const INVALID: &str = "invalid float";
    let (mantissa, exp) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let (int, frac) = match mantissa.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (mantissa, None),
    };
    let mut clean = String::from(&atom[..atom.len() - body.len()]);
    clean.push_str(&digits_of(int, 10).ok_or(INVALID)?);
    if int.len() > 1 && int.starts_with('0') {
        return Err(INVALID);
    }
    if let Some(frac) = frac {
        clean.push('.');
        clean.push_str(&digits_of(frac, 10).ok_or(INVALID)?);
    }
    if let Some(exp) = exp {
        let digits = exp.strip_prefix(['+', '-']).unwrap_or(exp);
        clean.push('e');
        clean.push_str(&exp[..exp.len() - digits.len()]);
        clean.push_str(&digits_of(digits, 10).ok_or(INVALID)?);
    }
    float::canonical(&clean).map(Value::Float)
}

/// The canonical text of a TOML date-time (`toml_datetime`'s `Display`), if valid.
fn datetime(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut rest = b;
    let dated = is_date(b);
    if dated {
        check_date(b)?;
        out.push_str(&s[..10]);
        rest = &b[10..];
        match rest.first() {
            None => return Some(out),
            Some(b'T' | b't' | b' ') => rest = &rest[1..],
            Some(_) => return None,
        }
        out.push('T');
    }
    rest = time(rest, &mut out)?;
    if dated {
        rest = offset(rest, &mut out)?;
    }
    rest.is_empty().then_some(out)
}

fn two_digits(b: &[u8]) -> Option<u32> {
    match b {
        [a @ b'0'..=b'9', c @ b'0'..=b'9', ..] => {
            Some(u32::from(a - b'0') * 10 + u32::from(c - b'0'))
        }
        _ => None,
    }
}

fn check_date(b: &[u8]) -> Option<()> {
    let year = two_digits(b)? * 100 + two_digits(&b[2..])?;
    let month = two_digits(&b[5..])?;
    let day = two_digits(&b[8..])?;
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days = match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        1..=12 => 31,
        _ => return None,
    };
    (b.len() == 10 || !b[10].is_ascii_digit()).then_some(())?;
    (1..=days).contains(&day).then_some(())
}

/// `HH:MM[:SS[.frac]]` into `out`; the bytes after it.
fn time<'b>(b: &'b [u8], out: &mut String) -> Option<&'b [u8]> {
    let hour = two_digits(b)?;
    let minute = two_digits(b.get(3..)?)?;
    if b[2] != b':' || hour > 23 || minute > 59 || b.get(5).is_some_and(u8::is_ascii_digit) {
        return None;
    }
    out.push_str(std::str::from_utf8(&b[..5]).ok()?);
    let mut rest = &b[5..];
    if rest.first() != Some(&b':') {
        return Some(rest);
    }
    let second = two_digits(&rest[1..])?;
    if second > 60 || rest.get(3).is_some_and(u8::is_ascii_digit) {
        return None;
    }
    out.push_str(std::str::from_utf8(&rest[..3]).ok()?);
    rest = &rest[3..];
    if rest.first() == Some(&b'.') {
        let n = rest[1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return None;
        }
        // Nanoseconds: digits past the ninth are dropped, trailing zeros too.
        let kept = &rest[1..1 + n.min(9)];
        let trimmed = kept.iter().rposition(|&c| c != b'0').map_or(0, |i| i + 1);
        out.push('.');
        out.push_str(if trimmed == 0 {
            "0"
        } else {
            std::str::from_utf8(&kept[..trimmed]).ok()?
        });
        rest = &rest[1 + n..];
    }
    Some(rest)
}

/// `Z` or `+HH:MM`/`-HH:MM` (or nothing) into `out`; the bytes after it.
fn offset<'b>(b: &'b [u8], out: &mut String) -> Option<&'b [u8]> {
    match b.first() {
        None => Some(b),
        Some(b'Z' | b'z') => {
            out.push('Z');
            Some(&b[1..])
        }
        Some(&sign @ (b'+' | b'-')) => {
            let hours = two_digits(b.get(1..)?)?;
            let minutes = two_digits(b.get(4..)?)?;
            if b[3] != b':'
                || hours > 23
                || minutes > 59
                || b.get(6).is_some_and(u8::is_ascii_digit)
            {
                return None;
            }
            // `-00:00` reads as no offset at all, printed `+00:00`.
            out.push(if sign == b'-' && hours + minutes > 0 {
                '-'
            } else {
                '+'
            });
            out.push_str(std::str::from_utf8(&b[1..6]).ok()?);
            Some(&b[6..])
        }
        Some(_) => None,
    }
}
