//! Counters and gauges the admin API reads: per server statements, errors, statements in
//! flight, latency histogram, pool sizes and acquire waits; routing decisions by target and
//! reason; client connections; read-your-writes waits and fallbacks; reloads. Workers write them
//! with relaxed atomic adds (no lock on the statement path); pools, being per worker, add their
//! changes into the shared gauges.
//!
//! Servers can be added at runtime (reload, discovery), so the per-server counters live in an
//! append-only list of chunks ([`PerServer`]): growing it never moves a counter, and reading
//! one is a bounds check and two loads, without a lock.
use std::sync::OnceLock;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use splitrail_router::{Decision, Reason, Target};

/// One server's numbers, summed over the workers.
#[derive(Debug, Default)]
pub struct ServerStats {
    /// Commands sent to the server whose response ended (OK, result set or ERR) or failed.
    pub queries: AtomicU64,
    /// Of those, the ones answered with ERR or lost with their connection.
    pub errors: AtomicU64,
    /// Open pooled connections (idle and lent out).
    pub open: AtomicI64,
    /// Idle connections waiting in the pools.
    pub idle: AtomicI64,
    /// Sessions waiting now for a connection to this server, all workers.
    pub waiting: AtomicI64,
    /// Statements sent and not answered yet, all workers (what `least_outstanding` balances).
    in_flight: AtomicI64,
    /// Statement durations (send to last byte relayed): counts per [`LATENCY_BUCKETS`] bucket
    /// (not cumulative), the last one for slower ones.
    latency: [AtomicU64; LATENCY_BUCKETS.len() + 1],
    /// Sum of those durations, in microseconds.
    latency_us: AtomicU64,
    /// Pool acquisitions that had to wait for a connection to come back.
    pub acquire_waits: AtomicU64,
    /// Their total wait, in microseconds.
    pub acquire_wait_us: AtomicU64,
}

/// Upper bounds (seconds) of the statement latency histogram's buckets.
pub const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

impl ServerStats {
    /// A statement ended on this server after `elapsed`.
    #[inline]
    pub fn statement_done(&self, failed: bool, elapsed: Duration) {
        self.queries.fetch_add(1, Ordering::Relaxed);
        if failed {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
        let secs = elapsed.as_secs_f64();
        let bucket = LATENCY_BUCKETS
            .iter()
            .position(|&le| secs <= le)
            .unwrap_or(LATENCY_BUCKETS.len());
        self.latency[bucket].fetch_add(1, Ordering::Relaxed);
        self.latency_us
            .fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
    }

    /// Sessions waiting for a connection now.
    pub fn waiting(&self) -> u64 {
        self.waiting.load(Ordering::Relaxed).max(0) as u64
    }

    /// Statements in flight now.
    pub fn in_flight(&self) -> u64 {
        self.in_flight.load(Ordering::Relaxed).max(0) as u64
    }

    /// The latency histogram: cumulative counts per [`LATENCY_BUCKETS`] bound then `+Inf`, and
    /// the sum in seconds.
    pub fn latency(&self) -> (Vec<u64>, f64) {
        let mut total = 0;
        let counts = self
            .latency
            .iter()
            .map(|b| {
                total += b.load(Ordering::Relaxed);
                total
            })
            .collect();
        let sum = self.latency_us.load(Ordering::Relaxed) as f64 / 1e6;
        (counts, sum)
    }

    /// An acquisition waited `waited` for a connection.
    pub fn acquire_waited(&self, waited: Duration) {
        self.acquire_waits.fetch_add(1, Ordering::Relaxed);
        self.acquire_wait_us
            .fetch_add(waited.as_micros() as u64, Ordering::Relaxed);
    }

    /// (open, idle, in use) now.
    pub fn pool(&self) -> (u64, u64, u64) {
        let open = self.open.load(Ordering::Relaxed).max(0) as u64;
        let idle = self.idle.load(Ordering::Relaxed).max(0) as u64;
        (open, idle, open.saturating_sub(idle))
    }
}

/// Route targets in counter order.
pub const TARGETS: [&str; 4] = ["primary", "replica", "pinned", "reject"];

/// Every route reason, in counter order (all `Rule(n)` count as `rule`).
pub const REASONS: [Reason; 29] = Reason::ALL;

/// `t`'s index in [`TARGETS`].
pub fn target_index(t: &Target) -> usize {
    match t {
        Target::Primary => 0,
        Target::Replica => 1,
        Target::Pinned => 2,
        Target::Reject(_) => 3,
    }
}

/// Chunks of [`PerServer`]: chunk `k` holds `FIRST_CHUNK << k` servers.
const CHUNKS: usize = 24;
const FIRST_CHUNK: usize = 8;

/// Per-server counters by server index, append-only: chunk `k` (of `8 << k` entries) is
/// allocated when the list first grows into it and never moves, so a reference stays valid
/// while more servers are added. Room for about 134 million servers.
#[derive(Debug)]
pub struct PerServer {
    chunks: [OnceLock<Box<[ServerStats]>>; CHUNKS],
    len: AtomicUsize,
}

impl PerServer {
    fn new() -> Self {
        PerServer {
            chunks: std::array::from_fn(|_| OnceLock::new()),
            len: AtomicUsize::new(0),
        }
    }

