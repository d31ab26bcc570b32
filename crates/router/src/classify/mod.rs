//! Classification: from statement text to a [`Classification`].
//!
//! Owns the pipeline for one text: lex it (fast path), split it into statements, scan each for
//! side-effect markers, decide its kind from the leading keywords, and confirm would-be plain
//! reads with sqlparser (slow path, in `parse`). [`Analysis`] is the part that depends only on
//! the digest and is what [`crate::ClassifierCache`] keeps; [`Classification`] adds the hints read
//! from this particular text.

mod compound;
mod functions;
mod markers;
mod parse;
mod set;
mod statement;

use std::sync::Arc;

pub use parse::MAX_PARSE_LEN;

use crate::digest::{self, Digest, Scan};
use crate::hints::Hints;
use crate::kind::{Effects, Kind, ReadKind, UnknownCause};
use crate::lexer::{Escapes, Lexer, OTHER_ESCAPES, TokKind, Token, Versioned};
use markers::MarkerScanner;
use statement::Verdict;

/// At most this many tokens of one statement are kept for classification; a longer read is
/// [`UnknownCause::TooLong`] (a long INSERT is still a write: its first keyword says so).
const MAX_TOKENS: usize = 16 * 1024;

/// At most this many statements of one text are classified; a text with more is unknown as a
/// whole (and goes to the primary), so a megabyte of `SELECT 1;` cannot cost seconds of parsing.
const MAX_STATEMENTS: usize = 256;

/// The hint-free facts about a statement text: everything routing needs, shared by all texts
/// with the same digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Analysis {
    /// The normalised shape and its hash.
    pub digest: Digest,
    /// Kind of the first (usually only) statement.
    pub kind: Kind,
    /// Kinds of the statements that follow in multi-statement text (`a; b`).
    pub rest: Vec<Kind>,
    /// Side effects, over all statements.
    pub effects: Effects,
    /// Tables the statements name (lower-cased, unqualified): what reads read, write targets,
    /// temporary tables created or dropped.
    pub tables: Vec<Box<str>>,
    /// True when `tables` lists every table the reads touch (false when it was not worked out).
    pub tables_known: bool,
    /// The schemas that reads confirmed by sqlparser qualify their tables with (`db.t`: `db`),
    /// lower-cased; empty when no table was qualified (or the reads were not parsed).
    pub schemas: Vec<Box<str>>,
    /// sqlparser confirmed the reads.
    pub parsed: bool,
    /// The classification depends on literal values (SET, PREPARE, KILL): never served from the
    /// cache.
    pub literal_sensitive: bool,
}

impl Analysis {
    /// All statement kinds, in order.
    pub fn kinds(&self) -> impl Iterator<Item = &Kind> {
        std::iter::once(&self.kind).chain(&self.rest)
    }

    /// True when every statement is a read.
    pub fn is_read(&self) -> bool {
        self.kinds().all(|k| matches!(k, Kind::Read(_)))
    }
}

/// The result of classifying one statement text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classification {
    /// The facts shared by every text with this digest (cached).
    pub analysis: Arc<Analysis>,
    /// Hints from this text's comments (never cached).
    pub hints: Hints,
}

impl Classification {
    /// Kind of the first statement.
    pub fn kind(&self) -> &Kind {
        &self.analysis.kind
    }

    /// Side effects over all statements.
    pub fn effects(&self) -> Effects {
        self.analysis.effects
    }

    /// The digest (for statistics and the cache).
    pub fn digest(&self) -> &Digest {
        &self.analysis.digest
    }
}

/// Classifies `sql` without a cache: lexes, and parses when the lexer cannot decide.
///
/// Never panics; anything not understood is [`Kind::Unknown`], which routes to the primary.
pub fn classify(sql: &str) -> Classification {
    let mut text = String::new();
    let scan = digest::scan(sql, &mut text);
    let hints = scan.hints.clone();
    Classification {
        analysis: Arc::new(analyze(sql, text, &scan)),
        hints,
    }
}

