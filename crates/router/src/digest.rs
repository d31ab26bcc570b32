//! Statement digests: the normalised shape of a statement and its 64-bit hash.
//!
//! Owns normalisation: literals and `?` placeholders become `?`, lists of them collapse to
//! `?, ...`, comments are dropped (hint comments are collected separately, see [`crate::hints`]),
//! whitespace becomes single spaces, a trailing `;` is dropped. Words keep their case, so the text
//! stays readable in statistics. The digest is the cache key and the server's per-query statistics
//! key; what makes two statements share a digest must never change how they route, which is why
//! statements whose classification depends on literal values (SET, PREPARE …) are not cached, nor
//! are unterminated texts, and texts with backslash-escaped quotes are cached under the digests of
//! both readings of the backslashes.

use std::sync::Arc;

use crate::hints::Hints;
use crate::lexer::{Escapes, Lexer, TokKind};

/// Longest normalised text kept; longer digests are truncated and never cached.
pub const MAX_DIGEST_TEXT: usize = 8 * 1024;

/// The normalised shape of a statement.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Digest {
    /// 64-bit hash of the full normalised text (also of the part cut off a truncated one).
    pub hash: u64,
    /// The normalised text, at most [`MAX_DIGEST_TEXT`] bytes.
    pub text: Arc<str>,
    /// The text was cut at [`MAX_DIGEST_TEXT`].
    pub truncated: bool,
}

impl Digest {
    /// Computes the digest of `sql` (the hints are dropped; see [`crate::classify()`] for them).
    pub fn of(sql: &str) -> Digest {
        let mut out = String::new();
        let scan = scan(sql, &mut out);
        Digest {
            hash: scan.hash,
            text: out.into(),
            truncated: scan.truncated,
        }
    }
}

/// What one pass over the text found besides the normalised text itself.
pub(crate) struct Scan {
    pub hash: u64,
    pub hints: Hints,
    pub truncated: bool,
    /// A comment, string or quoted name ran to the end unclosed.
    pub unterminated: bool,
    /// A string held a backslash-escaped quote: its extent depends on the sql_mode.
    pub escape_sensitive: bool,
    /// A versioned executable comment: its contents run only on some server versions.
    pub versioned: bool,
    /// False when the text must not be served from, or stored in, the cache. (An
    /// `escape_sensitive` text is cacheable only under both readings' digests: see the cache.)
    pub cacheable: bool,
}

/// A streaming hash over the emitted pieces, eight bytes at a time.
struct Hasher(u64);

impl Hasher {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;

    fn piece(&mut self, s: &[u8]) {
        for chunk in s.chunks(8) {
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(Self::K);
        }
        self.0 = (self.0 ^ s.len() as u64).wrapping_mul(Self::K);
    }

    fn finish(self) -> u64 {
        // splitmix64's finaliser spreads the bits for the cache's identity-hashed map.
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

struct Writer<'o> {
    out: &'o mut String,
    hasher: Hasher,
    truncated: bool,
}

impl Writer<'_> {
    /// Appends a piece, after a space if `space`. Spaces are not hashed: where they go follows
    /// from the pieces, and a hit is confirmed on the full text anyway.
    fn emit(&mut self, s: &str, space: bool) {
        self.hasher.piece(s.as_bytes());
        if space {
            self.push(" ");
        }
        self.push(s);
    }

    fn push(&mut self, s: &str) {
        if self.truncated {
            return;
        }
        if self.out.len() + s.len() > MAX_DIGEST_TEXT {
            self.truncated = true;
            return;
        }
        self.out.push_str(s);
    }
}

/// Normalises `sql` into `out` (cleared first) and collects the hints.
pub(crate) fn scan(sql: &str, out: &mut String) -> Scan {
    scan_with(sql, out, Escapes::Backslash)
}