    /// (chunk, offset) of `index`.
    fn place(index: usize) -> (usize, usize) {
        let n = index + FIRST_CHUNK;
        let chunk =
            (usize::BITS - 1 - n.leading_zeros()) as usize - FIRST_CHUNK.trailing_zeros() as usize;
        (chunk, n - (FIRST_CHUNK << chunk))
    }

    /// Makes room for `servers` servers (never shrinks).
    fn grow_to(&self, servers: usize) {
        for index in self.len.load(Ordering::Acquire)..servers {
            let (chunk, _) = Self::place(index);
            if chunk >= CHUNKS {
                return;
            }
            self.chunks[chunk].get_or_init(|| {
                (0..FIRST_CHUNK << chunk)
                    .map(|_| ServerStats::default())
                    .collect()
            });
        }
        self.len.fetch_max(servers, Ordering::AcqRel);
    }

    fn get(&self, index: usize) -> Option<&ServerStats> {
        if index >= self.len.load(Ordering::Acquire) {
            return None;
        }
        let (chunk, offset) = Self::place(index);
        self.chunks.get(chunk)?.get()?.get(offset)
    }
}

/// A statement running on a server: counted in flight until [`InFlight::done`] (or a drop, if
/// the statement's future is abandoned, which counts it neither done nor failed).
#[derive(Debug)]
#[must_use = "a statement stays in flight until done"]
pub struct InFlight<'a> {
    server: Option<&'a ServerStats>,
    started: Instant,
}

