//! Running a statement: classify and route it, bring the connection it runs on (see
//! [`super::lease`]) to the session's state, relay the answer, replay or fall back when a server
//! fails or lags, then learn from it ([`super::learn`]). Also the other commands that run on a
//! backend as they are.
use bytes::Bytes;
use splitrail_protocol::End;
use splitrail_protocol::command::code as cmd;
use splitrail_protocol::response::{ErrPacket, code};
use splitrail_router::{
    Classification, Decision, KillTarget, Kind, ReadKind, Reason, ServerStatus, Target, route,
};
use tracing::{debug, warn};

use super::Session;
use super::causal::Behind;
use super::lease::Reuse;
use super::plan::StatementPlan;
use crate::backend::Lease;
use crate::consistency::Requirement;
use crate::error::{Error, Result};
use crate::relay::{RelayError, Relayed, Statement, relay};

/// How one attempt at a statement ended.
enum Attempt {
    Done(Relayed),
    /// A causal wait on a replica timed out: the read must run on the primary.
    CausalFallback,
    /// The connection refused the state sent with the read (its answer was not relayed).
    StateRefused {
        server: usize,
        err: ErrPacket,
    },
    ClientGone(std::io::Error),
    BackendFailed {
        error: Error,
        sent: Option<u8>,
        /// State only that connection had died with it (a transaction, the next transaction's
        /// characteristics): the statement must not run elsewhere as if nothing happened.
        state_lost: bool,
    },
}

/// One statement's way through [`Session::execute_with`]: where it is going and what it has
/// tried.
struct Run {
    choice: Choice,
    /// The statement only reads (it may be replayed, and sent to any server).
    read_only: bool,
    /// It was replayed once already.
    replayed: bool,
    /// Servers skipped because they could not be reached.
    unreachable: u8,
    /// When the wait for a writable primary began.
    failover: Option<std::time::Instant>,
}

impl Run {
    /// The primary answers from now on (it has every write).
    fn primary_from_now(&mut self, session: &mut Session) {
        self.choice = Choice::Primary;
        session.plan.requirement = Requirement::None;
    }

    /// How sure a kept connection must be to be open: a read that fails before answering runs
    /// again ([`Run::replay`]); a write cannot, so it gets no connection the server closed.
    fn reuse(&self) -> Reuse {
        if self.read_only {
            Reuse::Replayable
        } else {
            Reuse::Checked
        }
    }

    /// Whether a read that failed before answering runs once more (and notes that it did).
    fn replay(&mut self) -> bool {
        let again = self.read_only && !self.replayed;
        self.replayed |= again;
        again
    }
}

/// What [`Session::execute_with`] does after preparing a connection.
#[expect(
    clippy::large_enum_variant,
    reason = "returned once per statement and moved on at once; boxing would allocate per statement"
)]
enum Step {
    /// Send the command on the lease.
    Go(Lease, Bytes),
    /// Start over (elsewhere, or on the primary).
    Retry,
    /// The client has its answer (an error).
    Answered,
}

/// Where a statement should run, before it is resolved to a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Choice {
    /// The session's held connection, else its last one, else the primary.
    Pinned,
    /// The primary.
    Primary,
    /// A server chosen by the read balancer (the primary if no replica qualifies).
    Read,
}

