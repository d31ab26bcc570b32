//! Server-side prepared statements (COM_STMT_*). Client statement ids belong to the session;
//! each backend connection has its own statement ids, in a bounded per-connection cache keyed by
//! statement text, shared by every session that borrows the connection. A statement is prepared
//! lazily on whichever connection its route picks (reads on replicas, writes on the primary) and
//! re-prepared there when missing (a new or restarted backend). Parameter types and long data are
//! kept by the session so they can follow the statement to any connection.
use bytes::{Bytes, BytesMut};
use splitrail_protocol::prepared::StmtExecute;
use splitrail_protocol::response::{ErrPacket, code};
use splitrail_router::{Classification, Target, route};
use tracing::debug;

use super::Session;
use super::lease::Reuse;
use super::pipeline::Pipelined;
use super::plan::StatementPlan;
use super::query::Choice;
use crate::backend::Lease;
use crate::backend::statements::{
    PrepareFor, Prepared, backend_stmt, prepare_on, rebound, send_long_data,
};
use crate::error::{Error, Result};
use crate::metrics::stats::target_index;
use crate::relay::mux::Work;

/// A statement as the client knows it.
#[derive(Debug)]
pub struct ClientStmt {
    /// The statement text.
    pub sql: Bytes,
    /// Its classification, routed again at every execution.
    pub classification: Classification,
    /// Parameter count.
    pub params: u16,
    /// The parameter types bound by the client's last execution that sent types.
    pub types: Option<Vec<u8>>,
    /// COM_STMT_SEND_LONG_DATA chunks for the next execution: (parameter, data).
    pub long_data: Vec<(u16, Bytes)>,
}

impl Session {
    /// COM_STMT_PREPARE: prepared where its route points, answered with the session's own id.
    pub(crate) async fn stmt_prepare(&mut self, sql: &[u8]) -> Result<()> {
        let sql = Bytes::copy_from_slice(sql);
        let c = self.worker.router.borrow_mut().classify_bytes(&sql);
        let mut choice = match self.choice_for(&c) {
            Ok(choice) => choice,
            Err(message) => return self.send_err(code::ER_UNKNOWN_ERROR, &message).await,
        };
        let (stmt, mut packets) = loop {
            let mut lease = self.lease_for(choice, Reuse::Checked).await?;
            // A replica may refuse for lack of what the primary just created: then the
            // primary prepares it (and a later execution waits for the replica as usual).
            let may_lag = self.replica_may_lag(choice, lease.conn.server);
            if let Some(err) = self.sync(&mut lease, Some(&c)).await? {
                self.put_back(lease);
                if may_lag {
                    choice = Choice::Primary;
                    continue;
                }
                return self.send_backend_err(&err).await;
            }
            let max = self.worker.view().config.pool.max_prepared_statements as usize;
            let result = prepare_on(&mut lease.conn, &sql, max, PrepareFor::Client).await;
            let prepared = match result {
                Ok(p) => p,
                Err(e) => {
                    drop(lease);
                    return Err(e);
                }
            };
            self.put_back(lease);
            match prepared {
                Prepared::Refused(_) if may_lag => choice = Choice::Primary,
                Prepared::Refused(err) => return self.send_backend_err(&err).await,
                Prepared::Ready { stmt, packets } => break (stmt, packets),
            }
        };
        self.next_stmt_id = self.next_stmt_id.wrapping_add(1).max(1);
        let id = self.next_stmt_id;
        // The client sees its own statement id in the first packet.
        if let Some(first) = packets.first_mut() {
            let mut p = BytesMut::from(&first[..]);
            if p.len() >= 5 {
                p[1..5].copy_from_slice(&id.to_le_bytes());
            }
            *first = p.freeze();
        }
        self.stmts.insert(
            id,
            ClientStmt {
                sql,
                classification: c,
                params: stmt.params,
                types: None,
                long_data: Vec::new(),
            },
        );
        for p in &packets {
            self.client.queue(p).map_err(Error::ClientProtocol)?;
        }
        self.client.flush().await.map_err(Error::ClientIo)
    }