/// [`classify`] for raw bytes: invalid UTF-8 is replaced (it can only be inside literals,
/// identifiers or comments, where it does not change the kind).
pub fn classify_bytes(sql: &[u8]) -> Classification {
    classify(&String::from_utf8_lossy(sql))
}

/// One statement's facts, before multi-statement text is folded together.
#[derive(Debug)]
pub(crate) struct Stmt {
    kind: Kind,
    effects: Effects,
    tables: Vec<Box<str>>,
    tables_known: bool,
    schemas: Vec<Box<str>>,
    parsed: bool,
    literal_sensitive: bool,
    /// EXPLAIN: the markers belong to the explained statement, which does not run.
    effects_cleared: bool,
}

impl Stmt {
    fn new(kind: Kind) -> Stmt {
        let tables_known = !matches!(kind, Kind::Read(_));
        Stmt {
            kind,
            effects: Effects::empty(),
            tables: Vec::new(),
            tables_known,
            schemas: Vec::new(),
            parsed: false,
            literal_sensitive: false,
            effects_cleared: false,
        }
    }
}

/// Full classification of `sql`, whose digest text is `text`.
pub(crate) fn analyze(sql: &str, text: String, scan: &Scan) -> Analysis {
    let digest = Digest {
        hash: scan.hash,
        text: text.into(),
        truncated: scan.truncated,
    };
    let stmts = if scan.unterminated {
        vec![Stmt::new(Kind::Unknown(UnknownCause::Unterminated))]
    } else {
        let mut stmts = statements(sql, Escapes::Backslash, Versioned::Execute);
        // Other readings the server may use: other backslash and double-quote rules (sql_mode
        // NO_BACKSLASH_ESCAPES, ANSI_QUOTES) and without versioned comments' contents (older server, or
        // MySQL reading /*M! …*/). If one of them differs from a reading that could reach a
        // replica, fail closed.
        let escapes: &[Escapes] = if scan.escape_sensitive {
            &OTHER_ESCAPES
        } else {
            &[]
        };
        let mut others: Vec<(Escapes, Versioned)> =
            escapes.iter().map(|&e| (e, Versioned::Execute)).collect();
        if scan.versioned {
            others.push((Escapes::Backslash, Versioned::Skip));
            others.extend(escapes.iter().map(|&e| (e, Versioned::Skip)));
        }
        let mut ambiguous = false;
        // A text that may reach a replica waits if any reading of it calls a waiting function
        // (which does not change where it goes).
        let mut waits = false;
        if replica_eligible(&stmts) {
            for (e, v) in others {
                let other = statements(sql, e, v);
                waits |= other.iter().any(|s| s.effects.contains(Effects::WAITS));
                if !same_routing(&stmts, &other) {
                    ambiguous = true;
                    break;
                }
            }
        }
        if ambiguous {
            vec![Stmt::new(Kind::Unknown(UnknownCause::Ambiguous))]
        } else {
            if waits && let Some(first) = stmts.first_mut() {
                first.effects |= Effects::WAITS;
            }
            stmts
        }
    };
    fold(digest, stmts)
}

/// True when every statement is a read without an effect that keeps it on the primary: only
/// such text needs its other readings checked.
fn replica_eligible(stmts: &[Stmt]) -> bool {
    stmts
        .iter()
        .all(|s| matches!(s.kind, Kind::Read(_)) && !s.effects.intersects(FORCING))
}

/// Effects that send a read to the primary whatever else is true.
const FORCING: Effects = Effects::LOCKING_READ
    .union(Effects::SELECT_INTO)
    .union(Effects::USER_VAR_WRITE)
    .union(Effects::USER_VAR_READ)
    .union(Effects::SESSION_FUNCTION)
    .union(Effects::NAMED_LOCK)
    .union(Effects::SEQUENCE)
    .union(Effects::STORED_FUNCTION)
    .union(Effects::PRIMARY_ONLY);

