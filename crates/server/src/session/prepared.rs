//! Server-side prepared statements (COM_STMT_*). Client statement ids belong to the session;
//! each backend connection has its own statement ids, in a bounded per-connection cache keyed by
//! statement text, shared by every session that borrows the connection. A statement is prepared
//! lazily on whichever connection its route picks (reads on replicas, writes on the primary) and
//! re-prepared there when missing (a new or restarted backend). Parameter types and long data are
//! kept by the session so they can follow the statement to any connection.
use std::collections::HashMap;

use bytes::{BufMut, Bytes, BytesMut};
use splitrail_protocol::command::code as cmd;
use splitrail_protocol::prepared::StmtPrepareOk;
use splitrail_protocol::response::{ErrPacket, code};
use splitrail_protocol::{End, Step};
use splitrail_router::{Classification, Target, route};
use tracing::debug;

use super::Session;
use super::pipeline::Pipelined;
use super::query::Choice;
use crate::admin::stats::target_index;
use crate::backend::Lease;
use crate::backend::conn::{BackendConn, protocol, read};
use crate::backend::mux::Work;
use crate::error::{Error, Result};

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

/// A statement prepared on one backend connection.
#[derive(Debug, Clone)]
pub struct BackendStmt {
    /// The backend's statement id.
    pub id: u32,
    /// Parameter count.
    pub params: u16,
    /// Whether this backend statement has been given parameter types.
    pub typed: bool,
    /// When it was last used (a counter), for eviction.
    pub used: u64,
}

/// The statement cache of one backend connection.
#[derive(Debug, Default)]
pub struct StmtCache {
    by_sql: HashMap<Bytes, BackendStmt>,
    clock: u64,
    /// Backend statement ids evicted, to close with the next command.
    pub to_close: Vec<u32>,
}

impl StmtCache {
    /// The statement for `sql`, marked as used.
    pub fn get(&mut self, sql: &[u8]) -> Option<&mut BackendStmt> {
        self.clock += 1;
        let clock = self.clock;
        let stmt = self.by_sql.get_mut(sql)?;
        stmt.used = clock;
        Some(stmt)
    }

    /// Remembers a statement, evicting the least recently used one beyond `max`.
    pub fn insert(&mut self, sql: Bytes, mut stmt: BackendStmt, max: usize) {
        self.clock += 1;
        stmt.used = self.clock;
        while self.by_sql.len() >= max.max(1) {
            let Some(oldest) = self
                .by_sql
                .iter()
                .min_by_key(|(_, s)| s.used)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            if let Some(evicted) = self.by_sql.remove(&oldest) {
                self.to_close.push(evicted.id);
            }
        }
        self.by_sql.insert(sql, stmt);
    }

    /// Forgets everything (the connection was reset: the server dropped its statements).
    pub fn clear(&mut self) {
        self.by_sql.clear();
        self.to_close.clear();
    }
}

