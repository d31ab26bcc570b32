//! One client session: its state, the loop that reads commands, and the dispatch on the command
//! type. Statement routing and execution live in [`query`], bringing a borrowed backend
//! connection to the session's state in [`sync`], response streaming in [`crate::relay`], reads
//! handed to a worker's shared pipelined connection in [`pipeline`]; what other sessions see of
//! this one in [`crate::worker::sessions`], and `SHOW PROCESSLIST` answered from that in [`processlist`];
//! binlog clients in [`replication`], the client's own status counters in [`status`], what
//! the session adds to the router's read-only transactions in [`read_only`].
pub mod admin;
pub mod answered_here;
pub mod causal;
pub mod learn;
pub mod lease;
pub mod pipeline;
pub mod plan;
pub mod prepared;
pub mod processlist;
pub mod query;
pub mod read_only;
pub mod replication;
pub mod status;
pub mod sync;

use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use bytes::BytesMut;
use splitrail_protocol::command::SetOption;
use splitrail_protocol::response::{EofPacket, ErrPacket, ErrorCode, OkPacket, code};
use splitrail_protocol::{CapabilityFlags, Command, End, StatusFlags};
use splitrail_router::hints::key_hash;
use splitrail_router::{Classification, KillScope, SessionState};
use tokio::sync::watch;
use tracing::{debug, info};

use crate::backend::{Lease, ResultFlags, Sticky};
use crate::balance::ReadRequest;
use crate::client::ClientIo;
use crate::client::handshake::Accepted;
use crate::config::{Balance, HashKey};
use crate::consistency::WriteMark;
use crate::error::{Error, Result};
use crate::gtid::GtidSet;
use crate::io::ReadError;
use crate::metrics::digests::Outcome;
use crate::relay::stream::Relayed;
use crate::worker::Worker;
use crate::worker::sessions::{PinReason, SessionInfo};

/// A client session after authentication.
pub struct Session {
    /// The worker this session runs on.
    pub(crate) worker: Rc<Worker>,
    /// The proxy's connection id for this client (stable for its life; `KILL` takes it).
    pub(crate) id: u32,
    /// This session's entry in the registry other sessions see (for `KILL`).
    pub(crate) info: Arc<SessionInfo>,
    /// The handshake nonce (COM_CHANGE_USER is verified against it).
    pub(crate) nonce: [u8; 20],
    /// A cursor is open on the held connection (COM_STMT_FETCH must go there).
    pub(crate) cursor_open: bool,
    /// Set when the proxy shuts down: the session ends once idle.
    shutdown: watch::Receiver<bool>,
    /// The client connection.
    pub(crate) client: ClientIo,
    /// Negotiated capabilities.
    pub(crate) caps: CapabilityFlags,
    /// Who the client is.
    pub(crate) user: Rc<str>,
    /// The user's password, to log into backends.
    pub(crate) password: Vec<u8>,
    /// The router's view of the session.
    pub(crate) state: SessionState,
    /// Result-shaping capabilities: which pooled connections fit this client.
    pub(crate) flags: ResultFlags,
    /// Whether `a; b` is allowed (CLIENT_MULTI_STATEMENTS, or COM_SET_OPTION).
    pub(crate) multi_statements: bool,
    /// The connection that holds the session's transaction, locks or temporary tables.
    pub(crate) held: Option<Lease>,
    /// Session pooling mode: connections kept between statements, one per server.
    pub(crate) kept: Vec<Lease>,
    /// Transaction pooling mode: the last connection used, kept until another session needs
    /// it (so `SELECT LAST_INSERT_ID()` after an `INSERT` finds its connection).
    pub(crate) sticky: Sticky,
    /// A SQL-level `PREPARE` ran: its statement lives on one connection only.
    pub(crate) sql_prepared: bool,
    /// A procedure changed the session's state without the server saying what (MariaDB
    /// reports only "state changed" for a `SET SESSION` inside a procedure): the session keeps
    /// its connection, which alone has that state.
    pub(crate) untracked_state: bool,
    /// The statement being run: its routing hints, what its read must see, its causal wait.
    pub(crate) plan: plan::StatementPlan,
    /// Prepared statements by the client's statement id.
    pub(crate) stmts: HashMap<u32, prepared::ClientStmt>,
    /// The last client statement id handed out.
    pub(crate) next_stmt_id: u32,
    /// What `LAST_INSERT_ID()` returns in this session (from the OK packets of its inserts).
    pub(crate) last_insert_id: u64,
    /// Status flags of the last response, for answers the proxy writes itself.
    pub(crate) status: StatusFlags,
    /// The GTIDs of this session's writes (read-your-writes, `splitrail_last_gtid()`).
    pub(crate) session_gtid: Arc<GtidSet>,
    /// When this session last sent a write (the no-GTID window fallback).
    pub(crate) write_mark: WriteMark,
    /// The last statement left a result on its connection that the next may ask for
    /// (`SQL_CALC_FOUND_ROWS` → `FOUND_ROWS()`): the connection is kept for one statement, so
    /// no other session can take it in between.
    pub(crate) keep_for_next: bool,
    /// The server would close this connection after the command's answer (a command over
    /// `max_allowed_packet`): the session ends once the client has the answer.
    pub(crate) closing: bool,
    /// A binlog client ([`replication`]): everything runs on the session's own connection to
    /// the primary, which never goes back to a pool.
    pub(crate) replication: bool,
    /// The client's own status counters (`SHOW SESSION STATUS`).
    pub(crate) counters: status::SessionCounters,
    /// The rows of the last command, when it was a read answered on a pipelined connection
    /// (none of the session's own connections ran it).
    pub(crate) last_pipelined: Option<u64>,
    /// `last_pipelined` of the command before the one running: what `FOUND_ROWS()` and
    /// `ROW_COUNT()` describe.
    pub(crate) previous_pipelined: Option<u64>,
    /// The text of the command running, when it is a statement the proxy answered itself (a
    /// `SET`, `COMMIT` or `ROLLBACK`: [`answered_here`]).
    pub(crate) answered_here: Option<Box<[u8]>>,
    /// `answered_here` of the command before the one running: run before a diagnostics read.
    pub(crate) previous_answered_here: Option<Box<[u8]>>,
}

