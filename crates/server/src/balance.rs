//! Read balancing: which server takes a read, among the replicas the monitor, the statement's
//! lag bound and the caller's filter allow, plus the primary's `read_weight` share. One
//! [`Balancer`] per worker, so picking a server takes no lock; what it reads about servers
//! (health, role, lag) is [`crate::topology`]'s, and statements in flight are [`Stats`]'.
//!
//! Four modes (`routing.balance`), all weighted by `weight` (replicas) and `read_weight` (the
//! primary):
//! - `round_robin`: smooth weighted round-robin (nginx's: evenly interleaved, deterministic).
//! - `least_outstanding`: the fewest statements in flight per unit of weight, across all
//!   workers; ties go round-robin, so an idle cluster still spreads reads by weight.
//! - `random`: weighted random from a per-worker xorshift generator (no lock, no syscall).
//! - `hash`: weighted rendezvous hashing of a key (client address, user or hint): the same key
//!   keeps landing on the same server while the set of servers is unchanged, and adding a server
//!   of weight `w` moves only about `w / total` of the keys (to the new server). Servers are
//!   identified by address, so proxies with the same servers agree without sharing state.
use std::sync::Arc;
use std::time::Duration;

use crate::config::{Balance, Role};
use crate::metrics::Stats;
use crate::topology::{ServerEntry, Topology};

/// What a read asks of the server it runs on.
#[derive(Clone, Copy, Default)]
pub struct ReadRequest<'a> {
    /// Largest replication lag accepted (the decision's `max_lag`).
    pub max_lag: Option<Duration>,
    /// The key hash balancing keeps on one server; `None` under `hash` falls back to round-robin.
    pub hash_key: Option<u64>,
    /// An extra condition on replicas (e.g. "has applied this GTID"); the primary, which has
    /// every write, is not asked.
    pub accept: Option<&'a dyn Fn(&ServerEntry) -> bool>,
}

impl std::fmt::Debug for ReadRequest<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadRequest")
            .field("max_lag", &self.max_lag)
            .field("hash_key", &self.hash_key)
            .field("accept", &self.accept.is_some())
            .finish()
    }
}

/// Picks servers for reads. One per worker.
#[derive(Debug)]
pub struct Balancer {
    mode: Balance,
    /// Statements in flight per server (for `least_outstanding`).
    stats: Arc<Stats>,
    /// Each server's weight for the read being placed (0: excluded); reused between picks.
    weights: Vec<u64>,
    /// Smooth round-robin's running scores.
    current: Vec<i64>,
    /// xorshift64* state (never 0).
    rng: u64,
}

impl Default for Balancer {
    fn default() -> Self {
        Balancer::new(Balance::RoundRobin, Arc::new(Stats::new(0)))
    }
}

impl Balancer {
    /// A balancer for `mode`, reading in-flight counts from `stats`.
    pub fn new(mode: Balance, stats: Arc<Stats>) -> Self {
        use std::hash::{BuildHasher, Hasher};
        // A per-worker random seed: RandomState is seeded by the OS once per process and
        // varied per instance.
        let seed = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        Balancer {
            mode,
            stats,
            weights: Vec::new(),
            current: Vec::new(),
            rng: seed | 1,
        }
    }

    /// Switches to `mode` (a reload changed `routing.balance`).
    pub fn set_mode(&mut self, mode: Balance) {
        self.mode = mode;
    }

    /// Picks the server for a read, or `None` when only the primary can take it (no replica
    /// qualifies and the primary has no read weight: the caller falls back to the primary).
    /// Replicas the monitor saw down or lagging, beyond `req.max_lag`, or refused by
    /// `req.accept` are skipped; the primary takes its `read_weight` share while healthy.
    pub fn pick_read(&mut self, topology: &Topology, req: &ReadRequest<'_>) -> Option<usize> {
        if !self.weigh(topology, req) {
            return None;
        }
        match (self.mode, req.hash_key) {
            (Balance::RoundRobin, _) | (Balance::Hash, None) => self.round_robin(),
            (Balance::LeastOutstanding, _) => self.least_outstanding(),
            (Balance::Random, _) => self.random(),
            (Balance::Hash, Some(key)) => rendezvous(topology, &self.weights, key),
        }
    }

