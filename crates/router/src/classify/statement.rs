//! One statement's kind, from its leading keywords.
//!
//! Owns the dispatch on the first keyword and the per-family grammar the router needs (transaction
//! characteristics, DROP/CREATE TEMPORARY TABLE names, SHOW variants, write targets). Statements
//! that may be plain reads are handed to [`super::parse`] by the caller; everything else is
//! decided here.

use super::markers::upper;
use super::set::parse_set;
use super::{Stmt, join, split_top_level, table_name, unquote};
use crate::kind::{
    DdlKind, Effects, KillScope, KillTarget, Kind, ReadKind, SetItem, TxStatement, UnknownCause,
    WriteKind, XaVerb,
};
use crate::lexer::{TokKind, Token};

/// What the keywords alone say about a statement.
pub(crate) enum Verdict {
    /// Decided.
    Done(Stmt),
    /// Looks like a plain read; confirm with the parser the query that starts at this token.
    ParseRead(ReadKind, usize),
}

/// `TABLE t [ORDER BY …] [LIMIT …]` (which sqlparser's MySQL dialect does not read); with a
/// set operation it goes to the parser like any query.
fn table_statement(toks: &[Token<'_>]) -> Verdict {
    let set_op = toks.iter().any(|t| {
        ["UNION", "EXCEPT", "INTERSECT"]
            .iter()
            .any(|k| t.is_word(k))
    });
    match table_name(toks, 1) {
        Some(name) if !set_op => {
            let mut s = Stmt::new(Kind::Read(ReadKind::Table));
            s.tables.push(name);
            s.tables_known = true;
            Verdict::Done(s)
        }
        _ => Verdict::ParseRead(ReadKind::Table, 0),
    }
}

fn done(kind: Kind) -> Verdict {
    Verdict::Done(Stmt::new(kind))
}

fn with_effects(kind: Kind, effects: Effects) -> Verdict {
    let mut s = Stmt::new(kind);
    s.effects = effects;
    Verdict::Done(s)
}

fn word(toks: &[Token<'_>], i: usize, kw: &str) -> bool {
    toks.get(i).is_some_and(|t| t.is_word(kw))
}

/// Index of the first token after the optional `words` found in order from `i`.
fn skip_words(toks: &[Token<'_>], mut i: usize, words: &[&str]) -> usize {
    for w in words {
        if word(toks, i, w) {
            i += 1;
        }
    }
    i
}

/// Classifies one statement (non-empty, no hints, no `;`).
pub(crate) fn statement(src: &str, toks: &[Token<'_>]) -> Verdict {
    let first = toks[0];
    if first.is_punct(b'(') {
        return Verdict::ParseRead(ReadKind::Select, 0);
    }
    if first.kind != TokKind::Word {
        return done(Kind::Unknown(UnknownCause::UnknownKeyword));
    }
    let mut buf = [0u8; 32];
    let ddl = Effects::IMPLICIT_COMMIT;
    match upper(first.text, &mut buf) {
        b"SELECT" => Verdict::ParseRead(ReadKind::Select, 0),
        b"TABLE" => table_statement(toks),
        b"VALUES" => Verdict::ParseRead(ReadKind::Values, 0),
        b"WITH" => with(toks),
        b"SHOW" => show(toks),
        b"DESCRIBE" | b"DESC" | b"EXPLAIN" => explain(src, toks),
        b"HELP" => done(Kind::Read(ReadKind::Help)),
        b"GET"
            if word(
                toks,
                skip_words(toks, 1, &["CURRENT", "STACKED"]),
                "DIAGNOSTICS",
            ) =>
        {
            with_effects(Kind::Read(ReadKind::Show), Effects::DIAGNOSTICS)
        }
        b"INSERT" => write(
            WriteKind::Insert,
            toks,
            &["LOW_PRIORITY", "DELAYED", "HIGH_PRIORITY", "IGNORE", "INTO"],
        ),
        b"REPLACE" => write(
            WriteKind::Replace,
            toks,
            &["LOW_PRIORITY", "DELAYED", "INTO"],
        ),
        b"UPDATE" => write(WriteKind::Update, toks, &["LOW_PRIORITY", "IGNORE"]),
        b"DELETE" => write(
            WriteKind::Delete,
            toks,
            &["LOW_PRIORITY", "QUICK", "IGNORE", "FROM"],
        ),
        b"LOAD" if word(toks, 1, "DATA") || word(toks, 1, "XML") => {
            done(Kind::Write(WriteKind::LoadData))
        }
        b"LOAD" => with_effects(Kind::Admin, ddl),
        b"CALL" => done(Kind::Write(WriteKind::Call)),
        b"DO" => done(Kind::Write(WriteKind::Do)),
        b"CREATE" | b"DROP" | b"ALTER" | b"RENAME" | b"TRUNCATE" => schema_change(toks),
        b"GRANT" | b"REVOKE" => with_effects(Kind::Account, ddl),
        b"BEGIN" if toks.len() == 1 || (word(toks, 1, "WORK") && toks.len() == 2) => with_effects(
            Kind::Transaction(TxStatement::Begin {
                read_only: None,
                consistent_snapshot: false,
            }),
            ddl,
        ),
        b"START" if word(toks, 1, "TRANSACTION") => start_transaction(&toks[2..]),
        b"START" | b"STOP" | b"CHANGE" | b"RESET" | b"PURGE" | b"INSTALL" | b"UNINSTALL"
        | b"SHUTDOWN" | b"RESTART" | b"BINLOG" | b"CACHE" | b"CLONE" | b"IMPORT" | b"BACKUP"
        | b"OPTIMIZE" | b"REPAIR" | b"CHECK" | b"CHECKSUM" | b"HANDLER" => {
            with_effects(Kind::Admin, ddl)
        }
        b"ANALYZE" => analyze(src, toks),
        b"COMMIT" => done(Kind::Transaction(TxStatement::Commit {
            chain: chain(toks),
        })),
        b"ROLLBACK" => rollback(toks),
        b"SAVEPOINT" => done(Kind::Transaction(TxStatement::Savepoint(name_at(toks, 1)))),
        b"RELEASE" if word(toks, 1, "SAVEPOINT") => done(Kind::Transaction(
            TxStatement::ReleaseSavepoint(name_at(toks, 2)),
        )),
        b"XA" => xa(toks),
        b"SET" => set(src, toks),
        b"USE" => done(Kind::Use(name_at(toks, 1))),
        b"LOCK" if word(toks, 1, "TABLES") || word(toks, 1, "TABLE") => {
            with_effects(Kind::LockTables, ddl)
        }
        b"LOCK" => with_effects(Kind::Admin, ddl),
        // UNLOCK TABLES commits only when LOCK TABLES was used; the server's status flags tell.
        b"UNLOCK" if word(toks, 1, "TABLES") || word(toks, 1, "TABLE") => done(Kind::UnlockTables),
        b"UNLOCK" => with_effects(Kind::Admin, ddl),
        b"FLUSH" => flush(toks),
        b"PREPARE" => {
            let mut s = Stmt::new(Kind::Prepare(name_at(toks, 1)));
            s.literal_sensitive = true;
            Verdict::Done(s)
        }
        b"EXECUTE" => done(Kind::Execute(name_at(toks, 1))),
        b"DEALLOCATE" => done(Kind::Deallocate(name_at(
            toks,
            skip_words(toks, 1, &["PREPARE"]),
        ))),
        b"KILL" => kill(toks),
        _ => done(Kind::Unknown(UnknownCause::UnknownKeyword)),
    }
}

/// `KILL [HARD|SOFT] [CONNECTION|QUERY] id` with its target; any other KILL without one. Never
/// cached: the digest does not keep the id (nor whether it is a plain integer at all).
fn kill(toks: &[Token<'_>]) -> Verdict {
    let mut i = skip_words(toks, 1, &["HARD"]);
    if i == 1 {
        i = skip_words(toks, 1, &["SOFT"]);
    }
    let scope = if word(toks, i, "QUERY") {
        i += 1;
        KillScope::Query
    } else {
        i = skip_words(toks, i, &["CONNECTION"]);
        KillScope::Connection
    };
    let id = match toks.get(i..) {
        Some([t]) if t.kind == TokKind::Num => t.text.parse().ok(),
        _ => None,
    };
    let mut s = Stmt::new(Kind::Kill(id.map(|id| KillTarget { scope, id })));
    s.literal_sensitive = true;
    Verdict::Done(s)
}

/// An identifier at `i`, unquoted (empty when missing).
fn name_at(toks: &[Token<'_>], i: usize) -> Box<str> {
    toks.get(i).map(|t| unquote(t.text)).unwrap_or("").into()
}

fn chain(toks: &[Token<'_>]) -> bool {
    toks.windows(2)
        .any(|w| w[0].is_word("AND") && w[1].is_word("CHAIN"))
}

fn rollback(toks: &[Token<'_>]) -> Verdict {
    let i = skip_words(toks, 1, &["WORK"]);
    if word(toks, i, "TO") {
        let j = skip_words(toks, i + 1, &["SAVEPOINT"]);
        return done(Kind::Transaction(TxStatement::RollbackToSavepoint(
            name_at(toks, j),
        )));
    }
    done(Kind::Transaction(TxStatement::Rollback {
        chain: chain(toks),
    }))
}

fn start_transaction(chars: &[Token<'_>]) -> Verdict {
    let mut read_only = None;
    let mut consistent_snapshot = false;
    for part in split_top_level(chars, |t| t.is_punct(b',')) {
        match part {
            [a, b] if a.is_word("READ") && b.is_word("ONLY") => read_only = Some(true),
            [a, b] if a.is_word("READ") && b.is_word("WRITE") => read_only = Some(false),
            [a, b, c] if a.is_word("WITH") && b.is_word("CONSISTENT") && c.is_word("SNAPSHOT") => {
                consistent_snapshot = true;
            }
            [] => {}
            _ => return done(Kind::Unknown(UnknownCause::ParseFailed)),
        }
    }
    with_effects(
        Kind::Transaction(TxStatement::Begin {
            read_only,
            consistent_snapshot,
        }),
        Effects::IMPLICIT_COMMIT,
    )
}

fn xa(toks: &[Token<'_>]) -> Verdict {
    let mut buf = [0u8; 32];
    let verb = match toks.get(1).map(|t| upper(t.text, &mut buf)) {
        Some(b"START" | b"BEGIN") => XaVerb::Start,
        Some(b"END") => XaVerb::End,
        Some(b"PREPARE") => XaVerb::Prepare,
        Some(b"COMMIT") => XaVerb::Commit,
        Some(b"ROLLBACK") => XaVerb::Rollback,
        Some(b"RECOVER") => XaVerb::Recover,
        _ => return done(Kind::Unknown(UnknownCause::ParseFailed)),
    };
    let mut s = Stmt::new(Kind::Transaction(TxStatement::Xa(verb)));
    if verb == XaVerb::Start {
        s.effects = Effects::IMPLICIT_COMMIT;
    }
    Verdict::Done(s)
}

/// `WITH … SELECT` reads; `WITH … UPDATE|DELETE` writes. Finds the main statement's keyword
/// after the common table expressions (the first keyword at nesting depth 0 after an `AS (…)`).
fn with(toks: &[Token<'_>]) -> Verdict {
    let mut depth = 0usize;
    let mut seen_body = false;
    for t in toks {
        if t.is_punct(b'(') {
            depth += 1;
        } else if t.is_punct(b')') {
            depth = depth.saturating_sub(1);
            seen_body |= depth == 0;
        } else if depth == 0 && seen_body {
            let mut buf = [0u8; 32];
            match upper(t.text, &mut buf) {
                b"SELECT" | b"TABLE" | b"VALUES" => return Verdict::ParseRead(ReadKind::With, 0),
                b"UPDATE" => return done(Kind::Write(WriteKind::Update)),
                b"DELETE" => return done(Kind::Write(WriteKind::Delete)),
                b"INSERT" | b"REPLACE" => return done(Kind::Write(WriteKind::Insert)),
                _ => {}
            }
        }
    }
    done(Kind::Unknown(UnknownCause::ParseFailed))
}

fn write(kind: WriteKind, toks: &[Token<'_>], skip: &[&str]) -> Verdict {
    let i = skip_words(toks, 1, skip);
    let mut s = Stmt::new(Kind::Write(kind));
    if let Some(t) = table_name(toks, i) {
        s.tables.push(t);
    }
    Verdict::Done(s)
}

fn schema_change(toks: &[Token<'_>]) -> Verdict {
    let mut buf = [0u8; 32];
    let verb = upper(toks[0].text, &mut buf).to_vec();
    let i = skip_words(toks, 1, &["OR", "REPLACE"]);
    let object = toks
        .get(i)
        .map(|t| t.text.to_ascii_uppercase())
        .unwrap_or_default();
    let account = matches!(object.as_str(), "USER" | "ROLE");
    let ddl = Effects::IMPLICIT_COMMIT;
    if account {
        return with_effects(Kind::Account, ddl);
    }
    match (verb.as_slice(), object.as_str()) {
        (b"CREATE", "TEMPORARY") if word(toks, i + 1, "TABLE") => {
            let j = skip_words(toks, i + 2, &["IF", "NOT", "EXISTS"]);
            let name = table_name(toks, j).unwrap_or_default();
            let mut s = Stmt::new(Kind::CreateTemporaryTable(name.clone()));
            s.tables.push(name);
            Verdict::Done(s)
        }
        (b"DROP", "TEMPORARY") => {
            let j = skip_words(
                toks,
                skip_words(toks, i + 1, &["TABLE", "TABLES"]),
                &["IF", "EXISTS"],
            );
            let names = table_list(&toks[j.min(toks.len())..]);
            let mut s = Stmt::new(Kind::DropTemporaryTable(names.clone()));
            s.tables = names;
            Verdict::Done(s)
        }
        (b"DROP", "TABLE" | "TABLES") => {
            let j = skip_words(toks, i + 1, &["IF", "EXISTS"]);
            let mut s = Stmt::new(Kind::Ddl(DdlKind::DropTable));
            s.tables = table_list(&toks[j.min(toks.len())..]);
            s.effects = ddl;
            Verdict::Done(s)
        }
        (b"DROP", "PREPARE") => done(Kind::Deallocate(name_at(toks, i + 1))),
        (b"CREATE", _) => with_effects(Kind::Ddl(DdlKind::Create), ddl),
        (b"ALTER", "TABLE") => alter_table(toks, i + 1),
        (b"ALTER", _) => with_effects(Kind::Ddl(DdlKind::Alter), ddl),
        (b"DROP", _) => with_effects(Kind::Ddl(DdlKind::Drop), ddl),
        (b"RENAME", "TABLE" | "TABLES") => {
            let mut s = Stmt::new(Kind::Ddl(DdlKind::RenameTables));
            s.effects = ddl;
            for pair in split_top_level(&toks[i + 1..], |t| t.is_punct(b',')) {
                let to = pair.iter().position(|t| t.is_word("TO"));
                if let (Some(from), Some(to)) = (
                    table_name(pair, 0),
                    to.and_then(|j| table_name(pair, j + 1)),
                ) {
                    s.tables.extend([from, to]);
                }
            }
            Verdict::Done(s)
        }
        (b"RENAME", _) => with_effects(Kind::Ddl(DdlKind::Rename), ddl),
        _ => with_effects(Kind::Ddl(DdlKind::Truncate), ddl),
    }
}

/// `ALTER TABLE t … RENAME [TO|AS] u …` renames (a temporary table, perhaps); other ALTER TABLEs
/// are plain DDL. `name_at` is the index of the table name.
fn alter_table(toks: &[Token<'_>], name_at: usize) -> Verdict {
    let mut s = Stmt::new(Kind::Ddl(DdlKind::Alter));
    s.effects = Effects::IMPLICIT_COMMIT;
    let rename = split_top_level(&toks[name_at.min(toks.len())..], |t| t.is_punct(b','))
        .filter_map(|clause| {
            let at = clause.iter().position(|t| t.is_word("RENAME"))?;
            let next = clause.get(at + 1)?;
            if ["COLUMN", "INDEX", "KEY"].iter().any(|k| next.is_word(k)) {
                return None;
            }
            table_name(
                clause,
                if next.is_word("TO") || next.is_word("AS") {
                    at + 2
                } else {
                    at + 1
                },
            )
        })
        .next();
    if let (Some(from), Some(to)) = (table_name(toks, name_at), rename) {
        s.kind = Kind::Ddl(DdlKind::RenameTables);
        s.tables = vec![from, to];
    }
    Verdict::Done(s)
}

/// `a, db.b, c` up to the first token that is not part of a name list.
fn table_list(toks: &[Token<'_>]) -> Vec<Box<str>> {
    split_top_level(toks, |t| t.is_punct(b','))
        .filter_map(|part| table_name(part, 0))
        .collect()
}

fn show(toks: &[Token<'_>]) -> Verdict {
    let mut s = Stmt::new(Kind::Read(ReadKind::Show));
    s.tables_known = true;
    let i = skip_words(toks, 1, &["FULL", "EXTENDED"]);
    let mut buf = [0u8; 32];
    match toks.get(i).map(|t| upper(t.text, &mut buf)).unwrap_or(b"") {
        b"STATUS" if i == 1 => {
            s.kind = Kind::Read(ReadKind::SessionStatus);
            s.effects |= Effects::DIAGNOSTICS;
        }
        b"SESSION" | b"LOCAL" if i == 1 && word(toks, 2, "STATUS") => {
            s.kind = Kind::Read(ReadKind::SessionStatus);
            s.effects |= Effects::DIAGNOSTICS;
        }
        b"WARNINGS" | b"ERRORS" | b"PROFILE" | b"PROFILES" | b"COUNT" | b"SESSION" | b"STATUS" => {
            s.effects |= Effects::DIAGNOSTICS;
        }
        // Only the exact forms: anything else is the server's syntax error to give.
        b"PROCESSLIST" if i + 1 == toks.len() && (i == 1 || i == 2 && word(toks, 1, "FULL")) => {
            s.kind = Kind::Read(ReadKind::ProcessList { full: i == 2 });
            // Where it goes when the proxy does not answer it (in a multi-statement text).
            s.effects |= Effects::PRIMARY_ONLY;
        }
        b"MASTER" | b"BINARY" | b"BINLOG" | b"SLAVE" | b"REPLICA" | b"REPLICAS" | b"RELAYLOG"
        | b"PROCESSLIST" | b"ENGINE" | b"ALL" => s.effects |= Effects::PRIMARY_ONLY,
        b"CREATE" if word(toks, i + 1, "TABLE") => s.tables.extend(table_name(toks, i + 2)),
        b"COLUMNS" | b"FIELDS" | b"INDEX" | b"INDEXES" | b"KEYS"
            if word(toks, i + 1, "FROM") || word(toks, i + 1, "IN") =>
        {
            s.tables.extend(table_name(toks, i + 2));
        }
        _ => {}
    }
    Verdict::Done(s)
}

/// `DESCRIBE t`, `EXPLAIN SELECT …`, `EXPLAIN ANALYZE …` (which runs the statement).
fn explain(src: &str, toks: &[Token<'_>]) -> Verdict {
    let next = toks.get(1);
    if next.is_some_and(|t| t.is_word("ANALYZE")) {
        let mut i = 2;
        // FORMAT = TREE
        if word(toks, i, "FORMAT") {
            i += 3;
        }
        return executed(src, toks, i);
    }
    let describes_table = next.is_some_and(|t| {
        matches!(t.kind, TokKind::QuotedIdent)
            || t.kind == TokKind::Word
                && ![
                    "SELECT",
                    "WITH",
                    "TABLE",
                    "VALUES",
                    "INSERT",
                    "UPDATE",
                    "DELETE",
                    "REPLACE",
                    "FORMAT",
                    "EXTENDED",
                    "PARTITIONS",
                    "FOR",
                ]
                .iter()
                .any(|k| t.is_word(k))
    });
    let mut s = Stmt::new(Kind::Read(if toks[0].is_word("EXPLAIN") {
        ReadKind::Explain
    } else {
        ReadKind::Describe
    }));
    if describes_table {
        s.kind = Kind::Read(ReadKind::Describe);
        s.tables.extend(table_name(toks, 1));
        s.tables_known = true;
    }
    s.effects_cleared = true;
    Verdict::Done(s)
}

/// Statements that wrap another one may not wrap each other (MySQL has no such syntax), which
/// also bounds the classifier's recursion whatever the input.
fn wraps_a_statement(first: &Token<'_>) -> bool {
    ["EXPLAIN", "ANALYZE", "DESCRIBE", "DESC", "SET"]
        .iter()
        .any(|k| first.is_word(k))
}

/// MariaDB's `ANALYZE stmt` runs the statement; `ANALYZE TABLE` is maintenance.
fn analyze(src: &str, toks: &[Token<'_>]) -> Verdict {
    if ["TABLE", "TABLES", "NO_WRITE_TO_BINLOG", "LOCAL"]
        .iter()
        .any(|k| word(toks, 1, k))
    {
        return with_effects(Kind::Admin, Effects::IMPLICIT_COMMIT);
    }
    executed(src, toks, 1)
}

/// A statement run for its plan (EXPLAIN ANALYZE, ANALYZE): as its inner statement, but never a
/// plain read the lexer alone vouches for.
fn executed(src: &str, toks: &[Token<'_>], from: usize) -> Verdict {
    if from >= toks.len() || wraps_a_statement(&toks[from]) {
        return done(Kind::Unknown(UnknownCause::ParseFailed));
    }
    match statement(src, &toks[from..]) {
        Verdict::ParseRead(k, at) => Verdict::ParseRead(k, from + at),
        Verdict::Done(s) if matches!(s.kind, Kind::Read(_) | Kind::Write(_)) => Verdict::Done(s),
        Verdict::Done(_) => done(Kind::Write(WriteKind::Other)),
    }
}

fn flush(toks: &[Token<'_>]) -> Verdict {
    let read_lock = toks
        .windows(3)
        .any(|w| w[0].is_word("WITH") && w[1].is_word("READ") && w[2].is_word("LOCK"));
    let kind = if read_lock {
        Kind::LockTables
    } else {
        Kind::Flush
    };
    with_effects(kind, Effects::IMPLICIT_COMMIT)
}

fn set(src: &str, toks: &[Token<'_>]) -> Verdict {
    if word(toks, 1, "STATEMENT") {
        // SET STATEMENT a=1, b=2 FOR <statement>: the inner statement decides.
        let for_at = split_top_level(&toks[2..], |t| t.is_word("FOR"))
            .next()
            .map(|p| p.len() + 2);
        return match for_at {
            Some(i) if i + 1 < toks.len() && !wraps_a_statement(&toks[i + 1]) => {
                match statement(src, &toks[i + 1..]) {
                    Verdict::ParseRead(k, at) => Verdict::ParseRead(k, i + 1 + at),
                    done @ Verdict::Done(_) => done,
                }
            }
            _ => done(Kind::Unknown(UnknownCause::ParseFailed)),
        };
    }
    if word(toks, 1, "PASSWORD") || (word(toks, 1, "DEFAULT") && word(toks, 2, "ROLE")) {
        return with_effects(Kind::Account, Effects::IMPLICIT_COMMIT);
    }
    if word(toks, 1, "RESOURCE") {
        return done(Kind::Admin);
    }
    let items = if word(toks, 1, "ROLE") {
        vec![SetItem::Role(join(src, &toks[2..]).into())]
    } else {
        parse_set(src, &toks[1..])
    };
    let mut s = Stmt::new(Kind::Set(items));
    s.literal_sensitive = true;
    Verdict::Done(s)
}
