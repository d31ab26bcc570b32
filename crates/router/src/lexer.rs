//! The MySQL lexer: turns statement text into tokens without allocating.
//!
//! It owns the rules for what is *not* SQL: `#` and `-- ` comments, `/* */` comments, string
//! literals with backslash or doubled-quote escapes, backtick identifiers. The contents of
//! executable comments (`/*! … */`, `/*!40101 … */`, MariaDB's `/*M!100101 … */`) are lexed as SQL,
//! because the server runs them. Comments that carry routing hints (`/* splitrail:… */`,
//! `-- maxscale …`) come out as [`TokKind::Hint`] tokens; every other comment is dropped.
//!
//! Tokens are slices of the input. Token boundaries always fall on ASCII bytes, so slicing a
//! `&str` never splits a character. Bytes the lexer does not understand (NUL, control characters,
//! stray punctuation) become one-byte [`TokKind::Punct`] tokens: odd input stays odd, it never
//! panics and never disappears.

/// What a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokKind {
    /// A keyword or an unquoted identifier (`SELECT`, `users`, `_utf8mb4`).
    Word,
    /// A backtick-quoted identifier, quotes included.
    QuotedIdent,
    /// A string literal (`'…'` or `"…"`), quotes included.
    Str,
    /// A numeric literal (decimal, float, `0x…`, `0b…`).
    Num,
    /// A user variable, `@name`, `@'name'` or `` @`name` ``.
    UserVar,
    /// A system variable, `@@name` or `@@session.name`.
    SysVar,
    /// A `?` placeholder.
    Param,
    /// The `:=` assignment operator.
    Assign,
    /// `;`, the statement separator.
    Semi,
    /// Any other single byte of punctuation (or a byte the lexer does not know).
    Punct,
    /// The body of a hint comment, trimmed, without the comment markers.
    Hint,
    /// The opening of an executable comment (`/*!`, `/*!40101`, `/*M!100101`): what follows is
    /// SQL. Kept in the digest (a versioned comment's contents may not run, see
    /// [`Versioned`]); ignored by classification.
    ExecOpen,
    /// The `*/` closing an executable comment.
    ExecClose,
}

/// One token: its kind and its text in the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Token<'a> {
    pub kind: TokKind,
    pub text: &'a str,
    /// Byte offset of `text` in the input.
    pub start: usize,
}

impl Token<'_> {
    /// True when this is the unquoted word `kw` (ASCII case-insensitive).
    pub fn is_word(&self, kw: &str) -> bool {
        self.kind == TokKind::Word && self.text.eq_ignore_ascii_case(kw)
    }

    /// True when this is the punctuation byte `c`.
    pub fn is_punct(&self, c: u8) -> bool {
        self.kind == TokKind::Punct && self.text.as_bytes().first() == Some(&c)
    }

    /// True for literals: strings and numbers.
    pub fn is_literal(&self) -> bool {
        matches!(self.kind, TokKind::Str | TokKind::Num)
    }
}

/// How quoted text treats backslashes; the sql_mode decides which reading the server uses.
///
/// MySQL's default treats `\'` as an escaped quote in `'…'` and `"…"`. With
/// `NO_BACKSLASH_ESCAPES` a backslash is an ordinary character. With `ANSI_QUOTES`, `"…"` is an
/// identifier, where a backslash is ordinary too. The classifier lexes text that holds a
/// backslash before a quote in every one of these ways when it matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Escapes {
    /// `\` escapes the next character in `'…'` and `"…"` (MySQL's default).
    Backslash,
    /// `\` escapes only in `'…'`; `"…"` is an `ANSI_QUOTES` identifier.
    SingleQuotesOnly,
    /// `\` is an ordinary character (`NO_BACKSLASH_ESCAPES`, with or without `ANSI_QUOTES`).
    None,
}

/// The readings other than [`Escapes::Backslash`], for text whose extent depends on them.
pub(crate) const OTHER_ESCAPES: [Escapes; 2] = [Escapes::SingleQuotesOnly, Escapes::None];

/// How versioned executable comments (`/*!40101 …*/`, `/*M!100101 …*/`) are read.
///
/// The server runs their contents only if its version is at least the one written (and MySQL
/// never runs `/*M!`), so the classifier reads such text both ways.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Versioned {
    /// The contents are SQL.
    Execute,
    /// The contents are a comment.
    Skip,
}

