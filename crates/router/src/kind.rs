//! The vocabulary of classification: statement kinds, side effects and SET items.
//!
//! Owns the data types only; [`crate::classify()`] fills them in and [`crate::route()`] reads them.
//! Names are stored as written (unquoted) except table names, which are lower-cased so that the
//! temporary-table check errs towards matching.

use bitflags::bitflags;

/// What a statement is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// A statement that only reads.
    Read(ReadKind),
    /// A statement that changes data.
    Write(WriteKind),
    /// Schema change (CREATE/ALTER/DROP/RENAME/TRUNCATE …); commits implicitly.
    Ddl(DdlKind),
    /// Transaction control.
    Transaction(TxStatement),
    /// `SET …`. (`SET STATEMENT … FOR stmt` is classified as `stmt`: its variables apply to that
    /// statement only, and travel with its text.)
    Set(Vec<SetItem>),
    /// `USE db`.
    Use(Box<str>),
    /// `LOCK TABLES …`, `LOCK TABLE …`, `FLUSH TABLES … WITH READ LOCK`.
    LockTables,
    /// `UNLOCK TABLES`.
    UnlockTables,
    /// `CREATE TEMPORARY TABLE name …`.
    CreateTemporaryTable(Box<str>),
    /// `DROP TEMPORARY TABLE a, b`.
    DropTemporaryTable(Vec<Box<str>>),
    /// SQL-level `PREPARE name FROM …`.
    Prepare(Box<str>),
    /// SQL-level `EXECUTE name [USING …]`.
    Execute(Box<str>),
    /// SQL-level `DEALLOCATE PREPARE name` / `DROP PREPARE name`.
    Deallocate(Box<str>),
    /// `KILL …`. `Some`: exactly `KILL [HARD|SOFT] [CONNECTION|QUERY] id`, `id` an unsigned
    /// integer literal and nothing after it, which the server answers for its own connection
    /// ids. `None`: any other form (`KILL USER u`, MariaDB's `KILL QUERY ID n`, an expression,
    /// a syntax error), which the backend runs as written.
    Kill(Option<KillTarget>),
    /// `FLUSH …` (other than FLUSH TABLES WITH READ LOCK).
    Flush,
    /// GRANT, REVOKE, CREATE/ALTER/DROP/RENAME USER or ROLE, SET PASSWORD, SET DEFAULT ROLE.
    Account,
    /// Server administration: ANALYZE/OPTIMIZE/CHECK/REPAIR TABLE, INSTALL, RESET, PURGE,
    /// CHANGE MASTER, START/STOP REPLICA, HANDLER, SHUTDOWN, BINLOG, …
    Admin,
    /// Text with no statement in it (only comments or `;`).
    Empty,
    /// Not understood; always routed to the primary.
    Unknown(UnknownCause),
}

/// What `KILL` ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KillScope {
    /// The statement in progress only (`KILL QUERY`).
    Query,
    /// The whole session (`KILL [CONNECTION]`).
    Connection,
}

/// What a `KILL [HARD|SOFT] [CONNECTION|QUERY] id` names. (`HARD`/`SOFT` are accepted and not
/// kept: the proxy's own KILL acts as MariaDB's default, HARD.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KillTarget {
    /// The statement or the session.
    pub scope: KillScope,
    /// The connection id, as written.
    pub id: u64,
}

/// Kinds of read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReadKind {
    /// `SELECT …` (or a parenthesised one).
    Select,
    /// `WITH … SELECT …`.
    With,
    /// `SHOW …` (other than `SHOW [FULL] PROCESSLIST`).
    Show,
    /// `SHOW [FULL] PROCESSLIST`, nothing after it: the proxy lists its own client sessions
    /// (a backend would list its threads, the proxy's pooled connections). `full`: the
    /// statements are not cut to 100 characters.
    ProcessList {
        /// `SHOW FULL PROCESSLIST`.
        full: bool,
    },
    /// `SHOW [SESSION | LOCAL] STATUS [LIKE … | WHERE …]`: the session's own counters, which
    /// the proxy keeps for the statements and commands it was sent (a backend connection's
    /// describe whichever sessions used it).
    SessionStatus,
    /// `DESCRIBE`/`DESC`.
    Describe,
    /// `EXPLAIN` without ANALYZE.
    Explain,
    /// `TABLE t`.
    Table,
    /// `VALUES ROW(…)`.
    Values,
    /// `HELP '…'`.
    Help,
}

/// Kinds of write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WriteKind {
    /// `INSERT`.
    Insert,
    /// `UPDATE`, including `WITH … UPDATE`.
    Update,
    /// `DELETE`, including `WITH … DELETE`.
    Delete,
    /// `REPLACE`.
    Replace,
    /// `LOAD DATA` / `LOAD XML`.
    LoadData,
    /// `CALL proc(…)`: a procedure may do anything.
    Call,
    /// `DO expr`: evaluated for its side effects.
    Do,
    /// A read whose execution has side effects, e.g. `EXPLAIN ANALYZE UPDATE`.
    Other,
}

