//! The routing decision: where one classified statement goes, and why.
//!
//! Owns the order in which reasons are weighed. Safety comes first and nothing overrides it:
//! rejections, then the backend holding the session's transaction or table locks, then anything
//! that is not a read (writes, DDL, SET, unknown text …), then reads with side effects or that
//! need this session's state (locking reads, user variables, temporary tables, autocommit off).
//! Only what is left, a plain read, is open to hints, rules and policy: a `replica` hint or rule
//! can never send a write or an unknown statement to a replica.

use std::fmt;
use std::time::Duration;

use crate::classify::Classification;
use crate::hints::HintRoute;
use crate::kind::{Effects, Kind, Scope, SetItem, TxStatement, UnknownCause, WriteKind};
use crate::policy::{Policy, ReadTarget, RuleAction};
use crate::session::SessionState;

/// Where a statement goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The primary.
    Primary,
    /// Any replica that meets the decision's lag and GTID bounds (the primary if none does).
    Replica,
    /// The backend connection the session used last: it holds the open transaction, the table
    /// locks or the previous statement's diagnostics. The primary when the session has none.
    Pinned,
    /// Not run: the client gets an error with this message (from a rule).
    Reject(String),
}

impl Target {
    /// Lower-case name for metrics and explain output.
    pub fn as_str(&self) -> &'static str {
        match self {
            Target::Primary => "primary",
            Target::Replica => "replica",
            Target::Pinned => "pinned",
            Target::Reject(_) => "reject",
        }
    }
}

/// Why a statement goes where it goes: one value per rule of [`route`], for explain and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// A transaction is open: stay on its backend.
    InTransaction,
    /// A READ ONLY transaction: it may run, whole, on one replica.
    ReadOnlyTransaction,
    /// Autocommit is off and no transaction is open: this statement opens one, on the primary.
    AutocommitOff,
    /// LOCK TABLES or named locks are held by the session.
    LocksHeld,
    /// `FOR UPDATE`, `FOR SHARE`, `LOCK IN SHARE MODE`, `SKIP LOCKED`, `NOWAIT`.
    LockingRead,
    /// `INTO OUTFILE`, `INTO DUMPFILE`, `INTO @var`.
    SelectInto,
    /// Sets a user variable (`@x := …`).
    UserVariableWrite,
    /// Reads a user variable, which lives on the primary connection.
    UserVariableRead,
    /// `LAST_INSERT_ID()`, `SQL_CALC_FOUND_ROWS`, `@@identity`, `CONNECTION_ID()`.
    SessionFunction,
    /// `GET_LOCK()` and friends.
    NamedLock,
    /// MariaDB sequence functions.
    Sequence,
    /// Calls a stored (not built-in) function, which may write.
    StoredFunction,
    /// About the previous statement (`SHOW WARNINGS`, `@@warning_count` …).
    Diagnostics,
    /// Reads one of the session's temporary tables (or tables not known while it has some).
    ReadsTempTable,
    /// Writes, creates or drops a temporary table.
    WritesToTempTable,
    /// A comment hint decided.
    Hint,
    /// The query rule with this index decided.
    Rule(usize),
    /// The text could not be parsed.
    ParseFailed,
    /// The statement is of no known kind (or too long, unterminated, ambiguous).
    Unknown,
    /// No statement at all (only comments).
    Empty,
    /// A write (DML, CALL, DO, LOAD DATA).
    Write,
    /// DDL.
    Ddl,
    /// BEGIN, COMMIT, SAVEPOINT, XA … outside a transaction's backend.
    TransactionControl,
    /// SET, USE, PREPARE/EXECUTE/DEALLOCATE: session state that lives on the primary connection.
    SessionState,
    /// LOCK TABLES / UNLOCK TABLES.
    TableLock,
    /// KILL, FLUSH, GRANT, replication and maintenance statements.
    Admin,
    /// Characteristics for the next transaction only (`SET TRANSACTION …`) wait on the
    /// connection that ran them: stay there until a transaction takes them or they are dropped.
    NextTransaction,
    /// A plain read.
    PlainRead,
    /// A plain read, sent to the primary because the policy says reads go there.
    ReadsToPrimary,
}

