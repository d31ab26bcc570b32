//! Pipelining: several sessions' independent reads on one shared backend connection.
//!
//! A per-session forwarder pays one backend write, one backend read and a server wake-up per
//! statement. A [`Mux`] owns one connection of a worker for one (server, user, result flags,
//! session state) and runs a task that writes every request queued since its last write in one
//! flush (each command with sequence id 0: MySQL servers answer commands in order), then reads
//! the answers in order with the response tracker and hands each one's bytes to its session
//! through a small bounded channel. The session writes them to its client.
//!
//! Only statements that leave nothing behind come here: autocommit plain reads and executions of
//! prepared reads, from sessions that hold no connection (see `session::pipeline`). The mux's
//! connection carries exactly the session state of its key, so sessions whose schema or
//! variables differ never share it.
//!
//! **Invariants:** a request's answer goes to that request's session only; a session that
//! leaves mid-answer costs the others nothing (the rest of its answer is read and dropped); when
//! the connection fails, requests of which nothing was delivered are dropped unanswered (their
//! sessions replay them on the normal path), a request partly delivered ends its channel early
//! (its session reports error 2013); memory per request is bounded by the channel
//! ([`PIECES`] × [`CHUNK`]): a big result waits for its client (head-of-line blocking of this
//! connection, never unbounded buffering).
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use splitrail_protocol::response::OkPacket;
use splitrail_protocol::{CapabilityFlags, Completion};
use splitrail_router::SessionVariables;
use tokio::sync::{Notify, mpsc};
use tracing::{debug, warn};

use super::stream::{ClientView, Next, Relayed, next_frame};
use crate::backend::conn::protocol;
use crate::backend::statements::{PrepareFor, Prepared, prepare_on, rebind};
use crate::backend::{Lease, PoolKey, Pools, State};
use crate::consistency::Causal;
use crate::error::{Error, Result};
use crate::topology::ServerEntry;

/// What a mux needs of the worker thread it runs on. The worker implements it: this layer
/// sits below the worker and cannot name it.
pub trait MuxHost: 'static {
    /// The worker's pools, where a mux borrows its connection and gives it back.
    fn pools(&self) -> &Pools;
    /// The worker's muxes, which a mux leaves when it stops.
    fn muxes(&self) -> &Muxes;
    /// The proxy-wide position of acknowledged writes.
    fn causal(&self) -> &Causal;
    /// Server `index` of the worker's current topology.
    fn server(&self, index: usize) -> Option<Arc<ServerEntry>>;
    /// `pool.max_prepared_statements`, now.
    fn max_prepared(&self) -> usize;
}

/// Bytes of one answer handed over at a time (whole frames; more when one frame is bigger).
pub const CHUNK: usize = 64 * 1024;

/// Pieces of one answer that may wait for their session: with [`CHUNK`], what bounds the
/// memory one slow client can hold (about 256 KiB).
pub const PIECES: usize = 4;

/// A mux with nothing to do for this long gives its connection back to the pool. Sooner when
/// a session waits for a connection to its server: an idle mux gives its slot back at once
/// (the pool's pressure signal), a busy one once the requests it has are answered.
const IDLE: Duration = Duration::from_secs(2);

/// What a pipelined connection must look like: the pool key and the session state on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MuxKey {
    /// Server, user and result flags.
    pub pool: PoolKey,
    /// The default schema.
    pub schema: Option<Box<str>>,
    /// Replayed session variables (charset included).
    pub vars: SessionVariables,
}

/// The command of a request.
#[derive(Debug)]
pub enum Work {
    /// A COM_QUERY payload, sent as it is.
    Query(Bytes),
    /// A COM_STMT_EXECUTE of the client's, given the backend statement id of the mux's
    /// connection (prepared there first when missing).
    Execute {
        /// The statement text (the connection's statement cache key).
        sql: Bytes,
        /// The client's payload.
        payload: Bytes,
        /// The statement's parameter count (to find the parts of its parameter block).
        params: u16,
        /// Parameter types last bound by the client, for a backend statement never given any.
        types: Option<Vec<u8>>,
    },
}

