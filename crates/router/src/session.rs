//! What the router must know about a client session between statements.
//!
//! Owns [`SessionState`] and how it changes. Two sources feed it, and the server calls both:
//!
//! 1. [`SessionState::apply_statement`] after each statement the backend accepted: SET values,
//!    temporary tables, LOCK TABLES, named locks, USE, BEGIN/COMMIT, `SET autocommit`.
//! 2. [`SessionState::apply_server_status`] with the status flags of every OK/EOF packet, plus
//!    [`SessionState::apply_tracked_variable`] / [`SessionState::apply_tracked_schema`] for
//!    session-state-change entries (`CLIENT_SESSION_TRACK`).
//!
//! **Source of truth**: the server's status flags for transaction state and autocommit (they see
//! stored procedures, implicit commits and errors the text does not); tracked variables for the
//! values to replay. Statements fill in what packets do not carry (temporary tables, locks, user
//! variables, read-only transactions on servers without that flag) and give a provisional answer
//! until the next packet arrives.
//!
//! Route each statement with the state *before* it; apply it once the backend has answered.

use std::collections::{BTreeMap, BTreeSet};

use crate::classify::Classification;
use crate::kind::{DdlKind, Effects, Kind, Scope, SetItem, TxStatement, XaVerb};

/// Transaction-related status flags from an OK or EOF packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerStatus {
    /// `SERVER_STATUS_IN_TRANS`.
    pub in_transaction: bool,
    /// `SERVER_STATUS_AUTOCOMMIT`.
    pub autocommit: bool,
    /// `SERVER_STATUS_IN_TRANS_READONLY`, when the server sends it (MySQL 5.7+, MariaDB 10.3+).
    pub read_only_transaction: Option<bool>,
}

/// Session variables to replay on every backend the session uses, as SQL fragments.
///
/// Keys are normalised names (`sql_mode`, `names`, `transaction_isolation`); values are the SQL
/// that sets them after `SET ` (`SESSION sql_mode = 'TRADITIONAL'`, `NAMES utf8mb4`). They are
/// replayed in the order they were last set, because some overlap (`NAMES` sets
/// `character_set_results`, which a later `SET character_set_results = NULL` changes again). A
/// backend connection that carries its own `SessionVariables` is synced with
/// [`SessionVariables::diff`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionVariables {
    /// key -> (order of the last change, fragment)
    vars: BTreeMap<Box<str>, (u64, Box<str>)>,
    next: u64,
}

impl SessionVariables {
    /// Records that `key` is set by the fragment `sql`.
    pub fn set(&mut self, key: &str, sql: String) {
        self.next += 1;
        self.vars.insert(key.into(), (self.next, sql.into()));
    }

    /// Forgets `key`: the server no longer holds what it was set to.
    pub fn remove(&mut self, key: &str) {
        self.vars.remove(key);
    }

    /// The fragment for `key`, if set.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.vars.get(key).map(|(_, v)| &**v)
    }

    /// All `(key, fragment)` pairs, in the order they were last set.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        let mut all: Vec<_> = self
            .vars
            .iter()
            .map(|(k, (n, v))| (*n, &**k, &**v))
            .collect();
        all.sort_unstable_by_key(|e| e.0);
        all.into_iter().map(|(_, k, v)| (k, v))
    }

    /// Whether both set the same variables to the same fragments (in whatever order).
    pub fn same_as(&self, other: &SessionVariables) -> bool {
        self.vars.len() == other.vars.len()
            && self
                .vars
                .iter()
                .zip(&other.vars)
                .all(|((k, (_, v)), (k2, (_, v2)))| k == k2 && v == v2)
    }

    /// Number of variables.
    pub fn len(&self) -> usize {
        self.vars.len()
    }

    /// True when nothing needs replaying.
    pub fn is_empty(&self) -> bool {
        self.vars.is_empty()
    }

    /// The fragments a backend holding `backend` must run to match `self`, in replay order
    /// (keys `self` does not set are left alone: resetting them needs `COM_RESET_CONNECTION`).
    pub fn diff<'s>(
        &'s self,
        backend: &'s SessionVariables,
    ) -> impl Iterator<Item = (&'s str, &'s str)> {
        self.iter().filter(move |(k, v)| backend.get(k) != Some(v))
    }

    /// The statements that run the given fragments, in order: consecutive plain assignments
    /// share one `SET a, b, …`; transaction characteristics and roles get statements of their own.
    pub fn to_sql<'s>(fragments: impl IntoIterator<Item = (&'s str, &'s str)>) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut open = false;
        for (_, sql) in fragments {
            // SET [SESSION] TRANSACTION … and SET ROLE … cannot share a SET with anything else.
            let own_statement = sql.contains(" TRANSACTION ")
                || sql.starts_with("TRANSACTION ")
                || sql.starts_with("ROLE ");
            match out.last_mut() {
                Some(last) if open && !own_statement => {
                    last.push_str(", ");
                    last.push_str(sql);
                }
                _ => out.push(format!("SET {sql}")),
            }
            open = !own_statement;
        }
        out
    }
}

