//! Side-effect markers: the words and functions that force a read onto the primary.
//!
//! Owns the list of markers and the small look-behind needed to spot them in a token stream
//! (`FOR UPDATE`, `LOCK IN SHARE MODE`, `NEXT VALUE FOR`, `name(`, `@x :=`). It errs towards
//! finding a marker: a column called `nowait` makes a read go to the primary, never the reverse.
//! Also [`Effects::WAITS`], which does not move a read: a call that waits on purpose.

use super::functions::waits_on_purpose;
use super::unquote;
use crate::kind::Effects;
use crate::lexer::{TokKind, Token};

/// Upper-cases an ASCII word into `buf`; words longer than the buffer come back empty.
pub(crate) fn upper<'b>(word: &str, buf: &'b mut [u8; 32]) -> &'b [u8] {
    let b = word.as_bytes();
    if b.len() > buf.len() {
        return b"";
    }
    for (d, s) in buf.iter_mut().zip(b) {
        *d = s.to_ascii_uppercase();
    }
    &buf[..b.len()]
}

/// Scans one statement's tokens, in order, for side-effect markers.
#[derive(Default)]
pub(crate) struct MarkerScanner<'a> {
    prev: Option<Token<'a>>,
    prev2: Option<Token<'a>>,
    pending_user_var: bool,
    pub effects: Effects,
}

impl<'a> MarkerScanner<'a> {
    pub fn feed(&mut self, tok: Token<'a>) {
        if self.pending_user_var {
            self.pending_user_var = false;
            if tok.kind == TokKind::Assign {
                self.effects |= Effects::USER_VAR_WRITE;
            } else {
                self.effects |= Effects::USER_VAR_READ;
            }
        }
        match tok.kind {
            TokKind::Word => self.word(tok),
            TokKind::UserVar => {
                if self.prev.is_some_and(|p| p.is_word("INTO")) {
                    self.effects |= Effects::USER_VAR_WRITE;
                } else {
                    self.pending_user_var = true;
                }
            }
            TokKind::SysVar => self.sys_var(tok.text),
            TokKind::Punct if tok.text == "(" => self.call(),
            _ => {}
        }
        self.prev2 = self.prev;
        self.prev = Some(tok);
    }

    /// Ends the statement: a trailing `@x` is a read.
    pub fn finish(mut self) -> Effects {
        if self.pending_user_var {
            self.effects |= Effects::USER_VAR_READ;
        }
        self.effects
    }

    fn prev_is(&self, kw: &str) -> bool {
        self.prev.is_some_and(|p| p.is_word(kw))
    }

    fn word(&mut self, tok: Token<'a>) {
        let mut buf = [0u8; 32];
        let e = match upper(tok.text, &mut buf) {
            b"UPDATE" | b"SHARE" if self.prev_is("FOR") => Effects::LOCKING_READ,
            b"MODE" if self.prev_is("SHARE") => Effects::LOCKING_READ,
            b"NOWAIT" => Effects::LOCKING_READ,
            b"LOCKED" if self.prev_is("SKIP") => Effects::LOCKING_READ,
            b"INTO" => Effects::SELECT_INTO,
            b"SQL_CALC_FOUND_ROWS" => Effects::SESSION_FUNCTION,
            b"NEXTVAL" | b"LASTVAL" | b"SETVAL" | b"CURRVAL" => Effects::SEQUENCE,
            b"FOR"
                if self.prev_is("VALUE")
                    && self
                        .prev2
                        .is_some_and(|p| p.is_word("NEXT") || p.is_word("PREVIOUS")) =>
            {
                Effects::SEQUENCE
            }
            _ => Effects::empty(),
        };
        self.effects |= e;
    }

    /// `(` after a function name.
    fn call(&mut self) {
        // `` `sleep`(1) `` calls SLEEP too.
        if let Some(p) = self.prev.filter(|p| p.kind == TokKind::QuotedIdent)
            && waits_on_purpose(unquote(p.text))
        {
            self.effects |= Effects::WAITS;
        }
        let Some(p) = self.prev.filter(|p| p.kind == TokKind::Word) else {
            return;
        };
        if waits_on_purpose(p.text) {
            self.effects |= Effects::WAITS;
        }
        let mut buf = [0u8; 32];
        self.effects |= match upper(p.text, &mut buf) {
            b"LAST_INSERT_ID" | b"CONNECTION_ID" => Effects::SESSION_FUNCTION,
            // About the previous statement, wherever it ran (a plain SELECT on a replica too).
            b"FOUND_ROWS" | b"ROW_COUNT" => Effects::DIAGNOSTICS,
            b"GET_LOCK" if self.effects.contains(Effects::ACQUIRES_NAMED_LOCK) => {
                Effects::ACQUIRES_SEVERAL_NAMED_LOCKS
            }
            b"GET_LOCK" => Effects::NAMED_LOCK | Effects::ACQUIRES_NAMED_LOCK,
            b"RELEASE_LOCK" => Effects::NAMED_LOCK | Effects::RELEASES_NAMED_LOCK,
            b"IS_USED_LOCK" | b"IS_FREE_LOCK" => Effects::NAMED_LOCK,
            b"RELEASE_ALL_LOCKS" => Effects::NAMED_LOCK | Effects::RELEASES_ALL_LOCKS,
            _ => Effects::empty(),
        };
    }

    fn sys_var(&mut self, text: &str) {
        let name = text
            .rsplit('.')
            .next()
            .unwrap_or(text)
            .trim_start_matches('@');
        let mut buf = [0u8; 32];
        self.effects |= match upper(name, &mut buf) {
            b"IDENTITY" | b"LAST_INSERT_ID" => Effects::SESSION_FUNCTION,
            b"WARNING_COUNT" | b"ERROR_COUNT" => Effects::DIAGNOSTICS,
            _ => Effects::empty(),
        };
    }
}
