//! Routing hints written in SQL comments.
//!
//! Owns the hint grammar: `/* splitrail:primary */`, `/* splitrail:replica */`,
//! `/* splitrail:max_lag=500ms */`, `/* splitrail:min_gtid=0-1-42 */` (several may share one
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
    /// A hint comment was present but could not be understood (it is otherwise ignored).
    pub malformed: bool,
}

impl Hints {
    /// True when no hint was given.
    pub fn is_empty(&self) -> bool {
        self.route.is_none() && self.max_lag.is_none() && self.min_gtid.is_none()
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
}
