//! The session's side of read-your-writes (see [`crate::consistency`]): what a read must see,
//! which server may answer it, the causal wait sent in the same write as the read, the wait
//! for a writable primary during a failover, and the functions the proxy answers itself
//! (`SELECT splitrail_last_gtid()`, `SELECT CONNECTION_ID()`).
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;
use splitrail_protocol::StatusFlags;
use splitrail_protocol::command::code as cmd;
use splitrail_protocol::response::ErrPacket;
use splitrail_protocol::response::TextResultSet;
use tracing::{debug, info, warn};

use super::Session;
use super::plan::GtidHint;
use crate::backend::Lease;
use crate::backend::conn::Outcome;
use crate::backend::state::SyncPlan;
use crate::balance::ReadRequest;
use crate::config::Consistency;
use crate::consistency::{Requirement, gtid_of};
use crate::error::{Error, Result};
use crate::gtid::GtidSet;
use crate::topology::ServerEntry;

/// How often a write waiting for a writable primary looks again.
const FAILOVER_POLL: Duration = Duration::from_millis(50);

impl Session {
    /// What the read being routed must see, from the consistency mode, the session's and the
    /// proxy's writes, and a `min_gtid` hint (the plan's `min_gtid`, consumed).
    /// Under `consistency: cluster` the primary's position is fetched (once per statement,
    /// shared with the reads that start meanwhile); a failed fetch sends the read to the primary.
    pub(crate) async fn read_requirement(&mut self) -> Requirement {
        if let Some(requirement) = &self.plan.requirement_known {
            return requirement.clone();
        }
        let requirement = self.work_out_requirement().await;
        self.plan.requirement_known = Some(requirement.clone());
        requirement
    }

    async fn work_out_requirement(&mut self) -> Requirement {
        let view = self.worker.view();
        let shared = self.worker.shared.clone();
        let routing = &view.config.routing;
        let hint = match std::mem::take(&mut self.plan.min_gtid) {
            GtidHint::None => None,
            GtidHint::Set(set) => Some(set),
            GtidHint::Unreadable => return Requirement::Primary,
        };
        let window = routing.read_after_write_window;
        let (wrote_recently, base) = match routing.consistency {
            Consistency::Eventual => (false, None),
            Consistency::Session => (
                self.write_mark.within(window),
                Some(self.session_gtid.clone()),
            ),
            Consistency::Global => (
                shared.causal.within_window(window),
                Some(shared.causal.global(&mut self.worker.causal.borrow_mut())),
            ),
            Consistency::Cluster => {
                let limit = crate::consistency::cluster::read_limit(&view.config);
                let Some(position) = shared.causal.cluster.current(limit).await else {
                    return Requirement::Primary;
                };
                shared.stats.position_reads.fetch_add(1, Ordering::Relaxed);
                // Without GTIDs on the primary, nothing tells what a replica lacks.
                if !shared.causal.gtids_seen() {
                    return Requirement::Primary;
                }
                (false, Some(position))
            }
        };
        // Without GTIDs, only the primary is known to have a recent write.
        if wrote_recently && !shared.causal.gtids_seen() {
            return Requirement::Primary;
        }
        let required = match (base, hint) {
            (None, None) => return Requirement::None,
            (Some(base), None) => base,
            (base, Some(hint)) => {
                let mut set = hint;
                if let Some(base) = base {
                    set.merge(&base);
                }
                Arc::new(set)
            }
        };
        if required.is_empty() {
            Requirement::None
        } else {
            Requirement::Gtid(required)
        }
    }

    /// A server that can answer a read with `requirement` at once, with no wait: the
    /// balancer's pick among the replicas known to have applied it (the primary by its read
    /// weight, which has everything). `None` when none can.
    pub(crate) fn ready_read_server(&mut self, requirement: &Requirement) -> Option<usize> {
        let view = self.worker.view();
        let request = self.read_request();
        let mut balancer = self.worker.balancer.borrow_mut();
        match requirement {
            Requirement::None => balancer.pick_read(&view.topology, &request),
            Requirement::Primary => None,
            Requirement::Gtid(required) => {
                let has_it = |s: &ServerEntry| s.has_applied(required);
                let caught_up = ReadRequest {
                    accept: Some(&has_it),
                    ..request
                };
                balancer.pick_read(&view.topology, &caught_up)
            }
        }
    }