/// Kinds of DDL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DdlKind {
    /// `CREATE …` (not TEMPORARY TABLE).
    Create,
    /// `ALTER …`.
    Alter,
    /// `DROP TABLE …` (may drop a temporary table of the same name).
    DropTable,
    /// Any other `DROP …`.
    Drop,
    /// `RENAME TABLE a TO b, …` or `ALTER TABLE a RENAME TO b`: `tables` holds the
    /// (from, to) pairs in order, so a renamed temporary table keeps being tracked.
    RenameTables,
    /// Any other `RENAME …` (RENAME USER is [`Kind::Account`]).
    Rename,
    /// `TRUNCATE …`.
    Truncate,
}

/// Transaction-control statements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxStatement {
    /// `BEGIN [WORK]` or `START TRANSACTION [characteristics]`.
    Begin {
        /// `READ ONLY` was given (`Some(true)`), `READ WRITE` (`Some(false)`), or neither.
        read_only: Option<bool>,
        /// `WITH CONSISTENT SNAPSHOT` was given.
        consistent_snapshot: bool,
    },
    /// `COMMIT [WORK] [AND [NO] CHAIN] [[NO] RELEASE]`.
    Commit {
        /// `AND CHAIN`: a new transaction starts at once.
        chain: bool,
    },
    /// `ROLLBACK [WORK] [AND [NO] CHAIN]`.
    Rollback {
        /// `AND CHAIN`: a new transaction starts at once.
        chain: bool,
    },
    /// `ROLLBACK [WORK] TO [SAVEPOINT] name`.
    RollbackToSavepoint(Box<str>),
    /// `SAVEPOINT name`.
    Savepoint(Box<str>),
    /// `RELEASE SAVEPOINT name`.
    ReleaseSavepoint(Box<str>),
    /// `XA START|BEGIN|END|PREPARE|COMMIT|ROLLBACK|RECOVER …`.
    Xa(XaVerb),
}

/// The verb of an `XA` statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum XaVerb {
    /// `XA START` / `XA BEGIN`.
    Start,
    /// `XA END`.
    End,
    /// `XA PREPARE`.
    Prepare,
    /// `XA COMMIT`.
    Commit,
    /// `XA ROLLBACK`.
    Rollback,
    /// `XA RECOVER`.
    Recover,
}

/// Why a statement is [`Kind::Unknown`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnknownCause {
    /// The first word is not one the classifier knows.
    UnknownKeyword,
    /// sqlparser rejected a statement the lexer could not decide alone.
    ParseFailed,
    /// A comment, string or quoted name is not closed.
    Unterminated,
    /// Too long to parse; routed to the primary rather than parsed.
    TooLong,
    /// The text can be read two ways (backslash escapes) and the readings disagree.
    Ambiguous,
}

/// Where a `SET` assignment applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// `SESSION`, `LOCAL`, `@@session.`, or no scope at all.
    Session,
    /// `GLOBAL` / `@@global.`: not replayed, the server-wide value changes.
    Global,
    /// `PERSIST` / `PERSIST_ONLY` (MySQL 8).
    Persist,
}

/// One item of a `SET` statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetItem {
    /// `[scope] name = value` or `@@[scope.]name = value`; `name` is lower-cased.
    Variable {
        /// Where it applies.
        scope: Scope,
        /// Variable name, lower-cased, without `@@` or scope prefix.
        name: Box<str>,
        /// The value expression.
        value: SetValue,
    },
    /// `@name = value` (a user variable).
    UserVariable {
        /// Name without the `@`, quotes removed.
        name: Box<str>,
        /// The value expression.
        value: SetValue,
    },
    /// `SET NAMES charset [COLLATE collation]` (or `SET NAMES DEFAULT`).
    Names {
        /// Character set, as written.
        charset: Box<str>,
        /// Collation, if given.
        collation: Option<Box<str>>,
    },
    /// `SET CHARACTER SET charset` / `SET CHARSET charset`.
    CharacterSet(Box<str>),
    /// `SET [scope] TRANSACTION characteristic, …`. `scope` is `None` for the next transaction only.
    Transaction {
        /// `None`: only the next transaction; otherwise session or global.
        scope: Option<Scope>,
        /// `ISOLATION LEVEL …`, as written upper-cased (`READ COMMITTED`).
        isolation: Option<Box<str>>,
        /// `READ ONLY` (`Some(true)`) or `READ WRITE` (`Some(false)`).
        read_only: Option<bool>,
    },
    /// `SET ROLE …`: changes privileges of this connection.
    Role(Box<str>),
}