impl Session {
    /// COM_QUERY.
    pub(crate) async fn query(&mut self, payload: &Bytes, sql: &[u8]) -> Result<()> {
        if let Some((function, name)) = super::causal::local_function(sql)
            && function.answered_here(self.previous_pipelined.is_some())
        {
            self.counters.local_select();
            return self.answer_locally(function, name).await;
        }
        let c = self.worker.router.borrow_mut().classify_bytes(sql);
        self.counters.statements(&c);
        if matches!(*c.kind(), Kind::Read(ReadKind::SessionStatus)) && c.analysis.rest.is_empty()
            || super::status::reads_session_status(
                &c,
                self.state
                    .schema
                    .as_deref()
                    .is_some_and(|s| s.eq_ignore_ascii_case("information_schema")),
            )
        {
            return self.show_session_status(payload, &c).await;
        }
        if let Kind::Kill(Some(KillTarget { scope, id })) = *c.kind()
            && c.analysis.rest.is_empty()
        {
            return self.kill(id, scope).await;
        }
        if let Kind::Read(ReadKind::ProcessList { full }) = *c.kind()
            && c.analysis.rest.is_empty()
        {
            return self.show_processlist(full).await;
        }
        if !c.analysis.rest.is_empty() && !self.multi_statements {
            return self
                .send_err(
                    code::ER_PARSE_ERROR,
                    "You have an error in your SQL syntax: several statements in one query \
                     need CLIENT_MULTI_STATEMENTS",
                )
                .await;
        }
        let started = std::time::Instant::now();
        let decision = route(&c, &self.state, &self.worker.view().policy);
        self.worker.shared.stats.routed(&decision);
        let target = crate::metrics::stats::target_index(&decision.target);
        debug!(
            target = decision.target.as_str(),
            reason = decision.reason.as_str(),
            digest = c.digest().hash,
            "route"
        );
        let Some(choice) = self.choice_of(&decision) else {
            let message = match &decision.target {
                Target::Reject(message) => message.as_str(),
                _ => "rejected by a routing rule",
            };
            let sent = self.send_err(code::ER_UNKNOWN_ERROR, message).await;
            self.count_digest(&c, target, started, &Ok(None));
            return sent;
        };
        if self.write_in_replica_read_only_transaction(&c) {
            let sent = self.refuse_write_in_read_only_transaction().await;
            self.count_digest(&c, target, started, &Ok(None));
            return sent;
        }
        self.plan = StatementPlan::of(&decision);
        // A session `SET`, `COMMIT` or `ROLLBACK` whose answer the proxy knows is answered here
        // (`answered_here.rs`).
        let learnable = (decision.target == Target::Primary
            && matches!(
                decision.reason,
                Reason::SessionState | Reason::TransactionControl
            ))
        .then(|| self.may_learn(&c))
        .flatten();
        if let Some(kind) = learnable
            && let Some(ok) = self.kept_answer(sql)
        {
            let here = crate::metrics::digests::ANSWERED_HERE;
            self.record_digest(&c, here, started, false, 0);
            return self.answer_with_kept(sql, &c, kind, ok).await;
        }
        if choice == Choice::Read
            && let super::pipeline::Pipelined::Answered(relayed) =
                self.pipelined_query(choice, &c, payload).await?
        {
            self.last_pipelined = relayed.as_ref().map(|r| r.rows);
            self.count_digest(&c, target, started, &Ok(relayed));
            return Ok(());
        }
        let done = self.execute_raw(choice, payload, Some(&c)).await;
        if learnable.is_some()
            && let Ok(Some(relayed)) = &done
        {
            self.learn_answer(sql, relayed);
        }
        self.count_digest(&c, target, started, &done);
        done.map(drop)
    }

    /// Where a statement the router sent to `target` runs (`None`: rejected). A session whose
    /// state the server did not describe (`untracked_state`) runs everything on the
    /// connection that has it.
    pub(crate) fn choice_of(&self, decision: &Decision) -> Option<Choice> {
        match &decision.target {
            Target::Reject(_) => None,
            // A binlog client's statements and stream share its connection to the primary.
            _ if self.replication => Some(Choice::Primary),
            Target::Pinned => Some(Choice::Pinned),
            _ if self.untracked_state || self.read_only_begin_stays(decision) => {
                Some(Choice::Pinned)
            }
            Target::Primary => Some(Choice::Primary),
            Target::Replica => Some(Choice::Read),
        }
    }

    /// COM_INIT_DB: checked on the primary (a replica may not have a new schema yet).
    pub(crate) async fn init_db(&mut self, payload: &Bytes, schema: &[u8]) -> Result<()> {
        let schema: Box<str> = String::from_utf8_lossy(schema).into();
        self.plan = StatementPlan {
            sets_schema: true,
            ..StatementPlan::default()
        };
        let choice = if self.held.is_some() {
            Choice::Pinned
        } else {
            Choice::Primary
        };
        if let Some(done) = self.execute_raw(choice, payload, None).await?
            && !matches!(done.completion.end, End::Err { .. })
        {
            self.state.schema = Some(schema.clone());
            if let Some(lease) = self.last_lease_mut() {
                lease.conn.schema = Some(schema);
            }
        }
        Ok(())
    }

