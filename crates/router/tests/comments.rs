//! Comments, strings and quoted names never confuse the lexer.
mod common;
use common::*;

#[test]
fn comments_and_literals_hide_keywords() {
    check_rows(&[
        ("/* DELETE */ SELECT 1", Replica, PlainRead),
        ("# DELETE FROM t\nSELECT 1", Replica, PlainRead),
        ("-- DELETE FROM t\nSELECT 1", Replica, PlainRead),
        ("SELECT 1 --1", Replica, PlainRead),
        ("SELECT 'a;DELETE FROM t' AS x", Replica, PlainRead),
        ("SELECT \"it's\", 'say \"hi\"' FROM t", Replica, PlainRead),
        ("SELECT 'don''t FOR UPDATE'", Replica, PlainRead),
        (
            "SELECT `for update`, `weird``name` FROM `select`",
            Replica,
            PlainRead,
        ),
        ("SELECT * FROM t WHERE note = 'x@y.z'", Replica, PlainRead),
        ("SELECT '@x := 1'", Replica, PlainRead),
        ("SELECT 'LAST_INSERT_ID()'", Replica, PlainRead),
        ("/* a */ /* b */ DELETE /* c */ FROM t", Primary, Write),
        ("/*!40101 SET NAMES utf8 */", Primary, SessionState),
        ("SELECT 1 /*!50001 FOR UPDATE */", Primary, LockingRead),
        ("/*!DELETE FROM t*/", Primary, Write),
        // An older server skips a versioned comment: `delete FROM t` would run on the replica.
        ("/*!99999 SELECT 1 AS */ delete FROM t", Primary, Unknown),
        (
            "SELECT /*!40001 SQL_NO_CACHE */ * FROM t",
            Replica,
            PlainRead,
        ),
        (
            "/*M!100101 SET STATEMENT max_statement_time=1 FOR */ SELECT 1",
            Replica,
            PlainRead,
        ),
        ("SELECT 1 /* unterminated", Primary, Unknown),
        ("SELECT 'unterminated", Primary, Unknown),
        ("SELECT `unterminated", Primary, Unknown),
    ]);
}

#[test]
fn backslash_escapes_are_read_both_ways() {
    check_rows(&[
        // Default mode: one string. NO_BACKSLASH_ESCAPES: a SELECT, then a DELETE. Fail closed.
        (r"SELECT 'a\'; DELETE FROM t; -- '", Primary, Unknown),
        // Both readings are the same read, or the other one is malformed: fine.
        (
            r"SELECT * FROM t WHERE name = 'O\'Brien'",
            Replica,
            PlainRead,
        ),
        (r"SELECT 'a\\b'", Replica, PlainRead),
    ]);
}

#[test]
fn double_quotes_may_be_identifiers() {
    check_rows(&[
        // ANSI_QUOTES with backslash escapes: `"a\"` is an identifier, then a DELETE runs.
        (
            r#"SELECT 'x\'', "a\"; DELETE FROM t; -- ""#,
            Primary,
            Unknown,
        ),
        (r#"SELECT "a\"; DELETE FROM t; -- ""#, Primary, Unknown),
        (r#"SELECT "it\"s" FROM t"#, Replica, PlainRead),
    ]);
}
