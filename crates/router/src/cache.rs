//! The classification cache: one per worker thread, keyed by digest.
//!
//! Owns eviction (CLOCK: one "recently used" bit per slot and a sweeping hand, which keeps hits
//! cheap: a hit sets a bit, it moves nothing) and the rules for what may be cached. It takes
//! `&mut self` and holds no lock: the server keeps one per worker thread, so sessions never
//! contend. A hit is confirmed by comparing the full normalised text, not just the 64-bit hash,
//! so a hash collision costs a miss and never a wrong route.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use crate::classify::{Analysis, Classification, analyze};
use crate::digest;

/// Counters for the server's metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Lookups answered from the cache.
    pub hits: u64,
    /// Lookups that classified the text afresh (cacheable or not).
    pub misses: u64,
    /// Entries dropped to make room.
    pub evictions: u64,
    /// Texts that may never be cached (SET, PREPARE, ambiguous or truncated texts).
    pub uncacheable: u64,
}

/// The key is already a well-mixed 64-bit hash: use it as is.
#[derive(Default)]
struct IdentityHasher(u64);

impl Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

struct Slot {
    analysis: Arc<Analysis>,
    referenced: bool,
}

/// A size-bounded cache of classifications keyed by digest, owned by one thread.
pub struct ClassifierCache {
    capacity: usize,
    index: HashMap<u64, usize, BuildHasherDefault<IdentityHasher>>,
    slots: Vec<Slot>,
    hand: usize,
    /// Reused buffer for the digest text, so a hit allocates nothing.
    scratch: String,
    stats: CacheStats,
}

impl ClassifierCache {
    /// A cache holding at most `capacity` shapes (at least one).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        ClassifierCache {
            capacity,
            index: HashMap::with_capacity_and_hasher(capacity, Default::default()),
            slots: Vec::with_capacity(capacity),
            hand: 0,
            scratch: String::with_capacity(256),
            stats: CacheStats::default(),
        }
    }

    /// Classifies `sql`, from the cache when its shape has been seen.
    pub fn classify(&mut self, sql: &str) -> Classification {
        let scan = digest::scan(sql, &mut self.scratch);
        let found = if scan.cacheable {
            self.index.get(&scan.hash).copied()
        } else {
            None
        };
        if let Some(i) = found {
            let slot = &mut self.slots[i];
            if *slot.analysis.digest.text == *self.scratch {
                slot.referenced = true;
                self.stats.hits += 1;
                return Classification {
                    analysis: Arc::clone(&slot.analysis),
                    hints: scan.hints,
                };
            }
        }
        self.stats.misses += 1;
        let analysis = Arc::new(analyze(sql, self.scratch.clone(), &scan));
        if scan.cacheable && !analysis.literal_sensitive {
            self.insert(scan.hash, Arc::clone(&analysis));
        } else {
            self.stats.uncacheable += 1;
        }
        Classification {
            analysis,
            hints: scan.hints,
        }
    }

    /// [`ClassifierCache::classify`] for raw bytes (invalid UTF-8 replaced).
    pub fn classify_bytes(&mut self, sql: &[u8]) -> Classification {
        match std::str::from_utf8(sql) {
            Ok(s) => self.classify(s),
            Err(_) => self.classify(&String::from_utf8_lossy(sql)),
        }
    }

    fn insert(&mut self, hash: u64, analysis: Arc<Analysis>) {
        if let Some(&i) = self.index.get(&hash) {
            // A colliding shape: the newer one takes the slot.
            self.slots[i] = Slot {
                analysis,
                referenced: false,
            };
            return;
        }
        if self.slots.len() < self.capacity {
            self.index.insert(hash, self.slots.len());
            self.slots.push(Slot {
                analysis,
                referenced: false,
            });
            return;
        }
        // CLOCK: clear bits until an unreferenced slot comes under the hand.
        loop {
            let slot = &mut self.slots[self.hand];
            if slot.referenced {
                slot.referenced = false;
                self.hand = (self.hand + 1) % self.capacity;
                continue;
            }
            self.index.remove(&slot.analysis.digest.hash);
            *slot = Slot {
                analysis,
                referenced: false,
            };
            self.index.insert(hash, self.hand);
            self.hand = (self.hand + 1) % self.capacity;
            self.stats.evictions += 1;
            return;
        }
    }

    /// Hit, miss and eviction counts so far.
    pub fn stats(&self) -> CacheStats {
        self.stats
    }

    /// Number of shapes held.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Drops every entry (e.g. after a configuration change that alters classification).
    pub fn clear(&mut self) {
        self.index.clear();
        self.slots.clear();
        self.hand = 0;
    }
}

impl Default for ClassifierCache {
    /// 4096 shapes: a few MiB at most, more shapes than a typical application has.
    fn default() -> Self {
        ClassifierCache::new(4096)
    }
}
