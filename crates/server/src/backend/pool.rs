//! Backend connection pools of one worker thread: idle connections per (server, user, result
//! flags), a limit of open connections per server, and waiting for one to come back.
//!
//! Each worker owns its pools (`Rc`, no lock): a session's client and backend sockets are served
//! by the same thread. A server's `max_size` is shared out among the workers. The limits follow
//! reloads and discovery ([`Pools::set_limits`]): servers only ever get added, by index.
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use splitrail_router::SessionVariables;

use super::conn::{BackendConn, ResultFlags};
use crate::config::Address;
use crate::error::{Error, Result};
use crate::metrics::Stats;
use crate::tls::BackendTlsSetup;

/// Which idle connections can serve a request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PoolKey {
    /// The server's index.
    pub server: usize,
    /// The user the connection is logged in as.
    pub user: Rc<str>,
    /// Result-shaping capabilities.
    pub flags: ResultFlags,
}

/// The session state a borrower wants its connection in: an idle connection already in it
/// needs no sync.
#[derive(Debug, Clone, Copy)]
pub struct State<'a> {
    /// The default schema.
    pub schema: Option<&'a str>,
    /// The replayed session variables.
    pub vars: &'a SessionVariables,
}

impl State<'_> {
    /// Whether `conn` is in this state already.
    fn is_on(&self, conn: &BackendConn) -> bool {
        conn.schema.as_deref() == self.schema.or(conn.schema.as_deref())
            && conn.vars.same_as(self.vars)
    }
}

/// Limits and ages, from `pool` in the configuration.
#[derive(Debug, Clone)]
pub struct PoolLimits {
    /// Open connections per server in this worker.
    pub max_per_server: Vec<usize>,
    /// How long an acquire may wait for a connection.
    pub acquire_timeout: Duration,
    /// Idle connections older than this are closed rather than reused.
    pub idle_timeout: Duration,
    /// Connections older than this are closed rather than reused.
    pub max_lifetime: Duration,
    /// How long connecting and logging in may take.
    pub connect_timeout: Duration,
    /// TLS towards the backends.
    pub tls: BackendTlsSetup,
    /// Idle connections this worker keeps open per pool key it has served (`pool.min_idle`).
    pub min_idle: usize,
}

/// Counts the server-wide changes (`SET GLOBAL`, `SET PERSIST`) made through the proxy, for
/// every worker: a connection opened before the latest one is closed rather than lent again,
/// so each new session starts from the servers' new defaults, as a new session on a server
/// does. Changes made past the proxy reach the pools only as connections reach
/// `pool.max_lifetime`.
#[derive(Debug, Default)]
pub struct GlobalsEpoch(AtomicU64);

impl GlobalsEpoch {
    /// The number of changes so far.
    pub fn current(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }

    /// A change was made: every connection open now is out of date.
    pub fn bump(&self) {
        self.0.fetch_add(1, Ordering::AcqRel);
    }
}

/// How many recently served pool keys `min_idle` applies to.
const SEEN_KEYS: usize = 8;

/// Counts open connections per server; a [`Slot`] gives its count back when dropped.
#[derive(Debug)]
struct Counts {
    open: RefCell<Vec<usize>>,
    /// Acquires waiting for a connection, per server.
    waiting: RefCell<Vec<usize>>,
    /// Woken when a connection to the server is freed (`Rc`: a waiter keeps its own handle
    /// while the list grows).
    freed: RefCell<Vec<Rc<Notify>>>,
    /// Woken (one holder at a time) when an acquire for the server is about to wait: what
    /// holds a connection without using it (an idle pipelined connection) gives it back.
    pressure: RefCell<Vec<Rc<Notify>>>,
    /// The shared gauges this worker's open and idle counts are added to.
    stats: Arc<Stats>,
}

impl Counts {
    /// The wake-up of `server`.
    fn freed(&self, server: usize) -> Option<Rc<Notify>> {
        self.freed.borrow().get(server).cloned()
    }

    /// The pressure signal of `server`.
    fn pressure(&self, server: usize) -> Option<Rc<Notify>> {
        self.pressure.borrow().get(server).cloned()
    }

