//! Session statements the proxy answers itself, without a round trip to the primary: session
//! `SET`s, and `COMMIT` or `ROLLBACK` with no transaction open.
//!
//! Drivers and frameworks open every connection with the same few statements (`SET NAMES
//! utf8mb4`, `SET autocommit = 1`, `SET SESSION TRANSACTION ISOLATION LEVEL …`; Django with a
//! new connection per request runs ten of them per write-then-read pair), and connection pools
//! end every checkout with a `ROLLBACK` (SQLAlchemy's reset on return), which has nothing to
//! roll back when the application works in autocommit mode. The proxy records a `SET` in the
//! session's state and brings every connection the session borrows to that state anyway
//! ([`super::sync`]), and it knows from the server's status flags whether a transaction is
//! open; running such a statement on the primary as well only told the client that it
//! succeeded, at the price of a round trip.
//!
//! So a statement of the forms [`answerable`] accepts (a `SET` of the session's own state to
//! constants, whose success depends on its text alone while no transaction is open; a plain
//! `COMMIT` or `ROLLBACK`, which then ends nothing) is answered here once the same text got a
//! plain OK (no warnings, no info, no transaction left open) from a backend of this worker
//! while the same primary was in force: that OK is kept ([`crate::worker::kept_answers`]),
//! with the session-state changes it reported, and given again with the session's own status
//! flags. Inside a transaction, on a held connection (which may hold characteristics for the
//! next transaction that a `COMMIT` drops), after the session set `completion_type` (a `COMMIT`
//! may then chain or disconnect), or in any other form, the statement runs on a backend as
//! before.
//!
//! What a server remembers of such a statement besides its effect is its diagnostics:
//! `ROW_COUNT()` is 0 after it, and MariaDB keeps the warnings of the statement before a `SET`.
//! So before a statement that reads diagnostics runs, the last statement answered here runs on
//! its connection first ([`Session::replay_answered_here`]), and the server answers as it would
//! have.
use bytes::BytesMut;
use splitrail_protocol::response::{OkPacket, SessionStateChange};
use splitrail_protocol::{CapabilityFlags, End, StatusFlags};
use splitrail_router::{Classification, Effects, Kind, Scope, SetItem, TxStatement};

use super::Session;
use crate::backend::{Lease, Outcome};
use crate::error::Result;
use crate::relay::Relayed;

/// Session variables any user may set whose `SET` to a constant succeeds or fails by its text
/// alone (no privilege, no state of the session decides), besides `autocommit`.
const TEXT_ONLY: &[&str] = &[
    "character_set_client",
    "character_set_connection",
    "character_set_results",
    "collation_connection",
    "div_precision_increment",
    "foreign_key_checks",
    "group_concat_max_len",
    "innodb_lock_wait_timeout",
    "interactive_timeout",
    "lock_wait_timeout",
    "max_execution_time",
    "max_statement_time",
    "net_read_timeout",
    "net_write_timeout",
    "sql_auto_is_null",
    "sql_big_selects",
    "sql_mode",
    "sql_quote_show_create",
    "sql_safe_updates",
    "sql_select_limit",
    "time_zone",
    "unique_checks",
    "wait_timeout",
];

/// The statements the proxy may answer itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Answerable {
    /// A `SET` of the session's own state to constants.
    Set,
    /// A plain `COMMIT` or `ROLLBACK`, answered only while no transaction is open.
    End,
}