/// The router's view of one client session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionState {
    /// The authenticated user (for rules). Set by the server at handshake and COM_CHANGE_USER.
    pub user: Box<str>,
    /// The current default schema (for rules), from the handshake, USE or session tracking.
    pub schema: Option<Box<str>>,
    in_transaction: bool,
    autocommit: bool,
    read_only_transaction: bool,
    /// `SET TRANSACTION READ ONLY|WRITE` without scope: applies to the next transaction only.
    next_transaction_read_only: Option<bool>,
    /// A `SET TRANSACTION …` without scope ran and no transaction has used it yet: the
    /// characteristics wait on the connection that ran it, until a transaction starts (and takes
    /// them), `COMMIT` or `ROLLBACK` or an implicit commit (which drop them).
    next_transaction_pending: bool,
    /// `SET SESSION TRANSACTION READ ONLY` / `transaction_read_only = 1`.
    session_read_only: bool,
    table_locks: bool,
    /// GET_LOCK calls not yet matched by RELEASE_LOCK (whether they succeeded is unknown, so
    /// this errs high).
    named_locks: u32,
    temp_tables: BTreeSet<Box<str>>,
    user_variables: BTreeSet<Box<str>>,
    variables: SessionVariables,
    /// `wait_timeout` in seconds, when the session set it to a number the router can read.
    wait_timeout: Option<u64>,
}

impl Default for SessionState {
    fn default() -> Self {
        SessionState::new("")
    }
}

impl SessionState {
    /// A fresh session for `user`: autocommit on, no transaction, nothing set.
    pub fn new(user: &str) -> Self {
        SessionState {
            user: user.into(),
            schema: None,
            in_transaction: false,
            autocommit: true,
            read_only_transaction: false,
            next_transaction_read_only: None,
            next_transaction_pending: false,
            session_read_only: false,
            table_locks: false,
            named_locks: 0,
            temp_tables: BTreeSet::new(),
            user_variables: BTreeSet::new(),
            variables: SessionVariables::default(),
            wait_timeout: None,
        }
    }

    /// A transaction is open (explicit, or implicit because autocommit is off).
    pub fn in_transaction(&self) -> bool {
        self.in_transaction
    }

    /// Autocommit is on.
    pub fn autocommit(&self) -> bool {
        self.autocommit
    }

    /// The open transaction is READ ONLY.
    pub fn read_only_transaction(&self) -> bool {
        self.in_transaction && self.read_only_transaction
    }

    /// Whether the next BEGIN (without characteristics) starts a read-only transaction.
    pub fn next_transaction_read_only(&self) -> bool {
        self.next_transaction_read_only
            .unwrap_or(self.session_read_only)
    }

    /// Whether characteristics for the next transaction only (`SET TRANSACTION …` without
    /// `SESSION`) wait on the connection that ran them: the server keeps them there, not in any
    /// variable, so the session's statements must run on that connection until a transaction
    /// has started (`BEGIN`, or a statement the server reports opening one) or they were dropped
    /// (`COMMIT`, `ROLLBACK`, an implicit commit). A statement in autocommit mode that uses a
    /// transactional table takes them too, which the server does not report: the wait then lasts
    /// until one of the above, on the safe side.
    pub fn next_transaction_pending(&self) -> bool {
        self.next_transaction_pending
    }

    /// An `INSERT` generated an `AUTO_INCREMENT` value: a `SET insert_id` (the value for the
    /// next one only) is used up, and must not be replayed on the next connection.
    pub fn auto_increment_used(&mut self) {
        self.variables.remove("insert_id");
    }

    /// The next transaction's characteristics are gone: a transaction took them, `COMMIT`,
    /// `ROLLBACK` or an implicit commit dropped them, or the connection that kept them is gone.
    pub fn clear_next_transaction(&mut self) {
        self.next_transaction_pending = false;
        self.next_transaction_read_only = None;
    }

    /// LOCK TABLES (or FLUSH TABLES WITH READ LOCK) is in force.
    pub fn holds_table_locks(&self) -> bool {
        self.table_locks
    }

    /// GET_LOCK was called more often than RELEASE_LOCK since the last RELEASE_ALL_LOCKS.
    pub fn holds_named_locks(&self) -> bool {
        self.named_locks > 0
    }