/// A streaming lexer over one text, possibly holding several statements.
pub(crate) struct Lexer<'a> {
    src: &'a str,
    pos: usize,
    escapes: Escapes,
    versioned: Versioned,
    /// A versioned executable comment was seen: the text has a second reading.
    pub saw_versioned: bool,
    /// Inside `/*! … */`: the next `*/` closes it and is skipped.
    in_exec_comment: bool,
    /// A comment, string or quoted identifier ran to the end of the input unclosed.
    pub unterminated: bool,
    /// A string literal contained a backslash before a quote: its end depends on the sql_mode.
    pub escape_sensitive: bool,
}

const fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80
}

impl<'a> Lexer<'a> {
    /// A lexer for `src` in MySQL's default escape mode.
    #[cfg(test)]
    pub fn new(src: &'a str) -> Self {
        Self::with_escapes(src, Escapes::Backslash)
    }

    /// A lexer for `src` with the given treatment of backslashes.
    pub fn with_escapes(src: &'a str, escapes: Escapes) -> Self {
        Self::with_modes(src, escapes, Versioned::Execute)
    }

    /// A lexer for `src` with the given treatment of backslashes and versioned comments.
    pub fn with_modes(src: &'a str, escapes: Escapes, versioned: Versioned) -> Self {
        Lexer {
            versioned,
            saw_versioned: false,
            src,
            pos: 0,
            escapes,
            in_exec_comment: false,
            unterminated: false,
            escape_sensitive: false,
        }
    }

