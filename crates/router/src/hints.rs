//! Routing hints written in SQL comments.
//!
//! Owns the hint grammar: `/* splitrail:primary */`, `/* splitrail:replica */`,
//! `/* splitrail:max_lag=500ms */`, `/* splitrail:min_gtid=0-1-42 */`,
//! `/* splitrail:hash_key=customer-42 */` (the key `balance: hash` keeps on one replica when
//! `routing.hash_key` is `hint`; several hints may share one
//! comment, separated by spaces or commas), and MaxScale's `-- maxscale route to master|slave`
//! (also written as a block comment). Hints are kept out of the digest and the cache: they are
//! read afresh from every statement, so a `min_gtid` token that changes on every request does not
//! defeat the cache, and a cached shape never carries another statement's hint.

use std::time::Duration;

use crate::lexer::starts_with_ci;

/// Where a hint asks the statement to go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HintRoute {
    /// `splitrail:primary` or `maxscale route to master`.
    Primary,
    /// `splitrail:replica` or `maxscale route to slave`: honoured only where a replica is safe.
    Replica,
}

/// The hints found in one statement's comments.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hints {
    /// Requested route; the last route hint in the text wins.
    pub route: Option<HintRoute>,
    /// Largest replication lag the client accepts for this read.
    pub max_lag: Option<Duration>,
    /// A consistency token: the GTID position a replica must have applied (e.g. `0-1-42`).
    pub min_gtid: Option<Box<str>>,
    /// A balancing key: reads with the same key go to the same replica under hash balancing.
    /// Kept as its [`key_hash`], so carrying it allocates nothing.
    pub hash_key: Option<u64>,
    /// A hint comment was present but could not be understood (it is otherwise ignored).
    pub malformed: bool,
}

impl Hints {
    /// True when no hint was given.
    pub fn is_empty(&self) -> bool {
        self.route.is_none()
            && self.max_lag.is_none()
            && self.min_gtid.is_none()
            && self.hash_key.is_none()
    }

    /// Reads one hint comment body (as produced by the lexer) into `self`.
    pub(crate) fn absorb(&mut self, body: &str) {
        if starts_with_ci(body, "maxscale ") {
            self.absorb_maxscale(&body["maxscale ".len()..]);
            return;
        }
        for item in body.split(|c: char| c == ',' || c.is_ascii_whitespace()) {
            let item = item.trim();
            if item.is_empty() {
                continue;
            }
            let item = if starts_with_ci(item, "splitrail:") {
                &item["splitrail:".len()..]
            } else {
                item
            };
            let (key, value) = match item.split_once('=') {
                Some((k, v)) => (k.trim(), Some(v.trim())),
                None => (item, None),
            };
            match (key.to_ascii_lowercase().as_str(), value) {
                ("primary" | "master", None) => self.route = Some(HintRoute::Primary),
                ("replica" | "slave", None) => self.route = Some(HintRoute::Replica),
                ("max_lag", Some(v)) => match parse_duration(v) {
                    Some(d) => self.max_lag = Some(d),
                    None => self.malformed = true,
                },
                ("min_gtid", Some(v)) if is_gtid_list(v) => self.min_gtid = Some(v.into()),
                ("hash_key", Some(v)) if is_hash_key(v) => self.hash_key = Some(key_hash(v)),
                _ => self.malformed = true,
            }
        }
    }

    fn absorb_maxscale(&mut self, rest: &str) {
        let mut words = rest.split_ascii_whitespace();
        let route = match (words.next(), words.next(), words.next()) {
            (Some(r), Some(t), Some(dest))
                if r.eq_ignore_ascii_case("route") && t.eq_ignore_ascii_case("to") =>
            {
                match dest.to_ascii_lowercase().as_str() {
                    "master" | "primary" => Some(HintRoute::Primary),
                    "slave" | "replica" => Some(HintRoute::Replica),
                    _ => None,
                }
            }
            _ => None,
        };
        match route {
            Some(r) => self.route = Some(r),
            None => self.malformed = true,
        }
    }
}

