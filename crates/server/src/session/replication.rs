//! Binlog clients (change-data-capture tools, `mariadb-binlog --read-from-remote-server`): the
//! session that sends `COM_REGISTER_SLAVE`, `COM_BINLOG_DUMP` or `COM_BINLOG_DUMP_GTID`, or sets
//! one of the user variables such clients set first (`@master_binlog_checksum`,
//! `@slave_connect_state`, …), runs everything from then on on one connection of its own to
//! the writable primary, never pooled back; the event stream is relayed as it comes until the
//! server ends it (which ends the session, as the server closes a connection whose dump ended),
//! the client leaves, or the primary changes (a failover ends the session with
//! an error: the client reconnects and resumes from its own position). `routing.
//! replication_clients: refuse` answers the commands with error 1047 instead.
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use splitrail_protocol::response::{ErrorCode, code};
use splitrail_protocol::{End, Step};
use tracing::{debug, info};

use super::Session;
use super::lease::Reuse;
use super::query::Choice;
use crate::backend::Lease;
use crate::backend::conn::protocol;
use crate::config::ReplicationClients;
use crate::error::{Error, Result};
use crate::worker::Worker;

/// User variables binlog clients set before they ask for the stream (MariaDB's and MySQL's
/// replicas, `mariadb-binlog`, Debezium, go-mysql, python-mysql-replication): setting one makes
/// the session a binlog client.
const BINLOG_CLIENT_VARIABLES: &[&str] = &[
    "master_binlog_checksum",
    "source_binlog_checksum",
    "mariadb_slave_capability",
    "slave_connect_state",
    "slave_gtid_strict_mode",
    "slave_gtid_ignore_duplicates",
    "master_heartbeat_period",
    "source_heartbeat_period",
    "slave_uuid",
    "replica_uuid",
    "rpl_semi_sync_slave",
    "rpl_semi_sync_replica",
];

/// How often a relayed stream looks whether the primary is still the one it reads from.
const PRIMARY_CHECK: Duration = Duration::from_millis(250);

/// 1236, ER_MASTER_FATAL_ERROR_READING_BINLOG: what a replica is told when its stream ends in
/// error (here: the primary changed under it).
const ER_MASTER_FATAL_ERROR_READING_BINLOG: ErrorCode = ErrorCode {
    code: 1236,
    sql_state: "HY000",
};

/// How a relayed binlog stream ended.
enum StreamEnd {
    /// The server ended it (an EOF after the last event of a non-blocking dump, or an ERR):
    /// the connection stays usable.
    Server,
    /// The client closed its connection (or sent a command while streaming).
    ClientGone(std::io::Error),
    /// The backend failed or sent something unreadable.
    Backend(Error),
    /// Another server became the primary.
    Failover,
    /// `KILL` of this session.
    Killed,
    /// The proxy shuts down.
    Shutdown,
}

impl Session {
    /// Whether binlog clients are refused (`routing.replication_clients: refuse`).
    fn replication_refused(&self) -> bool {
        self.worker.view().config.routing.replication_clients == ReplicationClients::Refuse
    }

    /// Error 1047, the answer when binlog clients are refused.
    async fn refuse_replication(&mut self) -> Result<()> {
        self.send_err(
            code::ER_UNKNOWN_COM_ERROR,
            "Replication commands are not served through Splitrail (routing.replication_clients: \
             refuse): connect binlog clients to the primary directly",
        )
        .await
    }

    /// After a statement: a session that set a binlog client's user variable is one.
    pub(crate) fn note_binlog_client(&mut self) {
        if !self.replication
            && self
                .state
                .user_variables()
                .any(|name| BINLOG_CLIENT_VARIABLES.contains(&name))
            && !self.replication_refused()
        {
            debug!("the session is a binlog client: its statements stay on the primary");
            self.replication = true;
        }
    }

    /// A replication command arrived: `Ok(true)` when the session goes on as a binlog client,
    /// `Ok(false)` when the client was refused (`routing.replication_clients: refuse`, or a
    /// connection held elsewhere than on the primary).
    async fn begin_replication(&mut self) -> Result<bool> {
        if self.replication_refused() {
            self.refuse_replication().await?;
            return Ok(false);
        }
        self.replication = true;
        if let Err(message) = self.held_elsewhere() {
            self.send_err(ER_MASTER_FATAL_ERROR_READING_BINLOG, &message)
                .await?;
            return Ok(false);
        }
        Ok(true)
    }