    /// Commands without SQL that any server answers: sent where the session's work is.
    pub(crate) async fn forward_to_primary(&mut self, payload: &Bytes) -> Result<()> {
        self.execute_raw(Choice::Pinned, payload, None)
            .await
            .map(drop)
    }

    pub(crate) async fn execute_raw(
        &mut self,
        choice: Choice,
        payload: &Bytes,
        classification: Option<&Classification>,
    ) -> Result<Option<Relayed>> {
        let build = async |_: &mut Lease| Ok(Ok(payload.clone()));
        self.execute_built(choice, classification, build, true)
            .await
    }

    /// Runs a statement on a connection for `choice`: `build` makes the command for the chosen
    /// connection (e.g. prepares the statement there first). A read that fails before reaching
    /// the client — its server unreachable, or its connection lost before any byte of the answer
    /// was relayed — is replayed once elsewhere, invisibly; a read's target that refuses
    /// connections is skipped up to twice.
    pub(crate) async fn execute_with(
        &mut self,
        choice: Choice,
        classification: Option<&Classification>,
        build: impl AsyncFnMut(&mut Lease) -> Result<Result<Bytes, ErrPacket>>,
    ) -> Result<Option<Relayed>> {
        self.execute_built(choice, classification, build, false)
            .await
    }

    /// [`Session::execute_with`]; `plain`: `build` only hands over the command (no I/O on the
    /// connection), so a plain read's sync may go out in the same write as the read.
    async fn execute_built(
        &mut self,
        choice: Choice,
        classification: Option<&Classification>,
        mut build: impl AsyncFnMut(&mut Lease) -> Result<Result<Bytes, ErrPacket>>,
        plain: bool,
    ) -> Result<Option<Relayed>> {
        let sync_behind = plain && self.sync_goes_behind(classification);
        let mut run = Run {
            choice,
            read_only: classification.is_some_and(|c| c.analysis.is_read()),
            replayed: false,
            unreachable: 0,
            failover: None,
        };
        self.plan.requirement = if choice == Choice::Read {
            self.read_requirement().await
        } else {
            Requirement::None
        };
        loop {
            self.plan.causal_wait = None;
            self.plan.sync_behind = None;
            if run.choice != Choice::Read && !run.read_only && self.held.is_none() {
                self.await_writable_primary(&mut run.failover).await?;
            }
            let mut lease = match self.lease_for(run.choice, run.reuse()).await {
                Ok(lease) => lease,
                Err(e) => {
                    self.lease_failed(e, &mut run)?;
                    continue;
                }
            };
            let prepared = match self.replay_answered_here(&mut lease, classification).await {
                Err(e) => Err(e),
                Ok(Some(err)) => Ok(Err(err)),
                Ok(None) if sync_behind => {
                    self.plan.sync_behind = self.sync_plan(&lease);
                    build(&mut lease).await
                }
                Ok(None) => match self.sync(&mut lease, classification).await {
                    Ok(None) => build(&mut lease).await,
                    Ok(Some(err)) => Ok(Err(err)),
                    Err(e) => Err(e),
                },
            };
            let (lease, payload) = match self.prepared(lease, prepared, &mut run).await? {
                Step::Go(lease, payload) => (lease, payload),
                Step::Retry => continue,
                Step::Answered => return Ok(None),
            };
            if payload.len() >= lease.conn.max_packet {
                self.put_back(lease);
                self.refuse_oversized().await?;
                return Ok(None);
            }
            match self.attempt(lease, &payload, classification).await {
                Attempt::Done(done) => return Ok(Some(done)),
                Attempt::CausalFallback => run.primary_from_now(self),
                Attempt::StateRefused { server, err } => {
                    if self.state_refused(server, &err, &mut run).await? {
                        return Ok(None);
                    }
                }
                Attempt::ClientGone(e) => return Err(Error::ClientIo(e)),
                Attempt::BackendFailed {
                    error,
                    sent,
                    state_lost,
                } => {
                    if sent.is_none() && !state_lost && !self.info.is_killed() && run.replay() {
                        continue;
                    }
                    self.report_lost_backend(&error, sent).await?;
                    return Ok(None);
                }
            }
        }
    }