    /// The server for a read, given its requirement (the plan's `requirement`): a server that can
    /// answer at once ([`Session::ready_read_server`]), else the balancer's pick with a causal
    /// wait (the plan's `causal_wait`) — unless a wait there just timed out, or waits are off — else
    /// the primary.
    pub(crate) fn read_server(&mut self, primary: usize) -> usize {
        let requirement = self.plan.requirement.clone();
        if let Some(server) = self.ready_read_server(&requirement) {
            return server;
        }
        let required = match requirement {
            Requirement::None => return primary,
            Requirement::Primary => {
                self.worker.shared.stats.consistency_fallback();
                return primary;
            }
            Requirement::Gtid(required) => required,
        };
        let view = self.worker.view();
        let request = self.read_request();
        let pick = self
            .worker
            .balancer
            .borrow_mut()
            .pick_read(&view.topology, &request);
        let Some(picked) = pick
            .filter(|&s| s != primary)
            .and_then(|s| view.topology.servers.get(s))
        else {
            return primary;
        };
        if view.config.routing.causal_read_timeout.is_zero() || !picked.waitable() {
            self.worker.shared.stats.consistency_fallback();
            return primary;
        }
        let shared = &self.worker.shared;
        if shared
            .causal
            .replay_pending(&required, |gtid| picked.has_applied(gtid))
        {
            shared
                .stats
                .slow_replay_reads
                .fetch_add(1, Ordering::Relaxed);
            debug!(server = %picked.address, "the replica has a DDL statement to replay first: the read goes to the primary");
            return primary;
        }
        self.plan.causal_wait = Some(required);
        picked.index
    }

    /// Sends `payload` behind the session's sync (`sync`) and a wait for `required` on the
    /// lease's server, all in one write. [`Behind::Go`]: the state took and the position was
    /// reached; the read's answer follows (to be relayed). [`Behind::Fallback`]: the wait timed
    /// out or could not be expressed; the read's answer was read and dropped, and it must run on
    /// the primary. [`Behind::Refused`]: the connection refused the state (it is marked broken;
    /// nothing behind the sync is read).
    pub(crate) async fn send_behind(
        &mut self,
        lease: &mut Lease,
        sync: Option<SyncPlan>,
        required: Option<Arc<GtidSet>>,
        payload: &Bytes,
    ) -> Result<Behind> {
        let shared = self.worker.shared.clone();
        let view = self.worker.view();
        let timeout = view.config.routing.causal_read_timeout;
        let wait = match &required {
            None => None,
            Some(required) => match lease.conn.flavor.wait_sql(required, timeout) {
                Some(sql) => Some(lease.conn.query_payload(sql.as_bytes())),
                None => {
                    shared.stats.consistency_fallback();
                    return Ok(Behind::Fallback);
                }
            },
        };
        {
            let mut payloads = sync.as_ref().map(SyncPlan::payloads).unwrap_or_default();
            payloads.extend(wait.as_deref());
            payloads.push(payload);
            lease.conn.send_many(&payloads).await?;
        }
        if let Some(sync) = sync
            && let Some(err) = sync.finish(&mut lease.conn, self.state.variables()).await?
        {
            return Ok(Behind::Refused(err));
        }
        let Some(required) = required else {
            return Ok(Behind::Go);
        };
        shared.stats.consistency_wait();
        let answer = lease.conn.read_value().await?;
        if matches!(&answer, Ok(Some(v)) if v == "0") {
            if let Some(server) = view.topology.servers.get(lease.conn.server) {
                server.note_applied(&required);
            }
            return Ok(Behind::Go);
        }
        match &answer {
            Err(err) => warn!(
                server = %lease.conn.address,
                error = %String::from_utf8_lossy(&err.message),
                "causal wait refused; the read goes to the primary"
            ),
            Ok(value) => debug!(
                server = %lease.conn.address,
                position = %required,
                answer = ?value,
                "causal wait timed out; the read goes to the primary"
            ),
        }
        shared.stats.consistency_fallback();
        if let (Ok(_), Some(server)) = (&answer, view.topology.servers.get(lease.conn.server)) {
            server.wait_timed_out(timeout);
        }
        // The read ran on a replica that had not caught up: its answer is dropped. A statement
        // that left state behind (a transaction, a cursor) takes its connection with it.
        let command = payload.first().copied().unwrap_or(cmd::QUERY);
        if let Outcome::Ok(done, _) = lease.conn.read_outcome(command, |_, _| Ok(())).await?
            && done.status.intersects(
                StatusFlags::SERVER_STATUS_IN_TRANS | StatusFlags::SERVER_STATUS_CURSOR_EXISTS,
            )
        {
            lease.conn.broken = true;
        }
        Ok(Behind::Fallback)
    }

