//! Learning from a finished answer: the session's state (status flags, tracked variables and
//! schema, GTIDs, prepared and cursor state), the connection's, and effects beyond the session
//! (`SET GLOBAL` renews the pools; a command refused for its size ends the session).
use splitrail_protocol::End;
use splitrail_protocol::StatusFlags;
use splitrail_protocol::response::{OkPacket, code};
use splitrail_router::{Classification, Effects, Kind, ServerStatus};

use super::Session;
use crate::backend::Lease;
use crate::relay::Relayed;

impl Session {
    /// What an answer means beyond the session: a server-wide change (`SET GLOBAL`) renews
    /// every pooled connection, so new sessions start from the new defaults; a command the
    /// server refused unread for its size ends the session, as the server closes the connection.
    pub(crate) fn server_wide_effects(
        &mut self,
        c: Option<&Classification>,
        done: &Relayed,
        lease: &mut Lease,
    ) {
        if sets_globals(c, done) {
            self.worker.pools.globals_changed();
        }
        if done.completion.end
            == (End::Err {
                code: PACKET_TOO_LARGE,
            })
        {
            lease.conn.broken = true;
            self.closing = true;
        }
    }

    /// Applies a finished response to the session state and to the connection it ran on.
    pub(crate) fn learn(&mut self, c: Option<&Classification>, done: &Relayed, lease: &mut Lease) {
        if let End::Ok { last_insert_id, .. } = done.completion.end
            && last_insert_id != 0
        {
            lease.conn.last_insert_id = last_insert_id;
        }
        self.learn_response(c, done);
        // `SET last_insert_id` (never pipelined, so learned here only) gives the session and the
        // connection that ran it their LAST_INSERT_ID() value.
        if !matches!(done.completion.end, End::Err { .. })
            && let Some(set) = c.and_then(sets_last_insert_id)
        {
            match set {
                Some(value) => {
                    self.last_insert_id = value;
                    lease.conn.last_insert_id = value;
                }
                // A value the proxy cannot read: only this connection knows it.
                None => self.untracked_state = true,
            }
        }
        // RAND()'s seeds start a sequence on this connection that each RAND() moves on: only
        // this connection can go on with it.
        if !matches!(done.completion.end, End::Err { .. }) && c.is_some_and(seeds_rand) {
            self.untracked_state = true;
        }
        lease.conn.schema.clone_from(&self.state.schema);
        if lease.conn.vars != *self.state.variables() {
            lease.conn.vars = self.state.variables().clone();
        }
    }

    /// Applies a finished response to the session state.
    pub(crate) fn learn_response(&mut self, c: Option<&Classification>, done: &Relayed) {
        let status = done.completion.status;
        self.status = status;
        if let End::Ok { last_insert_id, .. } = done.completion.end
            && last_insert_id != 0
        {
            self.last_insert_id = last_insert_id;
            if c.is_some_and(inserts) {
                self.state.auto_increment_used();
            }
        }
        if status.contains(StatusFlags::SERVER_STATUS_CURSOR_EXISTS) {
            self.cursor_open = true;
        }
        if status.contains(StatusFlags::SERVER_STATUS_LAST_ROW_SENT) {
            self.cursor_open = false;
        }
        self.keep_for_next = false;
        if !matches!(done.completion.end, End::Err { .. })
            && let Some(c) = c
        {
            self.keep_for_next = c.effects().contains(Effects::SESSION_FUNCTION);
            self.state.apply_statement(c);
            if c.analysis.kinds().any(|k| matches!(k, Kind::Prepare(_))) {
                self.sql_prepared = true;
            }
        }
        self.state.apply_server_status(ServerStatus {
            in_transaction: status.contains(StatusFlags::SERVER_STATUS_IN_TRANS),
            autocommit: status.contains(StatusFlags::SERVER_STATUS_AUTOCOMMIT),
            read_only_transaction: Some(
                status.contains(StatusFlags::SERVER_STATUS_IN_TRANS_READONLY),
            ),
        });
        self.note_binlog_client();
        let oks: Vec<_> = done.earlier.iter().chain(&done.ok).collect();
        let ddl = c.is_some_and(|c| c.analysis.kinds().any(|k| matches!(k, Kind::Ddl(_))));
        self.learn_gtids(&oks, done.fetched_gtid.as_ref(), ddl);
        let learn_variables = c.map_or(Tracked::None, variables_from_tracking);
        if learn_variables == Tracked::All && !self.untracked_state && untracked_change(&oks) {
            self.untracked_state = true;
        }
        for ok in oks {
            for change in &ok.session_state {
                use splitrail_protocol::response::SessionStateChange as S;
                match change {
                    S::SystemVariable { name, value } if learn_variables.covers(name) => {
                        let name = String::from_utf8_lossy(name);
                        if !UNREPLAYABLE.contains(&name.as_ref()) {
                            self.state
                                .apply_tracked_variable(&name, &String::from_utf8_lossy(value));
                        }
                    }
                    S::Schema(schema) => {
                        self.state
                            .apply_tracked_schema(&String::from_utf8_lossy(schema));
                    }
                    _ => {}
                }
            }
        }
    }
}

/// Which of the variables a statement's answer reports as changed are the session's from now
/// on ([`variables_from_tracking`]).
#[derive(Debug, PartialEq, Eq)]
enum Tracked<'c> {
    /// None: the router's reading of the statement is the session's state.
    None,
    /// Every one: the statement may set them where the router cannot see.
    All,
    /// These (names as the `SET` wrote them): set to expressions.
    Named(Vec<&'c str>),
}