impl Reason {
    /// One of each reason (every `Rule(n)` stands as `Rule(0)`), in [`Reason::index`] order:
    /// for counters indexed by reason.
    pub const ALL: [Reason; 29] = [
        Reason::InTransaction,
        Reason::ReadOnlyTransaction,
        Reason::AutocommitOff,
        Reason::LocksHeld,
        Reason::LockingRead,
        Reason::SelectInto,
        Reason::UserVariableWrite,
        Reason::UserVariableRead,
        Reason::SessionFunction,
        Reason::NamedLock,
        Reason::Sequence,
        Reason::StoredFunction,
        Reason::Diagnostics,
        Reason::ReadsTempTable,
        Reason::WritesToTempTable,
        Reason::Hint,
        Reason::Rule(0),
        Reason::ParseFailed,
        Reason::Unknown,
        Reason::Empty,
        Reason::Write,
        Reason::Ddl,
        Reason::TransactionControl,
        Reason::SessionState,
        Reason::TableLock,
        Reason::Admin,
        Reason::PlainRead,
        Reason::ReadsToPrimary,
        Reason::NextTransaction,
    ];

    /// This reason's place in [`Reason::ALL`] (every `Rule(n)` shares one).
    pub fn index(self) -> usize {
        match self {
            Reason::InTransaction => 0,
            Reason::ReadOnlyTransaction => 1,
            Reason::AutocommitOff => 2,
            Reason::LocksHeld => 3,
            Reason::LockingRead => 4,
            Reason::SelectInto => 5,
            Reason::UserVariableWrite => 6,
            Reason::UserVariableRead => 7,
            Reason::SessionFunction => 8,
            Reason::NamedLock => 9,
            Reason::Sequence => 10,
            Reason::StoredFunction => 11,
            Reason::Diagnostics => 12,
            Reason::ReadsTempTable => 13,
            Reason::WritesToTempTable => 14,
            Reason::Hint => 15,
            Reason::Rule(_) => 16,
            Reason::ParseFailed => 17,
            Reason::Unknown => 18,
            Reason::Empty => 19,
            Reason::Write => 20,
            Reason::Ddl => 21,
            Reason::TransactionControl => 22,
            Reason::SessionState => 23,
            Reason::TableLock => 24,
            Reason::Admin => 25,
            Reason::PlainRead => 26,
            Reason::ReadsToPrimary => 27,
            Reason::NextTransaction => 28,
        }
    }

    /// snake_case name for metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::InTransaction => "in_transaction",
            Reason::ReadOnlyTransaction => "read_only_transaction",
            Reason::AutocommitOff => "autocommit_off",
            Reason::LocksHeld => "locks_held",
            Reason::LockingRead => "locking_read",
            Reason::SelectInto => "select_into",
            Reason::UserVariableWrite => "user_variable_write",
            Reason::UserVariableRead => "user_variable_read",
            Reason::SessionFunction => "session_function",
            Reason::NamedLock => "named_lock",
            Reason::Sequence => "sequence",
            Reason::StoredFunction => "stored_function",
            Reason::Diagnostics => "diagnostics",
            Reason::ReadsTempTable => "reads_temp_table",
            Reason::WritesToTempTable => "writes_to_temp_table",
            Reason::Hint => "hint",
            Reason::Rule(_) => "rule",
            Reason::ParseFailed => "parse_failed",
            Reason::Unknown => "unknown",
            Reason::Empty => "empty",
            Reason::Write => "write",
            Reason::Ddl => "ddl",
            Reason::TransactionControl => "transaction_control",
            Reason::SessionState => "session_state",
            Reason::TableLock => "table_lock",
            Reason::Admin => "admin",
            Reason::PlainRead => "plain_read",
            Reason::ReadsToPrimary => "reads_to_primary",
            Reason::NextTransaction => "next_transaction",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Rule(n) => write!(f, "rule({n})"),
            r => f.write_str(r.as_str()),
        }
    }
}

