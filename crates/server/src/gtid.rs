//! GTID sets of both flavours, exact enough to decide "has this server applied that write":
//! MariaDB positions (`domain-server-seq`, one per replication domain, ordered by sequence
//! number within a domain) and MySQL GTID sets (`uuid[:tag]:1-100:105`, intervals per source).
//!
//! A [`GtidSet`] is built from what servers say (`@@last_gtid` and `@@gtid_slave_pos` on
//! MariaDB, `session_track_gtids` and `@@gtid_executed` on MySQL), merged as writes are
//! acknowledged, compared against a replica's applied position, and printed back in the same
//! syntax for `MASTER_GTID_WAIT` / `WAIT_FOR_EXECUTED_GTID_SET` and for the consistency token.
//! Text that is not a GTID set is rejected whole: it may come from a client's hint.
use std::fmt;

/// A set of GTIDs: MariaDB domains and/or MySQL source intervals.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GtidSet {
    /// MariaDB: per domain, the highest sequence number (and the server that wrote it).
    domains: Vec<Domain>,
    /// MySQL: per source (UUID, optionally `:tag`), sorted disjoint closed intervals.
    sources: Vec<Source>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Domain {
    domain: u32,
    server: u32,
    seq: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Source {
    /// Lower-case UUID, with `:tag` appended for tagged GTIDs (MySQL 8.3+).
    key: Box<str>,
    /// Sorted, disjoint, non-adjacent closed intervals.
    intervals: Vec<(u64, u64)>,
}

/// Text that is not a GTID set of either flavour.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a GTID set: {0:?}")]
pub struct BadGtid(pub String);

/// The SQL flavour of a GTID set, which decides how to wait for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GtidFlavor {
    /// Only MariaDB domains.
    MariaDb,
    /// Only MySQL sources.
    MySql,
    /// Both (cannot be waited for on either kind of server).
    Mixed,
    /// Nothing.
    Empty,
}

impl GtidSet {
    /// Parses a MariaDB position list or a MySQL GTID set (whitespace and newlines between
    /// elements are allowed, as `@@gtid_executed` prints them).
    pub fn parse(text: &str) -> Result<Self, BadGtid> {
        let bad = || BadGtid(text.chars().take(200).collect());
        let mut set = GtidSet::default();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            if part.contains(':') {
                set.add_source(part).ok_or_else(bad)?;
            } else {
                let mut fields = part.split('-');
                let (Some(domain), Some(server), Some(seq), None) =
                    (fields.next(), fields.next(), fields.next(), fields.next())
                else {
                    return Err(bad());
                };
                let domain = Domain {
                    domain: domain.parse().map_err(|_| bad())?,
                    server: server.parse().map_err(|_| bad())?,
                    seq: seq.parse().map_err(|_| bad())?,
                };
                set.add_domain(domain);
            }
        }
        Ok(set)
    }

    /// Whether the set holds no GTID.
    pub fn is_empty(&self) -> bool {
        self.domains.is_empty() && self.sources.is_empty()
    }

    /// Which kind of server can wait for this set.
    pub fn flavor(&self) -> GtidFlavor {
        match (self.domains.is_empty(), self.sources.is_empty()) {
            (true, true) => GtidFlavor::Empty,
            (false, true) => GtidFlavor::MariaDb,
            (true, false) => GtidFlavor::MySql,
            (false, false) => GtidFlavor::Mixed,
        }
    }

    /// Adds every GTID of `other`.
    pub fn merge(&mut self, other: &GtidSet) {
        for d in &other.domains {
            self.add_domain(*d);
        }
        for s in &other.sources {
            for &(lo, hi) in &s.intervals {
                self.add_interval(&s.key, lo, hi);
            }
        }
    }

    /// Whether every GTID of `required` is in this set (a MariaDB domain counts as applied up
    /// to its highest sequence number, as replication applies a domain in order).
    pub fn contains(&self, required: &GtidSet) -> bool {
        let domains_ok = required.domains.iter().all(|r| {
            self.domains
                .iter()
                .any(|d| d.domain == r.domain && d.seq >= r.seq)
        });
        domains_ok
            && required.sources.iter().all(|r| {
                let Some(have) = self.sources.iter().find(|s| s.key == r.key) else {
                    return false;
                };
                r.intervals
                    .iter()
                    .all(|&(lo, hi)| have.intervals.iter().any(|&(a, b)| a <= lo && hi <= b))
            })
    }

    fn add_domain(&mut self, d: Domain) {
        match self.domains.binary_search_by_key(&d.domain, |x| x.domain) {
            Ok(i) if self.domains[i].seq < d.seq => self.domains[i] = d,
            Ok(_) => {}
            Err(i) => self.domains.insert(i, d),
        }
    }

    /// `uuid[:tag]:interval[:interval…][:tag:interval…]`.
    fn add_source(&mut self, part: &str) -> Option<()> {
        let mut fields = part.split(':').map(str::trim);
        let uuid = fields.next()?.to_ascii_lowercase();
        if !is_uuid(&uuid) {
            return None;
        }
        let mut key = uuid.clone();
        let mut any = false;
        for field in fields {
            if field.starts_with(|c: char| c.is_ascii_digit()) {
                let (lo, hi) = match field.split_once('-') {
                    Some((lo, hi)) => (lo.parse().ok()?, hi.parse().ok()?),
                    None => {
                        let n = field.parse().ok()?;
                        (n, n)
                    }
                };
                if lo == 0 || hi < lo {
                    return None;
                }
                self.add_interval(&key, lo, hi);
                any = true;
            } else if is_tag(field) {
                key = format!("{uuid}:{}", field.to_ascii_lowercase());
            } else {
                return None;
            }
        }
        any.then_some(())
    }

    fn add_interval(&mut self, key: &str, lo: u64, hi: u64) {
        let i = match self.sources.binary_search_by(|s| (*s.key).cmp(key)) {
            Ok(i) => i,
            Err(i) => {
                let intervals = Vec::new();
                self.sources.insert(
                    i,
                    Source {
                        key: key.into(),
                        intervals,
                    },
                );
                i
            }
        };
        let source = &mut self.sources[i];
        source.intervals.push((lo, hi));
        source.intervals.sort_unstable();
        let mut merged: Vec<(u64, u64)> = Vec::with_capacity(source.intervals.len());
        for &(a, b) in &source.intervals {
            match merged.last_mut() {
                Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
                _ => merged.push((a, b)),
            }
        }
        source.intervals = merged;
    }
}

fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// MySQL GTID tags: a letter or underscore, then up to 31 letters, digits or underscores.
fn is_tag(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 32
        && s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl fmt::Display for GtidSet {
    /// The set in its servers' own syntax (`0-1-42,1-2-7`, `uuid:1-5:7`), which parses back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        let mut sep = |f: &mut fmt::Formatter<'_>| {
            let s = if first { "" } else { "," };
            first = false;
            f.write_str(s)
        };
        for d in &self.domains {
            sep(f)?;
            write!(f, "{}-{}-{}", d.domain, d.server, d.seq)?;
        }
        for s in &self.sources {
            sep(f)?;
            f.write_str(&s.key)?;
            for &(lo, hi) in &s.intervals {
                if lo == hi {
                    write!(f, ":{lo}")?;
                } else {
                    write!(f, ":{lo}-{hi}")?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn set(s: &str) -> GtidSet {
        GtidSet::parse(s).expect(s)
    }

    const U1: &str = "3e11fa47-71ca-11e1-9e33-c80aa9429562";
    const U2: &str = "4e11fa47-71ca-11e1-9e33-c80aa9429562";

    #[test]
    fn mariadb_positions_compare_per_domain() {
        let applied = set("0-1-100, 1-2-7");
        assert!(applied.contains(&set("0-1-100")));
        assert!(applied.contains(&set("0-3-99,1-2-7")));
        assert!(!applied.contains(&set("0-1-101")));
        assert!(!applied.contains(&set("2-1-1")));
        assert!(applied.contains(&GtidSet::default()));
        assert_eq!(applied.flavor(), GtidFlavor::MariaDb);
        assert_eq!(applied.to_string(), "0-1-100,1-2-7");
    }

    #[test]
    fn mysql_sets_compare_by_interval() {
        let executed = set(&format!("{U1}:1-100:105,\n{U2}:1-5"));
        assert!(executed.contains(&set(&format!("{U1}:50-60"))));
        assert!(executed.contains(&set(&format!("{U1}:105,{U2}:3"))));
        assert!(!executed.contains(&set(&format!("{U1}:101"))));
        assert!(!executed.contains(&set(&format!("{U1}:100-105"))));
        assert_eq!(executed.to_string(), format!("{U1}:1-100:105,{U2}:1-5"));
        let mut m = executed.clone();
        m.merge(&set(&format!("{U1}:101-104")));
        assert_eq!(m.to_string(), format!("{U1}:1-105,{U2}:1-5"));
    }

    #[test]
    fn tagged_gtids_are_their_own_source() {
        let s = set(&format!("{U1}:1-5:tag_a:1-2"));
        assert!(s.contains(&set(&format!("{U1}:tag_a:2"))));
        assert!(!s.contains(&set(&format!("{U1}:tag_b:1"))));
        assert_eq!(GtidSet::parse(&s.to_string()), Ok(s));
    }

    #[test]
    fn garbage_is_refused_whole() {
        for bad in [
            "0-1",
            "0-1-2-3",
            "a-b-c",
            "0-1-x",
            "uuid:1-5",
            &format!("{U1}:0"),
            &format!("{U1}:5-1"),
            U1,
            &format!("{U1}:1-2:bad-tag"),
            "0-1-1');DROP TABLE t;--",
        ] {
            assert!(GtidSet::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(GtidSet::parse(" "), Ok(GtidSet::default()));
    }

    fn arb_set() -> impl Strategy<Value = GtidSet> {
        let domains = prop::collection::vec((0u32..3, 1u32..4, 1u64..50), 0..4);
        let sources = prop::collection::vec((0usize..2, 1u64..40, 0u64..5), 0..5);
        (domains, sources).prop_map(|(domains, sources)| {
            let mut s = GtidSet::default();
            for (domain, server, seq) in domains {
                s.add_domain(Domain {
                    domain,
                    server,
                    seq,
                });
            }
            for (u, lo, len) in sources {
                s.add_interval([U1, U2][u], lo, lo + len);
            }
            s
        })
    }

    proptest! {
        #[test]
        fn merge_contains_both_and_text_round_trips(a in arb_set(), b in arb_set()) {
            let mut m = a.clone();
            m.merge(&b);
            prop_assert!(m.contains(&a));
            prop_assert!(m.contains(&b));
            prop_assert!(m.contains(&m));
            prop_assert_eq!(GtidSet::parse(&m.to_string()), Ok(m.clone()));
        }

        #[test]
        fn parse_never_panics(text in ".{0,80}") {
            let _ = GtidSet::parse(&text);
        }
    }
}