    /// Fills `self.weights` for this read; false when every weight is 0.
    fn weigh(&mut self, topology: &Topology, req: &ReadRequest<'_>) -> bool {
        let max_lag_ms = req
            .max_lag
            .map(|d| d.as_millis().min(u128::from(u64::MAX - 1)) as u64);
        let primary = topology.primary();
        let n = topology.servers.len();
        if self.current.len() != n {
            self.current = vec![0; n];
        }
        self.weights.clear();
        self.weights.extend(topology.servers.iter().map(|s| {
            let weight = if Some(s.index) == primary {
                if s.is_healthy() { s.read_weight } else { 0 }
            } else if s.role() == Role::Replica
                && s.can_read(max_lag_ms)
                && req.accept.is_none_or(|accept| accept(s))
            {
                s.weight
            } else {
                0
            };
            u64::from(weight)
        }));
        self.weights.iter().any(|&w| w > 0)
    }

    /// Smooth weighted round-robin over the servers with a weight.
    fn round_robin(&mut self) -> Option<usize> {
        let mut total = 0i64;
        let mut best: Option<usize> = None;
        for (i, &weight) in self.weights.iter().enumerate() {
            if weight == 0 {
                continue;
            }
            let weight = weight as i64;
            self.current[i] += weight;
            total += weight;
            if best.is_none_or(|b| self.current[i] > self.current[b]) {
                best = Some(i);
            }
        }
        let chosen = best?;
        self.current[chosen] -= total;
        Some(chosen)
    }

    /// The fewest statements in flight per unit of weight; ties (an idle cluster: all at 0) go
    /// weighted round-robin among the tied.
    fn least_outstanding(&mut self) -> Option<usize> {
        // Compare in_flight / weight as cross products: no division, no float.
        let load =
            |i: usize| -> u128 { u128::from(self.stats.server(i).map_or(0, |s| s.in_flight())) };
        let mut best: Option<(usize, u128)> = None;
        for (i, &w) in self.weights.iter().enumerate() {
            if w == 0 {
                continue;
            }
            let l = load(i);
            if best.is_none_or(|(b, bl)| l * u128::from(self.weights[b]) < bl * u128::from(w)) {
                best = Some((i, l));
            }
        }
        let (b, bl) = best?;
        let wb = u128::from(self.weights[b]);
        for i in 0..self.weights.len() {
            let w = self.weights[i];
            if w > 0 && load(i) * wb != bl * u128::from(w) {
                self.weights[i] = 0;
            }
        }
        self.round_robin()
    }

    /// Weighted random.
    fn random(&mut self) -> Option<usize> {
        let total: u64 = self.weights.iter().sum();
        // xorshift64*: a few cycles, good enough to spread reads.
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        let r = self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d);
        // Multiply-high maps r onto 0..total without modulo bias worth mentioning.
        let mut point = ((u128::from(r) * u128::from(total)) >> 64) as u64;
        for (i, &w) in self.weights.iter().enumerate() {
            if point < w {
                return Some(i);
            }
            point -= w;
        }
        None
    }
}