/// The answer of [`route`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Where to send the statement.
    pub target: Target,
    /// Why.
    pub reason: Reason,
    /// Largest replica lag acceptable (hint, else policy); meaningful for [`Target::Replica`].
    pub max_lag: Option<Duration>,
    /// GTID position a replica must have applied (from a `min_gtid` hint).
    pub min_gtid: Option<Box<str>>,
    /// The [`crate::hints::key_hash`] of a `hash_key` hint: which replica hash balancing keeps
    /// this read on (when the proxy hashes hints).
    pub hash_key: Option<u64>,
}

impl fmt::Display for Decision {
    /// `replica (plain_read)`, `primary (rule(2))`, `reject (rule(0))`: for EXPLAIN-style output.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.target.as_str(), self.reason)
    }
}

/// Decides where `c` runs for a session in state `s` under policy `p`.
pub fn route(c: &Classification, s: &SessionState, p: &Policy) -> Decision {
    let (target, reason) = decide(c, s, p);
    Decision {
        target,
        reason,
        max_lag: c.hints.max_lag.filter(|_| p.honor_hints).or(p.max_lag),
        min_gtid: if p.honor_hints {
            c.hints.min_gtid.clone()
        } else {
            None
        },
        hash_key: c.hints.hash_key.filter(|_| p.honor_hints),
    }
}

fn decide(c: &Classification, s: &SessionState, p: &Policy) -> (Target, Reason) {
    let a = &c.analysis;
    let rule = p
        .rules
        .iter()
        .position(|r| r.matches(&s.user, s.schema.as_deref(), a.digest.hash, &a.digest.text));
    let rule_action = rule.map(|i| (i, &p.rules[i].action));
    if let Some((i, RuleAction::Reject { message })) = rule_action {
        return (Target::Reject(message.clone()), Reason::Rule(i));
    }
    if s.in_transaction() {
        if s.read_only_transaction() {
            // A replica holds the transaction; only what cannot harm it stays there. (Writes do:
            // the replica refuses them inside a READ ONLY transaction, as the primary would.)
            let stays = a.kinds().all(|k| match k {
                Kind::Read(_) | Kind::Transaction(_) | Kind::Use(_) => true,
                Kind::Set(items) => items.iter().all(sets_only_this_session),
                Kind::Write(w) => !matches!(w, WriteKind::Call | WriteKind::Other),
                _ => false,
            });
            if stays && !a.effects.contains(Effects::IMPLICIT_COMMIT) {
                return (Target::Pinned, Reason::ReadOnlyTransaction);
            }
            return (
                Target::Primary,
                non_read_reason(c, s, false).unwrap_or(Reason::Unknown),
            );
        }
        return (Target::Pinned, Reason::InTransaction);
    }
    if s.next_transaction_pending() {
        return (Target::Pinned, Reason::NextTransaction);
    }
    if s.holds_table_locks() {
        return (Target::Pinned, Reason::LocksHeld);
    }
    if let Some(reason) = non_read_reason(c, s, p.read_only_transactions_on_replica) {
        if reason == Reason::ReadOnlyTransaction {
            return (Target::Replica, reason);
        }
        return (Target::Primary, reason);
    }
    if !s.autocommit() {
        return (Target::Primary, Reason::AutocommitOff);
    }
    let mut effects = a.effects;
    if p.stored_functions_read_only {
        effects.remove(Effects::STORED_FUNCTION);
    }
    if let Some(reason) = read_effect_reason(effects) {
        let target = if reason == Reason::Diagnostics {
            Target::Pinned
        } else {
            Target::Primary
        };
        return (target, reason);
    }
    if s.has_temp_tables() && (!a.tables_known || a.tables.iter().any(|t| s.has_temp_table(t))) {
        return (Target::Primary, Reason::ReadsTempTable);
    }
    if s.holds_named_locks() {
        return (Target::Primary, Reason::LocksHeld);
    }
    // A plain read: hints, rules and policy decide.
    let hint = c.hints.route.filter(|_| p.honor_hints);
    if hint == Some(HintRoute::Primary) {
        return (Target::Primary, Reason::Hint);
    }
    if let Some((i, RuleAction::Primary)) = rule_action {
        return (Target::Primary, Reason::Rule(i));
    }
    if hint == Some(HintRoute::Replica) {
        return (Target::Replica, Reason::Hint);
    }
    if let Some((i, RuleAction::Replica)) = rule_action {
        return (Target::Replica, Reason::Rule(i));
    }
    match p.reads {
        ReadTarget::Replica => (Target::Replica, Reason::PlainRead),
        ReadTarget::Primary => (Target::Primary, Reason::ReadsToPrimary),
    }
}