    /// COM_REGISTER_SLAVE: run on the session's own connection to the primary.
    pub(crate) async fn register_replica(&mut self, payload: &Bytes) -> Result<()> {
        if !self.begin_replication().await? {
            return Ok(());
        }
        self.execute_raw(Choice::Primary, payload, None)
            .await
            .map(drop)
    }

    /// COM_BINLOG_DUMP / COM_BINLOG_DUMP_GTID: the event stream from the writable primary, on
    /// the session's own connection, relayed until it ends. Refused when the client's
    /// `server_id` is that of one of the proxy's other servers: the primary would take the
    /// client for that server reconnecting and drop the server's own stream.
    pub(crate) async fn binlog_dump(&mut self, payload: &Bytes, server_id: u32) -> Result<()> {
        if !self.begin_replication().await? {
            return Ok(());
        }
        if let Some(taken) = self.server_with_id(server_id) {
            self.closing = true;
            return self
                .send_err(
                    ER_MASTER_FATAL_ERROR_READING_BINLOG,
                    &format!(
                        "Server id {server_id} is that of {taken}, a server behind Splitrail: \
                         the primary would drop its replication stream. Give the binlog client \
                         a server id of its own"
                    ),
                )
                .await;
        }
        let mut lease = self.lease_for(Choice::Primary, Reuse::Checked).await?;
        let server = lease.conn.server;
        if self.worker.view().topology.writable_primary() != Some(server) {
            self.put_back(lease);
            return self
                .send_err(
                    ER_MASTER_FATAL_ERROR_READING_BINLOG,
                    "No writable primary is known to Splitrail: no binlog stream to read",
                )
                .await;
        }
        let command = payload.first().copied().unwrap_or_default();
        if let Err(e) = lease.conn.send_command(payload).await {
            drop(lease);
            self.closing = true;
            return Err(e);
        }
        lease.conn.tracker.start(command);
        self.info
            .set_running(Some((lease.conn.server, lease.conn.thread_id)));
        let (end, last_seq) = self.relay_stream(&mut lease).await;
        self.info.set_running(None);
        self.stream_ended(lease, end, last_seq).await
    }

    /// Where a stream's end leaves the session: closed, as a server closes the connection of
    /// every binlog dump once it ends (MariaDB and MySQL treat the end of a dump as a
    /// COM_QUIT). When the server ended the stream (an EOF or an ERR, relayed already) that is
    /// all; otherwise the client is told why first (`last_seq`: the sequence id of the
    /// stream's last frame the client got).
    async fn stream_ended(
        &mut self,
        mut lease: Lease,
        end: StreamEnd,
        last_seq: Option<u8>,
    ) -> Result<()> {
        let address = lease.conn.address.clone();
        lease.conn.broken = true;
        drop(lease);
        self.closing = true;
        if let StreamEnd::Server = end {
            return Ok(());
        }
        let (code, message) = match end {
            StreamEnd::ClientGone(e) => return Err(Error::ClientIo(e)),
            StreamEnd::Backend(e) => return self.report_lost_backend(&e, last_seq).await,
            StreamEnd::Failover => {
                info!(server = %address, "the primary changed: a binlog stream ends");
                (
                    ER_MASTER_FATAL_ERROR_READING_BINLOG,
                    format!(
                        "The primary changed (failover): the binlog stream from {address} \
                         ended; reconnect and resume from your last position"
                    ),
                )
            }
            StreamEnd::Shutdown => (
                crate::error::ER_SERVER_SHUTDOWN,
                "Server shutdown in progress".to_string(),
            ),
            StreamEnd::Killed | StreamEnd::Server => (
                code::ER_CONNECTION_KILLED,
                "Connection was killed".to_string(),
            ),
        };
        self.client
            .codec
            .set_seq(last_seq.map_or(1, |s| s.wrapping_add(1)));
        self.send_err(code, &message).await
    }

    /// The address of the proxy's server, other than the primary, whose `@@server_id` (as the
    /// monitor last read it) is `server_id`. Never for 0 (one-off readers) nor for the
    /// primary's own id, which no stream from it uses (`mariadb-binlog --stop-never` sends 1
    /// by default).
    fn server_with_id(&self, server_id: u32) -> Option<String> {
        if server_id == 0 {
            return None;
        }
        let view = self.worker.view();
        let primary = view.topology.primary();
        view.topology
            .servers
            .iter()
            .filter(|s| Some(s.index) != primary)
            .find(|s| s.server_id() == Some(server_id))
            .map(|s| s.address.to_string())
    }

