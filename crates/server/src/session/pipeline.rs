//! The session's side of pipelining (`pool.pipeline`, see [`crate::relay::mux`]): which
//! statements may share a connection with other sessions' statements, handing one to the
//! worker's mux, and writing its answer to the client.
use bytes::Bytes;
use splitrail_protocol::{CapabilityFlags, End};
use splitrail_router::{Classification, Effects};
use tokio::sync::mpsc;

use super::Session;
use super::plan::GtidHint;
use super::query::Choice;
use crate::backend::PoolKey;
use crate::error::{Error, Result};
use crate::relay::Relayed;
use crate::relay::mux::{PIECES, Piece, Request, Work};

/// How a pipelined attempt ended.
pub(crate) enum Pipelined {
    /// The client has its answer (`None`: error 2013 after part of it).
    Answered(Option<Relayed>),
    /// Nothing reached the client: the statement takes the normal path.
    NotRun,
}

impl Session {
    /// The server a read may be pipelined to, or `None` when it must take the normal path: only
    /// autocommit plain reads of a session that holds nothing, with no `min_gtid` hint, no
    /// session function, no call that waits on purpose, and a target known to have applied what
    /// the read must see and to take a command of `len` bytes (a larger one is answered on
    /// the normal path as the server would, error 1153).
    async fn pipeline_server(
        &mut self,
        choice: Choice,
        c: &Classification,
        len: usize,
    ) -> Option<usize> {
        let worker = self.worker.clone();
        let shared = &worker.shared;
        let view = worker.view();
        // A session alone on its worker gains nothing from sharing a connection (a batch of
        // one), only the hop through the mux's task: it takes the normal path.
        if !view.config.pool.pipeline
            || worker.busy.get() < 2
            || choice != Choice::Read
            || shared.session_pooling()
            || self.held.is_some()
            || self.must_hold()
            || !matches!(self.plan.min_gtid, GtidHint::None)
            || self.info.is_killed()
            || !super::sync::lone_read(c)
            // SLEEP, GET_LOCK, MASTER_GTID_WAIT …: it would hold up every statement behind it on
            // the shared connection, and KILL QUERY must be able to reach it (the normal path
            // records its backend thread).
            || c.effects().contains(Effects::WAITS)
        {
            return None;
        }
        // As on the normal path, nothing is served while no primary is known.
        view.topology.primary()?;
        let requirement = self.read_requirement().await;
        let server = self.ready_read_server(&requirement)?;
        let max = view.topology.servers.get(server)?.max_packet()?;
        (len < max).then_some(server)
    }

    /// Runs `work` (a command of `len` bytes) on the worker's shared connection when
    /// [`Session::pipeline_server`] allows.
    pub(crate) async fn pipelined(
        &mut self,
        choice: Choice,
        c: &Classification,
        len: usize,
        work: impl FnOnce() -> Work,
    ) -> Result<Pipelined> {
        let Some(server) = self.pipeline_server(choice, c, len).await else {
            return Ok(Pipelined::NotRun);
        };
        let (reply, mut answer) = mpsc::channel(PIECES);
        let request = Request {
            work: work(),
            strip_tracking: !self.caps.contains(CapabilityFlags::CLIENT_SESSION_TRACK),
            client_caps: self.caps,
            reply,
        };
        let pool = PoolKey {
            server,
            user: self.user.clone(),
            flags: self.flags,
        };
        let worker = self.worker.clone();
        worker.muxes.submit(
            &worker,
            &pool,
            self.state.schema.as_deref(),
            self.state.variables(),
            &self.password,
            request,
        );
        // KILL QUERY finds no backend statement of this session's own to kill: the mux's
        // connection runs other sessions' statements too.
        self.info.set_running(None);
        let stats = worker.shared.stats.clone();
        let in_flight = stats.begin(server);
        let mut sent: Option<u8> = None;
        loop {
            match answer.recv().await {
                Some(Piece::Data { bytes, last_seq }) => {
                    self.client
                        .write_bytes(&bytes)
                        .await
                        .map_err(Error::ClientIo)?;
                    sent = Some(last_seq);
                }
                Some(Piece::Done { bytes, relayed }) => {
                    in_flight.done(matches!(relayed.completion.end, End::Err { .. }));
                    stats.pipelined();
                    self.learn_response(Some(c), &relayed);
                    self.client
                        .write_bytes(&bytes)
                        .await
                        .map_err(Error::ClientIo)?;
                    return Ok(Pipelined::Answered(Some(relayed)));
                }
                // The connection failed before any of the answer was handed over: the read is
                // replayed on the normal path, invisibly.
                None if sent.is_none() => return Ok(Pipelined::NotRun),
                None => {
                    in_flight.done(true);
                    let error = Error::BackendIo {
                        server: worker
                            .view()
                            .topology
                            .servers
                            .get(server)
                            .map(|s| s.address.to_string())
                            .unwrap_or_default(),
                        source: std::io::Error::other("pipelined connection lost"),
                    };
                    self.report_lost_backend(&error, sent).await?;
                    return Ok(Pipelined::Answered(None));
                }
            }
        }
    }

    /// [`Session::pipelined`] for a COM_QUERY payload.
    pub(crate) async fn pipelined_query(
        &mut self,
        choice: Choice,
        c: &Classification,
        payload: &Bytes,
    ) -> Result<Pipelined> {
        self.pipelined(choice, c, payload.len(), || Work::Query(payload.clone()))
            .await
    }
}
