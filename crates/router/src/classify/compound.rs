//! Stored-program bodies: `CREATE PROCEDURE p() BEGIN SELECT 1; SELECT 2; END` is one statement,
//! and the `;` inside its body do not end it. [`Body`] follows the block structure of a
//! statement that defines a stored program (`CREATE`/`ALTER` … `PROCEDURE`, `FUNCTION`,
//! `TRIGGER`, `EVENT`) or is a MariaDB `BEGIN NOT ATOMIC` block, so the splitter knows when a
//! `;` is inside a block.
//!
//! Blocks open with `BEGIN`, `CASE` (statement or expression, both end with `END`), and — at the
//! start of a statement in the body — `IF`, `LOOP`, `WHILE`, `REPEAT` (elsewhere those are
//! functions, as in `IF(a, b, c)` or `REPEAT('x', 3)`); `END` closes one, and the word after it
//! (`END IF`, `END CASE` …) opens nothing. Text this does not recognise keeps today's reading:
//! every `;` splits.
use crate::lexer::{TokKind, Token};

/// How far into a statement its head (`CREATE [OR REPLACE] [DEFINER = …] PROCEDURE`) may reach.
const HEAD_TOKENS: usize = 16;

/// Block depth over the tokens of one statement.
#[derive(Debug, Default)]
pub(crate) struct Body {
    /// Tokens of this statement seen so far.
    seen: usize,
    /// The first word: `CREATE`, `ALTER` or `BEGIN` make it a candidate.
    candidate: bool,
    /// It defines a stored program (or is an anonymous block): its `;` may be inside blocks.
    defines: bool,
    depth: u32,
    /// The previous token was `END`.
    after_end: bool,
    /// The previous token ended or opened a statement of the body (`;`, `BEGIN`, `THEN`, …).
    at_start: bool,
    /// The previous token was a word that started a body statement: a label if `:` follows.
    label: bool,
    /// `BEGIN` was the first token and `NOT` the second (`BEGIN NOT ATOMIC`).
    begin_not: bool,
}

impl Body {
    /// Feeds the next token of the statement (`;` included).
    pub(crate) fn feed(&mut self, t: &Token<'_>) {
        self.seen += 1;
        if self.seen == 1 {
            self.candidate = t.is_word("CREATE") || t.is_word("ALTER") || t.is_word("BEGIN");
            self.begin_not = false;
            return;
        }
        if !self.candidate {
            return;
        }
        if !self.defines {
            if self.seen == 2 && t.is_word("NOT") {
                self.begin_not = true;
            } else if self.seen == 3 && self.begin_not && t.is_word("ATOMIC") {
                self.defines = true;
                self.depth = 1;
                self.at_start = true;
            } else if self.seen <= HEAD_TOKENS
                && ["PROCEDURE", "FUNCTION", "TRIGGER", "EVENT"]
                    .iter()
                    .any(|w| t.is_word(w))
            {
                self.defines = true;
            }
            return;
        }
        let after_end = std::mem::take(&mut self.after_end);
        let at_start = std::mem::take(&mut self.at_start);
        let label = std::mem::take(&mut self.label);
        if t.kind == TokKind::Semi {
            self.at_start = true;
            return;
        }
        if t.is_punct(b':') {
            // A label (`l1: LOOP`): what follows starts a statement.
            self.at_start = label;
            return;
        }
        if t.kind != TokKind::Word {
            return;
        }
        if t.is_word("END") {
            self.depth = self.depth.saturating_sub(1);
            self.after_end = true;
            return;
        }
        if after_end {
            // `END IF`, `END CASE`, `END LOOP`, `END WHILE`, `END REPEAT`, or a label.
            return;
        }
        let opens = t.is_word("BEGIN")
            || t.is_word("CASE")
            || at_start
                && ["IF", "LOOP", "WHILE", "REPEAT"]
                    .iter()
                    .any(|w| t.is_word(w));
        if opens {
            self.depth += 1;
        }
        self.at_start = ["BEGIN", "THEN", "ELSE", "DO", "LOOP", "REPEAT", "ROW"]
            .iter()
            .any(|w| t.is_word(w));
        self.label = at_start && !opens;
    }

    /// Whether a `;` now would be inside a block of the body (and so not end the statement).
    pub(crate) fn inside(&self) -> bool {
        self.defines && self.depth > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lexer::Lexer;

    /// Where the text's top-level `;` are (token indexes of the ones that end a statement).
    fn splits(sql: &str) -> usize {
        let mut body = Body::default();
        let mut n = 0;
        for t in Lexer::new(sql) {
            if t.kind == TokKind::Semi && !body.inside() {
                n += 1;
                body = Body::default();
                continue;
            }
            body.feed(&t);
        }
        n
    }

    #[test]
    fn bodies_keep_their_semicolons() {
        for sql in [
            "CREATE PROCEDURE foo() BEGIN SELECT 1; END",
            "CREATE DEFINER=`app`@`%` PROCEDURE p(IN x INT) BEGIN DECLARE y INT; \
             IF x > 1 THEN SET y = 1; ELSEIF x < 0 THEN SET y = 2; ELSE SET y = 3; END IF; \
             l1: LOOP LEAVE l1; END LOOP l1; WHILE y < 3 DO SET y = y + 1; END WHILE; \
             REPEAT SET y = y - 1; UNTIL y = 0 END REPEAT; \
             CASE y WHEN 0 THEN SELECT 0; ELSE SELECT 1; END CASE; \
             SELECT CASE WHEN y THEN 1 ELSE 2 END, IF(y, 1, 2), REPEAT('a', 2); \
             SELECT IF(y, 1, 2); SELECT REPEAT('b', 2) INTO y; END",
            "CREATE TRIGGER t BEFORE INSERT ON x FOR EACH ROW BEGIN SET NEW.a = 1; SET NEW.b = 2; END",
            "CREATE FUNCTION f() RETURNS INT DETERMINISTIC BEGIN RETURN 1; END",
            "CREATE EVENT e ON SCHEDULE EVERY 1 DAY DO BEGIN DELETE FROM t; DELETE FROM u; END",
            "BEGIN NOT ATOMIC SELECT 1; SELECT 2; END",
        ] {
            assert_eq!(splits(sql), 0, "{sql}");
        }
    }

    #[test]
    fn a_stored_program_is_one_ddl_statement() {
        let c = crate::classify("CREATE PROCEDURE foo() BEGIN SELECT 1; SELECT 2; END");
        assert!(c.analysis.rest.is_empty(), "{:?}", c.analysis.rest);
        assert!(matches!(c.kind(), crate::Kind::Ddl(_)), "{:?}", c.kind());
        let two = crate::classify("CREATE PROCEDURE foo() BEGIN SELECT 1; END; SELECT 2");
        assert_eq!(two.analysis.rest.len(), 1);
    }

    #[test]
    fn other_semicolons_still_split() {
        assert_eq!(splits("SELECT 1; SELECT 2"), 1);
        assert_eq!(splits("BEGIN; SELECT 1"), 1);
        assert_eq!(splits("CREATE TABLE t (a INT); SELECT 1"), 1);
        assert_eq!(
            splits("CREATE PROCEDURE p() BEGIN SELECT 1; END; SELECT 2"),
            1
        );
        assert_eq!(splits("CREATE PROCEDURE p() SELECT 1; SELECT 2"), 1);
    }
}
