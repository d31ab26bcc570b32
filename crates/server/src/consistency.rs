//! Read-your-writes: what a read must see before it may run on a replica, and the proxy-wide
//! record of acknowledged writes that `routing.consistency: global` needs.
//!
//! Each write's GTID arrives in its OK packet (MariaDB tracks `last_gtid`, MySQL
//! `session_track_gtids = OWN_GTID`). The relay hands every OK that carries session state to
//! [`Causal::observe`] *before* the OK is written to the client, so a write is in the global
//! position before anyone can know it was acknowledged. A session keeps its own position too
//! (`consistency: session`, and the token `SELECT splitrail_last_gtid()`).
//!
//! A read with a requirement goes to a replica known to have applied it (the monitor's reading,
//! or an earlier successful wait); else it is sent to a replica behind a `MASTER_GTID_WAIT` /
//! `WAIT_FOR_EXECUTED_GTID_SET` in the same write (see `session::causal`), and to the primary
//! if the wait times out.
//!
//! `consistency: cluster` asks the primary for its position instead, once per batch of reads
//! (see [`cluster`]), so a read sees writes made through other proxies or directly.
//!
//! A replica replays DDL one statement at a time, holding back everything after it, so a wait
//! behind a DDL statement costs about what the statement cost the primary, for every read that
//! needs it. A DDL statement's GTID is therefore noted as a *slow write* ([`Causal::slow_write`])
//! for a moment; a read that needs one a replica is not known to have applied goes to the
//! primary at once instead of waiting ([`Causal::replay_pending`]).
//!
//! Without GTIDs (binary log off, `gtid_mode=OFF`: no write ever reported one), reads go to the
//! primary for `routing.read_after_write_window` after a write instead. A write marks the
//! window when it is *sent*, so the window covers its acknowledgement whatever the timing.
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use splitrail_protocol::response::{OkPacket, SessionStateChange};
use tracing::{debug, info};

use crate::gtid::GtidSet;
use crate::topology::clock_ms;

pub mod cluster;

pub use cluster::ClusterPosition;

/// The proxy-wide position of acknowledged writes.
#[derive(Debug, Default)]
pub struct Causal {
    /// Every GTID acknowledged through this proxy, merged.
    global: RwLock<Arc<GtidSet>>,
    /// Bumped on every change of `global`, so workers re-read it only when it moved.
    generation: AtomicU64,
    /// Whether writes get GTIDs: a write reported one, or the monitor read the primary's GTID
    /// position (else the window fallback applies).
    gtids_seen: AtomicBool,
    /// The monitor found the primary without a GTID position (logged once).
    no_gtids_logged: AtomicBool,
    /// When the last write was sent ([`clock_ms`] + 1; 0: never).
    last_write: AtomicU64,
    /// The primary's position, fetched for batches of reads (`consistency: cluster`).
    pub cluster: ClusterPosition,
    /// Slow writes (DDL) acknowledged lately, oldest first (at most [`SLOW_WRITES_KEPT`]).
    slow: Mutex<Vec<SlowWrite>>,
    /// Whether `slow` may hold any (so reads skip its lock when no DDL ran lately).
    slow_noted: AtomicBool,
}

/// How many slow writes are remembered at once; an older one is forgotten first.
const SLOW_WRITES_KEPT: usize = 64;

/// A write replicas replay slowly (DDL), and until when reads needing it avoid waiting for it.
#[derive(Debug)]
struct SlowWrite {
    gtid: GtidSet,
    /// [`clock_ms`] after which it is forgotten.
    until: u64,
}

/// A worker's copy of the global position and the generation it was read at.
#[derive(Debug, Default)]
pub struct GlobalCache {
    generation: u64,
    position: Arc<GtidSet>,
}

/// The GTID a write's OK packet reports, if any.
pub fn gtid_of(ok: &OkPacket) -> Option<GtidSet> {
    ok.session_state.iter().find_map(|change| {
        let text = match change {
            SessionStateChange::SystemVariable { name, value } if name == b"last_gtid" => value,
            SessionStateChange::Gtids { encoding: 0, gtids } => gtids,
            _ => return None,
        };
        let set = GtidSet::parse(std::str::from_utf8(text).ok()?).ok()?;
        (!set.is_empty()).then_some(set)
    })
}

impl Causal {
    /// Records what an OK packet reports before it is relayed: its GTID joins the global
    /// position.
    pub fn observe(&self, ok: &OkPacket) {
        if let Some(gtid) = gtid_of(ok) {
            self.acknowledge(&gtid);
        }
    }