    /// No connection for the statement: `Ok` when it tries again (a read elsewhere, a write
    /// after waiting for a primary), the error when it gives up.
    fn lease_failed(&self, e: Error, run: &mut Run) -> Result<()> {
        match e {
            // A replica that cannot be reached is left out for a while: a read tries the
            // next server (the primary when no replica is left).
            e if e.retry_safe()
                && run.read_only
                && run.choice == Choice::Read
                && run.unreachable < 2 =>
            {
                warn!(error = %e, "read goes elsewhere");
                run.unreachable += 1;
                Ok(())
            }
            // The primary cannot be reached: a write waits for it, or for a promoted
            // replica, up to `routing.failover_timeout`.
            e @ Error::BackendConnect { .. }
                if !run.read_only
                    && run.choice != Choice::Read
                    && self.failover_time_left(run.failover) =>
            {
                warn!(error = %e, "primary unreachable: the write waits for a primary");
                run.failover.get_or_insert_with(std::time::Instant::now);
                Ok(())
            }
            e => Err(e),
        }
    }

    /// What comes of bringing the lease to the session's state and building the command.
    async fn prepared(
        &mut self,
        lease: Lease,
        prepared: Result<Result<Bytes, ErrPacket>>,
        run: &mut Run,
    ) -> Result<Step> {
        match prepared {
            Ok(Ok(payload)) => Ok(Step::Go(lease, payload)),
            // A replica that refuses the session's state or the statement's preparation may
            // only be behind (a schema or table created a moment ago has not reached it; the
            // causal wait comes later, with the statement): the primary, which has
            // everything, decides.
            Ok(Err(err)) => {
                let server = lease.conn.server;
                self.put_back(lease);
                Ok(if self.state_refused(server, &err, run).await? {
                    Step::Answered
                } else {
                    Step::Retry
                })
            }
            Err(e) => {
                self.suspect(lease.conn.server, &e);
                drop(lease);
                if !self.state.in_transaction() && run.replay() {
                    return Ok(Step::Retry);
                }
                Err(e)
            }
        }
    }

    /// `server` refused the session's state or the statement's preparation: a replica may only
    /// be behind (a schema or table created a moment ago has not reached it; the causal wait
    /// comes later, with the statement), so the primary, which has everything, decides
    /// (`false`: try again); elsewhere the client gets the error (`true`).
    async fn state_refused(
        &mut self,
        server: usize,
        err: &ErrPacket,
        run: &mut Run,
    ) -> Result<bool> {
        if self.replica_may_lag(run.choice, server) {
            debug!(
                code = err.code,
                "a replica refused the session's state: the primary answers"
            );
            run.primary_from_now(self);
            return Ok(false);
        }
        self.send_backend_err(err).await?;
        Ok(true)
    }

    /// Runs `payload` on a connection already chosen and synced.
    pub(crate) async fn execute_on(
        &mut self,
        lease: Lease,
        payload: &Bytes,
        classification: Option<&Classification>,
    ) -> Result<Option<Relayed>> {
        self.plan.causal_wait = None;
        match self.attempt(lease, payload, classification).await {
            Attempt::Done(done) => Ok(Some(done)),
            // Not reached: no causal wait or sync was asked for.
            Attempt::CausalFallback | Attempt::StateRefused { .. } => Ok(None),
            Attempt::ClientGone(e) => Err(Error::ClientIo(e)),
            Attempt::BackendFailed { error, sent, .. } => {
                self.report_lost_backend(&error, sent).await?;
                Ok(None)
            }
        }
    }