impl Session {
    /// COM_STMT_PREPARE: prepared where its route points, answered with the session's own id.
    pub(crate) async fn stmt_prepare(&mut self, sql: &[u8]) -> Result<()> {
        let sql = Bytes::copy_from_slice(sql);
        let c = self.worker.router.borrow_mut().classify_bytes(&sql);
        let Some(mut choice) = self.choice_for(&c) else {
            return self
                .send_err(code::ER_UNKNOWN_ERROR, &self.reject_message(&c))
                .await;
        };
        let (stmt, mut packets) = loop {
            let mut lease = self.lease_for(choice).await?;
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
            let result = prepare_on(&mut lease.conn, &sql, max, true).await;
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
    pub(crate) async fn stmt_execute(&mut self, payload: &Bytes) -> Result<()> {
        let Some(client_id) = payload.get(1..5).and_then(|b| <[u8; 4]>::try_from(b).ok()) else {
            return self
                .send_err(code::ER_UNKNOWN_COM_ERROR, "Malformed COM_STMT_EXECUTE")
                .await;
        };
        let client_id = u32::from_le_bytes(client_id);
        let Some(stmt) = self.stmts.get_mut(&client_id) else {
            return self
                .send_err(
                    code::ER_UNKNOWN_STMT_HANDLER,
                    &format!("Unknown prepared statement handler ({client_id}) given to mysqld_stmt_execute"),
                )
                .await;
        };
        let Some(layout) = ExecuteLayout::parse(payload, stmt.params) else {
            return self
                .send_err(code::ER_UNKNOWN_COM_ERROR, "Malformed COM_STMT_EXECUTE")
                .await;
        };
        if let Some(types) = layout.types(payload) {
            stmt.types = Some(types.to_vec());
        }
        let sql = stmt.sql.clone();
        let c = stmt.classification.clone();
        let long_data = std::mem::take(&mut stmt.long_data);
        let types = stmt.types.clone();
        let started = std::time::Instant::now();
        let Some(choice) = self.choice_for(&c) else {
            let sent = self
                .send_err(code::ER_UNKNOWN_ERROR, &self.reject_message(&c))
                .await;
            let reject = target_index(&Target::Reject(String::new()));
            self.count_digest(&c, reject, started, &Ok(None));
            return sent;
        };
        // No cursor (flags byte 0) and no long data: the execution may share a connection.
        if choice == Choice::Read && long_data.is_empty() && payload.get(5) == Some(&0) {
            let work = || Work::Execute {
                sql: sql.clone(),
                payload: payload.clone(),
                layout,
                types: types.clone(),
            };
            if let Pipelined::Answered(relayed) = self.pipelined(choice, &c, &sql, work).await? {
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
            for (param, data) in &long_data {
                let mut p = BytesMut::with_capacity(data.len() + 7);
                p.put_u8(cmd::STMT_SEND_LONG_DATA);
                p.put_u32_le(backend.id);
                p.put_u16_le(*param);
                p.put_slice(data);
                lease.conn.send_command(&p).await?;
            }
            // The session's own parameter types, every time: another session may have executed
            // this backend statement with other types since, and a client that binds no new
            // types (libmariadb after the first execution) means its own previous ones.
            let rewritten = layout.rewrite(payload, backend.id, types.clone());
            if rewritten.types_sent
                && let Some(s) = lease.conn.statements.get(&sql)
            {
                s.typed = true;
            }
            Ok(Ok(rewritten.payload))
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

    /// Where a statement goes, or `None` when a rule rejects it.
    fn choice_for(&mut self, c: &Classification) -> Option<Choice> {
        let decision = route(c, &self.state, &self.worker.view().policy);
        self.max_lag = decision.max_lag;
        self.min_gtid = decision.min_gtid.clone();
        self.hash_hint = decision.hash_key;
        debug!(
            target = decision.target.as_str(),
            reason = decision.reason.as_str(),
            "route prepared"
        );
        self.worker.shared.stats.routed(&decision);
        match decision.target {
            Target::Reject(_) => None,
            Target::Pinned => Some(Choice::Pinned),
            Target::Primary => Some(Choice::Primary),
            Target::Replica => Some(Choice::Read),
        }
    }

    fn reject_message(&self, c: &Classification) -> String {
        match route(c, &self.state, &self.worker.view().policy).target {
            Target::Reject(m) => m,
            _ => "rejected by a routing rule".into(),
        }
    }

    pub(crate) async fn send_backend_err(&mut self, err: &ErrPacket) -> Result<()> {
        let mut payload = BytesMut::new();
        err.encode(self.caps, &mut payload);
        self.client.queue(&payload).map_err(Error::ClientProtocol)?;
        self.client.flush().await.map_err(Error::ClientIo)
    }
}

/// A prepare's result on one connection.
pub(crate) enum Prepared {
    /// Prepared: the statement and the response packets (for the client).
    Ready {
        stmt: BackendStmt,
        packets: Vec<Bytes>,
    },
    /// The server refused (syntax error, unknown table …).
    Refused(ErrPacket),
}

/// Prepares `sql` on `conn` and caches it; `keep_packets` returns the response for the client.
pub(crate) async fn prepare_on(
    conn: &mut BackendConn,
    sql: &Bytes,
    max: usize,
    keep_packets: bool,
) -> Result<Prepared> {
    close_evicted(conn).await?;
    let mut payload = BytesMut::with_capacity(sql.len() + 1);
    payload.put_u8(cmd::STMT_PREPARE);
    payload.put_slice(sql);
    conn.send_command(&payload).await?;
    conn.tracker.start(cmd::STMT_PREPARE);
    let mut packets = Vec::new();
    loop {
        let packet = match read(&mut conn.io, &conn.address).await {
            Ok(p) => p,
            Err(e) => {
                conn.broken = true;
                return Err(e);
            }
        };
        let step = conn.tracker.feed(&packet).map_err(|e| {
            conn.broken = true;
            protocol(&conn.address, e)
        })?;
        match step {
            Step::More | Step::MoreWithSessionState | Step::NeedClient => {
                if keep_packets {
                    packets.push(packet);
                }
            }
            Step::Done(done) => {
                if let End::Err { .. } = done.end {
                    let err = ErrPacket::decode(&packet, conn.caps)
                        .map_err(|e| protocol(&conn.address, e))?;
                    return Ok(Prepared::Refused(err));
                }
                if keep_packets {
                    packets.push(packet);
                }
                let first = packets.first().cloned().unwrap_or_default();
                let (id, params) = match done.end {
                    End::Prepared {
                        statement_id,
                        num_params,
                        ..
                    } => (statement_id, num_params),
                    _ => {
                        let ok = StmtPrepareOk::decode(&first)
                            .map_err(|e| protocol(&conn.address, e))?;
                        (ok.statement_id, ok.num_params)
                    }
                };
                let stmt = BackendStmt {
                    id,
                    params,
                    typed: false,
                    used: 0,
                };
                conn.statements.insert(sql.clone(), stmt.clone(), max);
                return Ok(Prepared::Ready { stmt, packets });
            }
        }
    }
}

/// The backend statement for `sql` on `conn`, prepared now if the connection lacks it.
async fn backend_stmt(
    conn: &mut BackendConn,
    sql: &Bytes,
    max: usize,
) -> Result<Result<BackendStmt, ErrPacket>> {
    if let Some(s) = conn.statements.get(sql) {
        return Ok(Ok(s.clone()));
    }
    Ok(match prepare_on(conn, sql, max, false).await? {
        Prepared::Ready { stmt, .. } => Ok(stmt),
        Prepared::Refused(err) => Err(err),
    })
}

/// Sends COM_STMT_CLOSE for statements evicted from the connection's cache.
async fn close_evicted(conn: &mut BackendConn) -> Result<()> {
    for id in std::mem::take(&mut conn.statements.to_close) {
        let mut p = [0u8; 5];
        p[0] = cmd::STMT_CLOSE;
        p[1..].copy_from_slice(&id.to_le_bytes());
        conn.send_command(&p).await?;
    }
    Ok(())
}

/// Where the parts of a COM_STMT_EXECUTE payload are, for a statement with `params` parameters:
/// `0x17, id(4), flags(1), iterations(4), [null bitmap, bound flag, [types], values]`.
/// (Used by the mux to rewrite an execution for its own connection.)
#[derive(Debug, Clone, Copy)]
pub struct ExecuteLayout {
    params: usize,
    /// Offset of the bound flag (when there are parameters).
    bound_at: usize,
}

/// A rewritten execute payload.
pub(crate) struct Rewritten {
    pub(crate) payload: Bytes,
    pub(crate) types_sent: bool,
}

impl ExecuteLayout {
    fn parse(payload: &[u8], params: u16) -> Option<Self> {
        let params = usize::from(params);
        if payload.len() < 10 {
            return None;
        }
        let bound_at = 10 + params.div_ceil(8);
        if params > 0 && payload.len() <= bound_at {
            return None;
        }
        if params > 0 && payload[bound_at] == 1 && payload.len() < bound_at + 1 + 2 * params {
            return None;
        }
        Some(ExecuteLayout { params, bound_at })
    }

    /// The types the packet binds, if it binds any.
    fn types<'a>(&self, payload: &'a [u8]) -> Option<&'a [u8]> {
        if self.params == 0 || payload.get(self.bound_at) != Some(&1) {
            return None;
        }
        payload.get(self.bound_at + 1..self.bound_at + 1 + 2 * self.params)
    }

    /// The payload with the backend's statement id, and with `types` inserted when the packet
    /// binds none but the backend statement was never given any.
    pub(crate) fn rewrite(
        &self,
        payload: &[u8],
        backend_id: u32,
        types: Option<Vec<u8>>,
    ) -> Rewritten {
        let mut out = BytesMut::with_capacity(payload.len() + 2 * self.params + 1);
        out.put_u8(cmd::STMT_EXECUTE);
        out.put_u32_le(backend_id);
        out.put_slice(&payload[5..10]);
        if self.params == 0 {
            out.put_slice(&payload[10..]);
            return Rewritten {
                payload: out.freeze(),
                types_sent: false,
            };
        }
        let bound = payload[self.bound_at] == 1;
        out.put_slice(&payload[10..self.bound_at]);
        match types {
            Some(types) if !bound => {
                out.put_u8(1);
                out.put_slice(&types);
                out.put_slice(&payload[self.bound_at + 1..]);
                Rewritten {
                    payload: out.freeze(),
                    types_sent: true,
                }
            }
            _ => {
                out.put_slice(&payload[self.bound_at..]);
                Rewritten {
                    payload: out.freeze(),
                    types_sent: bound,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrite_swaps_the_id_and_adds_missing_types() {
        // id 7, flags 0, iterations 1, one param: bitmap 0, bound 0, value 0x2a (tiny).
        let payload = [0x17, 7, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0x2a];
        let layout = ExecuteLayout::parse(&payload, 1).unwrap();
        assert_eq!(layout.types(&payload), None);
        let r = layout.rewrite(&payload, 99, Some(vec![1, 0]));
        assert!(r.types_sent);
        assert_eq!(
            &r.payload[..],
            &[0x17, 99, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 1, 0, 0x2a]
        );
        let r = layout.rewrite(&payload, 99, None);
        assert!(!r.types_sent);
        assert_eq!(
            &r.payload[..],
            &[0x17, 99, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0x2a]
        );
    }

    #[test]
    fn truncated_executes_are_refused() {
        assert!(ExecuteLayout::parse(&[0x17, 1, 0], 0).is_none());
        // bound flag says types follow but they do not
        assert!(ExecuteLayout::parse(&[0x17, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3], 2).is_none());
    }

    #[test]
    fn the_cache_evicts_the_least_recently_used() {
        let mut cache = StmtCache::default();
        let s = |id| BackendStmt {
            id,
            params: 0,
            typed: false,
            used: 0,
        };
        cache.insert(Bytes::from_static(b"a"), s(1), 2);
        cache.insert(Bytes::from_static(b"b"), s(2), 2);
        assert!(cache.get(b"a").is_some());
        cache.insert(Bytes::from_static(b"c"), s(3), 2);
        assert!(cache.get(b"b").is_none());
        assert_eq!(cache.to_close, vec![2]);
    }
}