    /// Adds an acknowledged write's GTID to the global position.
    pub fn acknowledge(&self, gtid: &GtidSet) {
        if !self.gtids_seen.swap(true, Ordering::Relaxed) {
            info!(gtid = %gtid, "writes report GTIDs: reads wait for replicas to apply them");
        }
        let Ok(mut global) = self.global.write() else {
            return;
        };
        if global.contains(gtid) {
            return;
        }
        let mut merged = GtidSet::clone(&global);
        merged.merge(gtid);
        debug!(position = %merged, "global position");
        *global = Arc::new(merged);
        // Published under the lock: a reader that sees the new generation finds the new set.
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// Notes a slow write's GTID (a DDL statement's): for `hold`, a read that needs it goes to
    /// the primary rather than wait for a replica not known to have applied it.
    pub fn slow_write(&self, gtid: &GtidSet, hold: Duration) {
        let Ok(mut slow) = self.slow.lock() else {
            return;
        };
        let now = clock_ms();
        slow.retain(|w| w.until > now);
        if slow.len() >= SLOW_WRITES_KEPT {
            slow.remove(0);
        }
        slow.push(SlowWrite {
            gtid: gtid.clone(),
            until: now + (hold.as_millis() as u64).max(1),
        });
        self.slow_noted.store(true, Ordering::Release);
    }

    /// Whether `required` includes a slow write noted lately that `applied` says the replica
    /// lacks: a wait there would sit behind its replay.
    pub fn replay_pending(&self, required: &GtidSet, applied: impl Fn(&GtidSet) -> bool) -> bool {
        if !self.slow_noted.load(Ordering::Acquire) {
            return false;
        }
        let Ok(mut slow) = self.slow.lock() else {
            return false;
        };
        let now = clock_ms();
        slow.retain(|w| w.until > now);
        if slow.is_empty() {
            self.slow_noted.store(false, Ordering::Release);
            return false;
        }
        slow.iter()
            .any(|w| required.contains(&w.gtid) && !applied(&w.gtid))
    }

    /// The global position, through the worker's cache (one atomic load when it has not moved).
    pub fn global(&self, cache: &mut GlobalCache) -> Arc<GtidSet> {
        let generation = self.generation.load(Ordering::Acquire);
        if generation != cache.generation
            && let Ok(global) = self.global.read()
        {
            cache.position = global.clone();
            cache.generation = generation;
        }
        cache.position.clone()
    }

    /// What the monitor read of the primary's GTID position: a non-empty one means writes get
    /// GTIDs, so the window fallback is not needed; an empty one is logged once.
    pub fn primary_position(&self, position: &GtidSet) {
        if !position.is_empty() {
            self.gtids_seen.store(true, Ordering::Relaxed);
        } else if !self.gtids_seen.load(Ordering::Relaxed)
            && !self.no_gtids_logged.swap(true, Ordering::Relaxed)
        {
            tracing::warn!(
                "the primary reports no GTID position (binary log off, or gtid_mode OFF): reads \
                 after a write go to the primary for routing.read_after_write_window"
            );
        }
    }

    /// Whether writes get GTIDs (if not, reads after writes use the window).
    pub fn gtids_seen(&self) -> bool {
        self.gtids_seen.load(Ordering::Relaxed)
    }

    /// Notes that a write is being sent to the primary (for the window fallback).
    pub fn write_sent(&self) -> WriteMark {
        let now = clock_ms() + 1;
        self.last_write.store(now, Ordering::Relaxed);
        WriteMark(now)
    }

    /// Whether a write was sent less than `window` ago.
    pub fn within_window(&self, window: Duration) -> bool {
        WriteMark(self.last_write.load(Ordering::Relaxed)).within(window)
    }
}

/// When a write was sent (0: never).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteMark(u64);

impl WriteMark {
    /// Whether the write was sent less than `window` ago.
    pub fn within(self, window: Duration) -> bool {
        self.0 != 0 && clock_ms() + 1 < self.0.saturating_add(window.as_millis() as u64)
    }
}

/// What a read must see before it may run on a replica.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Requirement {
    /// Nothing: any qualifying replica.
    #[default]
    None,
    /// Every GTID of the set.
    Gtid(Arc<GtidSet>),
    /// A recent write without GTIDs: only the primary is known to have it.
    Primary,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok_with(changes: Vec<SessionStateChange>) -> OkPacket {
        OkPacket {
            session_state: changes,
            ..OkPacket::default()
        }
    }