    /// Makes room for `servers` servers.
    fn grow_to(&self, servers: usize) {
        let mut open = self.open.borrow_mut();
        if open.len() < servers {
            open.resize(servers, 0);
            self.waiting.borrow_mut().resize(servers, 0);
            self.freed
                .borrow_mut()
                .resize_with(servers, || Rc::new(Notify::new()));
            self.pressure
                .borrow_mut()
                .resize_with(servers, || Rc::new(Notify::new()));
        }
    }

    /// Adds to the shared open and idle gauges of `server`.
    fn gauge(&self, server: usize, open: i64, idle: i64) {
        if let Some(s) = self.stats.server(server) {
            if open != 0 {
                s.open.fetch_add(open, Ordering::Relaxed);
            }
            if idle != 0 {
                s.idle.fetch_add(idle, Ordering::Relaxed);
            }
        }
    }
}

/// One open connection's place under its server's limit.
#[derive(Debug)]
pub struct Slot {
    counts: Rc<Counts>,
    server: usize,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(n) = self.counts.open.borrow_mut().get_mut(self.server) {
            *n = n.saturating_sub(1);
        }
        self.counts.gauge(self.server, -1, 0);
        if let Some(freed) = self.counts.freed(self.server) {
            freed.notify_one();
        }
    }
}

/// Takes a session's sticky connection if it goes to `server` (and the session is not using
/// its holder right now).
fn take_sticky(holder: &Weak<RefCell<Option<Lease>>>, server: usize) -> Option<Lease> {
    let holder = holder.upgrade()?;
    let mut slot = holder.try_borrow_mut().ok()?;
    if slot.as_ref()?.conn.server == server {
        slot.take()
    } else {
        None
    }
}

/// A connection lent to a session, with its slot; give it back with [`Pools::release`].
#[derive(Debug)]
pub struct Lease {
    /// The connection.
    pub conn: BackendConn,
    /// Its key, to find its idle list again.
    pub key: PoolKey,
    /// Whether the acquire that returned it opened it: proof the server takes connections now.
    /// An idle connection taken from the pool proves nothing (its server may have died since).
    pub fresh: bool,
    slot: Slot,
}

/// A session's last-used connection, kept between its statements (for `LAST_INSERT_ID()`,
/// `FOUND_ROWS()` and cheap reuse) but given up when another session needs the slot.
pub type Sticky = Rc<RefCell<Option<Lease>>>;

/// The pools of one worker.
#[derive(Debug)]
pub struct Pools {
    idle: RefCell<HashMap<PoolKey, Vec<(BackendConn, Slot)>>>,
    /// The pool keys this worker has served, most recent last (a few): what the upkeep task
    /// keeps `min_idle` connections open for and prunes.
    seen: RefCell<Vec<PoolKey>>,
    /// Sessions' sticky connections, which an acquire at the limit may take back.
    stealable: RefCell<Vec<Weak<RefCell<Option<Lease>>>>>,
    counts: Rc<Counts>,
    /// `Rc`: an acquire keeps the limits it started with across its awaits.
    limits: RefCell<Rc<PoolLimits>>,
    /// Server-wide changes made through the proxy (shared by all workers).
    globals: Arc<GlobalsEpoch>,
}

impl Pools {
    /// Empty pools with these limits, publishing their sizes into `stats`, renewing connections
    /// when `globals` moves.
    pub fn new(limits: PoolLimits, stats: Arc<Stats>, globals: Arc<GlobalsEpoch>) -> Self {
        let pools = Pools {
            idle: RefCell::new(HashMap::new()),
            stealable: RefCell::new(Vec::new()),
            seen: RefCell::new(Vec::new()),
            counts: Rc::new(Counts {
                open: RefCell::new(Vec::new()),
                waiting: RefCell::new(Vec::new()),
                freed: RefCell::new(Vec::new()),
                pressure: RefCell::new(Vec::new()),
                stats,
            }),
            limits: RefCell::new(Rc::new(limits.clone())),
            globals,
        };
        pools.set_limits(limits);
        pools
    }

