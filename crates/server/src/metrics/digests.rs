//! Per-digest statement statistics: for each normalised statement shape, how often it ran, how
//! often it failed, its total and largest duration, rows sent or affected, and where the router
//! sent it. What `GET /digests` shows and `POST /digests/reset` clears.
//!
//! Cost on the statement path: one uncontended mutex (each worker writes its own shard; only the
//! admin API's reads and resets touch it from elsewhere), one lookup in a map hashed by the
//! digest's own 64-bit hash (no SipHash), a few adds; the digest text is copied (an `Arc` clone)
//! only the first time a shape is seen. Bounded: at most `admin.max_digests` shapes in all;
//! statements of shapes beyond that are summed in one "other" row per shard.
use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use splitrail_router::IdentityHasher;

/// Shards: each worker takes one in turn, so up to this many workers never share a lock.
const SHARDS: usize = 16;

/// Who answered a statement, in [`DigestStats::targets`] order: the route targets
/// ([`super::stats::TARGETS`]), then the proxy itself.
pub const TARGETS: [&str; 5] = ["primary", "replica", "pinned", "reject", "proxy"];

/// The [`TARGETS`] index of a statement the proxy answered without a backend, whatever its
/// route (a session `SET`, `COMMIT` or `ROLLBACK` it kept the answer to).
pub const ANSWERED_HERE: usize = 4;

/// The text shown for statements whose shape found the table full.
pub const OTHER_TEXT: &str = "(other statements: the digest table is full)";

/// How one statement went, as the digest table counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// Where it went: an index into [`TARGETS`] (the route, or [`ANSWERED_HERE`]).
    pub target: usize,
    /// Answered with an error (by a backend, a rule or the proxy) or lost with its backend.
    pub failed: bool,
    /// Rows sent in result sets plus rows affected.
    pub rows: u64,
    /// From routing to the last byte relayed.
    pub elapsed: Duration,
}

/// The numbers of one statement shape.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DigestStats {
    /// The normalised text.
    pub text: Arc<str>,
    /// Statements run.
    pub count: u64,
    /// Of those, failed.
    pub errors: u64,
    /// Sum of durations, in microseconds.
    pub total_us: u64,
    /// Largest duration, in microseconds.
    pub max_us: u64,
    /// Rows sent or affected.
    pub rows: u64,
    /// Statements by where they went ([`TARGETS`] order).
    pub targets: [u64; TARGETS.len()],
}

impl DigestStats {
    fn add(&mut self, o: &Outcome) {
        let us = o.elapsed.as_micros().min(u128::from(u64::MAX)) as u64;
        self.count += 1;
        self.errors += u64::from(o.failed);
        self.total_us = self.total_us.saturating_add(us);
        self.max_us = self.max_us.max(us);
        self.rows = self.rows.saturating_add(o.rows);
        if let Some(t) = self.targets.get_mut(o.target) {
            *t += 1;
        }
    }

    fn merge(&mut self, other: &DigestStats) {
        self.count += other.count;
        self.errors += other.errors;
        self.total_us = self.total_us.saturating_add(other.total_us);
        self.max_us = self.max_us.max(other.max_us);
        self.rows = self.rows.saturating_add(other.rows);
        for (t, o) in self.targets.iter_mut().zip(other.targets) {
            *t += o;
        }
    }

    /// Mean duration in microseconds.
    pub fn avg_us(&self) -> u64 {
        self.total_us.checked_div(self.count).unwrap_or(0)
    }
}

type Map = HashMap<u64, DigestStats, BuildHasherDefault<IdentityHasher>>;

#[derive(Debug, Default)]
struct Shard {
    map: Map,
    /// Statements whose shape found the shard full.
    other: Option<DigestStats>,
}

/// The digest table: shards of per-shape numbers.
#[derive(Debug)]
pub struct Digests {
    shards: Box<[Mutex<Shard>]>,
    /// Shapes one shard holds at most.
    per_shard: usize,
    next_shard: AtomicUsize,
}

impl Digests {
    /// A table of at most about `max` shapes (0: digests are not recorded).
    pub fn new(max: usize) -> Self {
        Digests {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            per_shard: max.div_ceil(SHARDS),
            next_shard: AtomicUsize::new(0),
        }
    }

    /// Whether statements are recorded at all.
    pub fn enabled(&self) -> bool {
        self.per_shard > 0
    }

    /// The shard a new worker writes to.
    pub fn claim_shard(&self) -> usize {
        self.next_shard.fetch_add(1, Ordering::Relaxed) % SHARDS
    }