/// What ended a wait for the client's next command.
enum Wake {
    Read(std::result::Result<Option<splitrail_protocol::Packet>, ReadError>),
    Killed,
    Shutdown,
    IdleTimeout,
}

/// What to do after a command.
enum Next {
    Continue,
    Quit,
}

impl Session {
    /// A session for an authenticated client.
    pub fn new(
        worker: Rc<Worker>,
        info: Arc<SessionInfo>,
        client: ClientIo,
        accepted: Accepted,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        let id = info.id;
        let sticky = Sticky::default();
        worker.pools.register_sticky(&sticky);
        let mut state = SessionState::new(&accepted.user);
        state.schema = accepted.schema.as_deref().map(Into::into);
        sync::apply_collation(&mut state, accepted.collation);
        Session {
            worker,
            id,
            info,
            nonce: accepted.nonce,
            cursor_open: false,
            shutdown,
            client,
            caps: accepted.caps,
            user: accepted.user.as_str().into(),
            password: accepted.password,
            state,
            flags: ResultFlags::of(accepted.caps),
            multi_statements: accepted
                .caps
                .contains(CapabilityFlags::CLIENT_MULTI_STATEMENTS),
            held: None,
            kept: Vec::new(),
            sticky,
            sql_prepared: false,
            untracked_state: false,
            plan: plan::StatementPlan::default(),
            stmts: HashMap::new(),
            next_stmt_id: 0,
            last_insert_id: 0,
            status: StatusFlags::SERVER_STATUS_AUTOCOMMIT,
            session_gtid: Arc::default(),
            write_mark: WriteMark::default(),
            keep_for_next: false,
            closing: false,
            replication: false,
            counters: status::SessionCounters::default(),
            last_pipelined: None,
            previous_pipelined: None,
            answered_here: None,
            previous_answered_here: None,
        }
    }