    /// New limits (after a reload or a discovered server); `max_per_server` never lists fewer
    /// servers than before. Connections open beyond a lowered limit close as they come back.
    pub fn set_limits(&self, limits: PoolLimits) {
        self.counts.grow_to(limits.max_per_server.len());
        *self.limits.borrow_mut() = Rc::new(limits);
    }

    fn limits(&self) -> Rc<PoolLimits> {
        self.limits.borrow().clone()
    }

    /// The server-wide changes made through the proxy so far ([`GlobalsEpoch`]).
    pub fn globals_epoch(&self) -> u64 {
        self.globals.current()
    }

    /// Notes a server-wide change made through the proxy (a successful `SET GLOBAL`): every
    /// connection open now, in every worker, is closed instead of being lent again.
    pub fn globals_changed(&self) {
        self.globals.bump();
    }

    /// Whether `conn` was opened before the latest server-wide change made through the proxy.
    pub fn outdated(&self, conn: &BackendConn) -> bool {
        conn.globals_epoch < self.globals.current()
    }

    /// Closes the idle connections to `server` and takes back the ones sessions keep only out
    /// of stickiness, closing them too (the server is drained or removed). Connections in use
    /// finish their work and close when they come back. Returns how many were closed.
    pub fn close_server(&self, server: usize) -> usize {
        let idle: Vec<(BackendConn, Slot)> = {
            let mut idle = self.idle.borrow_mut();
            idle.iter_mut()
                .filter(|(k, _)| k.server == server)
                .flat_map(|(_, v)| std::mem::take(v))
                .collect()
        };
        if !idle.is_empty() {
            self.counts.gauge(server, 0, -(idle.len() as i64));
        }
        let mut closed = idle.len();
        drop(idle);
        let sticky: Vec<Lease> = self
            .stealable
            .borrow()
            .iter()
            .filter_map(|weak| take_sticky(weak, server))
            .collect();
        closed += sticky.len();
        closed
    }

    /// Open connections to `server` in this worker (idle and lent out).
    pub fn open(&self, server: usize) -> usize {
        self.counts.open.borrow().get(server).copied().unwrap_or(0)
    }

    /// Idle connections to `server` in this worker.
    pub fn idle(&self, server: usize) -> usize {
        self.idle
            .borrow()
            .iter()
            .filter(|(k, _)| k.server == server)
            .map(|(_, v)| v.len())
            .sum()
    }

    /// Lends a connection for `key`: an idle one, a new one, or the next one given back. An
    /// acquisition that had to wait is counted, with its wait, in the server's stats.
    /// Among idle connections, one already in `state` is preferred (no sync then).
    pub async fn acquire(
        &self,
        key: &PoolKey,
        address: &Address,
        password: &[u8],
        state: State<'_>,
    ) -> Result<Lease> {
        let mut waiting_since = None;
        let lease = self
            .acquire_or_wait(key, address, password, state, &mut waiting_since)
            .await;
        if let Some(since) = waiting_since
            && let Some(s) = self.counts.stats.server(key.server)
        {
            s.acquire_waited(since.elapsed());
        }
        lease
    }

    async fn acquire_or_wait(
        &self,
        key: &PoolKey,
        address: &Address,
        password: &[u8],
        state: State<'_>,
        waiting_since: &mut Option<Instant>,
    ) -> Result<Lease> {
        self.remember(key);
        let deadline = Instant::now() + self.limits().acquire_timeout;
        loop {
            if let Some((conn, slot)) = self.take_idle(key, state) {
                return Ok(Lease {
                    conn,
                    key: key.clone(),
                    fresh: false,
                    slot,
                });
            }
            if let Some(slot) = self.reserve(key.server) {
                return self.open_lease(key, slot, address, password).await;
            }
            // At the limit: an idle connection kept for another user or flag set makes room, and
            // so does a connection another session only keeps out of stickiness.
            if self.evict_other_idle(key) || self.steal(key.server) {
                continue;
            }
            let Some(freed) = self.counts.freed(key.server) else {
                return Err(Error::UnknownServer { index: key.server });
            };
            waiting_since.get_or_insert_with(Instant::now);
            // Counted as waiting first: a holder woken by the pressure signal sees the waiter.
            self.add_waiting(key.server, 1);
            if let Some(pressure) = self.counts.pressure(key.server) {
                pressure.notify_one();
            }
            let waited = tokio::time::timeout_at(deadline.into(), freed.notified()).await;
            self.add_waiting(key.server, -1);
            if waited.is_err() {
                return Err(Error::AcquireTimeout {
                    server: address.to_string(),
                });
            }
        }
    }