/// One session's statement waiting for, or in, a batch.
#[derive(Debug)]
pub struct Request {
    /// What to send.
    pub work: Work,
    /// Whether the session's client lacks CLIENT_SESSION_TRACK (its OKs are rewritten).
    pub strip_tracking: bool,
    /// The client's capabilities (to encode rewritten OKs).
    pub client_caps: CapabilityFlags,
    /// Where the answer goes. Dropped without a [`Piece::Done`]: the answer was lost.
    pub reply: mpsc::Sender<Piece>,
}

impl Request {
    fn command(&self) -> u8 {
        use splitrail_protocol::command::code as cmd;
        match self.work {
            Work::Query(_) => cmd::QUERY,
            Work::Execute { .. } => cmd::STMT_EXECUTE,
        }
    }
}

/// Part of an answer, as the client gets it (whole frames, sequence ids as the server sent
/// them, OKs rewritten for clients without session tracking).
#[derive(Debug)]
pub enum Piece {
    /// More of the answer; `last_seq` is the sequence id of its last frame.
    Data {
        /// The frames.
        bytes: Bytes,
        /// The last frame's sequence id.
        last_seq: u8,
    },
    /// The end of the answer.
    Done {
        /// The last frames.
        bytes: Bytes,
        /// How it ended, as the relay reports it.
        relayed: Relayed,
    },
}

/// One pipelined connection's queue; its task runs the connection.
#[derive(Debug)]
pub struct Mux {
    /// The state its connection has.
    pub key: MuxKey,
    queue: RefCell<VecDeque<Request>>,
    wake: Notify,
    /// Set when its task stopped taking requests.
    closed: Cell<bool>,
    /// The pools' [`crate::backend::GlobalsEpoch`] when it started: its connection is at least
    /// that recent; after a later server-wide change it takes no new requests.
    globals_epoch: u64,
}

/// The muxes of one worker.
#[derive(Debug, Default)]
pub struct Muxes {
    list: RefCell<Vec<Rc<Mux>>>,
}

impl Muxes {
    /// Queues `request` on the mux for the session state described by `pool`, `schema` and
    /// `vars`, starting one (with its task) if there is none.
    pub fn submit<H: MuxHost>(
        &self,
        host: &Rc<H>,
        pool: &PoolKey,
        schema: Option<&str>,
        vars: &SessionVariables,
        password: &[u8],
        request: Request,
    ) {
        let found = self
            .list
            .borrow()
            .iter()
            .find(|m| {
                !m.closed.get()
                    && m.globals_epoch == host.pools().globals_epoch()
                    && m.key.pool == *pool
                    && m.key.schema.as_deref() == schema
                    && m.key.vars == *vars
            })
            .cloned();
        let mux = match found {
            Some(mux) => mux,
            None => {
                let mux = Rc::new(Mux {
                    key: MuxKey {
                        pool: pool.clone(),
                        schema: schema.map(Into::into),
                        vars: vars.clone(),
                    },
                    queue: RefCell::new(VecDeque::new()),
                    wake: Notify::new(),
                    closed: Cell::new(false),
                    globals_epoch: host.pools().globals_epoch(),
                });
                self.list.borrow_mut().push(mux.clone());
                tokio::task::spawn_local(run(host.clone(), mux.clone(), password.to_vec()));
                mux
            }
        };
        mux.queue.borrow_mut().push_back(request);
        mux.wake.notify_one();
    }

    /// Takes a mux out of the list, so the next request starts a new one.
    fn remove(&self, mux: &Mux) {
        mux.closed.set(true);
        self.list.borrow_mut().retain(|m| !std::ptr::eq(&**m, mux));
    }
}

/// A request whose command was written, and how far its answer got.
struct InFlight {
    request: Request,
    /// Frames not yet handed over.
    buf: BytesMut,
    /// Sequence id of the last frame in `buf` or handed over.
    last_seq: u8,
    /// The session left: the rest of the answer is read and dropped.
    gone: bool,
    earlier: Vec<OkPacket>,
}

