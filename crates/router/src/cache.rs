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
use crate::lexer::OTHER_ESCAPES;

/// Counters for the server's metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Lookups answered from the cache.
    pub hits: u64,
    /// Lookups that classified the text afresh (cacheable or not).
    pub misses: u64,
    /// Entries dropped to make room.
    pub evictions: u64,
    /// Texts that may never be cached (SET, PREPARE, KILL, ambiguous or truncated texts).
    pub uncacheable: u64,
}

/// For maps keyed by a digest hash (already a well-mixed 64-bit hash): uses the key as is.
#[derive(Debug, Default)]
pub struct IdentityHasher(u64);

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
    /// The digest hash, mixed with the other reading's for escape-sensitive texts.
    key: u64,
    analysis: Arc<Analysis>,
    /// The digests under the other quoting rules for escape-sensitive texts, else empty.
    alt: Box<str>,
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
    /// Reused buffer for the other readings' digest texts (escape-sensitive texts only).
    alt_scratch: String,
    /// Reused buffer for one other reading's digest text.
    alt_part: String,
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
            alt_scratch: String::new(),
            alt_part: String::new(),
            stats: CacheStats::default(),
        }
    }

    /// Classifies `sql`, from the cache when its shape has been seen.
    pub fn classify(&mut self, sql: &str) -> Classification {
        let scan = digest::scan(sql, &mut self.scratch);
        let all_readings = scan.cacheable && scan.escape_sensitive;
        let (cacheable, key) = if all_readings {
            self.key_for_all_readings(sql, scan.hash)
        } else {
            (scan.cacheable, scan.hash)
        };
        let found = if cacheable {
            self.index.get(&key).copied()
        } else {
            None
        };
        if let Some(i) = found {
            let slot = &mut self.slots[i];
            let same_readings = if all_readings {
                *slot.alt == *self.alt_scratch
            } else {
                slot.alt.is_empty()
            };
            if same_readings && *slot.analysis.digest.text == *self.scratch {
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
        if cacheable && !analysis.literal_sensitive {
            let alt = if all_readings {
                self.alt_scratch.as_str().into()
            } else {
                Box::default()
            };
            self.insert(Slot {
                key,
                analysis: Arc::clone(&analysis),
                alt,
                referenced: false,
            });
        } else {
            self.stats.uncacheable += 1;
        }
        Classification {
            analysis,
            hints: scan.hints,
        }
    }

    /// The cache key of an escape-sensitive text, whose classification depends on how the
    /// server reads `\'` (sql_mode): the digests of every reading, the others' texts left in
    /// `alt_scratch`. A malformed reading counts as one value: it never changes the result.
    /// Kept out of line so the common path stays small.
    #[cold]
    #[inline(never)]
    fn key_for_all_readings(&mut self, sql: &str, hash: u64) -> (bool, u64) {
        let mut key = hash;
        let mut cacheable = true;
        self.alt_scratch.clear();
        for escapes in OTHER_ESCAPES {
            let alt = digest::scan_with(sql, &mut self.alt_part, escapes);
            let alt_hash = if alt.unterminated { 1 } else { alt.hash };
            self.alt_scratch.push_str(if alt.unterminated {
                "\0unterminated"
            } else {
                &self.alt_part
            });
            self.alt_scratch.push('\0');
            cacheable &= !alt.truncated;
            key = (key ^ alt_hash.rotate_left(29)).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        }
        (cacheable, key)
    }

    /// [`ClassifierCache::classify`] for raw bytes (invalid UTF-8 replaced).
    pub fn classify_bytes(&mut self, sql: &[u8]) -> Classification {
        match std::str::from_utf8(sql) {
            Ok(s) => self.classify(s),
            Err(_) => self.classify(&String::from_utf8_lossy(sql)),
        }
    }

    fn insert(&mut self, new: Slot) {
        if let Some(&i) = self.index.get(&new.key) {
            // A colliding shape: the newer one takes the slot.
            self.slots[i] = new;
            return;
        }
        if self.slots.len() < self.capacity {
            self.index.insert(new.key, self.slots.len());
            self.slots.push(new);
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
            self.index.remove(&slot.key);
            self.index.insert(new.key, self.hand);
            *slot = new;
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
