//! The backend servers as the proxy sees them: address, role, weights and health, shared by all
//! workers. Read balancing over them is [`crate::balance`]'s.
//!
//! Health has two sources: the monitor ([`crate::monitor`]), which stores each server's state,
//! detected role, lag and GTID position here in atomics (a small lock only for the GTID text,
//! which the statement path never reads), and a failed connection on the statement path, which
//! leaves the server out of read balancing for [`RETRY_AFTER`] (the fast path between checks).
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::config::{Config, Role};

/// One backend server.
#[derive(Debug)]
pub struct ServerEntry {
    /// Its position in the configuration; identifies it in pools and metrics.
    pub index: usize,
    /// `host:port`.
    pub address: String,
    /// What it is configured as (`auto`: see [`ServerEntry::role`] for what was detected).
    pub role: Role,
    /// Share of reads among replicas.
    pub weight: u32,
    /// Share of reads the primary takes beside the replicas (0: none unless no replica is up).
    pub read_weight: u32,
    /// Until when (milliseconds on [`clock_ms`]) the server is skipped after a failed
    /// connection attempt; 0 when it is believed reachable.
    down_until: AtomicU64,
    /// What the monitor says: a [`ServerState`] as `u8`.
    state: AtomicU8,
    /// `@@read_only` as last seen by the monitor: [`UNKNOWN`], 0 or 1.
    read_only: AtomicU8,
    /// Replication lag in milliseconds as last measured; 0 for a primary or before the first
    /// check, [`LAG_UNKNOWN`] when replication is stopped or its lag cannot be told.
    lag_ms: AtomicU64,
    /// When the monitor last checked it successfully ([`clock_ms`] + 1; 0: never).
    last_check: AtomicU64,
    /// Its GTID position as last read (applied position on a replica, binlog position on a
    /// primary). Only the monitor and status readers touch it.
    gtid: Mutex<String>,
}

/// Not known yet (`read_only` before the first check).
pub const UNKNOWN: u8 = 2;

/// The lag of a replica whose replication is stopped or whose lag cannot be measured.
pub const LAG_UNKNOWN: u64 = u64::MAX;

/// A server's state as the monitor sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ServerState {
    /// Reachable, and (a replica) within `routing.max_replication_lag`.
    Up = 0,
    /// Reachable, but replicating too far behind (or not applying at all): no reads.
    Lagging = 1,
    /// Failed `monitor.failure_threshold` checks in a row: no reads until
    /// `monitor.success_threshold` good checks.
    Down = 2,
    /// Being taken out: no new work (set by reload; not used yet).
    Draining = 3,
}

impl ServerState {
    fn from_u8(v: u8) -> Self {
        match v {
            0 => ServerState::Up,
            1 => ServerState::Lagging,
            2 => ServerState::Down,
            _ => ServerState::Draining,
        }
    }

    /// `up`, `lagging`, `down`, `draining`.
    pub fn as_str(self) -> &'static str {
        match self {
            ServerState::Up => "up",
            ServerState::Lagging => "lagging",
            ServerState::Down => "down",
            ServerState::Draining => "draining",
        }
    }
}

impl std::fmt::Display for ServerState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How long a server that refused a connection is left out of read balancing before it is
/// tried again: the fast path between two monitor checks, which decide for longer.
pub const RETRY_AFTER: Duration = Duration::from_secs(2);

/// Milliseconds since the first call: a cheap shared clock for health deadlines.
fn clock_ms() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_millis() as u64
}

impl ServerEntry {
    /// A server as configured, assumed up until checked.
    pub fn new(index: usize, address: String, role: Role, weight: u32, read_weight: u32) -> Self {
        ServerEntry {
            index,
            address,
            role,
            weight,
            read_weight,
            down_until: AtomicU64::new(0),
            state: AtomicU8::new(ServerState::Up as u8),
            read_only: AtomicU8::new(UNKNOWN),
            lag_ms: AtomicU64::new(0),
            last_check: AtomicU64::new(0),
            gtid: Mutex::new(String::new()),
        }
    }

    /// Whether the server is believed reachable: the monitor does not say it is down or
    /// draining, and no back-off after a failed connection is running.
    pub fn is_healthy(&self) -> bool {
        if self.state.load(Ordering::Relaxed) >= ServerState::Down as u8 {
            return false;
        }
        let until = self.down_until.load(Ordering::Relaxed);
        until == 0 || clock_ms() >= until
    }

    /// Whether it may serve a read that accepts `max_lag_ms` of replication lag: healthy, not
    /// lagging, and its last measured lag within the bound.
    pub fn can_read(&self, max_lag_ms: Option<u64>) -> bool {
        self.is_healthy()
            && self.state.load(Ordering::Relaxed) == ServerState::Up as u8
            && max_lag_ms.is_none_or(|max| self.lag_ms.load(Ordering::Relaxed) <= max)
    }