    /// Waits up to `routing.failover_timeout` for a primary that can take a write: known
    /// writable and reachable. During a failover the monitor finds the promoted server.
    pub(crate) async fn await_writable_primary(
        &mut self,
        since: &mut Option<Instant>,
    ) -> Result<()> {
        if self.worker.view().topology.writable_primary().is_some() {
            return Ok(());
        }
        let timeout = self.worker.view().config.routing.failover_timeout;
        let started = *since.get_or_insert_with(|| {
            info!(
                ?timeout,
                "no writable primary known: the write waits for one"
            );
            Instant::now()
        });
        loop {
            if self.worker.view().topology.writable_primary().is_some() {
                return Ok(());
            }
            if started.elapsed() >= timeout || self.info.is_killed() {
                return Err(Error::NoWritablePrimary { waited: timeout });
            }
            tokio::time::sleep(FAILOVER_POLL).await;
        }
    }

    /// Whether the failover wait that started at `since` still has time left.
    pub(crate) fn failover_time_left(&self, since: Option<Instant>) -> bool {
        let timeout = self.worker.view().config.routing.failover_timeout;
        since.is_none_or(|s| s.elapsed() < timeout) && !timeout.is_zero()
    }

    /// Adds the GTIDs a response reported to the session's own position; those of a statement
    /// replicas replay slowly (`slow`: DDL) are noted as slow writes too (see
    /// [`crate::consistency`]).
    pub(crate) fn learn_gtids(
        &mut self,
        oks: &[&splitrail_protocol::response::OkPacket],
        fetched: Option<&GtidSet>,
        slow: bool,
    ) {
        let gtids = oks.iter().filter_map(|ok| gtid_of(ok));
        for gtid in gtids.chain(fetched.cloned()) {
            if slow {
                let view = self.worker.view();
                let hold = view
                    .config
                    .routing
                    .causal_read_timeout
                    .max(view.config.monitor.interval)
                    * 2;
                self.worker.shared.causal.slow_write(&gtid, hold);
            }
            Arc::make_mut(&mut self.session_gtid).merge(&gtid);
        }
    }

    /// Answers a statement the proxy knows better than any backend (see [`LocalFunction`]).
    pub(crate) async fn answer_locally(
        &mut self,
        function: LocalFunction,
        name: &str,
    ) -> Result<()> {
        use splitrail_protocol::collation::BINARY;
        use splitrail_protocol::response::ColumnFlags;
        use splitrail_protocol::value::ColumnType;
        let value = match function {
            LocalFunction::LastGtid => {
                (!self.session_gtid.is_empty()).then(|| self.session_gtid.to_string())
            }
            LocalFunction::ConnectionId => Some(self.id.to_string()),
            LocalFunction::FoundRows => Some(self.previous_pipelined.unwrap_or(0).to_string()),
            // The previous statement was a read.
            LocalFunction::RowCount => Some("-1".to_string()),
        };
        let mut result = TextResultSet::new(&[name], vec![vec![value]]);
        if function != LocalFunction::LastGtid
            && let Some(column) = result.columns.first_mut()
        {
            // As the server types it: BIGINT [UNSIGNED] NOT NULL, binary.
            column.column_type = ColumnType::LongLong;
            column.flags = ColumnFlags::NOT_NULL | ColumnFlags::BINARY;
            if function == LocalFunction::ConnectionId {
                column.flags |= ColumnFlags::UNSIGNED;
            }
            column.charset = BINARY;
            column.column_length = 21;
        }
        self.send_result_set(&result).await
    }
}