/// True when the other reading `b` routes like `a`, or is malformed (the server would reject it
/// in that mode wherever it ran). [`Effects::WAITS`] does not route.
fn same_routing(a: &[Stmt], b: &[Stmt]) -> bool {
    let malformed = b
        .iter()
        .any(|s| s.kind == Kind::Unknown(UnknownCause::Unterminated));
    let routed = |e: Effects| e.difference(Effects::WAITS);
    malformed
        || a.len() == b.len()
            && a.iter()
                .zip(b)
                .all(|(x, y)| x.kind == y.kind && routed(x.effects) == routed(y.effects))
}

fn fold(digest: Digest, stmts: Vec<Stmt>) -> Analysis {
    let mut it = stmts.into_iter();
    let first = it.next().unwrap_or_else(|| Stmt::new(Kind::Empty));
    let mut a = Analysis {
        digest,
        kind: first.kind,
        rest: Vec::new(),
        effects: first.effects,
        tables: first.tables,
        tables_known: first.tables_known,
        schemas: first.schemas,
        parsed: first.parsed,
        literal_sensitive: first.literal_sensitive,
    };
    for s in it {
        if a.effects.contains(Effects::ACQUIRES_NAMED_LOCK)
            && s.effects.contains(Effects::ACQUIRES_NAMED_LOCK)
        {
            a.effects |= Effects::ACQUIRES_SEVERAL_NAMED_LOCKS;
        }
        a.rest.push(s.kind);
        a.effects |= s.effects;
        for t in s.tables {
            add_name(&mut a.tables, t);
        }
        for schema in s.schemas {
            add_name(&mut a.schemas, schema);
        }
        a.tables_known &= s.tables_known;
        a.parsed |= s.parsed;
        a.literal_sensitive |= s.literal_sensitive;
    }
    a
}

/// Lexes `sql` and classifies each `;`-separated statement.
fn statements(sql: &str, escapes: Escapes, versioned: Versioned) -> Vec<Stmt> {
    let mut out = Vec::new();
    let mut toks: Vec<Token<'_>> = Vec::new();
    let mut overflow = false;
    let mut markers = MarkerScanner::default();
    let mut body = compound::Body::default();
    let mut lexer = Lexer::with_modes(sql, escapes, versioned);
    loop {
        let tok = lexer.next();
        if let Some(t) = &tok
            && !matches!(
                t.kind,
                TokKind::Hint | TokKind::ExecOpen | TokKind::ExecClose
            )
        {
            // A `;` inside a stored program's body does not end the statement.
            let inside = body.inside();
            body.feed(t);
            if t.kind == TokKind::Semi && inside {
                continue;
            }
        }
        match tok {
            Some(t)
                if matches!(
                    t.kind,
                    TokKind::Hint | TokKind::ExecOpen | TokKind::ExecClose
                ) =>
            {
                continue;
            }
            Some(t) if t.kind != TokKind::Semi => {
                markers.feed(t);
                if toks.len() < MAX_TOKENS {
                    toks.push(t);
                } else {
                    overflow = true;
                }
                continue;
            }
            _ => {}
        }
        let effects = std::mem::take(&mut markers).finish();
        if !toks.is_empty() {
            if out.len() == MAX_STATEMENTS {
                out.push(Stmt::new(Kind::Unknown(UnknownCause::TooLong)));
                break;
            }
            out.push(one(sql, &toks, overflow, effects));
        }
        toks.clear();
        overflow = false;
        body = compound::Body::default();
        if tok.is_none() {
            break;
        }
    }
    if lexer.unterminated {
        out.push(Stmt::new(Kind::Unknown(UnknownCause::Unterminated)));
    }
    out
}