/// The right-hand side of a SET assignment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetValue {
    /// The value's SQL text as written, tokens joined by single spaces (e.g. `'+00:00'`, `0`,
    /// `CONCAT(@@sql_mode, ',STRICT_ALL_TABLES')`). Replaying it re-evaluates it.
    pub sql: Box<str>,
    /// True when the value is a single literal or word (`1`, `ON`, `'UTC'`, `DEFAULT`), so
    /// replaying it anywhere gives the same result.
    pub constant: bool,
}

impl SetValue {
    /// The value read as a boolean (`1`, `0`, `ON`, `OFF`, `TRUE`, `FALSE`, quoted or not).
    pub fn as_bool(&self) -> Option<bool> {
        let v = self.sql.trim_matches(|c| c == '\'' || c == '"');
        match v.to_ascii_lowercase().as_str() {
            "1" | "on" | "true" => Some(true),
            "0" | "off" | "false" => Some(false),
            _ => None,
        }
    }

    /// The value read as an unsigned integer (`28800`, quoted or not); `None` for anything else
    /// (`DEFAULT`, an expression, a negative or fractional number).
    pub fn as_u64(&self) -> Option<u64> {
        self.sql
            .trim_matches(|c| c == '\'' || c == '"')
            .parse()
            .ok()
    }
}

bitflags! {
    /// Facts about a statement that force (or pin) it to a backend whatever its kind.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct Effects: u32 {
        /// `FOR UPDATE`, `FOR SHARE`, `LOCK IN SHARE MODE`, `SKIP LOCKED`, `NOWAIT`.
        const LOCKING_READ = 1 << 0;
        /// `INTO OUTFILE`, `INTO DUMPFILE`, `INTO @var` in a read.
        const SELECT_INTO = 1 << 1;
        /// `@x := …` or `INTO @x`: sets a user variable.
        const USER_VAR_WRITE = 1 << 2;
        /// Reads a user variable `@x`.
        const USER_VAR_READ = 1 << 3;
        /// `LAST_INSERT_ID()`, `SQL_CALC_FOUND_ROWS`, `@@identity`, `@@last_insert_id`: results
        /// that live on the connection that wrote; `CONNECTION_ID()`, whose answer is used with
        /// KILL on the primary.
        const SESSION_FUNCTION = 1 << 4;
        /// `GET_LOCK`, `RELEASE_LOCK`, `RELEASE_ALL_LOCKS`, `IS_USED_LOCK`, `IS_FREE_LOCK`.
        const NAMED_LOCK = 1 << 5;
        /// MariaDB sequences: `NEXTVAL`, `LASTVAL`, `SETVAL`, `NEXT VALUE FOR`, `PREVIOUS VALUE FOR`.
        const SEQUENCE = 1 << 6;
        /// About the previous statement on this connection: `SHOW WARNINGS`, `SHOW ERRORS`,
        /// `@@warning_count`, `@@error_count`, `GET DIAGNOSTICS`, `SHOW PROFILE`, `FOUND_ROWS()`,
        /// `ROW_COUNT()`.
        const DIAGNOSTICS = 1 << 7;
        /// Commits any open transaction before running (DDL, LOCK TABLES, account statements …).
        const IMPLICIT_COMMIT = 1 << 8;
        /// `RELEASE_ALL_LOCKS()`: the session holds no named lock afterwards.
        const RELEASES_ALL_LOCKS = 1 << 9;
        /// `GET_LOCK()`: the session may hold one more named lock afterwards.
        const ACQUIRES_NAMED_LOCK = 1 << 11;
        /// `RELEASE_LOCK()`: the session may hold one named lock fewer afterwards.
        const RELEASES_NAMED_LOCK = 1 << 12;
        /// More than one `GET_LOCK()` in one text: held until `RELEASE_ALL_LOCKS()`.
        const ACQUIRES_SEVERAL_NAMED_LOCKS = 1 << 13;
        /// Calls a function that is not built in (a stored function, which may write).
        const STORED_FUNCTION = 1 << 14;
        /// Calls a function that waits on purpose: `SLEEP`, `BENCHMARK`, `GET_LOCK`,
        /// `MASTER_GTID_WAIT`, `MASTER_POS_WAIT`, `WAIT_FOR_EXECUTED_GTID_SET` … (any name with
        /// `SLEEP`, `BENCHMARK`, `GET_LOCK` or `_WAIT` in it, or starting with `WAIT_`). Routing
        /// ignores it; the server keeps such a read off a connection shared by several sessions.
        const WAITS = 1 << 15;
        /// Admin or replication status statement that belongs on the primary
        /// (`SHOW MASTER STATUS`, `SHOW BINARY LOGS` …).
        const PRIMARY_ONLY = 1 << 10;
    }
}