    fn lock(&self, shard: usize) -> MutexGuard<'_, Shard> {
        // A panic while holding a shard leaves plain counters: still fit to use.
        let m = &self.shards[shard % SHARDS];
        m.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts a statement of shape `hash` (`text` is called the first time the shape is seen).
    #[inline]
    pub fn record(&self, shard: usize, hash: u64, text: impl FnOnce() -> Arc<str>, o: &Outcome) {
        if !self.enabled() {
            return;
        }
        let mut s = self.lock(shard);
        let full = s.map.len() >= self.per_shard;
        if let Some(d) = s.map.get_mut(&hash) {
            d.add(o);
        } else if !full {
            let mut d = DigestStats {
                text: text(),
                ..DigestStats::default()
            };
            d.add(o);
            s.map.insert(hash, d);
        } else {
            s.other
                .get_or_insert_with(|| DigestStats {
                    text: OTHER_TEXT.into(),
                    ..DigestStats::default()
                })
                .add(o);
        }
    }

    /// The `limit` shapes with the largest total time, merged over the shards, largest first;
    /// the "other" row (hash `None`) takes its place among them.
    pub fn top(&self, limit: usize) -> Vec<(Option<u64>, DigestStats)> {
        let mut all: Map = Map::default();
        let mut other: Option<DigestStats> = None;
        for shard in 0..SHARDS {
            let s = self.lock(shard);
            for (hash, d) in &s.map {
                match all.get_mut(hash) {
                    Some(a) => a.merge(d),
                    None => {
                        all.insert(*hash, d.clone());
                    }
                }
            }
            if let Some(o) = &s.other {
                other.get_or_insert_with(|| DigestStats {
                    text: o.text.clone(),
                    ..DigestStats::default()
                });
                if let Some(a) = other.as_mut() {
                    a.merge(o);
                }
            }
        }
        let mut rows: Vec<(Option<u64>, DigestStats)> =
            all.into_iter().map(|(h, d)| (Some(h), d)).collect();
        rows.extend(other.map(|d| (None, d)));
        rows.sort_by(|a, b| b.1.total_us.cmp(&a.1.total_us).then(a.0.cmp(&b.0)));
        rows.truncate(limit);
        rows
    }

    /// Forgets every shape.
    pub fn reset(&self) {
        for shard in 0..SHARDS {
            let mut s = self.lock(shard);
            s.map = Map::default();
            s.other = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(target: usize, failed: bool, rows: u64, ms: u64) -> Outcome {
        Outcome {
            target,
            failed,
            rows,
            elapsed: Duration::from_millis(ms),
        }
    }

    #[test]
    fn shapes_are_summed_over_shards_and_sorted_by_total_time() {
        let d = Digests::new(100);
        let (a, b) = (d.claim_shard(), d.claim_shard());
        assert_ne!(a, b);
        d.record(a, 1, || "SELECT ?".into(), &outcome(1, false, 3, 2));
        d.record(b, 1, || "SELECT ?".into(), &outcome(0, true, 0, 5));
        d.record(
            a,
            2,
            || "UPDATE t SET a = ?".into(),
            &outcome(0, false, 7, 40),
        );
        let top = d.top(10);
        assert_eq!(top.len(), 2);
        assert_eq!(top[0].0, Some(2));
        let (hash, s) = &top[1];
        assert_eq!(*hash, Some(1));
        assert_eq!(&*s.text, "SELECT ?");
        assert_eq!((s.count, s.errors, s.rows), (2, 1, 3));
        assert_eq!((s.total_us, s.max_us, s.avg_us()), (7_000, 5_000, 3_500));
        assert_eq!(s.targets, [1, 1, 0, 0, 0]);
        assert_eq!(d.top(1).len(), 1);
        d.reset();
        assert!(d.top(10).is_empty());
    }

    #[test]
    fn the_table_is_bounded_and_overflow_is_summed() {
        let d = Digests::new(16); // one shape per shard
        let shard = d.claim_shard();
        let mut texts = 0;
        for hash in 0..50 {
            d.record(
                shard,
                hash,
                || {
                    texts += 1;
                    "q".into()
                },
                &outcome(1, false, 1, 1),
            );
        }
        assert_eq!(texts, 1, "only the first shape's text is kept");
        let top = d.top(100);
        assert_eq!(top.len(), 2);
        let other = top.iter().find(|(h, _)| h.is_none()).expect("an other row");
        assert_eq!((&*other.1.text, other.1.count), (OTHER_TEXT, 49));
        let off = Digests::new(0);
        off.record(0, 1, || "q".into(), &outcome(1, false, 1, 1));
        assert!(!off.enabled() && off.top(10).is_empty());
    }
}