    /// The role in effect: the configured one, or for `auto` the one the monitor detected
    /// (`read_only = 0` ⇒ primary; `Auto` until the first check).
    pub fn role(&self) -> Role {
        match self.role {
            Role::Auto => match self.read_only.load(Ordering::Relaxed) {
                0 => Role::Primary,
                1 => Role::Replica,
                _ => Role::Auto,
            },
            role => role,
        }
    }

    /// The monitor's state.
    pub fn state(&self) -> ServerState {
        ServerState::from_u8(self.state.load(Ordering::Relaxed))
    }

    /// `@@read_only` as the monitor last saw it (`None` before the first check).
    pub fn read_only(&self) -> Option<bool> {
        match self.read_only.load(Ordering::Relaxed) {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        }
    }

    /// Replication lag in milliseconds as last measured ([`LAG_UNKNOWN`]: stopped/unknown).
    pub fn lag_ms(&self) -> u64 {
        self.lag_ms.load(Ordering::Relaxed)
    }

    /// The GTID position as last read.
    pub fn gtid(&self) -> String {
        self.gtid.lock().map(|g| g.clone()).unwrap_or_default()
    }

    /// How long ago the monitor last checked it successfully.
    pub fn since_last_check(&self) -> Option<Duration> {
        match self.last_check.load(Ordering::Relaxed) {
            0 => None,
            at => Some(Duration::from_millis(clock_ms().saturating_sub(at - 1))),
        }
    }

    /// Records the monitor's state.
    pub fn set_state(&self, state: ServerState) {
        self.state.store(state as u8, Ordering::Relaxed);
    }

    /// Records what a successful check read.
    pub fn record_check(&self, read_only: bool, lag_ms: u64, gtid: &str) {
        self.read_only.store(u8::from(read_only), Ordering::Relaxed);
        self.lag_ms.store(lag_ms, Ordering::Relaxed);
        if let Ok(mut g) = self.gtid.lock()
            && *g != gtid
        {
            g.clear();
            g.push_str(gtid);
        }
        self.last_check.store(clock_ms() + 1, Ordering::Relaxed);
    }

    /// Records the outcome of a connection attempt: a failure leaves the server out of read
    /// balancing for [`RETRY_AFTER`].
    pub fn set_healthy(&self, healthy: bool) {
        let until = if healthy {
            0
        } else {
            clock_ms() + RETRY_AFTER.as_millis() as u64
        };
        self.down_until.store(until, Ordering::Relaxed);
    }
}

/// All backend servers.
#[derive(Debug)]
pub struct Topology {
    /// In configuration order.
    pub servers: Vec<ServerEntry>,
}

impl Topology {
    /// The servers of a configuration, all assumed healthy until a connection fails.
    pub fn from_config(config: &Config) -> Self {
        Topology {
            servers: config
                .servers
                .iter()
                .enumerate()
                .map(|(index, s)| {
                    ServerEntry::new(
                        index,
                        s.address.to_string(),
                        s.role,
                        s.weight,
                        s.read_weight,
                    )
                })
                .collect(),
        }
    }

    /// The primary's index: the server whose role (configured or detected) is primary and
    /// that the monitor has not seen read-only — writes never go to a read-only server while a
    /// writable one is known; else an `auto` server seen writable; else the configured primary
    /// even if read-only (its errors then say why). Lock-free: a few atomic loads per server.
    pub fn primary(&self) -> Option<usize> {
        let writable = |s: &&ServerEntry| s.read_only() != Some(true);
        self.servers
            .iter()
            .filter(|s| s.role() == Role::Primary)
            .find(writable)
            .or_else(|| {
                self.servers
                    .iter()
                    .find(|s| s.role == Role::Auto && s.read_only() == Some(false))
            })
            .or_else(|| self.servers.iter().find(|s| s.role() == Role::Primary))
            .map(|s| s.index)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Servers `10.0.0.<index>:3306` with the given (role, weight, read_weight).
    pub(crate) fn topology(servers: &[(Role, u32, u32)]) -> Topology {
        Topology {
            servers: servers
                .iter()
                .enumerate()
                .map(|(index, &(role, weight, read_weight))| {
                    ServerEntry::new(
                        index,
                        format!("10.0.0.{index}:3306"),
                        role,
                        weight,
                        read_weight,
                    )
                })
                .collect(),
        }
    }

    #[test]
    fn auto_servers_take_the_detected_role_and_writes_avoid_read_only() {
        let t = topology(&[(Role::Auto, 1, 0), (Role::Auto, 1, 0)]);
        assert_eq!(t.primary(), None);
        t.servers[0].record_check(true, 0, "");
        t.servers[1].record_check(false, 0, "");
        assert_eq!(t.primary(), Some(1));
        assert_eq!(t.servers[0].role(), Role::Replica);
        // A configured primary seen read-only gives way to a writable auto server.
        let t = topology(&[(Role::Primary, 1, 0), (Role::Auto, 1, 0)]);
        t.servers[0].record_check(true, 0, "");
        assert_eq!(t.primary(), Some(0));
        t.servers[1].record_check(false, 0, "");
        assert_eq!(t.primary(), Some(1));
    }
}