/// [`scan`] with the given reading of backslashes in strings.
pub(crate) fn scan_with(sql: &str, out: &mut String, escapes: Escapes) -> Scan {
    out.clear();
    let mut w = Writer {
        out,
        hasher: Hasher(0),
        truncated: false,
    };
    let mut hints = Hints::default();
    let mut lexer = Lexer::with_escapes(sql, escapes);
    // Literal-list collapsing: `?` `,` `?` becomes `?, ...`.
    let mut last_was_literal = false;
    let mut pending_comma = false;
    let mut in_list = false;
    let mut pending_semi = false;
    let mut no_space_next = true;
    // `<=`, `<=>`, `!=`, `||` lex as single bytes; print them unspaced.
    let mut after_operator = false;
    for tok in lexer.by_ref() {
        let kind = tok.kind;
        if kind == TokKind::Hint {
            hints.absorb(tok.text);
            continue;
        }
        let literal = tok.is_literal() || kind == TokKind::Param;
        if pending_comma {
            pending_comma = false;
            if literal {
                if !in_list {
                    w.emit(", ...", false);
                    in_list = true;
                }
                continue;
            }
            w.emit(",", false);
            no_space_next = false;
        }
        if kind == TokKind::Punct && tok.text == "," && last_was_literal {
            pending_comma = true;
            continue;
        }
        if kind == TokKind::Semi {
            pending_semi = true;
            last_was_literal = false;
            continue;
        }
        if pending_semi {
            pending_semi = false;
            w.emit(";", false);
            no_space_next = false;
        }
        in_list = in_list && literal;
        let text = if literal { "?" } else { tok.text };
        let operator = kind == TokKind::Punct && matches!(tok.text, "=" | "<" | ">" | "|" | "&");
        let glue = kind == TokKind::Punct && matches!(tok.text, "," | ")" | ".")
            || operator && after_operator;
        w.emit(text, !(no_space_next || glue));
        after_operator =
            kind == TokKind::Punct && matches!(tok.text, "=" | "<" | ">" | "!" | "|" | "&" | ":");
        no_space_next = kind == TokKind::Punct && matches!(tok.text, "(" | ".");
        last_was_literal = literal;
    }
    if pending_comma {
        w.emit(",", false);
    }
    let truncated = w.truncated;
    let hash = w.hasher.finish();
    Scan {
        hash,
        hints,
        truncated,
        unterminated: lexer.unterminated,
        escape_sensitive: lexer.escape_sensitive,
        versioned: lexer.saw_versioned,
        cacheable: !truncated && !lexer.unterminated,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_literals_comments_and_space() {
        let d = Digest::of("SELECT  c FROM sbtest1 /* x */ WHERE id = 42 AND k IN (1, 2,3);");
        assert_eq!(
            &*d.text,
            "SELECT c FROM sbtest1 WHERE id = ? AND k IN (?, ...)"
        );
        let e = Digest::of("SELECT c\nFROM sbtest1 WHERE id = 'x' AND k IN (7) -- y");
        assert_eq!(&*e.text, "SELECT c FROM sbtest1 WHERE id = ? AND k IN (?)");
        assert_ne!(d.hash, e.hash);
        let f = Digest::of("SELECT c FROM sbtest1 WHERE id=?  AND k IN (?,?,?,?)");
        assert_eq!(d.hash, f.hash);
    }

    #[test]
    fn keeps_variables_and_executable_comments() {
        assert_eq!(
            &*Digest::of("SELECT @a, @@sql_mode").text,
            "SELECT @a, @@sql_mode"
        );
        assert_eq!(
            &*Digest::of("SELECT 1 /*!50000 FOR UPDATE */").text,
            "SELECT ? /*!50000 FOR UPDATE */"
        );
    }

    #[test]
    fn hints_stay_out_of_the_digest() {
        let mut out = String::new();
        let s = scan("/* splitrail:replica */ SELECT 1", &mut out);
        assert_eq!(out, "SELECT ?");
        assert!(s.hints.route.is_some());
    }
}