    /// `Err` with the message when the session holds a connection to a server that is not
    /// the primary (a binlog stream must come from the primary, and the session's state lives
    /// on that connection).
    fn held_elsewhere(&self) -> std::result::Result<(), String> {
        let primary = self.worker.view().topology.primary();
        match &self.held {
            Some(held) if Some(held.conn.server) != primary => Err(format!(
                "This session holds a connection to {} (a transaction, locks or variables), \
                 not the primary: a binlog client must start on a new connection",
                held.conn.address
            )),
            _ => Ok(()),
        }
    }

    /// Passes the stream's frames to the client as they arrive; returns how it ended and the
    /// sequence id of the last frame the client got.
    async fn relay_stream(&mut self, lease: &mut Lease) -> (StreamEnd, Option<u8>) {
        let worker = self.worker.clone();
        let server = lease.conn.server;
        let mut last_seq = None;
        // When the client half-closed: the stream goes on for an answer already on its way
        // (a refused dump's error), not past CLIENT_GONE_LINGER.
        let mut client_eof_at: Option<tokio::time::Instant> = None;
        loop {
            let (pos, ended) = match whole_frames(lease, &mut last_seq) {
                Ok(done) => done,
                Err(e) => return (StreamEnd::Backend(e), last_seq),
            };
            if let Err(e) = self.client.forward_from(&mut lease.conn.io.rbuf, pos).await {
                return (StreamEnd::ClientGone(e), last_seq);
            }
            if ended {
                return (StreamEnd::Server, last_seq);
            }
            let conn = &mut lease.conn;
            let eof_at = client_eof_at;
            let linger = async move {
                match eof_at {
                    Some(at) => tokio::time::sleep_until(at + CLIENT_GONE_LINGER).await,
                    None => std::future::pending().await,
                }
            };
            let end = tokio::select! {
                read = conn.io.fill() => match read {
                    Ok(n) if n > 0 => None,
                    Ok(_) => Some(StreamEnd::Backend(lost(&conn.address, None))),
                    Err(source) => Some(StreamEnd::Backend(lost(&conn.address, Some(source)))),
                },
                // Bytes the client sent behind its dump command wait in its buffer for after
                // the stream, as they would on the server's socket.
                read = self.client.fill(), if eof_at.is_none() => match read {
                    Ok(0) => {
                        client_eof_at = Some(tokio::time::Instant::now());
                        None
                    }
                    Ok(_) => None,
                    Err(e) => Some(StreamEnd::ClientGone(e)),
                },
                () = linger => Some(StreamEnd::ClientGone(
                    std::io::ErrorKind::ConnectionAborted.into(),
                )),
                () = primary_moves(&worker, server) => Some(StreamEnd::Failover),
                () = self.info.kill_signal.notified() => Some(StreamEnd::Killed),
                _ = self.shutdown.wait_for(|stop| *stop) => Some(StreamEnd::Shutdown),
            };
            if let Some(end) = end {
                return (end, last_seq);
            }
        }
    }
}

/// Walks the whole frames at the front of the lease's read buffer: how many bytes they cover,
/// and whether the last one ended the stream (EOF or ERR). `last_seq` follows them.
fn whole_frames(lease: &mut Lease, last_seq: &mut Option<u8>) -> Result<(usize, bool)> {
    let conn = &mut lease.conn;
    let mut pos = 0;
    loop {
        let frame = match conn.io.codec.next_frame(&conn.io.rbuf[pos..]) {
            Ok(Some(frame)) => frame,
            Ok(None) => return Ok((pos, false)),
            Err(e) => return Err(protocol(&conn.address, e)),
        };
        pos += frame.wire_len();
        *last_seq = Some(frame.seq);
        match conn.tracker.feed_frame(frame.payload) {
            Ok(Step::Done(done)) => {
                if let End::Err { code } = done.end {
                    debug!(code, "the server ended a binlog stream with an error");
                }
                return Ok((pos, true));
            }
            Ok(_) => {}
            Err(e) => return Err(protocol(&conn.address, e)),
        }
    }
}

/// The error for a binlog stream whose backend connection ended.
fn lost(address: &str, source: Option<std::io::Error>) -> Error {
    Error::BackendIo {
        server: address.to_string(),
        source: source.unwrap_or_else(|| std::io::ErrorKind::UnexpectedEof.into()),
    }
}

/// How long a binlog stream is relayed after its client half-closed: long enough for an answer
/// already on its way, short enough that a client that left frees its primary connection.
const CLIENT_GONE_LINGER: Duration = Duration::from_secs(5);

/// Returns once another server than `server` is the primary.
async fn primary_moves(worker: &Rc<Worker>, server: usize) {
    loop {
        tokio::time::sleep(PRIMARY_CHECK).await;
        if worker.view().topology.primary() != Some(server) {
            return;
        }
    }
}
