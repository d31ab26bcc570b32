//! The session's side of read-your-writes (see [`crate::consistency`]): what a read must see,
//! which server may answer it, the causal wait sent in the same write as the read, the wait
//! for a writable primary during a failover, and `SELECT splitrail_last_gtid()`.
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use splitrail_protocol::StatusFlags;
use splitrail_protocol::command::code as cmd;
use splitrail_protocol::response::TextResultSet;
use tracing::{debug, info, warn};

use super::Session;
use crate::backend::Lease;
use crate::backend::conn::Outcome;
use crate::config::{Consistency, Role};
use crate::consistency::{Requirement, gtid_of, wait_sql};
use crate::error::{Error, Result};
use crate::gtid::GtidSet;

/// How often a write waiting for a writable primary looks again.
const FAILOVER_POLL: Duration = Duration::from_millis(50);

impl Session {
    /// What the read being routed must see, from the consistency mode, the session's and the
    /// proxy's writes, and a `min_gtid` hint (`self.min_gtid`, consumed).
    pub(crate) fn read_requirement(&mut self) -> Requirement {
        let shared = &self.worker.shared;
        let routing = &shared.config.routing;
        let hint = match self.min_gtid.take().map(|text| GtidSet::parse(&text)) {
            None => None,
            Some(Ok(set)) => Some(set),
            // The router only passes GTID-looking text; anything else cannot be waited for.
            Some(Err(_)) => return Requirement::Primary,
        };
        let base: Option<Arc<GtidSet>> = match routing.consistency {
            Consistency::Eventual => None,
            Consistency::Session => {
                if !shared.causal.gtids_seen()
                    && self.write_mark.within(routing.read_after_write_window)
                {
                    return Requirement::Primary;
                }
                Some(self.session_gtid.clone())
            }
            Consistency::Global => {
                if !shared.causal.gtids_seen()
                    && shared.causal.within_window(routing.read_after_write_window)
                {
                    return Requirement::Primary;
                }
                Some(shared.causal.global(&mut self.worker.causal.borrow_mut()))
            }
        };
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

    /// The server for a read, given its requirement (`self.requirement`): the balancer's pick
    /// when it is known to have applied what the read must see, else another replica that has,
    /// else the pick with a causal wait (`self.causal_wait`), else the primary.
    pub(crate) fn read_server(&mut self, primary: usize) -> usize {
        let topology = &self.worker.shared.topology;
        let pick = self
            .worker
            .balancer
            .borrow_mut()
            .pick_read(topology, self.max_lag);
        let required = match &self.requirement {
            Requirement::None => return pick.unwrap_or(primary),
            Requirement::Primary => {
                self.worker.shared.stats.consistency_fallback();
                return primary;
            }
            Requirement::Gtid(required) => required,
        };
        let Some(pick) = pick.filter(|&s| s != primary) else {
            return primary;
        };
        if topology
            .servers
            .get(pick)
            .is_some_and(|s| s.has_applied(required))
        {
            return pick;
        }
        let max_lag_ms = self.max_lag.map(|d| d.as_millis() as u64);
        if let Some(other) = topology.servers.iter().find(|s| {
            s.index != primary
                && s.role() == Role::Replica
                && s.can_read(max_lag_ms)
                && s.has_applied(required)
        }) {
            return other.index;
        }
        if self
            .worker
            .shared
            .config
            .routing
            .causal_read_timeout
            .is_zero()
        {
            self.worker.shared.stats.consistency_fallback();
            return primary;
        }
        self.causal_wait = Some(required.clone());
        pick
    }

    /// Sends `payload` behind a wait for `required` on the lease's server, in one write. `true`:
    /// the position was reached and the read's answer follows (to be relayed). `false`: the
    /// wait timed out or could not be expressed; the read's answer was read and dropped, and it
    /// must run on the primary.
    pub(crate) async fn send_behind_wait(
        &mut self,
        lease: &mut Lease,
        required: &GtidSet,
        payload: &Bytes,
    ) -> Result<bool> {
        let shared = self.worker.shared.clone();
        let timeout = shared.config.routing.causal_read_timeout;
        let Some(sql) = wait_sql(&lease.conn.server_version, required, timeout) else {
            shared.stats.consistency_fallback();
            return Ok(false);
        };
        let mut wait = Vec::with_capacity(sql.len() + 1);
        wait.push(cmd::QUERY);
        wait.extend_from_slice(sql.as_bytes());
        lease.conn.send_pipelined(&wait, payload).await?;
        shared.stats.consistency_wait();
        let answer = lease.conn.read_value().await?;
        if matches!(&answer, Ok(Some(v)) if v == "0") {
            if let Some(server) = shared.topology.servers.get(lease.conn.server) {
                server.note_applied(required);
            }
            return Ok(true);
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
        Ok(false)
    }

    /// Waits up to `routing.failover_timeout` for a primary that can take a write: known
    /// writable and reachable. During a failover the monitor finds the promoted server.
    pub(crate) async fn await_writable_primary(
        &mut self,
        since: &mut Option<Instant>,
    ) -> Result<()> {
        let shared = self.worker.shared.clone();
        if shared.topology.writable_primary().is_some() {
            return Ok(());
        }
        let timeout = shared.config.routing.failover_timeout;
        let started = *since.get_or_insert_with(|| {
            info!(
                ?timeout,
                "no writable primary known: the write waits for one"
            );
            Instant::now()
        });
        loop {
            if shared.topology.writable_primary().is_some() {
                return Ok(());
            }
            if started.elapsed() >= timeout || self.info.is_killed() {
                return Err(Error::NoBackend(format!(
                    "no writable primary within routing.failover_timeout ({timeout:?}); the \
                     write was not run"
                )));
            }
            tokio::time::sleep(FAILOVER_POLL).await;
        }
    }

    /// Whether the failover wait that started at `since` still has time left.
    pub(crate) fn failover_time_left(&self, since: Option<Instant>) -> bool {
        let timeout = self.worker.shared.config.routing.failover_timeout;
        since.is_none_or(|s| s.elapsed() < timeout) && !timeout.is_zero()
    }

    /// Adds the GTIDs a response reported to the session's own position.
    pub(crate) fn learn_gtids(&mut self, oks: &[&splitrail_protocol::response::OkPacket]) {
        for ok in oks {
            if let Some(gtid) = gtid_of(ok) {
                Arc::make_mut(&mut self.session_gtid).merge(&gtid);
            }
        }
    }

    /// `SELECT splitrail_last_gtid()`: the position of the session's writes, to present on
    /// another connection (or proxy) as `/* splitrail:min_gtid=… */`; NULL before any write.
    pub(crate) async fn answer_last_gtid(&mut self) -> Result<()> {
        let value = (!self.session_gtid.is_empty()).then(|| self.session_gtid.to_string());
        let result = TextResultSet::new(&["splitrail_last_gtid()"], vec![vec![value]]);
        result
            .write(
                self.caps,
                self.status,
                &mut self.client.codec,
                &mut self.client.wbuf,
            )
            .map_err(Error::ClientProtocol)?;
        self.client.flush().await.map_err(Error::ClientIo)
    }
}

/// Whether `sql` is `SELECT splitrail_last_gtid()` (any case, spacing, trailing `;`).
pub(crate) fn is_last_gtid_query(sql: &[u8]) -> bool {
    let mut rest = sql.trim_ascii();
    rest = rest.strip_suffix(b";").unwrap_or(rest).trim_ascii_end();
    let word = |rest: &[u8], word: &[u8]| {
        rest.get(..word.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(word))
    };
    if !word(rest, b"select") || !rest.get(6).is_some_and(u8::is_ascii_whitespace) {
        return false;
    }
    rest = rest[6..].trim_ascii_start();
    const NAME: &[u8] = b"splitrail_last_gtid";
    if !word(rest, NAME) {
        return false;
    }
    rest = rest[NAME.len()..].trim_ascii_start();
    let Some(args) = rest.strip_prefix(b"(") else {
        return false;
    };
    args.trim_ascii() == b")"
}

#[cfg(test)]
mod tests {
    use super::is_last_gtid_query;

    #[test]
    fn the_token_query_is_recognised_in_its_spellings_only() {
        for yes in [
            &b"SELECT splitrail_last_gtid()"[..],
            b"select SPLITRAIL_LAST_GTID ( ) ;",
            b"  SELECT\n splitrail_last_gtid()  ",
        ] {
            assert!(is_last_gtid_query(yes), "{}", String::from_utf8_lossy(yes));
        }
        for no in [
            &b"SELECT splitrail_last_gtid"[..],
            b"SELECT splitrail_last_gtid(1)",
            b"SELECT splitrail_last_gtid() FROM t",
            b"SELECTsplitrail_last_gtid()",
            b"SELECT 1",
            b"",
        ] {
            assert!(!is_last_gtid_query(no), "{}", String::from_utf8_lossy(no));
        }
    }
}
