//! Read-only transactions (`START TRANSACTION READ ONLY`, or `SET TRANSACTION READ ONLY` then
//! `BEGIN`), which the router may send, whole, to a replica (`Reason::ReadOnlyTransaction`).
//! The session adds two rules the router cannot know:
//!
//! - Such a transaction starts on the held connection when the session keeps state there
//!   (temporary tables, user variables, SQL prepared statements, locks): its statements must
//!   see that state, and a second connection would split the session in two.
//! - A write inside one that a replica holds is refused here with the error the primary gives
//!   (1792), and never sent: the replica would answer with its `read_only` error instead (1290),
//!   or run it for a user with `READ_ONLY ADMIN`.
use splitrail_protocol::response::code;
use splitrail_router::{Classification, Decision, Kind, Reason, Target, WriteKind};

use super::Session;
use crate::error::Result;

impl Session {
    /// True when the router sent a read-only transaction's start to a replica, but the session
    /// keeps state on its held connection: it starts there instead.
    pub(crate) fn read_only_begin_stays(&self, decision: &Decision) -> bool {
        decision.target == Target::Replica
            && decision.reason == Reason::ReadOnlyTransaction
            && self.hold_reason().is_some()
    }

    /// True when `c` is one write to a table that is not temporary, inside a read-only
    /// transaction that a replica holds: the server refuses it whatever the table is.
    pub(crate) fn write_in_replica_read_only_transaction(&self, c: &Classification) -> bool {
        let writes = matches!(
            c.kind(),
            Kind::Write(
                WriteKind::Insert
                    | WriteKind::Update
                    | WriteKind::Delete
                    | WriteKind::Replace
                    | WriteKind::LoadData
            )
        );
        // The cheap tests first: this runs for every statement.
        writes
            && self.state.read_only_transaction()
            && c.analysis.rest.is_empty()
            && !c
                .analysis
                .tables
                .iter()
                .any(|t| self.state.has_temp_table(t))
            && self
                .held
                .as_ref()
                .is_some_and(|held| self.worker.view().topology.primary() != Some(held.conn.server))
    }

    /// Answers a write in a read-only transaction as the primary would.
    pub(crate) async fn refuse_write_in_read_only_transaction(&mut self) -> Result<()> {
        self.send_err(
            code::ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION,
            "Cannot execute statement in a READ ONLY transaction",
        )
        .await
    }
}
