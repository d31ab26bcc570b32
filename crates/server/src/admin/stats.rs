//! Counters and gauges the admin API reads: per server statements, errors and pool sizes, and
//! routing decisions by target and reason. Workers write them with relaxed atomic adds (no lock
//! on the statement path); pools, being per worker, add their changes into the shared gauges.
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

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
}

impl ServerStats {
    /// A statement ended on this server.
    #[inline]
    pub fn statement_done(&self, failed: bool) {
        self.queries.fetch_add(1, Ordering::Relaxed);
        if failed {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
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
pub const REASONS: [Reason; 28] = Reason::ALL;

fn target_index(t: &Target) -> usize {
    match t {
        Target::Primary => 0,
        Target::Replica => 1,
        Target::Pinned => 2,
        Target::Reject(_) => 3,
    }
}

/// All the proxy's counters.
#[derive(Debug)]
pub struct Stats {
    /// Per server, in configuration order.
    pub servers: Box<[ServerStats]>,
    /// Routing decisions, `TARGETS.len() × REASONS.len()`, target-major.
    routes: Box<[AtomicU64]>,
    /// Reads sent to a replica behind a causal wait.
    pub consistency_waits: AtomicU64,
    /// Reads that went to the primary because no replica had (or reached in time) the
    /// position they must see.
    pub consistency_fallbacks: AtomicU64,
    /// Statements answered over a shared, pipelined connection (`pool.pipeline`).
    pub pipelined: AtomicU64,
}

impl Stats {
    /// Zeroed counters for `servers` servers.
    pub fn new(servers: usize) -> Self {
        Stats {
            servers: (0..servers).map(|_| ServerStats::default()).collect(),
            routes: (0..TARGETS.len() * REASONS.len())
                .map(|_| AtomicU64::new(0))
                .collect(),
            consistency_waits: AtomicU64::new(0),
            consistency_fallbacks: AtomicU64::new(0),
            pipelined: AtomicU64::new(0),
        }
    }

    /// The counters of server `index`, if it exists.
    #[inline]
    pub fn server(&self, index: usize) -> Option<&ServerStats> {
        self.servers.get(index)
    }

    /// Counts a routing decision.
    #[inline]
    pub fn routed(&self, d: &Decision) {
        let i = target_index(&d.target) * REASONS.len() + d.reason.index();
        self.routes[i].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a read sent to a replica behind a causal wait.
    pub fn consistency_wait(&self) {
        self.consistency_waits.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a read sent to the primary for read-your-writes.
    pub fn consistency_fallback(&self) {
        self.consistency_fallbacks.fetch_add(1, Ordering::Relaxed);
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
        };
        stats.routed(&d);
        stats.routed(&d);
        assert_eq!(stats.routes(), vec![("replica", "plain_read", 2)]);
        stats.servers[1].statement_done(true);
        stats.servers[1].statement_done(false);
        assert_eq!(stats.servers[1].queries.load(Ordering::Relaxed), 2);
        assert_eq!(stats.servers[1].errors.load(Ordering::Relaxed), 1);
    }
}