    fn bytes(&self) -> &'a [u8] {
        self.src.as_bytes()
    }

    fn peek(&self, ahead: usize) -> u8 {
        self.bytes().get(self.pos + ahead).copied().unwrap_or(0)
    }

    fn at_end(&self) -> bool {
        self.pos >= self.src.len()
    }

    /// Skips whitespace and plain comments. Returns a hint token if a hint comment was found.
    fn skip_trivia(&mut self) -> Option<Token<'a>> {
        loop {
            let b = self.peek(0);
            if self.at_end() {
                return None;
            }
            match b {
                b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c => self.pos += 1,
                b'#' => {
                    if let Some(t) = self.line_comment(1) {
                        return Some(t);
                    }
                }
                b'-' if self.peek(1) == b'-'
                    && (self.pos + 2 >= self.src.len() || self.peek(2) <= b' ') =>
                {
                    if let Some(t) = self.line_comment(2) {
                        return Some(t);
                    }
                }
                b'*' if self.in_exec_comment && self.peek(1) == b'/' => {
                    self.in_exec_comment = false;
                    self.pos += 2;
                    return Some(Token {
                        kind: TokKind::ExecClose,
                        text: "*/",
                        start: self.pos - 2,
                    });
                }
                b'/' if self.peek(1) == b'*' => {
                    if let Some(t) = self.block_comment() {
                        return Some(t);
                    }
                }
                _ => return None,
            }
        }
    }

    /// Skips a comment running to the end of the line; `skip` is the marker's length.
    fn line_comment(&mut self, skip: usize) -> Option<Token<'a>> {
        let start = self.pos + skip;
        let end = self.bytes()[start.min(self.src.len())..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(self.src.len(), |i| start + i);
        self.pos = end;
        let start = start.min(end);
        hint_token(&self.src[start..end], start)
    }

    /// Skips `/* … */`, or enters an executable comment `/*! … */`.
    fn block_comment(&mut self) -> Option<Token<'a>> {
        let b = self.bytes();
        let open = self.pos;
        // Executable comments: /*!, /*!NNNNN, /*M!NNNNNN (MariaDB).
        let bang = if self.peek(2) == b'!' {
            Some(3)
        } else if (self.peek(2) == b'M' || self.peek(2) == b'm') && self.peek(3) == b'!' {
            Some(4)
        } else {
            None
        };
        if let Some(skip) = bang {
            let versioned = skip == 4 || self.peek(skip).is_ascii_digit();
            self.saw_versioned |= versioned;
            let runs = !versioned || self.versioned == Versioned::Execute;
            // MySQL does not nest them; a nested one is read as a plain comment below.
            if runs && !self.in_exec_comment {
                self.pos = open + skip;
                while self.peek(0).is_ascii_digit() {
                    self.pos += 1;
                }
                self.in_exec_comment = true;
                return Some(Token {
                    kind: TokKind::ExecOpen,
                    text: &self.src[open..self.pos],
                    start: open,
                });
            }
        }
        // MySQL does not nest them; treat a nested one as a plain comment below.
        let body_start = open + 2;
        match find(&b[body_start.min(b.len())..], b"*/") {
            Some(i) => {
                self.pos = body_start + i + 2;
                hint_token(&self.src[body_start..body_start + i], body_start)
            }
            None => {
                self.pos = self.src.len();
                self.unterminated = true;
                None
            }
        }
    }

    fn quoted(&mut self, quote: u8) -> TokKind {
        let b = self.bytes();
        let mut i = self.pos + 1;
        let backslash = match self.escapes {
            Escapes::Backslash => quote != b'`',
            Escapes::SingleQuotesOnly => quote == b'\'',
            Escapes::None => false,
        };
        while i < b.len() {
            // Jump to the next byte that can end or escape the literal.
            match b[i..]
                .iter()
                .position(|&c| c == quote || (backslash && c == b'\\'))
            {
                Some(skip) => i += skip,
                None => break,
            }
            let c = b[i];
            if c == b'\\' && backslash {
                if b.get(i + 1) == Some(&quote) || b.get(i + 1) == Some(&b'\\') {
                    self.escape_sensitive = true;
                }
                i += 2;
                continue;
            }
            if c == quote {
                if b.get(i + 1) == Some(&quote) {
                    i += 2;
                    continue;
                }
                self.pos = i + 1;
                return if quote == b'`' {
                    TokKind::QuotedIdent
                } else {
                    TokKind::Str
                };
            }
            i += 1;
        }
        self.pos = b.len();
        self.unterminated = true;
        if quote == b'`' {
            TokKind::QuotedIdent
        } else {
            TokKind::Str
        }
    }

    fn ident_run(&mut self) {
        let rest = &self.bytes()[self.pos.min(self.src.len())..];
        self.pos += rest
            .iter()
            .position(|&b| !is_ident_byte(b))
            .unwrap_or(rest.len());
    }

    fn number(&mut self) -> TokKind {
        let b = self.bytes();
        let start = self.pos;
        if b[start] == b'0' && matches!(self.peek(1), b'x' | b'X' | b'b' | b'B') {
            self.pos += 2;
            self.ident_run();
            return TokKind::Num;
        }
        while self.peek(0).is_ascii_digit() && !self.at_end() {
            self.pos += 1;
        }
        if self.peek(0) == b'.' && self.peek(1).is_ascii_digit() {
            self.pos += 1;
            while self.peek(0).is_ascii_digit() && !self.at_end() {
                self.pos += 1;
            }
        }
        if matches!(self.peek(0), b'e' | b'E')
            && (self.peek(1).is_ascii_digit()
                || (matches!(self.peek(1), b'+' | b'-') && self.peek(2).is_ascii_digit()))
        {
            self.pos += 2;
            while self.peek(0).is_ascii_digit() && !self.at_end() {
                self.pos += 1;
            }
        }
        if is_ident_byte(self.peek(0)) && !self.at_end() {
            // MySQL identifiers may start with digits: `1abc`.
            self.ident_run();
            return TokKind::Word;
        }
        TokKind::Num
    }

    fn variable(&mut self) -> TokKind {
        // self.pos is at '@'
        if self.peek(1) == b'@' {
            self.pos += 2;
            // @@session.name, @@global.name, @@name
            loop {
                self.ident_run();
                if self.peek(0) == b'.' && is_ident_byte(self.peek(1)) {
                    self.pos += 1;
                    continue;
                }
                if self.peek(0) == b'`' {
                    self.quoted(b'`');
                    continue;
                }
                break;
            }
            return TokKind::SysVar;
        }
        self.pos += 1;
        match self.peek(0) {
            q @ (b'\'' | b'"' | b'`') => {
                self.quoted(q);
            }
            _ => self.ident_run(),
        }
        TokKind::UserVar
    }
}

impl<'a> Iterator for Lexer<'a> {
    type Item = Token<'a>;