    /// Sends the command, relays the answer, and learns from it.
    async fn attempt(
        &mut self,
        mut lease: Lease,
        payload: &Bytes,
        classification: Option<&Classification>,
    ) -> Attempt {
        let command = payload.first().copied().unwrap_or(cmd::QUERY);
        self.info
            .set_running(Some((lease.conn.server, lease.conn.thread_id)));
        let worker = self.worker.clone();
        let in_flight = worker.shared.stats.begin(lease.conn.server);
        let causal = &worker.shared.causal;
        let write = classification.is_some_and(|c| !c.analysis.is_read());
        if write
            && !causal.gtids_seen()
            && Some(lease.conn.server) == worker.view().topology.primary()
        {
            self.write_mark = causal.write_sent();
        }
        let sync = self.plan.sync_behind.take();
        let sent = match (sync, self.plan.causal_wait.take()) {
            (None, None) => lease.conn.send_command(payload).await,
            (sync, wait) => match self.send_behind(&mut lease, sync, wait, payload).await {
                Ok(Behind::Go) => Ok(()),
                Ok(Behind::Fallback) => {
                    self.info.set_running(None);
                    self.put_back(lease);
                    return Attempt::CausalFallback;
                }
                Ok(Behind::Refused(err)) => {
                    self.info.set_running(None);
                    let server = lease.conn.server;
                    self.put_back(lease);
                    return Attempt::StateRefused { server, err };
                }
                Err(error) => Err(error),
            },
        };
        let result = match sent {
            Ok(()) => {
                lease.conn.tracker.start(command);
                let statement = if write {
                    Statement::Write
                } else {
                    Statement::Read
                };
                relay(
                    &mut lease.conn,
                    &mut self.client,
                    self.caps,
                    causal,
                    statement,
                )
                .await
            }
            Err(error) => Err(RelayError::Backend { error, sent: None }),
        };
        self.info.set_running(None);
        in_flight.done(match &result {
            Ok(done) => matches!(done.completion.end, End::Err { .. }),
            Err(RelayError::Backend { .. }) => true,
            Err(RelayError::Client(_)) => false, // the client left, not the server's fault
        });
        match result {
            Ok(done) => {
                self.server_wide_effects(classification, &done, &mut lease);
                self.learn(classification, &done, &mut lease);
                self.put_back(lease);
                Attempt::Done(done)
            }
            Err(RelayError::Client(e)) => {
                lease.conn.broken = true;
                self.put_back(lease);
                Attempt::ClientGone(e)
            }
            Err(RelayError::Backend { error, sent }) => self.backend_failed(lease, error, sent),
        }
    }

    /// The backend failed during a statement (`sent`: how far the client got): its connection
    /// closes, and a transaction on it is over, as are characteristics waiting there for the
    /// next one.
    fn backend_failed(&mut self, lease: Lease, error: Error, sent: Option<u8>) -> Attempt {
        let in_transaction = self.state.in_transaction();
        let state_lost = in_transaction || self.state.next_transaction_pending();
        self.state.clear_next_transaction();
        self.suspect(lease.conn.server, &error);
        drop(lease); // broken: closes it
        warn!(error = %error, "backend failed during a statement");
        if in_transaction {
            // The transaction died with its connection.
            self.state.apply_server_status(ServerStatus {
                in_transaction: false,
                autocommit: self.state.autocommit(),
                read_only_transaction: Some(false),
            });
        }
        Attempt::BackendFailed {
            error,
            sent,
            state_lost,
        }
    }

    /// Whether `server`, chosen for a read, is not the primary: an error there about a schema,
    /// table or routine may only mean it has not applied what the primary has.
    pub(crate) fn replica_may_lag(&self, choice: Choice, server: usize) -> bool {
        choice == Choice::Read && Some(server) != self.worker.view().topology.primary()
    }

    /// A connection to `server` broke: until the monitor says better, leave the server out of
    /// read balancing for a moment so a replay goes elsewhere.
    fn suspect(&self, server: usize, error: &Error) {
        if matches!(error, Error::BackendIo { .. })
            && let Some(entry) = self.worker.view().topology.servers.get(server)
        {
            entry.set_healthy(false);
        }
    }

    /// A command larger than the `max_allowed_packet` of the connection it would run on: the
    /// server's answer (error 1153, without reading the command), and the session ends after
    /// it, as the server closes the connection.
    async fn refuse_oversized(&mut self) -> Result<()> {
        self.closing = true;
        self.send_err(
            code::ER_NET_PACKET_TOO_LARGE,
            "Got a packet bigger than 'max_allowed_packet' bytes",
        )
        .await
    }

    /// Tells the client its statement was lost with its backend (error 2013), in sequence after
    /// whatever part of the response it already received; the session stays usable.
    pub(crate) async fn report_lost_backend(
        &mut self,
        error: &Error,
        sent: Option<u8>,
    ) -> Result<()> {
        if let Some(seq) = sent {
            self.client.codec.set_seq(seq.wrapping_add(1));
        }
        let message = format!("Lost connection to backend during query: {error}");
        self.send_err(crate::error::CR_SERVER_LOST, &message).await
    }
}