/// Whether `c` is one statement the proxy may answer itself, and which kind:
/// - a `SET` whose items all set the session's own state to constants, so that its outcome
///   outside a transaction depends on its text alone — `autocommit` to a boolean, a
///   [`TEXT_ONLY`] variable to a constant (not `DEFAULT`, which follows the server's global
///   value), `NAMES`, `CHARACTER SET`, the session's transaction characteristics;
/// - `COMMIT` or `ROLLBACK`, with `WORK` or without, but with no `AND [NO] CHAIN` or `[NO]
///   RELEASE` (`RELEASE` closes the connection).
pub(crate) fn answerable(c: &Classification) -> Option<Answerable> {
    if !c.analysis.rest.is_empty() || !c.effects().is_empty() {
        return None;
    }
    match c.kind() {
        Kind::Set(items) => {
            (!items.is_empty() && items.iter().all(answerable_item)).then_some(Answerable::Set)
        }
        Kind::Transaction(
            TxStatement::Commit { chain: false } | TxStatement::Rollback { chain: false },
        ) => plain_end(&c.digest().text).then_some(Answerable::End),
        _ => None,
    }
}

/// Whether a `COMMIT` or `ROLLBACK`'s digest text is the verb alone or with `WORK`.
fn plain_end(digest: &str) -> bool {
    let mut words = digest.split_ascii_whitespace().skip(1);
    match (words.next(), words.next()) {
        (None, _) => true,
        (Some(w), None) => w.eq_ignore_ascii_case("WORK"),
        _ => false,
    }
}

fn answerable_item(item: &SetItem) -> bool {
    match item {
        SetItem::Variable {
            scope: Scope::Session,
            name,
            value,
        } => match &**name {
            "autocommit" => value.as_bool().is_some(),
            name => {
                TEXT_ONLY.contains(&name)
                    && value.constant
                    && !value.sql.eq_ignore_ascii_case("default")
            }
        },
        SetItem::Names { .. } | SetItem::CharacterSet(_) => true,
        SetItem::Transaction {
            scope: Some(Scope::Session),
            ..
        } => true,
        _ => false,
    }
}

/// Whether `c` (an [`answerable`] statement) sets `sql_mode`, whose `NO_BACKSLASH_ESCAPES` the
/// status flags of its answer report.
fn sets_sql_mode(c: &Classification) -> bool {
    let Kind::Set(items) = c.kind() else {
        return false;
    };
    items
        .iter()
        .any(|i| matches!(i, SetItem::Variable { name, .. } if &**name == "sql_mode"))
}

/// The OK of `done` as an answer to keep: a plain OK (nothing changed, no warnings, no info,
/// no transaction open) whose session-state changes are tracked variables only.
fn keepable(done: &Relayed) -> Option<OkPacket> {
    let End::Ok {
        affected_rows: 0,
        last_insert_id: 0,
    } = done.completion.end
    else {
        return None;
    };
    if done.completion.warnings != 0 || !done.earlier.is_empty() {
        return None;
    }
    if done
        .completion
        .status
        .contains(StatusFlags::SERVER_STATUS_IN_TRANS)
    {
        return None;
    }
    let mut ok = done.ok.clone().unwrap_or_default();
    ok.status = done.completion.status;
    let plain_state = ok.session_state.iter().all(|change| match change {
        SessionStateChange::SystemVariable { name, .. } => name != b"last_gtid",
        SessionStateChange::StateChange(_) => true,
        _ => false,
    });
    (ok.info.is_empty() && ok.warnings == 0 && plain_state).then_some(ok)
}

impl Session {
    /// Whether nothing of the session's state makes the outcome of a statement of kind `kind`
    /// depend on more than its text: no transaction open (`SET autocommit = 1` would commit it;
    /// the transaction's characteristics cannot change in one; a `COMMIT` would end it), no
    /// connection held for it ([`Session::hold_reason`] names an open transaction first), and
    /// for a `COMMIT` or `ROLLBACK`, no `completion_type` of the session's own (`CHAIN` opens a
    /// transaction after it, `RELEASE` disconnects).
    fn answerable_here(&self, kind: Answerable) -> bool {
        !self.status.contains(StatusFlags::SERVER_STATUS_IN_TRANS)
            && self.held.is_none()
            && self.hold_reason().is_none()
            && (kind == Answerable::Set || self.state.variables().get("completion_type").is_none())
    }

