//! Prepared statements as one backend connection holds them: its statement cache (ids by
//! statement text, least recently used evicted and closed), preparing a statement there, and
//! rewriting a client's COM_STMT_EXECUTE for the connection's own statement id.
use std::collections::HashMap;

use bytes::{Bytes, BytesMut};
use splitrail_protocol::command::code as cmd;
use splitrail_protocol::prepared::{ParamBlock, StmtExecute, StmtPrepareOk};
use splitrail_protocol::response::ErrPacket;
use splitrail_protocol::{Command, End, Step};

use super::conn::{BackendConn, protocol, read};
use crate::error::Result;

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

/// Who a prepare is for: the client (its response packets are kept to be relayed) or an
/// execution that needs the statement on this connection (nothing is kept).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrepareFor {
    /// The client's COM_STMT_PREPARE: the response packets are kept for it.
    Client,
    /// An execution on a connection that lacks the statement.
    Execution,
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

/// Prepares `sql` on `conn` and caches it; for [`PrepareFor::Client`] the response packets
/// come back too.
pub(crate) async fn prepare_on(
    conn: &mut BackendConn,
    sql: &Bytes,
    max: usize,
    purpose: PrepareFor,
) -> Result<Prepared> {
    let keep_packets = purpose == PrepareFor::Client;
    close_evicted(conn).await?;
    let payload = conn.payload(&Command::StmtPrepare { query: sql });
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
pub(crate) async fn backend_stmt(
    conn: &mut BackendConn,
    sql: &Bytes,
    max: usize,
) -> Result<Result<BackendStmt, ErrPacket>> {
    if let Some(s) = conn.statements.get(sql) {
        return Ok(Ok(s.clone()));
    }
    Ok(
        match prepare_on(conn, sql, max, PrepareFor::Execution).await? {
            Prepared::Ready { stmt, .. } => Ok(stmt),
            Prepared::Refused(err) => Err(err),
        },
    )
}

/// Sends COM_STMT_CLOSE for statements evicted from the connection's cache.
async fn close_evicted(conn: &mut BackendConn) -> Result<()> {
    for id in std::mem::take(&mut conn.statements.to_close) {
        let payload = conn.payload(&Command::StmtClose { statement_id: id });
        conn.send_command(&payload).await?;
    }
    Ok(())
}

/// A client's COM_STMT_EXECUTE `payload` for a statement of `params` parameters, rewritten
/// for backend statement `backend_id`: with `types` bound when the packet binds none (the
/// backend statement may have been given other types by another session since). Returns the
/// payload and whether it binds types; `None` when the payload is malformed.
pub(crate) fn rebind(
    payload: &[u8],
    params: u16,
    backend_id: u32,
    types: Option<&[u8]>,
) -> Option<(Bytes, bool)> {
    let exec = StmtExecute::decode_body(payload.get(1..)?).ok()?;
    let block = exec.param_block(params).ok()?;
    Some(rebound(&exec, &block, payload.len(), backend_id, types))
}

/// [`rebind`] of an execution already decoded (`exec`, its parameter `block`, `len` bytes in
/// all): the payload for `backend_id` with the session's `types`, and whether it carries them.
pub(crate) fn rebound(
    exec: &StmtExecute<'_>,
    block: &ParamBlock<'_>,
    len: usize,
    backend_id: u32,
    types: Option<&[u8]>,
) -> (Bytes, bool) {
    // Room for the parameter types the session adds, and the bound flag.
    let mut out = BytesMut::with_capacity(len + types.map_or(0, <[u8]>::len) + 1);
    let typed = exec.encode_rebound(backend_id, block, types, &mut out);
    (out.freeze(), typed)
}

/// Sends the long data a client gave for a statement's parameters (COM_STMT_SEND_LONG_DATA,
/// no answer) ahead of its execution as `statement_id` on `conn`.
pub(crate) async fn send_long_data(
    conn: &mut BackendConn,
    statement_id: u32,
    long_data: &[(u16, Bytes)],
) -> Result<()> {
    for (param, data) in long_data {
        let p = conn.payload(&Command::StmtSendLongData {
            statement_id,
            param_id: *param,
            data,
        });
        conn.send_command(&p).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rebind_gives_the_backend_id_and_the_sessions_types() {
        // id 7, flags 0, iterations 1, one param: bitmap 0, bound 0, value 0x2a (tiny).
        let payload = [0x17, 7, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0x2a];
        let (out, typed) = rebind(&payload, 1, 99, Some(&[1, 0])).unwrap();
        assert!(typed);
        assert_eq!(
            &out[..],
            &[0x17, 99, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 1, 0, 0x2a]
        );
        assert!(rebind(&[0x17, 1, 0], 0, 1, None).is_none());
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
