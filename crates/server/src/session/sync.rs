//! Bringing a borrowed backend connection to the session's state before a statement runs on it:
//! its schema and every session variable the client set, with the fewest statements (one
//! `SET a = …, b = …` for the difference; a reset first when the connection carries variables
//! of another session that this one never set).
use splitrail_protocol::collation;
use splitrail_protocol::response::ErrPacket;
use splitrail_router::{Classification, Effects, Kind, SessionState};

use super::Session;
use crate::backend::state::{SyncPlan, sync_state};
use crate::backend::{Lease, Outcome};
use crate::error::Result;

impl Session {
    /// Syncs `lease` to the session. `Ok(Some(err))`: the backend refused part of the session's
    /// state (an unknown schema, a bad value); the client gets that error for its statement.
    pub(crate) async fn sync(
        &mut self,
        lease: &mut Lease,
        statement: Option<&Classification>,
    ) -> Result<Option<ErrPacket>> {
        let conn = &mut lease.conn;
        // LAST_INSERT_ID() answers from the connection: give it this session's value when the
        // statement asks for it and the connection holds another (a different session's insert,
        // or none because the connection that ran this session's INSERT went to someone else).
        if statement.is_some_and(|c| c.effects().contains(Effects::SESSION_FUNCTION))
            && conn.last_insert_id != self.last_insert_id
        {
            let sql = format!("DO LAST_INSERT_ID({})", self.last_insert_id);
            if let Outcome::Err(err) = conn.run(&conn.query_payload(sql.as_bytes())).await? {
                return Ok(Some(err));
            }
            conn.last_insert_id = self.last_insert_id;
        }
        let schema = self.schema_to_sync(statement);
        sync_state(conn, schema, self.state.variables()).await
    }

    /// The schema a connection is brought to before `statement`: the session's, but for a
    /// statement that sets the schema itself (`USE`, COM_INIT_DB), which must work even when the
    /// session's schema was dropped since.
    fn schema_to_sync(&self, statement: Option<&Classification>) -> Option<&str> {
        let sets_schema = self.plan.sets_schema
            || statement.is_some_and(|c| c.analysis.kinds().any(|k| matches!(k, Kind::Use(_))));
        if sets_schema {
            None
        } else {
            self.state.schema.as_deref()
        }
    }

    /// Whether the sync of `lease` can go out in the same write as the statement: only for a
    /// plain read outside a transaction, which has no effect should the state be refused (its
    /// answer is then dropped), and which reads no connection value (`LAST_INSERT_ID()` …).
    pub(crate) fn sync_goes_behind(&self, statement: Option<&Classification>) -> bool {
        statement.is_some_and(lone_read) && !self.state.in_transaction()
    }

    /// The sync `lease` needs, to send with the statement (see [`Session::sync_goes_behind`]).
    pub(crate) fn sync_plan(&self, lease: &Lease) -> Option<SyncPlan> {
        let plan = SyncPlan::new(
            &lease.conn,
            self.schema_to_sync(None),
            self.state.variables(),
        );
        (!plan.is_empty()).then_some(plan)
    }
}

/// Whether `c` is one read alone in its text that reads no value of the connection it runs on
/// (`LAST_INSERT_ID()`, `CONNECTION_ID()` …): its answer depends on the data and the session's
/// state only, so it may run behind a sync whose refusal drops it, or on a connection shared
/// with other sessions (`session/pipeline.rs`).
pub(crate) fn lone_read(c: &Classification) -> bool {
    c.analysis.is_read()
        && c.analysis.rest.is_empty()
        && !c.effects().contains(Effects::SESSION_FUNCTION)
}

/// Records the client's handshake collation as a `SET NAMES` the session carries, unless it is
/// the one backend connections start with.
pub fn apply_collation(state: &mut SessionState, id: u8) {
    const BACKEND_DEFAULT: u16 = 45;
    let id = u16::from(id);
    if id == BACKEND_DEFAULT {
        return;
    }
    if let Some(c) = collation::by_id(id) {
        let sql = format!("SET NAMES {} COLLATE {}", c.charset, c.name);
        state.apply_statement(&splitrail_router::classify(&sql));
    }
}