impl Tracked<'_> {
    fn covers(&self, name: &[u8]) -> bool {
        match self {
            Tracked::None => false,
            Tracked::All => true,
            Tracked::Named(names) => names
                .iter()
                .any(|n| n.as_bytes().eq_ignore_ascii_case(name)),
        }
    }
}

/// Which variables a statement's answer reports as changed are the session's from now on:
/// every one for statements that may set them where the router cannot see (a procedure, an
/// SQL-level prepared statement, text it does not understand); for a `SET`, those it sets to
/// an expression (`sql_mode = CONCAT(@@sql_mode, …)`, as Rails sends): replayed as written on
/// another connection, the expression would be worked out again from that connection's values
/// (another session's sql_mode), so the value the server reports is what the session carries.
/// Elsewhere the router's reading of `SET` is the session's state, and what else the server
/// reports changed was changed for that one statement: `NOWAIT` and `SKIP LOCKED` report
/// `innodb_lock_wait_timeout = 0` and `lock_wait_timeout = 0` (learned, every later statement
/// of the session ran with them), `SET STATEMENT … FOR` its variables.
fn variables_from_tracking(c: &Classification) -> Tracked<'_> {
    use splitrail_router::{Scope, SetItem, WriteKind};
    let mut named = Vec::new();
    for k in c.analysis.kinds() {
        match k {
            Kind::Write(WriteKind::Call) | Kind::Execute(_) | Kind::Unknown(_) => {
                return Tracked::All;
            }
            Kind::Set(items) => named.extend(items.iter().filter_map(|item| match item {
                SetItem::Variable {
                    scope: Scope::Session,
                    name,
                    value,
                } if !value.constant => Some(&**name),
                _ => None,
            })),
            _ => {}
        }
    }
    if named.is_empty() {
        Tracked::None
    } else {
        Tracked::Named(named)
    }
}

/// What `LAST_INSERT_ID()` answers after `c` if it is a `SET last_insert_id = …`: `Some(Some(n))`
/// for a constant, `Some(None)` for a value the proxy cannot read, `None` for any other
/// statement.
fn sets_last_insert_id(c: &Classification) -> Option<Option<u64>> {
    use splitrail_router::{Scope, SetItem};
    c.analysis.kinds().find_map(|k| match k {
        Kind::Set(items) => items.iter().find_map(|item| match item {
            SetItem::Variable {
                scope: Scope::Session,
                name,
                value,
            } if &**name == "last_insert_id" => Some(value.as_u64()),
            _ => None,
        }),
        _ => None,
    })
}

/// Whether `c` sets `rand_seed1` or `rand_seed2`.
fn seeds_rand(c: &Classification) -> bool {
    use splitrail_router::SetItem;
    c.analysis.kinds().any(|k| match k {
        Kind::Set(items) => items.iter().any(|item| {
            matches!(item, SetItem::Variable { name, .. }
                if matches!(&**name, "rand_seed1" | "rand_seed2"))
        }),
        _ => false,
    })
}

/// Whether `c` inserts rows (and so may use an `AUTO_INCREMENT` value, and a `SET insert_id`).
fn inserts(c: &Classification) -> bool {
    use splitrail_router::WriteKind;
    c.analysis.kinds().any(|k| {
        matches!(
            k,
            Kind::Write(WriteKind::Insert | WriteKind::Replace | WriteKind::LoadData)
        )
    })
}

/// Whether the answers say the session's state changed without saying how: a state-change
/// flag with no variable (other than `last_gtid`) or schema beside it.
fn untracked_change(oks: &[&OkPacket]) -> bool {
    use splitrail_protocol::response::SessionStateChange as S;
    let changes = || oks.iter().flat_map(|ok| &ok.session_state);
    changes().any(|c| matches!(c, S::StateChange(true)))
        && !changes().any(|c| match c {
            S::SystemVariable { name, .. } => {
                !UNREPLAYABLE.contains(&&*String::from_utf8_lossy(name))
            }
            S::Schema(_) => true,
            _ => false,
        })
}

/// Whether a statement that succeeded (`done`) changed server-wide defaults: `SET GLOBAL` or
/// `SET PERSIST` of a variable or of the transaction characteristics. (An error in a
/// multi-statement text may come after the change: that counts too.)
fn sets_globals(c: Option<&Classification>, done: &Relayed) -> bool {
    use splitrail_router::{Scope, SetItem};
    let global = |scope: &Scope| matches!(scope, Scope::Global | Scope::Persist);
    let changes = |item: &SetItem| match item {
        SetItem::Variable { scope, .. } => global(scope),
        SetItem::Transaction { scope, .. } => scope.as_ref().is_some_and(global),
        _ => false,
    };
    let Some(c) = c else {
        return false;
    };
    let first_failed = matches!(done.completion.end, End::Err { .. }) && c.analysis.rest.is_empty();
    !first_failed
        && c.analysis
            .kinds()
            .any(|k| matches!(k, Kind::Set(items) if items.iter().any(changes)))
}

/// ER_NET_PACKET_TOO_LARGE's number.
const PACKET_TOO_LARGE: u16 = code::ER_NET_PACKET_TOO_LARGE.code;

/// Tracked variables that are read-only or proxy-internal: never replayed.
const UNREPLAYABLE: &[&str] = &["last_gtid", "session_track_system_variables"];