/// Why the pump stopped.
enum Stop {
    /// Nothing to do for [`IDLE`]: the connection goes back to the pool.
    Idle,
    /// The connection cannot be used any more.
    Failed(Error),
}

/// The mux's task: opens its connection, serves batches until idle or broken, then gives
/// everything left back (unanswered requests are dropped: their sessions replay them).
async fn run<H: MuxHost>(host: Rc<H>, mux: Rc<Mux>, password: Vec<u8>) {
    let mut inflight: VecDeque<InFlight> = VecDeque::new();
    let stop = match open(&*host, &mux, &password).await {
        Ok(mut lease) => {
            let stop = pump(&*host, &mux, &mut lease, &mut inflight).await;
            match &stop {
                Stop::Idle => host.pools().release(lease),
                Stop::Failed(_) => {
                    lease.conn.broken = true;
                    drop(lease);
                }
            }
            stop
        }
        Err(e) => Stop::Failed(e),
    };
    host.muxes().remove(&mux);
    if let Stop::Failed(error) = stop {
        if matches!(error, Error::BackendIo { .. })
            && let Some(entry) = host.server(mux.key.pool.server)
        {
            entry.set_healthy(false);
        }
        warn!(error = %error, in_flight = inflight.len(), "pipelined connection failed");
    }
    // Dropping the senders tells each session its answer will not come.
    inflight.clear();
    mux.queue.borrow_mut().clear();
}

/// A connection with the mux's session state.
async fn open(host: &impl MuxHost, mux: &Mux, password: &[u8]) -> Result<Lease> {
    let key = &mux.key;
    let entry = host.server(key.pool.server).ok_or(Error::UnknownServer {
        index: key.pool.server,
    })?;
    let mut lease = host
        .pools()
        .acquire(
            &key.pool,
            &entry.address,
            password,
            State {
                schema: key.schema.as_deref(),
                vars: &key.vars,
            },
        )
        .await?;
    if lease.fresh {
        entry.note_max_packet(lease.conn.max_packet);
    }
    match crate::backend::state::sync_state(&mut lease.conn, key.schema.as_deref(), &key.vars)
        .await?
    {
        None => Ok(lease),
        Some(err) => {
            // The state is refused (an unknown schema): the sessions' normal path reports it.
            host.pools().release(lease);
            Err(Error::StateSync {
                server: entry.address.to_string(),
                code: err.code,
                message: String::from_utf8_lossy(&err.message).into_owned(),
            })
        }
    }
}

/// Writes what is queued, reads what is answered, until idle or broken.
async fn pump(
    host: &impl MuxHost,
    mux: &Mux,
    lease: &mut Lease,
    inflight: &mut VecDeque<InFlight>,
) -> Stop {
    let conn = &mut lease.conn;
    let max_prepared = host.max_prepared();
    let pressure = host.pools().pressure(mux.key.pool.server);
    loop {
        if !mux.closed.get()
            && (host.pools().has_waiters(mux.key.pool.server) || host.pools().outdated(conn))
        {
            // A session waits for a connection to this server, or a server-wide change made
            // the connection's defaults old: the mux takes no new requests and gives its
            // connection back once the ones it has are answered (the next request starts a
            // new mux, which waits for a slot in line, on a connection with the new defaults).
            host.muxes().remove(mux);
        }
        if inflight.is_empty() && mux.queue.borrow().is_empty() {
            if mux.closed.get() {
                return Stop::Idle;
            }
            let woke = tokio::select! {
                () = mux.wake.notified() => Woke::Work,
                // The top of the loop looks at the waiters.
                () = pressed(pressure.as_deref()) => Woke::Pressure,
                () = tokio::time::sleep(IDLE) => Woke::Idle,
            };
            if woke == Woke::Idle && mux.queue.borrow().is_empty() {
                // No await between this check and the removal: nothing can be queued between.
                host.muxes().remove(mux);
                return Stop::Idle;
            }
            continue;
        }
        if let Err(e) = write_queued(conn, mux, inflight, max_prepared).await {
            return Stop::Failed(e);
        }
        if inflight.is_empty() {
            continue;
        }
        let schema = mux.key.schema.as_deref();
        if let Err(e) = deliver(conn, inflight, schema, host.causal()).await {
            return Stop::Failed(e);
        }
        if inflight.is_empty() {
            continue;
        }
        match conn.io.fill().await {
            Ok(n) if n > 0 => {}
            Ok(_) => {
                return Stop::Failed(Error::BackendIo {
                    server: conn.address.clone(),
                    source: std::io::ErrorKind::UnexpectedEof.into(),
                });
            }
            Err(source) => {
                return Stop::Failed(Error::BackendIo {
                    server: conn.address.clone(),
                    source,
                });
            }
        }
    }
}

