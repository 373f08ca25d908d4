//! The byte-level part of TOML: position, whitespace, comments, newlines and escapes,
//! with errors that name the line.

/// A lexing error, already worded as `line N: what`.
#[derive(Debug)]
pub(crate) struct LexError(pub String);

impl From<LexError> for String {
    fn from(e: LexError) -> String {
        e.0
    }
}

pub(crate) struct Lexer<'a> {
    pub b: &'a [u8],
    pub text: &'a str,
    pub pos: usize,
}

impl<'a> Lexer<'a> {
    /// Starts after a byte-order mark, if any.
    pub fn new(text: &'a str) -> Self {
        let pos = if text.starts_with('\u{feff}') {
            '\u{feff}'.len_utf8()
        } else {
            0
        };
        Lexer {
            b: text.as_bytes(),
            text,
            pos,
        }
    }

    /// `line N: what`, N being the line of byte `pos`.
    pub fn error_at(&self, pos: usize, what: &str) -> String {
        let end = pos.min(self.b.len());
        let line = 1 + self.b[..end].iter().filter(|&&c| c == b'\n').count();
        let mut msg = String::from("line ");
        msg.push_str(&line.to_string());
        msg.push_str(": ");
        msg.push_str(what);
        msg
    }

    pub fn lex_error(&self, what: &str) -> LexError {
        LexError(self.error_at(self.pos, what))
    }

    // Hot loops are plain index loops: the wasm module is built for size, where
    // iterator adapters stay calls per byte.
    #[inline(always)]
    pub fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    #[inline(always)]
    pub fn peek_at(&self, ahead: usize) -> Option<u8> {
        self.b.get(self.pos + ahead).copied()
    }

    pub fn starts(&self, s: &[u8]) -> bool {
        self.b[self.pos..].starts_with(s)
    }

    pub fn expect(&mut self, c: u8, what: &str) -> Result<(), LexError> {
        if self.peek() != Some(c) {
            return Err(self.lex_error(what));
        }
        self.pos += 1;
        Ok(())
    }

