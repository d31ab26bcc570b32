//! Prepared statements as one backend connection holds them: its statement cache (ids by
//! statement text, least recently used evicted and closed), preparing a statement there, and
//! rewriting a client's COM_STMT_EXECUTE for the connection's own statement id.
use std::collections::HashMap;

use bytes::{BufMut, Bytes, BytesMut};
use splitrail_protocol::command::code as cmd;
use splitrail_protocol::prepared::StmtPrepareOk;
use splitrail_protocol::response::ErrPacket;
use splitrail_protocol::{End, Step};

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
pub(crate) async fn backend_stmt(
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
    /// Finds the parts of `payload` for a statement with `params` parameters; `None` when the
    /// payload is too short for them.
    pub(crate) fn parse(payload: &[u8], params: u16) -> Option<Self> {
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
    pub(crate) fn types<'a>(&self, payload: &'a [u8]) -> Option<&'a [u8]> {
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