/// What ended an idle mux's wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Woke {
    /// A request was queued.
    Work,
    /// A session waits for a connection to the mux's server.
    Pressure,
    /// Nothing happened for [`IDLE`].
    Idle,
}

/// Resolves when the pool's pressure signal fires (never, without one).
async fn pressed(pressure: Option<&Notify>) {
    match pressure {
        Some(pressure) => pressure.notified().await,
        None => std::future::pending().await,
    }
}

/// Writes every queued request in one flush. A statement not yet prepared on the connection is
/// prepared first, only while no answer is pending (the prepare's answer is read at once);
/// otherwise it waits for the next round.
async fn write_queued(
    conn: &mut crate::backend::BackendConn,
    mux: &Mux,
    inflight: &mut VecDeque<InFlight>,
    max_prepared: usize,
) -> Result<()> {
    let mut wrote = false;
    loop {
        let next = mux.queue.borrow_mut().pop_front();
        let Some(request) = next else { break };
        if request.reply.is_closed() {
            continue; // its session left before it was sent
        }
        let payload = match &request.work {
            Work::Query(payload) => payload.clone(),
            Work::Execute {
                sql,
                payload,
                params,
                types,
            } => {
                let stmt = match conn.statements.get(sql) {
                    Some(stmt) => stmt.clone(),
                    None if !inflight.is_empty() || wrote => {
                        mux.queue.borrow_mut().push_front(request);
                        break;
                    }
                    None => match prepare_on(conn, sql, max_prepared, PrepareFor::Execution).await?
                    {
                        Prepared::Ready { stmt, .. } => stmt,
                        // Dropped: the session prepares it on the normal path and reports the
                        // server's error itself.
                        Prepared::Refused(_) => continue,
                    },
                };
                // The session's types go with every execution that binds none: the sessions
                // sharing this backend statement may have bound different ones, and the server
                // would read these values with the last types it was given.
                match rebind(payload, *params, stmt.id, types.as_deref()) {
                    Some((payload, _)) => payload,
                    // Malformed: the session's normal path reports it.
                    None => continue,
                }
            }
        };
        // Answers may be half read: the reading side's sequence id is kept.
        let reading = conn.io.codec.seq();
        conn.io.reset_seq();
        let queued = conn.io.queue(&payload);
        conn.io.codec.set_seq(reading);
        if queued.is_err() {
            continue; // larger than the connection allows: the normal path reports it
        }
        if inflight.is_empty() {
            conn.tracker.start(request.command());
            conn.io.codec.set_seq(1);
        }
        inflight.push_back(InFlight {
            request,
            buf: BytesMut::new(),
            last_seq: 0,
            gone: false,
            earlier: Vec::new(),
        });
        wrote = true;
    }
    if wrote {
        conn.io.flush().await.map_err(|source| Error::BackendIo {
            server: conn.address.clone(),
            source,
        })?;
    }
    Ok(())
}