    /// Serves commands until the client quits or its connection fails.
    pub async fn run(mut self) {
        loop {
            self.client.reset_seq();
            let Some(packet) = self.next_command().await else {
                break;
            };
            let busy = crate::worker::Busy::new(&self.worker);
            // Boxed: the statement path is a deep future; an idle session should not carry it.
            let result = Box::pin(self.dispatch(&packet.payload)).await;
            drop(busy);
            self.info.end_command(self.state.schema.as_deref());
            match result {
                Ok(Next::Continue) => {}
                Ok(Next::Quit) => break,
                Err(e) if e.side() == crate::error::Side::Client => {
                    debug!(error = %e, "client connection failed");
                    break;
                }
                Err(e) => {
                    info!(error = %e, "statement failed");
                    if self.send_error(&e).await.is_err() {
                        break;
                    }
                }
            }
            if self.info.is_killed() || self.closing {
                break;
            }
            if self.held.is_none() && self.kept.is_empty() && self.sticky.borrow().is_none() {
                self.client.shrink();
            }
        }
        self.close_backends();
    }

    /// Waits for the client's next command; `None` ends the session (the client left, sent a
    /// malformed packet, idled past its `wait_timeout`, was killed, or the proxy shuts down),
    /// after telling the client why where the server would.
    async fn next_command(&mut self) -> Option<splitrail_protocol::Packet> {
        let read = match self.wait_for_command().await {
            Wake::Read(read) => read,
            Wake::Killed => {
                let _ = self
                    .send_err(code::ER_QUERY_INTERRUPTED, "Connection was killed")
                    .await;
                return None;
            }
            Wake::IdleTimeout => {
                // As the server does when its `wait_timeout` runs out: the connection
                // closes, and the client's next statement finds it gone.
                debug!("client idle longer than its wait_timeout: closing");
                return None;
            }
            Wake::Shutdown => {
                let _ = self
                    .send_err(
                        crate::error::ER_SERVER_SHUTDOWN,
                        "Server shutdown in progress",
                    )
                    .await;
                return None;
            }
        };
        match read {
            Ok(packet) => packet,
            Err(ReadError::Io(e)) => {
                debug!(error = %e, "client connection closed");
                None
            }
            Err(ReadError::Protocol(e)) => {
                info!(error = %e, "malformed packet from client; closing");
                let code = match e {
                    splitrail_protocol::Error::PacketTooLarge { .. } => {
                        code::ER_NET_PACKET_TOO_LARGE
                    }
                    _ => code::ER_NET_PACKETS_OUT_OF_ORDER,
                };
                let _ = self.send_err(code, &e.to_string()).await;
                None
            }
        }
    }