    /// Names (lower-cased) of the temporary tables this session created.
    pub fn temp_tables(&self) -> impl Iterator<Item = &str> {
        self.temp_tables.iter().map(|t| &**t)
    }

    /// True when `table` (lower-cased, unqualified) is one of the session's temporary tables.
    pub fn has_temp_table(&self, table: &str) -> bool {
        self.temp_tables.contains(table)
    }

    /// True when the session has any temporary table.
    pub fn has_temp_tables(&self) -> bool {
        !self.temp_tables.is_empty()
    }

    /// Names (lower-cased) of user variables the session has set with SET.
    pub fn user_variables(&self) -> impl Iterator<Item = &str> {
        self.user_variables.iter().map(|t| &**t)
    }

    /// Session variables to replay on any backend the session uses.
    pub fn variables(&self) -> &SessionVariables {
        &self.variables
    }

    /// The session's `wait_timeout` in seconds, as it last set it (SET, or the value session
    /// tracking reported). `None` when it did not set one, set `DEFAULT`, or set what the router
    /// cannot read (an expression it did not see the value of): the server's default applies.
    pub fn wait_timeout(&self) -> Option<u64> {
        self.wait_timeout
    }

    /// Updates the state after `c` ran (call once the backend accepted it; calling it for a
    /// statement that failed errs on the safe side: more statements go to the primary).
    pub fn apply_statement(&mut self, c: &Classification) {
        let a = &c.analysis;
        for kind in a.kinds() {
            self.apply_kind(kind, a.effects, &a.tables);
        }
        // One GET_LOCK per statement is counted; several in one text are held until
        // RELEASE_ALL_LOCKS, since later RELEASE_LOCK calls cannot be matched to them.
        if a.effects.contains(Effects::RELEASES_ALL_LOCKS) {
            self.named_locks = 0;
        } else if a.effects.contains(Effects::ACQUIRES_SEVERAL_NAMED_LOCKS) {
            self.named_locks = u32::MAX;
        } else if a.effects.contains(Effects::ACQUIRES_NAMED_LOCK) {
            self.named_locks = self.named_locks.saturating_add(1);
        } else if a.effects.contains(Effects::RELEASES_NAMED_LOCK) {
            self.named_locks = self.named_locks.saturating_sub(1);
        }
    }

    fn apply_kind(&mut self, kind: &Kind, effects: Effects, tables: &[Box<str>]) {
        if effects.contains(Effects::IMPLICIT_COMMIT) {
            self.end_transaction();
            self.clear_next_transaction();
        }
        match kind {
            Kind::Transaction(tx) => self.apply_transaction(tx),
            Kind::Set(items) => items.iter().for_each(|i| self.apply_set(i)),
            Kind::Use(db) => self.schema = Some(db.clone()),
            Kind::LockTables => self.table_locks = true,
            Kind::UnlockTables => self.table_locks = false,
            Kind::CreateTemporaryTable(t) => {
                self.temp_tables.insert(t.clone());
            }
            Kind::DropTemporaryTable(ts) => ts.iter().for_each(|t| {
                self.temp_tables.remove(t);
            }),
            Kind::Ddl(DdlKind::DropTable) => tables.iter().for_each(|t| {
                self.temp_tables.remove(t);
            }),
            Kind::Ddl(DdlKind::RenameTables) => {
                for pair in tables.chunks_exact(2) {
                    if self.temp_tables.remove(&pair[0]) {
                        self.temp_tables.insert(pair[1].clone());
                    }
                }
            }
            Kind::Read(_) | Kind::Write(_) if !self.autocommit => self.in_transaction = true,
            _ => {}
        }
    }

    fn apply_transaction(&mut self, tx: &TxStatement) {
        match tx {
            TxStatement::Begin { read_only, .. } => {
                self.in_transaction = true;
                self.read_only_transaction =
                    read_only.unwrap_or_else(|| self.next_transaction_read_only());
                self.clear_next_transaction();
            }
            TxStatement::Commit { chain } | TxStatement::Rollback { chain } => {
                self.in_transaction = *chain;
                self.clear_next_transaction();
                if !chain {
                    self.read_only_transaction = false;
                }
            }
            TxStatement::Xa(XaVerb::Start) => {
                self.in_transaction = true;
                self.clear_next_transaction();
            }
            TxStatement::Xa(XaVerb::Commit | XaVerb::Rollback) => self.end_transaction(),
            _ => {}
        }
    }

    fn end_transaction(&mut self) {
        self.in_transaction = false;
        self.read_only_transaction = false;
    }