    /// Notes that `key` was served, keeping the last [`SEEN_KEYS`] keys.
    fn remember(&self, key: &PoolKey) {
        let mut seen = self.seen.borrow_mut();
        if let Some(i) = seen.iter().position(|k| k == key) {
            let k = seen.remove(i);
            seen.push(k);
        } else {
            if seen.len() >= SEEN_KEYS {
                seen.remove(0);
            }
            seen.push(key.clone());
        }
    }

    /// The pool keys `min_idle` applies to.
    pub fn seen_keys(&self) -> Vec<PoolKey> {
        self.seen.borrow().clone()
    }

    /// Background upkeep of one pool key: closes idle connections the server closed, those past
    /// `max_lifetime`, and those past `idle_timeout` beyond the `min_idle` kept, then opens connections until `min_idle` are idle
    /// (within the server's limit). Returns how many were opened.
    pub async fn maintain(
        &self,
        key: &PoolKey,
        address: &Address,
        password: &[u8],
    ) -> Result<usize> {
        let now = Instant::now();
        let pruned: Vec<(BackendConn, Slot)> = {
            let mut idle = self.idle.borrow_mut();
            let list = idle.entry(key.clone()).or_default();
            let limits = self.limits();
            let mut keep = Vec::with_capacity(list.len());
            let mut drop_list = Vec::new();
            // Newest last: keep the freshest `min_idle` whatever their age.
            for (mut conn, slot) in std::mem::take(list).into_iter().rev() {
                if conn.closed_while_idle() {
                    drop_list.push((conn, slot));
                    continue;
                }
                let expired =
                    now.duration_since(conn.created) > limits.max_lifetime || self.outdated(&conn);
                let idle_too_long = now.duration_since(conn.idle_since) > limits.idle_timeout;
                if expired || (idle_too_long && keep.len() >= limits.min_idle) {
                    drop_list.push((conn, slot));
                } else {
                    keep.push((conn, slot));
                }
            }
            keep.reverse();
            *list = keep;
            drop_list
        };
        if !pruned.is_empty() {
            self.counts.gauge(key.server, 0, -(pruned.len() as i64));
        }
        let have = self.idle.borrow().get(key).map_or(0, Vec::len);
        drop(pruned);
        self.top_up(key, address, password, have).await
    }

    async fn top_up(
        &self,
        key: &PoolKey,
        address: &Address,
        password: &[u8],
        mut have: usize,
    ) -> Result<usize> {
        let mut opened = 0;
        while have < self.limits().min_idle {
            let Some(slot) = self.reserve(key.server) else {
                break;
            };
            let lease = self.open_lease(key, slot, address, password).await?;
            self.release(lease);
            have += 1;
            opened += 1;
        }
        Ok(opened)
    }

    /// Opens a connection for `key` in the place `slot` reserved (dropping `slot` on error
    /// gives the place back).
    async fn open_lease(
        &self,
        key: &PoolKey,
        slot: Slot,
        address: &Address,
        password: &[u8],
    ) -> Result<Lease> {
        let limits = self.limits();
        // Read before connecting: a change made while this one logs in makes it outdated.
        let epoch = self.globals.current();
        let mut conn = BackendConn::connect(
            key.server,
            address,
            &key.user,
            password,
            key.flags,
            limits.connect_timeout,
            &limits.tls,
        )
        .await?;
        conn.globals_epoch = epoch;
        Ok(Lease {
            conn,
            key: key.clone(),
            fresh: true,
            slot,
        })
    }

    fn add_waiting(&self, server: usize, delta: isize) {
        if let Some(n) = self.counts.waiting.borrow_mut().get_mut(server) {
            *n = n.saturating_add_signed(delta);
        }
        if let Some(s) = self.counts.stats.server(server) {
            s.waiting.fetch_add(delta as i64, Ordering::Relaxed);
        }
    }