    /// Waiting for the next command is where a session may be ended from outside: reading is
    /// cancel-safe (bytes stay in the buffer).
    ///
    /// A shutdown ends the session only outside a transaction: an open one may still commit,
    /// until `shutdown_timeout` ends every session.
    async fn wait_for_command(&mut self) -> Wake {
        let info = self.info.clone();
        let closable = !self.state.in_transaction();
        let idle_limit = self.idle_limit();
        let idle = async move {
            match idle_limit {
                Some(limit) => tokio::time::sleep(limit).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            // A command already sent runs rather than be answered with a shutdown.
            biased;
            read = self.client.read_packet() => Wake::Read(read),
            _ = info.kill_signal.notified() => Wake::Killed,
            _ = self.shutdown.wait_for(|stop| *stop), if closable => Wake::Shutdown,
            () = idle => Wake::IdleTimeout,
        }
    }

    async fn dispatch(&mut self, payload: &bytes::Bytes) -> Result<Next> {
        let command = match Command::decode(payload, self.caps) {
            Ok(c) => c,
            Err(e) => {
                self.send_err(
                    code::ER_UNKNOWN_COM_ERROR,
                    &format!("Malformed command: {e}"),
                )
                .await?;
                return Ok(Next::Quit);
            }
        };
        self.begin_activity(payload, &command);
        self.counters.command(&command);
        self.previous_pipelined = self.last_pipelined.take();
        self.previous_answered_here = self.answered_here.take();
        match command {
            Command::Quit => return Ok(Next::Quit),
            Command::Query(q) => self.query(payload, q.sql).await?,
            Command::Ping => self.send_ok().await?,
            Command::InitDb { schema } => self.init_db(payload, schema).await?,
            Command::ResetConnection => {
                self.forget_session();
                self.state.reset();
                self.send_ok().await?;
            }
            Command::SetOption(option) => match option {
                SetOption::MultiStatementsOn | SetOption::MultiStatementsOff => {
                    self.multi_statements = option == SetOption::MultiStatementsOn;
                    self.send_eof().await?;
                }
                SetOption::Other(_) => {
                    self.send_err(code::ER_UNKNOWN_COM_ERROR, "Unknown COM_SET_OPTION value")
                        .await?
                }
            },
            Command::Statistics | Command::FieldList { .. } | Command::Debug => {
                self.forward_to_primary(payload).await?
            }
            Command::BinlogDump { server_id, .. } | Command::BinlogDumpGtid { server_id, .. } => {
                self.binlog_dump(payload, server_id).await?
            }
            Command::RegisterSlave { .. } => self.register_replica(payload).await?,
            Command::StmtPrepare { query } => self.stmt_prepare(query).await?,
            Command::StmtExecute(exec) => self.stmt_execute(payload, &exec).await?,
            Command::StmtSendLongData {
                statement_id,
                param_id,
                data,
            } => self.stmt_send_long_data(statement_id, param_id, data),
            Command::StmtClose { statement_id } => self.stmt_close(statement_id),
            Command::StmtReset { statement_id } => self.stmt_reset(statement_id).await?,
            Command::StmtFetch { statement_id, .. } => {
                self.stmt_fetch(payload, statement_id).await?
            }
            Command::ProcessKill { connection_id } => {
                self.kill(u64::from(connection_id), KillScope::Connection)
                    .await?
            }
            Command::ChangeUser(change) => {
                if !self.change_user(change).await? {
                    return Ok(Next::Quit);
                }
            }
            Command::Unknown { .. } => {
                let c = payload.first().copied().unwrap_or(0);
                self.send_err(
                    code::ER_UNKNOWN_COM_ERROR,
                    &format!("Command 0x{c:02x} is not supported by Splitrail yet"),
                )
                .await?
            }
        }
        Ok(Next::Continue)
    }

    /// Counts a finished statement in the digest table: `target` is its route
    /// ([`crate::metrics::stats::TARGETS`] index), `done` what running it returned.
    pub(crate) fn count_digest(
        &self,
        c: &Classification,
        target: usize,
        started: Instant,
        done: &Result<Option<Relayed>>,
    ) {
        let (failed, rows) = match done {
            Ok(Some(d)) => match d.completion.end {
                End::Err { .. } => (true, d.rows),
                End::Ok { affected_rows, .. } => (false, d.rows + affected_rows),
                _ => (false, d.rows),
            },
            // An error the client was told about (`None`), or a failed session.
            _ => (true, 0),
        };
        self.record_digest(c, target, started, failed, rows);
    }

    /// Counts a finished statement in the digest table, as [`Session::count_digest`] does,
    /// from its outcome: `failed`, and the rows it returned or changed.
    pub(crate) fn record_digest(
        &self,
        c: &Classification,
        target: usize,
        started: Instant,
        failed: bool,
        rows: u64,
    ) {
        let digests = &self.worker.shared.digests;
        if !digests.enabled() {
            return;
        }
        let outcome = Outcome {
            target,
            failed,
            rows,
            elapsed: started.elapsed(),
        };
        let digest = c.digest();
        let text = || digest.text.clone();
        digests.record(self.worker.digest_shard, digest.hash, text, &outcome);
    }

    /// How long the client may stay idle: the `wait_timeout` it set for its session, if it set
    /// one (the servers' own limit applies to the proxy's connections, not to clients').
    fn idle_limit(&self) -> Option<std::time::Duration> {
        let seconds = self.state.wait_timeout()?;
        (seconds > 0).then(|| std::time::Duration::from_secs(seconds))
    }

    /// Why the session must keep its connection, if it must: the first state it holds that no
    /// other connection has.
    pub(crate) fn hold_reason(&self) -> Option<PinReason> {
        let s = &self.state;
        if self.replication {
            Some(PinReason::Replication)
        } else if s.in_transaction() {
            Some(PinReason::Transaction)
        } else if s.next_transaction_pending() {
            Some(PinReason::NextTransaction)
        } else if s.has_temp_tables() {
            Some(PinReason::TempTables)
        } else if s.holds_table_locks() || s.holds_named_locks() {
            Some(PinReason::Locks)
        } else if s.user_variables().next().is_some() {
            Some(PinReason::UserVariables)
        } else if self.sql_prepared {
            Some(PinReason::SqlPrepare)
        } else if self.untracked_state {
            Some(PinReason::UntrackedState)
        } else if self.cursor_open {
            Some(PinReason::Cursor)
        } else if self.keep_for_next {
            Some(PinReason::SessionFunction)
        } else {
            None
        }
    }

    /// What a read of this session asks of the balancer (no `accept` filter).
    pub(crate) fn read_request(&self) -> ReadRequest<'static> {
        let view = self.worker.view();
        let routing = &view.config.routing;
        let hash_key = (routing.balance == Balance::Hash).then(|| {
            let by_addr = || match self.info.peer.ip() {
                std::net::IpAddr::V4(ip) => key_hash(ip.octets()),
                std::net::IpAddr::V6(ip) => key_hash(ip.octets()),
            };
            match routing.hash_key {
                HashKey::ClientAddr => by_addr(),
                HashKey::User => key_hash(self.user.as_bytes()),
                HashKey::Hint => self.plan.hash_hint.unwrap_or_else(by_addr),
            }
        });
        ReadRequest {
            max_lag: self.plan.max_lag,
            hash_key,
            accept: None,
        }
    }