    /// Whether `c` is a statement the proxy may answer itself in the session's state now, and
    /// whose answer it may keep once a backend gave it: which kind.
    pub(crate) fn may_learn(&self, c: &Classification) -> Option<Answerable> {
        answerable(c).filter(|&kind| self.answerable_here(kind))
    }

    /// The kept answer to `sql` (a statement [`Session::may_learn`] accepted), if any.
    pub(crate) fn kept_answer(&self, sql: &[u8]) -> Option<OkPacket> {
        let primary = self.worker.view().topology.primary()?;
        self.worker
            .kept_answers
            .borrow_mut()
            .get(primary, sql)
            .cloned()
    }

    /// Keeps the answer a backend gave to `sql` (a statement [`Session::may_learn`] accepted
    /// before it ran), when it is a plain OK.
    pub(crate) fn learn_answer(&self, sql: &[u8], done: &Relayed) {
        let Some(ok) = keepable(done) else {
            return;
        };
        if let Some(primary) = self.worker.view().topology.primary() {
            self.worker
                .kept_answers
                .borrow_mut()
                .insert(primary, sql, ok);
        }
    }

    /// Answers `sql` (classified as `c`, of kind `kind`) with `ok`, the kept answer: the
    /// session's state changes as it would have, and the client gets the OK with the session's
    /// status.
    pub(crate) async fn answer_with_kept(
        &mut self,
        sql: &[u8],
        c: &Classification,
        kind: Answerable,
        mut ok: OkPacket,
    ) -> Result<()> {
        self.state.apply_statement(c);
        self.keep_for_next = false;
        let mut status = answer_status(
            self.status,
            ok.status,
            sets_sql_mode(c),
            self.state.autocommit(),
        );
        self.status = status;
        if self.caps.contains(CapabilityFlags::CLIENT_SESSION_TRACK) && !ok.session_state.is_empty()
        {
            status |= StatusFlags::SERVER_SESSION_STATE_CHANGED;
        } else {
            ok.session_state.clear();
        }
        ok.status = status;
        self.answered_here = Some(sql.into());
        let stats = &self.worker.shared.stats;
        let counter = match kind {
            Answerable::Set => &stats.local_set_answers,
            Answerable::End => &stats.local_commit_answers,
        };
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut payload = BytesMut::new();
        ok.encode(self.caps, &mut payload);
        self.send_payload(&payload).await
    }

    /// Before `statement` runs on `lease`: when it reads diagnostics (`ROW_COUNT()`,
    /// `SHOW WARNINGS` …) and the session's last statement was answered here, that statement
    /// runs there first, so the diagnostics are what the server leaves after it.
    pub(crate) async fn replay_answered_here(
        &mut self,
        lease: &mut Lease,
        statement: Option<&Classification>,
    ) -> Result<Option<splitrail_protocol::response::ErrPacket>> {
        if !statement.is_some_and(reads_diagnostics) {
            return Ok(None);
        }
        let Some(sql) = self.previous_answered_here.take() else {
            return Ok(None);
        };
        let payload = lease.conn.query_payload(&sql);
        match lease.conn.run(&payload).await? {
            Outcome::Err(err) => Ok(Some(err)),
            _ => Ok(None),
        }
    }
}

/// The status flags of a kept answer given to a session whose last answer had `session`, the
/// kept one `kept`, and whose autocommit is now `autocommit` (no transaction is open):
/// `NO_BACKSLASH_ESCAPES` follows the session's sql_mode, as the kept answer has it when the
/// statement sets that (`sets_sql_mode`), else as the session's last answer had it.
fn answer_status(
    session: StatusFlags,
    kept: StatusFlags,
    sets_sql_mode: bool,
    autocommit: bool,
) -> StatusFlags {
    let escapes_from = if sets_sql_mode { kept } else { session };
    let mut status = escapes_from & StatusFlags::SERVER_STATUS_NO_BACKSLASH_ESCAPES;
    if autocommit {
        status |= StatusFlags::SERVER_STATUS_AUTOCOMMIT;
    }
    status
}