/// How a read sent behind its sync and causal wait ([`Session::send_behind`]) stands.
pub(crate) enum Behind {
    /// Its answer follows.
    Go,
    /// The wait timed out (its answer was dropped): the primary must answer.
    Fallback,
    /// The connection refused the session's state.
    Refused(ErrPacket),
}

/// Functions the proxy answers itself when a statement is just `SELECT f()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LocalFunction {
    /// `splitrail_last_gtid()`: the position of the session's writes, to present on another
    /// connection (or proxy) as `/* splitrail:min_gtid=… */`; NULL before any write.
    LastGtid,
    /// `CONNECTION_ID()`: the proxy's id for the client — the one `KILL` takes, stable for
    /// the session (a backend's thread id would change from statement to statement).
    ConnectionId,
    /// `FOUND_ROWS()` right after a read answered on a pipelined connection: the rows it
    /// returned (the session's own connections did not run it). Elsewhere the server answers.
    FoundRows,
    /// `ROW_COUNT()` right after a read answered on a pipelined connection: -1, as after any
    /// read. Elsewhere the server answers.
    RowCount,
}

impl LocalFunction {
    /// Whether the proxy answers it, `after_pipelined`: the session's previous statement was a
    /// read answered on a pipelined connection.
    pub(crate) fn answered_here(self, after_pipelined: bool) -> bool {
        match self {
            LocalFunction::LastGtid | LocalFunction::ConnectionId => true,
            LocalFunction::FoundRows | LocalFunction::RowCount => after_pipelined,
        }
    }
}

/// The local function `sql` consists of, with the column name the client expects: `SELECT f()`
/// in any case and spacing, with a trailing `;` or not.
pub(crate) fn local_function(sql: &[u8]) -> Option<(LocalFunction, &str)> {
    let mut rest = sql.trim_ascii();
    rest = rest.strip_suffix(b";").unwrap_or(rest).trim_ascii_end();
    let head = rest.get(..6)?;
    if !head.eq_ignore_ascii_case(b"select") || !rest.get(6)?.is_ascii_whitespace() {
        return None;
    }
    let expr = rest[6..].trim_ascii_start();
    let open = expr.iter().position(|&b| b == b'(')?;
    let name = expr[..open].trim_ascii_end();
    if expr[open + 1..].trim_ascii() != b")" {
        return None;
    }
    let function = if name.eq_ignore_ascii_case(b"splitrail_last_gtid") {
        LocalFunction::LastGtid
    } else if name.eq_ignore_ascii_case(b"connection_id") {
        LocalFunction::ConnectionId
    } else if name.eq_ignore_ascii_case(b"found_rows") {
        LocalFunction::FoundRows
    } else if name.eq_ignore_ascii_case(b"row_count") {
        LocalFunction::RowCount
    } else {
        return None;
    };
    Some((function, std::str::from_utf8(expr).ok()?))
}
#[cfg(test)]
mod tests {
    use super::{LocalFunction, local_function};

    #[test]
    fn local_functions_are_recognised_in_their_spellings_only() {
        let f = local_function;
        assert_eq!(
            f(b"SELECT splitrail_last_gtid()"),
            Some((LocalFunction::LastGtid, "splitrail_last_gtid()"))
        );
        assert_eq!(
            f(b"select SPLITRAIL_LAST_GTID ( ) ;").map(|x| x.0),
            Some(LocalFunction::LastGtid)
        );
        assert_eq!(
            f(b"  SELECT\n connection_id()  "),
            Some((LocalFunction::ConnectionId, "connection_id()"))
        );
        for no in [
            &b"SELECT splitrail_last_gtid"[..],
            b"SELECT splitrail_last_gtid(1)",
            b"SELECT splitrail_last_gtid() FROM t",
            b"SELECTsplitrail_last_gtid()",
            b"SELECT CONNECTION_ID() + 1",
            b"SELECT x.connection_id()",
            b"SELECT 1",
            b"",
        ] {
            assert_eq!(f(no), None, "{}", String::from_utf8_lossy(no));
        }
    }
}