/// The reason the first statement that is not a read needs the primary; `None` if all read.
/// A lone read-only BEGIN that may use a replica comes back as `ReadOnlyTransaction`.
fn non_read_reason(
    c: &Classification,
    s: &SessionState,
    read_only_on_replica: bool,
) -> Option<Reason> {
    let a = &c.analysis;
    let writes_temp = a.tables.iter().any(|t| s.has_temp_table(t));
    let reason = a.kinds().find_map(|k| match k {
        Kind::Read(_) => None,
        Kind::Write(_) if writes_temp => Some(Reason::WritesToTempTable),
        Kind::Write(_) => Some(Reason::Write),
        Kind::Ddl(_) => Some(Reason::Ddl),
        Kind::Transaction(_) => Some(Reason::TransactionControl),
        Kind::Set(_) | Kind::Use(_) | Kind::Prepare(_) | Kind::Execute(_) | Kind::Deallocate(_) => {
            Some(Reason::SessionState)
        }
        Kind::LockTables | Kind::UnlockTables => Some(Reason::TableLock),
        Kind::CreateTemporaryTable(_) | Kind::DropTemporaryTable(_) => {
            Some(Reason::WritesToTempTable)
        }
        Kind::Kill(_) | Kind::Flush | Kind::Account | Kind::Admin => Some(Reason::Admin),
        Kind::Empty => Some(Reason::Empty),
        Kind::Unknown(UnknownCause::ParseFailed) => Some(Reason::ParseFailed),
        Kind::Unknown(_) => Some(Reason::Unknown),
    })?;
    let lone_read_only_begin = a.rest.is_empty()
        && matches!(&a.kind, Kind::Transaction(TxStatement::Begin { read_only, .. })
            if read_only.unwrap_or_else(|| s.next_transaction_read_only()));
    if read_only_on_replica && lone_read_only_begin && a.effects == Effects::IMPLICIT_COMMIT {
        return Some(Reason::ReadOnlyTransaction);
    }
    Some(reason)
}

/// True for a SET item that changes nothing beyond this connection (no GLOBAL, no PERSIST).
fn sets_only_this_session(item: &SetItem) -> bool {
    match item {
        SetItem::Variable { scope, .. } => *scope == Scope::Session,
        SetItem::Transaction { scope, .. } => matches!(scope, None | Some(Scope::Session)),
        _ => true,
    }
}

/// The reason a read's side effects need a particular backend.
fn read_effect_reason(e: Effects) -> Option<Reason> {
    const ORDER: [(Effects, Reason); 10] = [
        (Effects::LOCKING_READ, Reason::LockingRead),
        (Effects::SELECT_INTO, Reason::SelectInto),
        (Effects::USER_VAR_WRITE, Reason::UserVariableWrite),
        (Effects::USER_VAR_READ, Reason::UserVariableRead),
        (Effects::SESSION_FUNCTION, Reason::SessionFunction),
        (Effects::NAMED_LOCK, Reason::NamedLock),
        (Effects::SEQUENCE, Reason::Sequence),
        (Effects::STORED_FUNCTION, Reason::StoredFunction),
        (Effects::PRIMARY_ONLY, Reason::Admin),
        (Effects::DIAGNOSTICS, Reason::Diagnostics),
    ];
    ORDER
        .iter()
        .find(|(f, _)| e.intersects(*f))
        .map(|&(_, r)| r)
}

#[cfg(test)]
mod tests {
    use super::Reason;

    #[test]
    fn every_reason_sits_at_its_index() {
        for (i, r) in Reason::ALL.iter().enumerate() {
            assert_eq!(r.index(), i, "{r:?}");
        }
        assert_eq!(Reason::Rule(7).index(), Reason::Rule(0).index());
    }
}