/// Whether `c` reads what the statement before it left (`ROW_COUNT()`, `FOUND_ROWS()`,
/// `@@warning_count`, `SHOW WARNINGS` …).
pub(crate) fn reads_diagnostics(c: &Classification) -> bool {
    c.effects().contains(Effects::DIAGNOSTICS)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks that each of `texts` is answerable as `expected`.
    fn check(expected: Option<Answerable>, texts: &[&str]) {
        for sql in texts {
            let got = answerable(&splitrail_router::classify(sql));
            assert_eq!(got, expected, "{sql}");
        }
    }

    #[test]
    fn only_statements_whose_outcome_is_their_text_are_answerable() {
        check(
            Some(Answerable::Set),
            &[
                "SET autocommit = 1",
                "SET autocommit=0",
                "SET @@session.autocommit = ON",
                "SET SESSION autocommit = 'false'",
                "SET NAMES utf8mb4",
                "SET NAMES utf8mb4 COLLATE utf8mb4_bin",
                "SET CHARACTER SET latin1",
                "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
                "SET SESSION TRANSACTION READ ONLY",
                "SET sql_mode = 'ANSI_QUOTES'",
                "SET SESSION time_zone = '+01:00'",
                "SET FOREIGN_KEY_CHECKS = 0",
                "SET NAMES utf8mb4, autocommit = 1, @@session.sql_auto_is_null = 0",
                "SET character_set_results = NULL",
            ],
        );
        check(
            Some(Answerable::End),
            &[
                "COMMIT",
                "commit work",
                "ROLLBACK",
                "Rollback Work;",
                "COMMIT /* c */",
            ],
        );
        check(
            None,
            &[
                "SET autocommit = @x",
                "SET autocommit = 2",
                "SET GLOBAL autocommit = 1",
                "SET autocommit = 1, @x = 1",
                "SET NAMES utf8mb4; SELECT 1",
                "SET sql_mode = CONCAT(@@sql_mode, ',ANSI_QUOTES')",
                "SET sql_mode = DEFAULT",
                "SET SESSION sql_log_bin = 0",
                "SET GLOBAL sql_mode = ''",
                "SET gtid_next = 'AUTOMATIC'",
                "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE",
                "SET GLOBAL TRANSACTION ISOLATION LEVEL SERIALIZABLE",
                "SET @x = 1",
                "SET ROLE r",
                "SELECT 1",
                "COMMIT RELEASE",
                "COMMIT WORK NO RELEASE",
                "COMMIT AND CHAIN",
                "ROLLBACK AND NO CHAIN",
                "ROLLBACK TO SAVEPOINT s",
                "COMMIT; SELECT 1",
                "XA COMMIT 'x'",
                "BEGIN",
            ],
        );
    }

    #[test]
    fn an_answers_status_is_the_sessions() {
        const ESC: StatusFlags = StatusFlags::SERVER_STATUS_NO_BACKSLASH_ESCAPES;
        const AUTO: StatusFlags = StatusFlags::SERVER_STATUS_AUTOCOMMIT;
        let in_trans = StatusFlags::SERVER_STATUS_IN_TRANS;
        // The session's last answer decides escapes, unless the SET sets sql_mode.
        assert_eq!(
            answer_status(ESC | in_trans, StatusFlags::empty(), false, true),
            ESC | AUTO
        );
        assert_eq!(answer_status(ESC, StatusFlags::empty(), true, true), AUTO);
        assert_eq!(
            answer_status(StatusFlags::empty(), ESC | AUTO, true, false),
            ESC
        );
        assert_eq!(
            answer_status(AUTO, AUTO, false, false),
            StatusFlags::empty()
        );
    }
}