/// Weighted rendezvous (highest random weight) hashing: each server scores
/// `weight / -ln(u)`, `u` uniform in (0, 1) from the key and the server's address; the highest
/// score wins. A server's arrival or departure only moves the keys it wins or won.
fn rendezvous(topology: &Topology, weights: &[u64], key: u64) -> Option<usize> {
    let mut best: Option<(usize, f64)> = None;
    for (s, &w) in topology.servers.iter().zip(weights) {
        if w == 0 {
            continue;
        }
        let h = splitrail_router::hints::mix64(key ^ s.address_key);
        // 53 random bits, offset by half a step so u is never 0 or 1.
        let u = ((h >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
        let score = w as f64 / -u.ln();
        if best.is_none_or(|(_, b)| score > b) {
            best = Some((s.index, score));
        }
    }
    best.map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Balance;
    use crate::gtid::GtidSet;
    use crate::metrics::ServerStats;
    use crate::topology::ServerState;
    use crate::topology::tests::topology;

    fn any() -> ReadRequest<'static> {
        ReadRequest::default()
    }

    fn lag(ms: u64) -> ReadRequest<'static> {
        ReadRequest {
            max_lag: Some(Duration::from_millis(ms)),
            ..any()
        }
    }

    fn counts(t: &Topology, n: usize) -> Vec<usize> {
        counts_with(&mut Balancer::default(), t, n, &any())
    }

    fn counts_with(b: &mut Balancer, t: &Topology, n: usize, req: &ReadRequest<'_>) -> Vec<usize> {
        let mut c = vec![0; t.servers.len()];
        for _ in 0..n {
            if let Some(i) = b.pick_read(t, req) {
                c[i] += 1;
            }
        }
        c
    }

    /// Whether `got` is within `tolerance` (a fraction of `n`) of `n × weight / total` each.
    fn near(got: &[usize], weights: &[usize], n: usize, tolerance: f64) -> bool {
        let total: usize = weights.iter().sum();
        got.iter().zip(weights).all(|(&g, &w)| {
            let want = (n * w) as f64 / total as f64;
            (g as f64 - want).abs() <= tolerance * n as f64
        })
    }

    /// A primary with read weight 1 and replicas of weight 1 and 3.
    fn weighted() -> Topology {
        topology(&[
            (Role::Primary, 1, 1),
            (Role::Replica, 1, 0),
            (Role::Replica, 3, 0),
        ])
    }

    #[test]
    fn weights_split_reads_exactly_over_a_cycle() {
        let t = topology(&[
            (Role::Primary, 1, 1),
            (Role::Replica, 2, 0),
            (Role::Replica, 1, 0),
        ]);
        assert_eq!(counts(&t, 400), vec![100, 200, 100]);
    }

    #[test]
    fn unhealthy_replicas_are_skipped_and_none_means_primary() {
        let t = topology(&[(Role::Primary, 1, 0), (Role::Replica, 1, 0)]);
        t.servers[1].set_healthy(false);
        assert_eq!(Balancer::default().pick_read(&t, &any()), None);
        t.servers[1].set_healthy(true);
        assert_eq!(Balancer::default().pick_read(&t, &any()), Some(1));
    }

    #[test]
    fn monitor_states_and_lag_exclude_replicas() {
        let t = topology(&[(Role::Primary, 1, 0), (Role::Replica, 1, 0)]);
        t.servers[1].set_state(ServerState::Down);
        assert_eq!(Balancer::default().pick_read(&t, &any()), None);
        t.servers[1].set_state(ServerState::Lagging);
        assert_eq!(Balancer::default().pick_read(&t, &any()), None);
        t.servers[1].set_state(ServerState::Up);
        t.servers[1].record_check(true, 1500, &GtidSet::parse("0-1-5").unwrap());
        assert_eq!(Balancer::default().pick_read(&t, &lag(1000)), None);
        assert_eq!(Balancer::default().pick_read(&t, &lag(2000)), Some(1));
        assert_eq!(Balancer::default().pick_read(&t, &any()), Some(1));
        assert_eq!(t.servers[1].gtid(), "0-1-5");
    }

    #[test]
    fn an_auto_server_seen_read_only_takes_reads() {
        let t = topology(&[(Role::Auto, 1, 0), (Role::Auto, 1, 0)]);
        t.servers[0].record_check(true, 0, &GtidSet::parse("").unwrap());
        t.servers[1].record_check(false, 0, &GtidSet::parse("").unwrap());
        assert_eq!(Balancer::default().pick_read(&t, &any()), Some(0));
    }

    #[test]
    fn random_follows_the_weights_including_the_primarys() {
        let t = weighted();
        let mut b = Balancer::new(Balance::Random, Arc::new(Stats::new(3)));
        let got = counts_with(&mut b, &t, 20_000, &any());
        assert!(near(&got, &[1, 1, 3], 20_000, 0.02), "{got:?}");
    }

    #[test]
    fn least_outstanding_prefers_the_idle_server_and_spreads_ties_by_weight() {
        let t = weighted();
        let stats = Arc::new(Stats::new(3));
        let mut b = Balancer::new(Balance::LeastOutstanding, stats.clone());
        // Idle: all tie at 0 in flight, and share by weight.
        assert_eq!(counts_with(&mut b, &t, 500, &any()), vec![100, 100, 300]);
        let busy: Vec<_> = (0..3).map(|_| stats.begin(2)).collect();
        // 3 / 3 > 0 / 1: the primary and replica 1 tie and share round-robin.
        let got = counts_with(&mut b, &t, 100, &any());
        assert_eq!(got, vec![50, 50, 0]);
        let one = stats.begin(1);
        assert_eq!(counts_with(&mut b, &t, 10, &any()), vec![10, 0, 0]);
        drop((busy, one));
        assert_eq!(stats.server(2).map(ServerStats::in_flight), Some(0));
        // Weights scale the load: 2 in flight on weight 3 beats 1 on weight 1.
        let (_two, _one) = (
            [stats.begin(2), stats.begin(2)],
            [stats.begin(0), stats.begin(1)],
        );
        assert_eq!(counts_with(&mut b, &t, 10, &any()), vec![0, 0, 10]);
    }

    #[test]
    fn hashing_keeps_a_key_on_one_server_and_follows_the_weights() {
        let t = weighted();
        let mut b = Balancer::new(Balance::Hash, Arc::new(Stats::new(3)));
        let key = |k: usize| ReadRequest {
            hash_key: Some(splitrail_router::hints::key_hash(format!("user{k}"))),
            ..any()
        };
        let mut got = vec![0; 3];
        for k in 0..20_000 {
            let first = b.pick_read(&t, &key(k));
            assert_eq!(first, b.pick_read(&t, &key(k)));
            assert_eq!(
                first,
                Balancer::new(Balance::Hash, Arc::new(Stats::new(0))).pick_read(&t, &key(k))
            );
            got[first.unwrap()] += 1;
        }
        assert!(near(&got, &[1, 1, 3], 20_000, 0.02), "{got:?}");
        // Without a key, hash balancing spreads like round-robin.
        assert_eq!(counts_with(&mut b, &t, 500, &any()), vec![100, 100, 300]);
    }

    #[test]
    fn adding_a_replica_moves_only_its_share_of_keys_and_only_to_it() {
        let three = topology(&[
            (Role::Primary, 1, 0),
            (Role::Replica, 1, 0),
            (Role::Replica, 1, 0),
            (Role::Replica, 1, 0),
        ]);
        let four = topology(&[
            (Role::Primary, 1, 0),
            (Role::Replica, 1, 0),
            (Role::Replica, 1, 0),
            (Role::Replica, 1, 0),
            (Role::Replica, 1, 0),
        ]);
        let mut b = Balancer::new(Balance::Hash, Arc::new(Stats::new(0)));
        let (mut moved, n) = (0, 10_000);
        for k in 0..n {
            let req = ReadRequest {
                hash_key: Some(splitrail_router::hints::key_hash(format!(
                    "10.1.{}.{}",
                    k / 256,
                    k % 256
                ))),
                ..any()
            };
            let (before, after) = (b.pick_read(&three, &req), b.pick_read(&four, &req));
            if before != after {
                assert_eq!(after, Some(4), "a key moved between old replicas");
                moved += 1;
            }
        }
        // One in four keys should move to the new replica.
        assert!((2_000..3_000).contains(&moved), "{moved} of {n} keys moved");
    }

    #[test]
    fn the_accept_filter_applies_to_replicas_in_every_mode() {
        let t = weighted();
        let only_1 = |s: &ServerEntry| s.index == 1;
        let none = |_: &ServerEntry| false;
        for mode in [
            Balance::RoundRobin,
            Balance::LeastOutstanding,
            Balance::Random,
            Balance::Hash,
        ] {
            let mut b = Balancer::new(mode, Arc::new(Stats::new(3)));
            let req = ReadRequest {
                accept: Some(&only_1),
                hash_key: Some(7),
                ..any()
            };
            let got = counts_with(&mut b, &t, 400, &req);
            assert_eq!(got[2], 0, "{mode:?}: {got:?}");
            // One key stays on one server; the others spread over the two accepted.
            let spread = got.iter().filter(|&&n| n > 0).count();
            assert_eq!(
                spread,
                if mode == Balance::Hash { 1 } else { 2 },
                "{mode:?}: {got:?}"
            );
            // Nothing accepted: the primary's read weight takes every read…
            let req = ReadRequest {
                accept: Some(&none),
                ..any()
            };
            assert_eq!(
                counts_with(&mut b, &t, 10, &req),
                vec![10, 0, 0],
                "{mode:?}"
            );
            // …and without one, `None` sends the caller to the primary.
            let no_reads = topology(&[(Role::Primary, 1, 0), (Role::Replica, 1, 0)]);
            assert_eq!(b.pick_read(&no_reads, &req), None, "{mode:?}");
        }
    }
}