impl InFlight<'_> {
    /// The statement ended (`failed`: ERR or a lost connection): counted with its duration.
    pub fn done(mut self, failed: bool) {
        if let Some(s) = self.server.take() {
            s.in_flight.fetch_sub(1, Ordering::Relaxed);
            s.statement_done(failed, self.started.elapsed());
        }
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if let Some(s) = self.server {
            s.in_flight.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// All the proxy's counters.
#[derive(Debug)]
pub struct Stats {
    /// Per server, by server index.
    servers: PerServer,
    /// Routing decisions, `TARGETS.len() × REASONS.len()`, target-major.
    routes: Box<[AtomicU64]>,
    /// Reads sent to a replica behind a causal wait.
    pub consistency_waits: AtomicU64,
    /// Reads that went to the primary because no replica had (or reached in time) the
    /// position they must see.
    pub consistency_fallbacks: AtomicU64,
    /// Queries of the primary's position (`consistency: cluster`), one per batch of reads.
    pub position_fetches: AtomicU64,
    /// Reads that took a fetched primary position as their requirement.
    pub position_reads: AtomicU64,
    /// Reads sent straight to the primary because the replica had yet to replay a slow write
    /// (DDL) they needed (see [`crate::consistency::Causal::replay_pending`]).
    pub slow_replay_reads: AtomicU64,
    /// Session `SET`s the proxy answered itself (`session/answered_here.rs`).
    pub local_set_answers: AtomicU64,
    /// `COMMIT`s and `ROLLBACK`s with no transaction open the proxy answered itself.
    pub local_commit_answers: AtomicU64,
    /// Configuration reloads applied.
    pub reloads_ok: AtomicU64,
    /// Configuration reloads refused (an invalid file, or one that cannot be read).
    pub reloads_failed: AtomicU64,
    /// Client connections accepted since start.
    pub clients_total: AtomicU64,
    /// Statements answered over a shared, pipelined connection (`pool.pipeline`).
    pub pipelined: AtomicU64,
}

impl Stats {
    /// Zeroed counters for `servers` servers.
    pub fn new(servers: usize) -> Self {
        let stats = Stats {
            servers: PerServer::new(),
            routes: (0..TARGETS.len() * REASONS.len())
                .map(|_| AtomicU64::new(0))
                .collect(),
            consistency_waits: AtomicU64::new(0),
            consistency_fallbacks: AtomicU64::new(0),
            position_fetches: AtomicU64::new(0),
            position_reads: AtomicU64::new(0),
            slow_replay_reads: AtomicU64::new(0),
            local_set_answers: AtomicU64::new(0),
            local_commit_answers: AtomicU64::new(0),
            reloads_ok: AtomicU64::new(0),
            reloads_failed: AtomicU64::new(0),
            clients_total: AtomicU64::new(0),
            pipelined: AtomicU64::new(0),
        };
        stats.servers.grow_to(servers);
        stats
    }

    /// A statement starts on server `index`: in flight until the returned guard is done.
    #[inline]
    pub fn begin(&self, index: usize) -> InFlight<'_> {
        let server = self.server(index);
        if let Some(s) = server {
            s.in_flight.fetch_add(1, Ordering::Relaxed);
        }
        InFlight {
            server,
            started: Instant::now(),
        }
    }

    /// A read waited on a replica for a required GTID (read-your-writes).
    pub fn consistency_wait(&self) {
        self.consistency_waits.fetch_add(1, Ordering::Relaxed);
    }

    /// A read went to the primary because no replica had the required GTID in time.
    pub fn consistency_fallback(&self) {
        self.consistency_fallbacks.fetch_add(1, Ordering::Relaxed);
    }

    /// (waits, primary fallbacks) of read-your-writes reads so far.
    pub fn consistency(&self) -> (u64, u64) {
        (
            self.consistency_waits.load(Ordering::Relaxed),
            self.consistency_fallbacks.load(Ordering::Relaxed),
        )
    }

    /// The counters of server `index`, if it exists.
    #[inline]
    pub fn server(&self, index: usize) -> Option<&ServerStats> {
        self.servers.get(index)
    }

    /// Makes room for the counters of `servers` servers (added at runtime); existing counters
    /// stay where they are.
    pub fn grow_to(&self, servers: usize) {
        self.servers.grow_to(servers);
    }

    /// Counts a reload and its result.
    pub fn reloaded(&self, ok: bool) {
        let counter = if ok {
            &self.reloads_ok
        } else {
            &self.reloads_failed
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a routing decision.
    #[inline]
    pub fn routed(&self, d: &Decision) {
        let i = target_index(&d.target) * REASONS.len() + d.reason.index();
        self.routes[i].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a statement answered over a pipelined connection.
    pub fn pipelined(&self) {
        self.pipelined.fetch_add(1, Ordering::Relaxed);
    }

    /// Every (target, reason, count) with a count above zero.
    pub fn routes(&self) -> Vec<(&'static str, &'static str, u64)> {
        let mut out = Vec::new();
        for (t, target) in TARGETS.iter().enumerate() {
            for (r, reason) in REASONS.iter().enumerate() {
                let n = self.routes[t * REASONS.len() + r].load(Ordering::Relaxed);
                if n > 0 {
                    out.push((*target, reason.as_str(), n));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_indexes_match_their_names() {
        for t in [
            Target::Primary,
            Target::Replica,
            Target::Pinned,
            Target::Reject("x".into()),
        ] {
            assert_eq!(TARGETS[target_index(&t)], t.as_str());
        }
    }

    #[test]
    fn decisions_and_statements_are_counted() {
        let stats = Stats::new(2);
        let d = Decision {
            target: Target::Replica,
            reason: Reason::PlainRead,
            max_lag: None,
            min_gtid: None,
            hash_key: None,
        };
        stats.routed(&d);
        stats.routed(&d);
        assert_eq!(stats.routes(), vec![("replica", "plain_read", 2)]);
        let server = stats.server(1).unwrap();
        server.statement_done(true, Duration::ZERO);
        server.statement_done(false, Duration::ZERO);
        assert_eq!(server.queries.load(Ordering::Relaxed), 2);
        assert_eq!(server.errors.load(Ordering::Relaxed), 1);
        assert!(stats.server(2).is_none());
    }

    #[test]
    fn per_server_counters_grow_without_moving() {
        assert_eq!(PerServer::place(0), (0, 0));
        assert_eq!(PerServer::place(7), (0, 7));
        assert_eq!(PerServer::place(8), (1, 0));
        assert_eq!(PerServer::place(23), (1, 15));
        assert_eq!(PerServer::place(24), (2, 0));
        let stats = Stats::new(3);
        let first: *const ServerStats = stats.server(2).unwrap();
        stats
            .server(2)
            .unwrap()
            .statement_done(false, Duration::ZERO);
        stats.grow_to(100);
        assert!(std::ptr::eq(first, stats.server(2).unwrap()));
        assert_eq!(stats.server(2).unwrap().queries.load(Ordering::Relaxed), 1);
        assert_eq!(stats.server(99).unwrap().queries.load(Ordering::Relaxed), 0);
        assert!(stats.server(100).is_none());
        stats.grow_to(5);
        assert!(stats.server(99).is_some(), "never shrinks");
    }

    #[test]
    fn statements_in_flight_are_counted_until_done() {
        let stats = Stats::new(2);
        stats.begin(1).done(true);
        let running = stats.begin(1);
        assert_eq!(stats.server(1).unwrap().in_flight(), 1);
        running.done(false);
        drop(stats.begin(1)); // abandoned: neither done nor failed
        assert_eq!(stats.server(1).unwrap().in_flight(), 0);
        assert_eq!(stats.server(1).unwrap().queries.load(Ordering::Relaxed), 2);
        assert_eq!(stats.server(1).unwrap().errors.load(Ordering::Relaxed), 1);
        drop(stats.begin(9)); // no such server: nothing counted, nothing panics
    }

    #[test]
    fn latency_buckets_are_cumulative() {
        let s = ServerStats::default();
        s.statement_done(false, Duration::from_micros(300));
        s.statement_done(false, Duration::from_millis(3));
        s.statement_done(true, Duration::from_secs(60));
        let (counts, sum) = s.latency();
        assert_eq!(counts.len(), LATENCY_BUCKETS.len() + 1);
        assert_eq!((counts[0], counts[3], counts[13], counts[14]), (1, 2, 2, 3));
        assert!((sum - 60.0033).abs() < 1e-9, "{sum}");
    }
}