    /// Closes every backend connection the session holds (a transaction in progress is rolled
    /// back by the server when its connection closes).
    fn close_backends(&mut self) {
        if let Some(mut lease) = self.held.take() {
            if self.state.in_transaction() {
                lease.conn.broken = true;
            }
            self.release(lease);
        }
        self.info.set_pinned(None);
        for lease in std::mem::take(&mut self.kept) {
            self.release(lease);
        }
        let sticky = self.sticky.borrow_mut().take();
        if let Some(lease) = sticky {
            self.release(lease);
        }
    }

    /// Drops everything the session built up on the server side (connections with its state,
    /// prepared statements, cursors, its insert id), as COM_RESET_CONNECTION and COM_CHANGE_USER
    /// do; the caller resets the router state.
    pub(crate) fn forget_session(&mut self) {
        self.close_backends();
        self.stmts.clear();
        self.sql_prepared = false;
        self.untracked_state = false;
        self.cursor_open = false;
        self.replication = false;
        self.last_insert_id = 0;
    }

    /// Gives a connection back to the pool; one with session state the pool cannot see (locks,
    /// temporary tables, user variables, the next transaction's characteristics) is closed
    /// instead.
    pub(crate) fn release(&mut self, mut lease: Lease) {
        if self.state.has_temp_tables()
            || self.state.next_transaction_pending()
            || self.state.holds_table_locks()
            || self.state.holds_named_locks()
            || self.state.user_variables().next().is_some()
            || self.sql_prepared
            || self.untracked_state
            || self.replication
        {
            lease.conn.broken = true;
        }
        self.worker.pools.release(lease);
    }

    pub(crate) async fn send_ok(&mut self) -> Result<()> {
        let ok = OkPacket {
            status: self.status,
            ..OkPacket::default()
        };
        let mut payload = BytesMut::new();
        ok.encode(self.caps, &mut payload);
        self.send_payload(&payload).await
    }

    async fn send_eof(&mut self) -> Result<()> {
        let mut payload = BytesMut::new();
        if self.caps.contains(CapabilityFlags::CLIENT_DEPRECATE_EOF) {
            OkPacket {
                status: self.status,
                ..OkPacket::default()
            }
            .encode(self.caps, &mut payload);
        } else {
            EofPacket {
                warnings: 0,
                status: self.status,
            }
            .encode(self.caps, &mut payload);
        }
        self.send_payload(&payload).await
    }

    pub(crate) async fn send_err(&mut self, code: ErrorCode, message: &str) -> Result<()> {
        let mut payload = BytesMut::new();
        ErrPacket::new(code, message).encode(self.caps, &mut payload);
        self.send_payload(&payload).await
    }

    /// Tells the client about a failure of the proxy or a backend.
    pub(crate) async fn send_error(&mut self, error: &Error) -> Result<()> {
        let message = error.to_string();
        self.send_err(error.mysql_code(), &message).await
    }

    /// Sends a result set the proxy built, ending with the session's status flags.
    pub(crate) async fn send_result_set(
        &mut self,
        result: &splitrail_protocol::response::TextResultSet,
    ) -> Result<()> {
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

    pub(crate) async fn send_payload(&mut self, payload: &[u8]) -> Result<()> {
        self.client.queue(payload).map_err(Error::ClientProtocol)?;
        self.client.flush().await.map_err(Error::ClientIo)
    }
}