    fn next(&mut self) -> Option<Token<'a>> {
        if let Some(hint) = self.skip_trivia() {
            return Some(hint);
        }
        if self.at_end() {
            // `/*! …` never closed: the server rejects it, and so must routing.
            self.unterminated |= self.in_exec_comment;
            return None;
        }
        let start = self.pos;
        let b = self.peek(0);
        let kind = match b {
            b'\'' | b'"' | b'`' => self.quoted(b),
            b'0'..=b'9' => self.number(),
            b'.' if self.peek(1).is_ascii_digit() && !self.prev_is_ident(start) => {
                self.number_after_dot()
            }
            b'@' => self.variable(),
            b'?' => {
                self.pos += 1;
                TokKind::Param
            }
            b';' => {
                self.pos += 1;
                TokKind::Semi
            }
            b':' if self.peek(1) == b'=' => {
                self.pos += 2;
                TokKind::Assign
            }
            _ if is_ident_byte(b) => {
                self.ident_run();
                TokKind::Word
            }
            _ => {
                self.pos += 1;
                TokKind::Punct
            }
        };
        Some(Token {
            kind,
            text: &self.src[start..self.pos],
            start,
        })
    }
}

impl Lexer<'_> {
    /// `t.1col` is a qualified name, `.5` a number: look at the byte before the dot.
    fn prev_is_ident(&self, dot: usize) -> bool {
        dot > 0 && {
            let p = self.bytes()[dot - 1];
            is_ident_byte(p) || p == b'`'
        }
    }

    fn number_after_dot(&mut self) -> TokKind {
        self.pos += 1;
        while self.peek(0).is_ascii_digit() && !self.at_end() {
            self.pos += 1;
        }
        TokKind::Num
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// A hint token if the comment body starts with a hint prefix.
fn hint_token(body: &str, start: usize) -> Option<Token<'_>> {
    let t = body.trim();
    let is_hint = starts_with_ci(t, "splitrail:") || starts_with_ci(t, "maxscale ");
    is_hint.then_some(Token {
        kind: TokKind::Hint,
        text: t,
        start,
    })
}

/// ASCII case-insensitive `starts_with`.
pub(crate) fn starts_with_ci(s: &str, prefix: &str) -> bool {
    s.len() >= prefix.len() && s.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(sql: &str) -> Vec<(TokKind, &str)> {
        Lexer::new(sql).map(|t| (t.kind, t.text)).collect()
    }

    #[test]
    fn skips_comments_and_keeps_executable_ones() {
        let toks = kinds("/* x */ SELECT # c\n 1 -- d\n /*!40101 FOR UPDATE */");
        let words: Vec<&str> = toks.iter().map(|t| t.1).collect();
        assert_eq!(words, ["SELECT", "1", "/*!40101", "FOR", "UPDATE", "*/"]);
        let mut skip = Lexer::with_modes(
            "SELECT 1 /*!40101 FOR UPDATE */ /*! LIMIT 1 */",
            Escapes::Backslash,
            Versioned::Skip,
        );
        let words: Vec<&str> = skip.by_ref().map(|t| t.text).collect();
        assert_eq!(words, ["SELECT", "1", "/*!", "LIMIT", "1", "*/"]);
        assert!(skip.saw_versioned);
    }

    #[test]
    fn strings_hide_keywords() {
        let toks = kinds(r"SELECT 'it''s \' FOR UPDATE', `a``b`, x--1");
        assert_eq!(toks[1], (TokKind::Str, r"'it''s \' FOR UPDATE'"));
        assert_eq!(toks[3], (TokKind::QuotedIdent, "`a``b`"));
        assert_eq!(toks[5], (TokKind::Word, "x"));
        assert_eq!(toks[6], (TokKind::Punct, "-"));
    }

    #[test]
    fn variables_and_hints() {
        let toks = kinds("/* splitrail:primary */ SELECT @a := @@session.sql_mode, @'b'");
        assert_eq!(toks[0], (TokKind::Hint, "splitrail:primary"));
        assert_eq!(toks[2], (TokKind::UserVar, "@a"));
        assert_eq!(toks[3], (TokKind::Assign, ":="));
        assert_eq!(toks[4], (TokKind::SysVar, "@@session.sql_mode"));
        assert_eq!(toks[6], (TokKind::UserVar, "@'b'"));
    }

    #[test]
    fn unterminated_is_reported() {
        let mut l = Lexer::new("SELECT 'abc");
        while l.next().is_some() {}
        assert!(l.unterminated);
        let mut l = Lexer::new("SELECT 1 /* x");
        while l.next().is_some() {}
        assert!(l.unterminated);
    }
}