    /// Whether some session waits for a connection to `server`: a connection to it should go
    /// back to the pool rather than stay sticky.
    pub fn has_waiters(&self, server: usize) -> bool {
        self.counts
            .waiting
            .borrow()
            .get(server)
            .is_some_and(|&n| n > 0)
    }

    /// The signal [`Pools::acquire`] gives, one holder at a time, when it must wait for a
    /// connection to `server`: a task that keeps a connection while it has nothing to do waits
    /// on it beside its own work and, woken, gives the connection back if
    /// [`Pools::has_waiters`] still says so. (A permit given while no holder listens is kept
    /// for the next one; it costs that one a look at `has_waiters`.)
    pub fn pressure(&self, server: usize) -> Option<Rc<Notify>> {
        self.counts.pressure(server)
    }

    /// Registers a session's sticky connection holder.
    pub fn register_sticky(&self, sticky: &Sticky) {
        let mut list = self.stealable.borrow_mut();
        list.retain(|w| w.strong_count() > 0);
        list.push(Rc::downgrade(sticky));
    }

    /// Takes a sticky connection to `server` away from its session and pools it.
    fn steal(&self, server: usize) -> bool {
        let victim = self
            .stealable
            .borrow()
            .iter()
            .find_map(|weak| take_sticky(weak, server));
        match victim {
            Some(lease) => {
                self.release(lease);
                true
            }
            None => false,
        }
    }

    /// An idle connection for `key`: the most recently used one in `state`, else the most
    /// recently used one.
    fn take_idle(&self, key: &PoolKey, state: State<'_>) -> Option<(BackendConn, Slot)> {
        let mut idle = self.idle.borrow_mut();
        let list = idle.get_mut(key)?;
        loop {
            let at = list
                .iter()
                .rposition(|(conn, _)| state.is_on(conn))
                .or_else(|| list.len().checked_sub(1))?;
            let (mut conn, slot) = list.remove(at);
            self.counts.gauge(key.server, 0, -1);
            let now = Instant::now();
            let limits = self.limits.borrow();
            let stale = now.duration_since(conn.created) > limits.max_lifetime
                || now.duration_since(conn.idle_since) > limits.idle_timeout
                || self.outdated(&conn)
                || conn.closed_while_idle();
            if !stale {
                return Some((conn, slot));
            }
            drop((conn, slot));
        }
    }

    fn reserve(&self, server: usize) -> Option<Slot> {
        let mut open = self.counts.open.borrow_mut();
        let n = open.get_mut(server)?;
        let max = self
            .limits
            .borrow()
            .max_per_server
            .get(server)
            .copied()
            .unwrap_or(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        self.counts.gauge(server, 1, 0);
        Some(Slot {
            counts: self.counts.clone(),
            server,
        })
    }

    fn evict_other_idle(&self, key: &PoolKey) -> bool {
        let mut idle = self.idle.borrow_mut();
        let victim = idle
            .iter_mut()
            .find(|(k, v)| k.server == key.server && *k != key && !v.is_empty())
            .and_then(|(_, v)| v.pop());
        if victim.is_some() {
            self.counts.gauge(key.server, 0, -1);
        }
        // Dropped after the borrow ends: the slot's drop wakes a waiter.
        drop(idle);
        victim.is_some()
    }

    /// Takes a connection back. A broken one, or one still inside a transaction, is closed.
    pub fn release(&self, lease: Lease) {
        let Lease {
            mut conn,
            key,
            slot,
            ..
        } = lease;
        if conn.broken || !conn.tracker.is_done() || self.outdated(&conn) {
            return; // dropping closes the socket and frees the slot
        }
        conn.idle_since = Instant::now();
        conn.io.shrink();
        self.idle
            .borrow_mut()
            .entry(key.clone())
            .or_default()
            .push((conn, slot));
        self.counts.gauge(key.server, 0, 1);
        if let Some(freed) = self.counts.freed(key.server) {
            freed.notify_one();
        }
    }
}