/// Parses `500ms`, `2s`, `1500us` or a bare number of milliseconds.
pub(crate) fn parse_duration(v: &str) -> Option<Duration> {
    let split = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let (num, unit) = v.split_at(split);
    let n: u64 = num.parse().ok()?;
    match unit.to_ascii_lowercase().as_str() {
        "" | "ms" => Some(Duration::from_millis(n)),
        "s" => Some(Duration::from_secs(n)),
        "us" | "µs" => Some(Duration::from_micros(n)),
        _ => None,
    }
}

/// A GTID list as MariaDB (`0-1-42,1-2-7`) or MySQL (`uuid:1-42`) writes it: no spaces or quotes.
fn is_gtid_list(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 4096
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b':' | b',' | b'_'))
}

/// A hash key: 1 to 256 bytes of letters, digits and `-_.:@` (what fits an id, an e-mail or a
/// tenant name without quoting).
fn is_hash_key(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 256
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':' | b'@'))
}

/// The 64-bit hash of a balancing key (a `hash_key` hint, a user name, a client address):
/// FNV-1a, finished with splitmix64 so nearby keys land far apart. Stable across processes and
/// versions of this crate, so several proxies send the same key to the same replica.
pub fn key_hash(key: impl AsRef<[u8]>) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in key.as_ref() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    mix64(h)
}

/// splitmix64's finaliser: every input bit reaches every output bit.
pub fn mix64(mut h: u64) -> u64 {
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_splitrail_hints() {
        let mut h = Hints::default();
        h.absorb("splitrail:replica max_lag=500ms, splitrail:min_gtid=0-1-42");
        assert_eq!(h.route, Some(HintRoute::Replica));
        assert_eq!(h.max_lag, Some(Duration::from_millis(500)));
        assert_eq!(h.min_gtid.as_deref(), Some("0-1-42"));
        assert!(!h.malformed);
    }

    #[test]
    fn reads_maxscale_hints() {
        let mut h = Hints::default();
        h.absorb("maxscale route to master");
        assert_eq!(h.route, Some(HintRoute::Primary));
        let mut h = Hints::default();
        h.absorb("maxscale route to server db3");
        assert_eq!(h.route, None);
        assert!(h.malformed);
    }

    #[test]
    fn reads_a_hash_key() {
        let mut h = Hints::default();
        h.absorb("splitrail:hash_key=tenant-7 splitrail:replica");
        assert_eq!(h.hash_key, Some(key_hash("tenant-7")));
        assert_eq!(h.route, Some(HintRoute::Replica));
        assert!(!h.malformed && !h.is_empty());
        for bad in ["hash_key=", "hash_key='x'", "hash_key=a/b", "hash_key"] {
            let mut h = Hints::default();
            h.absorb(bad);
            assert_eq!(h.hash_key, None, "{bad}");
            assert!(h.malformed, "{bad}");
        }
        let mut h = Hints::default();
        h.absorb(&format!("hash_key={}", "k".repeat(257)));
        assert!(h.malformed);
    }

    #[test]
    fn key_hashes_are_stable_and_spread() {
        // Pinned values (checked against an independent FNV-1a + splitmix64): several proxies,
        // and versions, must agree on where a key goes.
        assert_eq!(key_hash("tenant-7"), key_hash("tenant-7"));
        assert_ne!(key_hash("tenant-7"), key_hash("tenant-8"));
        assert_eq!(key_hash(""), 17_665_956_581_633_026_203);
        assert_eq!(key_hash("tenant-7"), 15_280_894_449_078_724_506);
        let high_bits: std::collections::HashSet<u64> = (0..64)
            .map(|i| key_hash(format!("user{i}")) >> 60)
            .collect();
        assert!(high_bits.len() > 8, "{high_bits:?}");
    }
}