    /// COM_STMT_EXECUTE: routed like the statement's text, on a connection that has (or now
    /// gets) it prepared; the parameter block is passed on with types added if that connection
    /// has not seen them.
    pub(crate) async fn stmt_execute(
        &mut self,
        payload: &Bytes,
        exec: &StmtExecute<'_>,
    ) -> Result<()> {
        let client_id = exec.statement_id;
        let Some(stmt) = self.stmts.get_mut(&client_id) else {
            return self
                .send_err(
                    code::ER_UNKNOWN_STMT_HANDLER,
                    &format!("Unknown prepared statement handler ({client_id}) given to mysqld_stmt_execute"),
                )
                .await;
        };
        let params = stmt.params;
        let Ok(block) = exec.param_block(params) else {
            return self
                .send_err(code::ER_UNKNOWN_COM_ERROR, "Malformed COM_STMT_EXECUTE")
                .await;
        };
        if let Some(types) = block.types {
            stmt.types = Some(types.to_vec());
        }
        let sql = stmt.sql.clone();
        let c = stmt.classification.clone();
        let long_data = std::mem::take(&mut stmt.long_data);
        // An execution counts as its statement too (`Com_select` …), as on the server.
        self.counters.statements(&c);
        let types = stmt.types.clone();
        let started = std::time::Instant::now();
        let choice = match self.choice_for(&c) {
            Ok(choice) => choice,
            Err(message) => {
                let sent = self.send_err(code::ER_UNKNOWN_ERROR, &message).await;
                let reject = target_index(&Target::Reject(String::new()));
                self.count_digest(&c, reject, started, &Ok(None));
                return sent;
            }
        };
        if self.write_in_replica_read_only_transaction(&c) {
            let sent = self.refuse_write_in_read_only_transaction().await;
            self.count_digest(&c, target_index(&Target::Pinned), started, &Ok(None));
            return sent;
        }
        // No cursor (flags byte 0) and no long data: the execution may share a connection.
        if choice == Choice::Read && long_data.is_empty() && exec.flags.is_empty() {
            let work = || Work::Execute {
                sql: sql.clone(),
                payload: payload.clone(),
                params,
                types: types.clone(),
            };
            if let Pipelined::Answered(relayed) =
                self.pipelined(choice, &c, payload.len(), work).await?
            {
                self.last_pipelined = relayed.as_ref().map(|r| r.rows);
                let target = target_index(&Target::Replica);
                self.count_digest(&c, target, started, &Ok(relayed));
                return Ok(());
            }
        }
        let max = self.worker.view().config.pool.max_prepared_statements as usize;
        let build = async |lease: &mut Lease| -> Result<Result<Bytes, ErrPacket>> {
            let backend = match backend_stmt(&mut lease.conn, &sql, max).await? {
                Ok(s) => s,
                Err(err) => return Ok(Err(err)),
            };
            send_long_data(&mut lease.conn, backend.id, &long_data).await?;
            // The session's own parameter types, every time: another session may have executed
            // this backend statement with other types since, and a client that binds no new
            // types (libmariadb after the first execution) means its own previous ones.
            let (out, typed) = rebound(exec, &block, payload.len(), backend.id, types.as_deref());
            if typed && let Some(s) = lease.conn.statements.get(&sql) {
                s.typed = true;
            }
            Ok(Ok(out))
        };
        let done = self.execute_with(choice, Some(&c), build).await;
        let target = match choice {
            Choice::Primary => Target::Primary,
            Choice::Read => Target::Replica,
            Choice::Pinned => Target::Pinned,
        };
        self.count_digest(&c, target_index(&target), started, &done);
        done.map(drop)
    }

    /// COM_STMT_SEND_LONG_DATA: kept until the statement's next execution (no response).
    pub(crate) fn stmt_send_long_data(&mut self, statement_id: u32, param: u16, data: &[u8]) {
        if let Some(stmt) = self.stmts.get_mut(&statement_id) {
            stmt.long_data.push((param, Bytes::copy_from_slice(data)));
        }
    }

    /// COM_STMT_RESET: drops pending long data; answered by the proxy.
    pub(crate) async fn stmt_reset(&mut self, statement_id: u32) -> Result<()> {
        match self.stmts.get_mut(&statement_id) {
            Some(stmt) => {
                stmt.long_data.clear();
                self.send_ok().await
            }
            None => {
                self.send_err(
                    code::ER_UNKNOWN_STMT_HANDLER,
                    &format!("Unknown prepared statement handler ({statement_id}) given to mysqld_stmt_reset"),
                )
                .await
            }
        }
    }

    /// COM_STMT_CLOSE: forgets the client's statement (no response). Backend statements stay
    /// in their connections' caches for the next session that prepares the same text.
    pub(crate) fn stmt_close(&mut self, statement_id: u32) {
        self.stmts.remove(&statement_id);
    }

    /// Where a statement goes, or the rejecting rule's message.
    fn choice_for(&mut self, c: &Classification) -> std::result::Result<Choice, String> {
        let decision = route(c, &self.state, &self.worker.view().policy);
        self.plan = StatementPlan::of(&decision);
        debug!(
            target = decision.target.as_str(),
            reason = decision.reason.as_str(),
            "route prepared"
        );
        self.worker.shared.stats.routed(&decision);
        match self.choice_of(&decision) {
            Some(choice) => Ok(choice),
            None => Err(match decision.target {
                Target::Reject(message) => message,
                _ => "rejected by a routing rule".into(),
            }),
        }
    }

    pub(crate) async fn send_backend_err(&mut self, err: &ErrPacket) -> Result<()> {
        let mut payload = BytesMut::new();
        err.encode(self.caps, &mut payload);
        self.client.queue(&payload).map_err(Error::ClientProtocol)?;
        self.client.flush().await.map_err(Error::ClientIo)
    }
}