    fn apply_set(&mut self, item: &SetItem) {
        match item {
            SetItem::Variable {
                scope: Scope::Session,
                name,
                value,
            } => {
                match &**name {
                    "autocommit" => {
                        if let Some(on) = value.as_bool() {
                            if on && !self.autocommit {
                                self.end_transaction();
                            }
                            self.autocommit = on;
                        }
                    }
                    "transaction_read_only" | "tx_read_only" => {
                        self.session_read_only = value.as_bool().unwrap_or(false);
                    }
                    "wait_timeout" => self.wait_timeout = value.as_u64(),
                    // What LAST_INSERT_ID() answers is the server's to track with the session's
                    // inserts (it gives it to each connection), not a variable to replay: a
                    // replay would undo the inserts made since.
                    "last_insert_id" => return,
                    // These seed the connection's RAND() sequence, which each RAND() moves on:
                    // a replay elsewhere would start it again. The server keeps the session on
                    // the connection that has the sequence instead.
                    "rand_seed1" | "rand_seed2" => return,
                    _ => {}
                }
                self.variables
                    .set(name, format!("SESSION {name} = {}", value.sql));
            }
            SetItem::Variable { .. } => {}
            SetItem::UserVariable { name, .. } => {
                self.user_variables.insert(name.clone());
            }
            SetItem::Names { charset, collation } => {
                let sql = match collation {
                    Some(c) => format!("NAMES {charset} COLLATE {c}"),
                    None => format!("NAMES {charset}"),
                };
                self.variables.set("names", sql);
            }
            SetItem::CharacterSet(cs) => self.variables.set("names", format!("CHARACTER SET {cs}")),
            SetItem::Transaction {
                scope,
                isolation,
                read_only,
            } => match scope {
                None => {
                    self.next_transaction_read_only = read_only.or(self.next_transaction_read_only);
                    self.next_transaction_pending = true;
                }
                Some(Scope::Session) => {
                    if let Some(level) = isolation {
                        self.variables.set(
                            "transaction_isolation",
                            format!("SESSION TRANSACTION ISOLATION LEVEL {level}"),
                        );
                    }
                    if let Some(ro) = read_only {
                        self.session_read_only = *ro;
                        let access = if *ro { "READ ONLY" } else { "READ WRITE" };
                        self.variables.set(
                            "transaction_read_only",
                            format!("SESSION TRANSACTION {access}"),
                        );
                    }
                }
                Some(_) => {}
            },
            SetItem::Role(role) => self.variables.set("role", format!("ROLE {role}")),
        }
    }

    /// Applies the status flags of an OK/EOF packet: the truth about transaction and autocommit.
    pub fn apply_server_status(&mut self, status: ServerStatus) {
        if status.in_transaction {
            // The transaction that opened took the next transaction's characteristics.
            self.clear_next_transaction();
        } else {
            self.end_transaction();
        }
        self.in_transaction = status.in_transaction;
        self.autocommit = status.autocommit;
        if let Some(ro) = status.read_only_transaction {
            self.read_only_transaction = ro && status.in_transaction;
        }
    }

    /// Applies a `SESSION_TRACK_SYSTEM_VARIABLES` entry: the value the server actually holds.
    pub fn apply_tracked_variable(&mut self, name: &str, value: &str) {
        let name = name.to_ascii_lowercase();
        match name.as_str() {
            "autocommit" => self.autocommit = value.eq_ignore_ascii_case("on") || value == "1",
            "wait_timeout" => self.wait_timeout = value.parse().ok(),
            _ => {}
        }
        // A number goes unquoted: the server refuses a string for a numeric variable (1232).
        let sql = if is_number(value) {
            format!("SESSION {name} = {value}")
        } else {
            let quoted = value.replace('\\', "\\\\").replace('\'', "''");
            format!("SESSION {name} = '{quoted}'")
        };
        self.variables.set(&name, sql);
    }

    /// Applies a `SESSION_TRACK_SCHEMA` entry.
    pub fn apply_tracked_schema(&mut self, schema: &str) {
        self.schema = Some(schema.into());
    }

    /// Forgets the session's state but the user and schema, as `COM_RESET_CONNECTION` does on
    /// the backend. (For `COM_CHANGE_USER`, build a new `SessionState`.)
    pub fn reset(&mut self) {
        let user = std::mem::take(&mut self.user);
        let schema = self.schema.take();
        *self = SessionState::new(&user);
        self.schema = schema;
    }
}

/// Whether a reported variable value is a plain number (`600`, `0.000000`), which a `SET` must
/// give unquoted.
fn is_number(value: &str) -> bool {
    let digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    let unsigned = value.strip_prefix('-').unwrap_or(value);
    match unsigned.split_once('.') {
        Some((whole, fraction)) => digits(whole) && digits(fraction),
        None => digits(unsigned),
    }
}