    #[inline(always)]
    pub fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t') = self.b.get(self.pos) {
            self.pos += 1;
        }
    }

    /// Whitespace, comments and newlines, as allowed inside arrays and inline tables.
    pub fn skip_trivia(&mut self) -> Result<(), LexError> {
        loop {
            self.skip_ws();
            match self.peek() {
                Some(b'#') => self.comment()?,
                Some(b'\n' | b'\r') => self.newline()?,
                _ => return Ok(()),
            }
        }
    }

    pub fn comment(&mut self) -> Result<(), LexError> {
        while let Some(c) = self.peek() {
            match c {
                b'\n' | b'\r' => break,
                c if is_control(c) => return Err(self.lex_error("control character in a comment")),
                _ => self.pos += 1,
            }
        }
        Ok(())
    }

    /// `\n` or `\r\n`; a lone `\r` is not a TOML newline.
    pub fn newline(&mut self) -> Result<(), LexError> {
        match (self.peek(), self.peek_at(1)) {
            (Some(b'\n'), _) => self.pos += 1,
            (Some(b'\r'), Some(b'\n')) => self.pos += 2,
            _ => return Err(self.lex_error("expected a newline")),
        }
        Ok(())
    }

    /// After a key/value pair or a header: an optional comment, then a newline or EOF.
    pub fn end_of_line(&mut self) -> Result<(), LexError> {
        self.skip_ws();
        if self.peek() == Some(b'#') {
            self.comment()?;
        }
        match self.peek() {
            None => Ok(()),
            Some(b'\n' | b'\r') => self.newline(),
            Some(_) => Err(self.lex_error("expected a newline after a value or table header")),
        }
    }

    /// After a line-ending backslash in a multi-line basic string: every newline and
    /// whitespace up to the next other character.
    pub fn skip_trivia_in_string(&mut self) -> Result<(), LexError> {
        loop {
            self.skip_ws();
            match self.peek() {
                Some(b'\n' | b'\r') => self.newline()?,
                _ => return Ok(()),
            }
        }
    }

    /// One backslash escape (the position is on the backslash), decoded into `out`.
    pub fn escape(&mut self, out: &mut String) -> Result<(), LexError> {
        self.pos += 1;
        let c = self.peek();
        self.pos += 1;
        out.push(match c {
            Some(b'b') => '\u{8}',
            Some(b't') => '\t',
            Some(b'n') => '\n',
            Some(b'f') => '\u{c}',
            Some(b'r') => '\r',
            Some(b'e') => '\u{1b}',
            Some(b'"') => '"',
            Some(b'\\') => '\\',
            Some(b'x') => self.hex_char(2)?,
            Some(b'u') => self.hex_char(4)?,
            Some(b'U') => self.hex_char(8)?,
            _ => {
                self.pos -= 1;
                return Err(self.lex_error("invalid escape in a string"));
            }
        });
        Ok(())
    }

    /// Steps over bytes that a basic string holds as they are (not `"`, `\\` or a
    /// control byte; tab stops it too), eight at a time while it can.
    #[inline(always)]
    pub fn skip_plain_string_bytes(&mut self) {
        const ONES: u64 = 0x0101_0101_0101_0101;
        const HIGHS: u64 = 0x8080_8080_8080_8080;
        // Bytes equal to `b`, or below 0x20, get their high bit set (ASCII bytes only; a
        // non-ASCII byte also stops the fast loop, and the byte loop takes it).
        let eq = |w: u64, b: u8| {
            let x = w ^ (ONES * u64::from(b));
            x.wrapping_sub(ONES) & !x
        };
        while let Some(chunk) = self.b.get(self.pos..self.pos + 8) {
            let w = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
            let stop = w.wrapping_sub(ONES * 0x20) | eq(w, b'"') | eq(w, b'\\') | eq(w, 0x7f) | w;
            if stop & HIGHS != 0 {
                break;
            }
            self.pos += 8;
        }
        while let Some(&c) = self.b.get(self.pos) {
            if c < 0x20 || c == b'"' || c == b'\\' || c == 0x7f {
                break;
            }
            self.pos += 1;
        }
    }

    /// Copies the (UTF-8) character at `pos`.
    pub fn copy_char(&mut self, out: &mut String) {
        let len = match self.b[self.pos] {
            c if c < 0x80 => 1,
            c if c < 0xe0 => 2,
            c if c < 0xf0 => 3,
            _ => 4,
        };
        out.push_str(&self.text[self.pos..self.pos + len]);
        self.pos += len;
    }

    /// A `"""multi-line"""` or `'''multi-line'''` string: a newline right after the
    /// opening delimiter is dropped, and in the basic form a `\` at the end of a line
    /// drops the line break and the whitespace after it.
    pub fn ml_string(&mut self, quote: u8) -> Result<String, LexError> {
        self.pos += 3;
        if self.peek() == Some(b'\n') {
            self.pos += 1;
        } else if self.starts(b"\r\n") {
            self.pos += 2;
        }
        let mut out = String::new();
        loop {
            match self.peek() {
                None => return Err(self.lex_error("unterminated multi-line string")),
                Some(c) if c == quote && self.starts(&[quote; 3]) => {
                    // Up to two more quotes before the closing three are content.
                    let mut run = 3;
                    while run < 5 && self.peek_at(run) == Some(quote) {
                        run += 1;
                    }
                    for _ in 3..run {
                        out.push(quote as char);
                    }
                    self.pos += run;
                    return Ok(out);
                }
                Some(b'\\') if quote == b'"' => self.ml_backslash(&mut out)?,
                Some(b'\n' | b'\r') => {
                    let from = self.pos;
                    self.newline()?;
                    out.push_str(&self.text[from..self.pos]);
                }
                Some(c) if is_control(c) => {
                    return Err(self.lex_error("control character in a string"));
                }
                Some(_) => self.copy_char(&mut out),
            }
        }
    }

    /// An escape, or a line-ending backslash that trims what follows.
    fn ml_backslash(&mut self, out: &mut String) -> Result<(), LexError> {
        let save = self.pos;
        self.pos += 1;
        self.skip_ws();
        if !matches!(self.peek(), Some(b'\n' | b'\r')) {
            self.pos = save;
            return self.escape(out);
        }
        self.skip_trivia_in_string()
    }

    /// The character of `n` hex digits (a Unicode scalar value).
    fn hex_char(&mut self, n: usize) -> Result<char, LexError> {
        let digits = self.b.get(self.pos..self.pos + n).unwrap_or(&[]);
        let mut code: u32 = 0;
        for &d in digits {
            code = match (d as char).to_digit(16) {
                Some(v) => code.saturating_mul(16).saturating_add(v),
                None => u32::MAX,
            };
        }
        let c = (digits.len() == n)
            .then(|| char::from_u32(code))
            .flatten()
            .ok_or_else(|| self.lex_error("invalid unicode escape in a string"))?;
        self.pos += n;
        Ok(c)
    }
}

/// Control characters that no comment or string may hold (tab is allowed).
pub(crate) fn is_control(c: u8) -> bool {
    (c < 0x20 && c != b'\t') || c == 0x7f
}