/// Hands every complete frame in the read buffer to its request, in order, read through the
/// relay's own [`next_frame`] (the same tracking, GTID recording and OK rewriting as a
/// session's relay).
async fn deliver(
    conn: &mut crate::backend::BackendConn,
    inflight: &mut VecDeque<InFlight>,
    schema: Option<&str>,
    causal: &Causal,
) -> Result<()> {
    loop {
        let Some(head) = inflight.front_mut() else {
            return Ok(());
        };
        let view = ClientView {
            strip_tracking: head.request.strip_tracking,
            caps: head.request.client_caps,
        };
        let Some(step) = next_frame(conn, 0, view, causal, &mut head.earlier)? else {
            return Ok(());
        };
        head.last_seq = step.seq;
        match step.next {
            Next::Pass => take(&mut conn.io.rbuf, step.len, head),
            Next::Replace(bytes) => {
                conn.io.rbuf.advance(step.len);
                if !head.gone {
                    head.buf.extend_from_slice(&bytes);
                }
            }
            Next::Done {
                completion,
                ok,
                rewrite,
            } => {
                let end = FinalFrame {
                    len: step.len,
                    completion,
                    ok,
                    rewrite,
                };
                answered(conn, inflight, end, schema).await?;
                continue;
            }
            Next::NeedClient => {
                return Err(protocol(
                    &conn.address,
                    splitrail_protocol::Error::UnexpectedPacket {
                        state: "pipelined read",
                        byte: 0xFB,
                    },
                ));
            }
        }
        if head.buf.len() >= CHUNK {
            let bytes = std::mem::take(&mut head.buf).freeze();
            let piece = Piece::Data {
                bytes,
                last_seq: head.last_seq,
            };
            if head.request.reply.send(piece).await.is_err() {
                debug!("pipelined answer's session left; dropping the rest");
                head.gone = true;
            }
        }
    }
}

/// The final frame of the oldest answer in flight.
struct FinalFrame {
    /// Its length in the read buffer.
    len: usize,
    completion: Completion,
    ok: Option<OkPacket>,
    /// What the client gets instead, if the frame is rewritten.
    rewrite: Option<BytesMut>,
}

/// Completes the oldest request in flight with its final frame `end`, hands its answer to its
/// session, and starts tracking the next. A read that changed the connection's session state
/// ends the batch with [`Error::StateChanged`].
async fn answered(
    conn: &mut crate::backend::BackendConn,
    inflight: &mut VecDeque<InFlight>,
    end: FinalFrame,
    schema: Option<&str>,
) -> Result<()> {
    let rows = conn.tracker.rows();
    let Some(mut done) = inflight.pop_front() else {
        return Ok(());
    };
    match end.rewrite {
        Some(bytes) => {
            conn.io.rbuf.advance(end.len);
            done.buf.extend_from_slice(&bytes);
        }
        None => take(&mut conn.io.rbuf, end.len, &mut done),
    }
    let changed_state = end.ok.as_ref().is_some_and(|ok| changes_state(ok, schema));
    if let Some(next) = inflight.front() {
        conn.tracker.start(next.request.command());
        conn.io.codec.set_seq(1);
    }
    if !done.gone {
        let relayed = Relayed {
            completion: end.completion,
            ok: end.ok,
            earlier: done.earlier,
            rows,
            fetched_gtid: None,
        };
        let piece = Piece::Done {
            bytes: done.buf.freeze(),
            relayed,
        };
        // A closed channel: the session left; nothing to do.
        let _ = done.request.reply.send(piece).await;
    }
    if changed_state {
        // A read changed the connection's session state: it no longer matches the key. Stop
        // here; the answers behind it are replayed.
        return Err(Error::StateChanged {
            server: conn.address.clone(),
        });
    }
    Ok(())
}

/// Whether an answer on a pipelined connection says its session state moved away from the
/// mux's key: a variable changed (but `last_gtid`), or a schema other than the key's (servers
/// also report the schema a connection already has, on the first answer after a reset).
fn changes_state(ok: &OkPacket, schema: Option<&str>) -> bool {
    use splitrail_protocol::response::SessionStateChange as S;
    ok.session_state.iter().any(|c| match c {
        S::SystemVariable { name, .. } => &name[..] != b"last_gtid",
        S::Schema(s) => schema.map(str::as_bytes) != Some(&s[..]),
        _ => false,
    })
}

/// Moves one frame of `total` bytes from the read buffer to the request's pending bytes
/// (dropped when its session left).
fn take(rbuf: &mut BytesMut, total: usize, head: &mut InFlight) {
    if !head.gone {
        head.buf.extend_from_slice(&rbuf[..total]);
    }
    rbuf.advance(total);
}