/// Classifies one statement given its (possibly truncated) tokens and its markers.
fn one(sql: &str, toks: &[Token<'_>], overflow: bool, effects: Effects) -> Stmt {
    let mut stmt = match statement::statement(sql, toks) {
        Verdict::Done(s) => s,
        Verdict::ParseRead(kind, _) if effects.intersects(FORCING) => Stmt::new(Kind::Read(kind)),
        Verdict::ParseRead(..) if overflow => Stmt::new(Kind::Unknown(UnknownCause::TooLong)),
        Verdict::ParseRead(kind, from) => {
            let text = join(sql, &toks[from.min(toks.len())..]);
            if text.len() > MAX_PARSE_LEN {
                Stmt::new(Kind::Unknown(UnknownCause::TooLong))
            } else if let Some(read) = parse::parse_read(&text) {
                let mut s = Stmt::new(Kind::Read(kind));
                s.tables = read.tables;
                s.schemas = read.schemas;
                s.tables_known = true;
                s.parsed = true;
                if read.calls_stored_function {
                    s.effects |= Effects::STORED_FUNCTION;
                }
                s.literal_sensitive = read.table_from_literal;
                s
            } else {
                Stmt::new(Kind::Unknown(UnknownCause::ParseFailed))
            }
        }
    };
    if !stmt.effects_cleared {
        stmt.effects |= effects;
    }
    if !matches!(stmt.kind, Kind::Read(_)) {
        // `INSERT INTO`, `LOAD DATA … INTO TABLE`: INTO only means something in a read.
        stmt.effects.remove(Effects::SELECT_INTO);
    }
    if overflow && matches!(stmt.kind, Kind::Read(_)) {
        stmt = Stmt::new(Kind::Unknown(UnknownCause::TooLong));
    }
    stmt
}

/// The tokens' text joined as written, with one space wherever the input had a gap (comments
/// included), so executable comments' contents read as plain SQL.
pub(crate) fn join(src: &str, toks: &[Token<'_>]) -> String {
    let mut out = String::new();
    let mut end = None;
    for t in toks {
        if end.is_some_and(|e| e != t.start) {
            out.push(' ');
        }
        out.push_str(t.text);
        end = Some(t.start + t.text.len());
    }
    let _ = src;
    out
}

/// Splits `toks` at the tokens for which `sep` is true, outside parentheses.
pub(crate) fn split_top_level<'t, 'a>(
    toks: &'t [Token<'a>],
    sep: impl Fn(&Token<'a>) -> bool,
) -> impl Iterator<Item = &'t [Token<'a>]> {
    let mut depth = 0i32;
    toks.split(move |t| {
        if t.is_punct(b'(') {
            depth += 1;
        } else if t.is_punct(b')') {
            depth -= 1;
        }
        depth == 0 && sep(t)
    })
}

/// Removes backticks or quotes around a name (doubled quote characters are left as they are).
pub(crate) fn unquote(s: &str) -> &str {
    let b = s.as_bytes();
    if b.len() >= 2 && matches!(b[0], b'`' | b'\'' | b'"') && b[b.len() - 1] == b[0] {
        &s[1..s.len() - 1]
    } else {
        s
    }
}

/// Adds `name` to a list of table or schema names unless it is there already.
pub(crate) fn add_name(names: &mut Vec<Box<str>>, name: Box<str>) {
    if !names.contains(&name) {
        names.push(name);
    }
}

/// A (possibly qualified) table name starting at token `i`: its last part, lower-cased.
pub(crate) fn table_name(toks: &[Token<'_>], mut i: usize) -> Option<Box<str>> {
    let mut last = None;
    loop {
        let t = toks.get(i)?;
        if !matches!(t.kind, TokKind::Word | TokKind::QuotedIdent) {
            break;
        }
        last = Some(unquote(t.text).to_ascii_lowercase().into_boxed_str());
        if toks.get(i + 1).is_some_and(|d| d.is_punct(b'.')) {
            i += 2;
        } else {
            break;
        }
    }
    last
}

impl ReadKind {
    /// Lower-case name for explain output.
    pub fn as_str(self) -> &'static str {
        match self {
            ReadKind::Select => "select",
            ReadKind::With => "with",
            ReadKind::Show => "show",
            ReadKind::ProcessList { .. } => "processlist",
            ReadKind::SessionStatus => "session_status",
            ReadKind::Describe => "describe",
            ReadKind::Explain => "explain",
            ReadKind::Table => "table",
            ReadKind::Values => "values",
            ReadKind::Help => "help",
        }
    }
}