    #[test]
    fn gtids_come_from_either_tracker() {
        let maria = ok_with(vec![SessionStateChange::SystemVariable {
            name: b"last_gtid".to_vec(),
            value: b"0-1-42".to_vec(),
        }]);
        assert_eq!(
            gtid_of(&maria).map(|g| g.to_string()),
            Some("0-1-42".into())
        );
        let mysql = ok_with(vec![SessionStateChange::Gtids {
            encoding: 0,
            gtids: b"3e11fa47-71ca-11e1-9e33-c80aa9429562:7".to_vec(),
        }]);
        assert!(gtid_of(&mysql).is_some());
        let empty = ok_with(vec![SessionStateChange::SystemVariable {
            name: b"last_gtid".to_vec(),
            value: Vec::new(),
        }]);
        assert_eq!(gtid_of(&empty), None);
        let other = ok_with(vec![SessionStateChange::Schema(b"app".to_vec())]);
        assert_eq!(gtid_of(&other), None);
    }

    #[test]
    fn the_global_position_merges_and_workers_see_it_move() {
        let causal = Causal::default();
        let mut cache = GlobalCache::default();
        assert!(causal.global(&mut cache).is_empty());
        causal.acknowledge(&GtidSet::parse("0-1-5").unwrap());
        causal.acknowledge(&GtidSet::parse("0-1-3").unwrap());
        assert_eq!(causal.global(&mut cache).to_string(), "0-1-5");
        causal.acknowledge(&GtidSet::parse("1-1-1").unwrap());
        assert_eq!(causal.global(&mut cache).to_string(), "0-1-5,1-1-1");
        assert!(causal.gtids_seen());
    }

    #[test]
    fn a_read_needing_a_slow_write_a_replica_lacks_is_told_so() {
        let causal = Causal::default();
        let g = |s: &str| GtidSet::parse(s).unwrap();
        let replica_has = |applied: &'static str| move |w: &GtidSet| g(applied).contains(w);
        assert!(!causal.replay_pending(&g("0-1-9"), replica_has("0-1-1")));
        causal.slow_write(&g("0-1-5"), Duration::from_secs(60));
        // Needs the DDL (5 <= 9), the replica is at 1: pending.
        assert!(causal.replay_pending(&g("0-1-9"), replica_has("0-1-1")));
        // The replica has applied it: nothing pending.
        assert!(!causal.replay_pending(&g("0-1-9"), replica_has("0-1-6")));
        // The read needs only what came before the DDL.
        assert!(!causal.replay_pending(&g("0-1-4"), replica_has("0-1-1")));
        // Another domain's DDL is not needed by a read of domain 0.
        causal.slow_write(&g("1-1-3"), Duration::from_secs(60));
        assert!(!causal.replay_pending(&g("0-1-4,1-1-2"), replica_has("0-1-1")));
        assert!(causal.replay_pending(&g("0-1-4,1-1-3"), replica_has("0-1-1")));
    }

    #[test]
    fn slow_writes_are_forgotten_after_their_hold_and_past_the_cap() {
        let causal = Causal::default();
        let g = |s: &str| GtidSet::parse(s).unwrap();
        let lacks_all = |_: &GtidSet| false;
        causal.slow_write(&g("0-1-5"), Duration::from_millis(1));
        std::thread::sleep(Duration::from_millis(5));
        assert!(!causal.replay_pending(&g("0-1-9"), lacks_all));
        for n in 0..(SLOW_WRITES_KEPT as u64 + 10) {
            causal.slow_write(&g(&format!("0-1-{}", 100 + n)), Duration::from_secs(60));
        }
        assert_eq!(causal.slow.lock().unwrap().len(), SLOW_WRITES_KEPT);
        // The oldest ones went first: a read needing only 0-1-100 finds none it lacks.
        assert!(!causal.replay_pending(&g("0-1-100"), lacks_all));
        assert!(causal.replay_pending(&g("0-1-200"), lacks_all));
    }

    #[test]
    fn the_primary_position_tells_whether_writes_get_gtids() {
        let causal = Causal::default();
        causal.primary_position(&GtidSet::default());
        assert!(!causal.gtids_seen());
        causal.primary_position(&GtidSet::parse("0-1-1").unwrap());
        assert!(causal.gtids_seen());
    }

    #[test]
    fn the_write_window_opens_when_a_write_is_sent() {
        let causal = Causal::default();
        assert!(!causal.within_window(Duration::from_secs(5)));
        let mark = causal.write_sent();
        assert!(mark.within(Duration::from_secs(5)));
        assert!(causal.within_window(Duration::from_secs(5)));
        assert!(!causal.within_window(Duration::ZERO));
        assert!(!WriteMark::default().within(Duration::from_secs(5)));
    }
}
