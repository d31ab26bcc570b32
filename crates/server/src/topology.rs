//! The backend servers as the proxy sees them: address, role, weights and health, shared by all
//! workers. Read balancing over them is [`crate::balance`]'s.
//!
//! Health has two sources: the monitor ([`crate::monitor`]), which stores each server's state,
//! detected role, lag and GTID position here in atomics (a small lock only for the GTID text,
//! which the statement path never reads), and a failed connection on the statement path, which
//! leaves the server out of read balancing for [`RETRY_AFTER`] (the fast path between checks).
//!
//! The server set changes at runtime (reload, discovery) without a lock on the statement path: a
//! [`Topology`] is an immutable snapshot, swapped whole (see [`crate::worker::Shared`]). Servers
//! are only ever appended, so an index names the same server for the life of the process; a
//! server taken out of the configuration stays in the list, marked removed (it drains), and a
//! changed weight or role gives a new [`ServerEntry`] at the same index that carries the old
//! one's health over ([`ServerEntry::reconfigured`]).
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::config::{Address, Config, Role};
use crate::gtid::GtidSet;

/// One backend server.
#[derive(Debug)]
pub struct ServerEntry {
    /// Its position in the configuration; identifies it in pools and metrics.
    pub index: usize,
    /// `host:port`.
    pub address: Address,
    /// The hash of the address text (rendezvous balancing scores servers by it).
    pub address_key: u64,
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
    gtid: Mutex<GtidSet>,
    /// What the server is known to have applied: the monitor's last reading, raised by every
    /// successful causal wait there. A lower bound (positions only grow), read by causal reads.
    applied: Mutex<GtidSet>,
    /// Until when ([`clock_ms`]) reads that need a position the server is not known to have
    /// skip it rather than wait: a causal wait there just timed out, so the next would too.
    no_wait_until: AtomicU64,
    /// Whether it takes new work: an [`Admission`] as `u8`. Set by the admin API and reloads,
    /// never by the monitor, so a manual drain outlives every check.
    admission: AtomicU8,
    /// The `max_allowed_packet` of the newest connection the proxy opened there (0: none yet):
    /// the largest statement a pipelined read may carry (see [`ServerEntry::max_packet`]).
    max_packet: AtomicU64,
    /// `@@server_id` as last read by the monitor, plus one (0: not read yet).
    server_id: AtomicU64,
    /// Found by the monitor's replica discovery rather than configured.
    discovered: bool,
}

/// Whether a server takes new work, apart from its health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Admission {
    /// Normal service.
    Open = 0,
    /// Drained by the admin API (`POST /servers/{address}/drain`): no new work until enabled.
    Drained = 1,
    /// Taken out of the configuration by a reload: no new work; it leaves `/status` once its
    /// last connection closed. Its index stays reserved (a later reload may bring it back).
    Removed = 2,
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
    /// Being taken out (drained by the admin API, or removed by a reload): no new work; what
    /// runs on it finishes. Not a monitor verdict: see [`Admission`].
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

/// Milliseconds since the first call: a cheap shared clock for health deadlines and the
/// write window of read-your-writes.
pub(crate) fn clock_ms() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_millis() as u64
}

impl ServerEntry {
    /// A server as configured, assumed up until checked.
    pub fn new(index: usize, address: Address, role: Role, weight: u32, read_weight: u32) -> Self {
        ServerEntry {
            index,
            address_key: splitrail_router::hints::key_hash(address.to_string()),
            address,
            role,
            weight,
            read_weight,
            down_until: AtomicU64::new(0),
            state: AtomicU8::new(ServerState::Up as u8),
            read_only: AtomicU8::new(UNKNOWN),
            lag_ms: AtomicU64::new(0),
            last_check: AtomicU64::new(0),
            gtid: Mutex::new(GtidSet::default()),
            applied: Mutex::new(GtidSet::default()),
            no_wait_until: AtomicU64::new(0),
            admission: AtomicU8::new(Admission::Open as u8),
            max_packet: AtomicU64::new(0),
            server_id: AtomicU64::new(0),
            discovered: false,
        }
    }

    /// A replica the monitor's discovery found (weight 1, no reads on it until checked).
    pub fn new_discovered(index: usize, address: Address) -> Self {
        let entry = ServerEntry {
            discovered: true,
            ..ServerEntry::new(index, address, Role::Replica, 1, 0)
        };
        // Unchecked: `monitor.success_threshold` good checks make it `up`.
        entry.set_state(ServerState::Down);
        entry
    }

    /// The same server (index, address, health, admission) with new settings from a reload;
    /// `discovered` stays only while no configuration entry names it.
    pub fn reconfigured(
        &self,
        role: Role,
        weight: u32,
        read_weight: u32,
        discovered: bool,
    ) -> Self {
        ServerEntry {
            index: self.index,
            address: self.address.clone(),
            address_key: self.address_key,
            role,
            weight,
            read_weight,
            down_until: AtomicU64::new(self.down_until.load(Ordering::Relaxed)),
            state: AtomicU8::new(self.state.load(Ordering::Relaxed)),
            read_only: AtomicU8::new(self.read_only.load(Ordering::Relaxed)),
            lag_ms: AtomicU64::new(self.lag_ms.load(Ordering::Relaxed)),
            last_check: AtomicU64::new(self.last_check.load(Ordering::Relaxed)),
            gtid: Mutex::new(self.position()),
            applied: Mutex::new(self.applied.lock().map(|a| a.clone()).unwrap_or_default()),
            no_wait_until: AtomicU64::new(self.no_wait_until.load(Ordering::Relaxed)),
            admission: AtomicU8::new(self.admission.load(Ordering::Relaxed)),
            max_packet: AtomicU64::new(self.max_packet.load(Ordering::Relaxed)),
            server_id: AtomicU64::new(self.server_id.load(Ordering::Relaxed)),
            discovered,
        }
    }

    /// The `max_allowed_packet` of the newest connection opened to the server, if one was: a
    /// read larger than this is not pipelined (its own connection answers it as the server
    /// would, see `BackendConn::max_packet`).
    pub fn max_packet(&self) -> Option<usize> {
        match self.max_packet.load(Ordering::Relaxed) {
            0 => None,
            n => usize::try_from(n).ok(),
        }
    }

    /// The server's `@@server_id`, once the monitor has read it.
    pub fn server_id(&self) -> Option<u32> {
        match self.server_id.load(Ordering::Relaxed) {
            0 => None,
            n => u32::try_from(n - 1).ok(),
        }
    }

    /// Notes the server's `@@server_id` (the monitor, at every check).
    pub fn note_server_id(&self, id: u32) {
        self.server_id.store(u64::from(id) + 1, Ordering::Relaxed);
    }

    /// Notes the `max_allowed_packet` of a new connection to the server.
    pub fn note_max_packet(&self, max: usize) {
        self.max_packet.store(max as u64, Ordering::Relaxed);
    }

    /// Whether the server is believed reachable and takes new work: the monitor does not say
    /// it is down, it is not drained or removed, and no back-off after a failed connection is
    /// running.
    pub fn is_healthy(&self) -> bool {
        if self.state.load(Ordering::Relaxed) >= ServerState::Down as u8 || self.is_draining() {
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

    /// The state: `draining` while drained or removed, else the monitor's verdict.
    pub fn state(&self) -> ServerState {
        if self.is_draining() {
            return ServerState::Draining;
        }
        ServerState::from_u8(self.state.load(Ordering::Relaxed))
    }

    /// Whether it takes new work (see [`Admission`]).
    pub fn admission(&self) -> Admission {
        match self.admission.load(Ordering::Relaxed) {
            0 => Admission::Open,
            1 => Admission::Drained,
            _ => Admission::Removed,
        }
    }

    /// Drained or removed: no new work.
    pub fn is_draining(&self) -> bool {
        self.admission.load(Ordering::Relaxed) != Admission::Open as u8
    }

    /// Sets whether it takes new work.
    pub fn set_admission(&self, admission: Admission) {
        self.admission.store(admission as u8, Ordering::Relaxed);
    }

    /// Found by replica discovery rather than configured.
    pub fn is_discovered(&self) -> bool {
        self.discovered
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
    pub fn position(&self) -> GtidSet {
        self.gtid.lock().map(|g| g.clone()).unwrap_or_default()
    }

    /// The GTID position as last read, as text (for the admin API).
    pub fn gtid(&self) -> String {
        self.gtid.lock().map(|g| g.to_string()).unwrap_or_default()
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
    pub fn record_check(&self, read_only: bool, lag_ms: u64, gtid: &GtidSet) {
        self.read_only.store(u8::from(read_only), Ordering::Relaxed);
        self.lag_ms.store(lag_ms, Ordering::Relaxed);
        if let Ok(mut g) = self.gtid.lock()
            && *g != *gtid
        {
            g.clone_from(gtid);
            if let Ok(mut applied) = self.applied.lock() {
                applied.clone_from(gtid);
            }
        }
        self.last_check.store(clock_ms() + 1, Ordering::Relaxed);
    }

    /// Whether the server is known to have applied every GTID of `required`.
    pub fn has_applied(&self, required: &GtidSet) -> bool {
        self.applied.lock().is_ok_and(|a| a.contains(required))
    }

    /// Records that the server has applied `position` (a causal wait there succeeded).
    pub fn note_applied(&self, position: &GtidSet) {
        if let Ok(mut applied) = self.applied.lock() {
            applied.merge(position);
        }
    }

    /// Records that a causal wait here timed out after `waited`: for as long again, reads that
    /// would have to wait here go elsewhere at once.
    pub fn wait_timed_out(&self, waited: Duration) {
        let until = clock_ms() + (waited.as_millis() as u64).max(1);
        self.no_wait_until.store(until, Ordering::Relaxed);
    }

    /// Whether a read may wait here for a position (no wait timed out here just now).
    pub fn waitable(&self) -> bool {
        clock_ms() >= self.no_wait_until.load(Ordering::Relaxed)
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

/// All backend servers: an immutable snapshot (its entries' health and admission change in
/// place; the list itself is replaced whole when servers are added or reconfigured).
#[derive(Debug, Default)]
pub struct Topology {
    /// By index: the configuration's order at start, then servers in the order they were added
    /// (reload, discovery). Never shortened or reordered; removed servers stay, marked removed.
    pub servers: Vec<Arc<ServerEntry>>,
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
                    Arc::new(ServerEntry::new(
                        index,
                        s.address.clone(),
                        s.role,
                        s.weight,
                        s.read_weight,
                    ))
                })
                .collect(),
        }
    }

    /// The primary's index, for writes: the first of
    /// 1. a server configured (or detected) primary that is writable and healthy;
    /// 2. any other healthy server the monitor saw writable (`read_only = 0`) — a promoted
    ///    replica, so the proxy follows a failover without a restart;
    /// 3. the configured primary even if read-only or down (its errors then say why).
    ///
    /// Writes never go to a server seen read-only while a writable one is known. A drained or
    /// removed server is chosen only when no other qualifies. Lock-free: a few atomic loads
    /// per server.
    pub fn primary(&self) -> Option<usize> {
        self.primary_among(|s| !s.is_draining())
            .or_else(|| self.primary_among(|_| true))
    }

    fn primary_among(&self, eligible: impl Fn(&ServerEntry) -> bool) -> Option<usize> {
        let servers = || self.servers.iter().filter(|s| eligible(s));
        let writable = |s: &&Arc<ServerEntry>| s.read_only() != Some(true) && s.is_healthy();
        servers()
            .filter(|s| s.role() == Role::Primary)
            .find(writable)
            .or_else(|| servers().find(|s| s.read_only() == Some(false) && s.is_healthy()))
            .or_else(|| servers().find(|s| s.role() == Role::Primary))
            .map(|s| s.index)
    }

    /// The index of the server at `address` (host compared without regard to case), removed
    /// ones included.
    pub fn find(&self, address: &Address) -> Option<usize> {
        self.servers
            .iter()
            .find(|s| s.address == *address)
            .map(|s| s.index)
    }

    /// The primary, if it can take a write now: known writable and healthy.
    pub fn writable_primary(&self) -> Option<usize> {
        self.primary().filter(|&p| {
            self.servers
                .get(p)
                .is_some_and(|s| s.read_only() != Some(true) && s.is_healthy())
        })
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
                    Arc::new(ServerEntry::new(
                        index,
                        format!("10.0.0.{index}:3306").parse().expect("an address"),
                        role,
                        weight,
                        read_weight,
                    ))
                })
                .collect(),
        }
    }

    fn pos(text: &str) -> GtidSet {
        GtidSet::parse(text).expect("a GTID position")
    }

    #[test]
    fn auto_servers_take_the_detected_role_and_writes_avoid_read_only() {
        let t = topology(&[(Role::Auto, 1, 0), (Role::Auto, 1, 0)]);
        assert_eq!(t.primary(), None);
        t.servers[0].record_check(true, 0, &pos(""));
        t.servers[1].record_check(false, 0, &pos(""));
        assert_eq!(t.primary(), Some(1));
        assert_eq!(t.servers[0].role(), Role::Replica);
        // A configured primary seen read-only gives way to a writable auto server.
        let t = topology(&[(Role::Primary, 1, 0), (Role::Auto, 1, 0)]);
        t.servers[0].record_check(true, 0, &pos(""));
        assert_eq!(t.primary(), Some(0));
        t.servers[1].record_check(false, 0, &pos(""));
        assert_eq!(t.primary(), Some(1));
    }

    #[test]
    fn writes_follow_a_promoted_replica_when_the_primary_is_down() {
        let t = topology(&[(Role::Primary, 1, 0), (Role::Replica, 1, 0)]);
        t.servers[0].record_check(false, 0, &pos("0-1-5"));
        t.servers[1].record_check(true, 0, &pos("0-1-5"));
        assert_eq!(t.writable_primary(), Some(0));
        t.servers[0].set_state(ServerState::Down);
        // The replica is still read-only: no writable primary, the configured one is named.
        assert_eq!(t.primary(), Some(0));
        assert_eq!(t.writable_primary(), None);
        t.servers[1].record_check(false, 0, &pos("0-1-5"));
        assert_eq!(t.writable_primary(), Some(1));
        t.servers[0].set_state(ServerState::Up);
        assert_eq!(t.primary(), Some(0));
    }

    #[test]
    fn applied_positions_come_from_the_monitor_and_from_waits() {
        let t = topology(&[(Role::Primary, 1, 0), (Role::Replica, 1, 0)]);
        let r = &t.servers[1];
        assert!(!r.has_applied(&pos("0-1-5")));
        r.record_check(true, 0, &pos("0-1-5"));
        assert!(r.has_applied(&pos("0-1-5")));
        assert!(!r.has_applied(&pos("0-1-6")));
        r.note_applied(&pos("0-1-9"));
        assert!(r.has_applied(&pos("0-1-6")));
        r.record_check(true, 0, &pos("0-1-7"));
        assert!(!r.has_applied(&pos("0-1-9")));
        assert!(r.waitable());
        r.wait_timed_out(Duration::from_secs(60));
        assert!(!r.waitable());
    }

    #[test]
    fn drained_servers_take_no_reads_and_give_way_as_primary() {
        use crate::balance::{Balancer, ReadRequest};
        let t = topology(&[
            (Role::Primary, 1, 0),
            (Role::Replica, 1, 0),
            (Role::Primary, 1, 0),
        ]);
        t.servers[1].set_admission(Admission::Drained);
        // The monitor's verdict does not undo a drain.
        t.servers[1].set_state(ServerState::Up);
        assert_eq!(t.servers[1].state(), ServerState::Draining);
        assert_eq!(
            Balancer::default().pick_read(&t, &ReadRequest::default()),
            None
        );
        assert_eq!(t.primary(), Some(0));
        t.servers[0].set_admission(Admission::Drained);
        assert_eq!(t.primary(), Some(2), "another primary takes the writes");
        t.servers[2].set_admission(Admission::Removed);
        assert_eq!(
            t.primary(),
            Some(0),
            "none left: the drained one keeps them"
        );
        t.servers[1].set_admission(Admission::Open);
        assert_eq!(
            Balancer::default().pick_read(&t, &ReadRequest::default()),
            Some(1)
        );
    }

    #[test]
    fn a_reconfigured_entry_keeps_its_health_and_admission() {
        let t = topology(&[(Role::Replica, 1, 0)]);
        t.servers[0].record_check(true, 70, &pos("0-1-9"));
        t.servers[0].set_state(ServerState::Lagging);
        t.servers[0].set_admission(Admission::Drained);
        let e = t.servers[0].reconfigured(Role::Auto, 5, 2, false);
        assert_eq!((e.index, e.weight, e.read_weight), (0, 5, 2));
        assert_eq!(
            (e.lag_ms(), e.gtid(), e.read_only()),
            (70, "0-1-9".into(), Some(true))
        );
        assert_eq!(e.admission(), Admission::Drained);
        e.set_admission(Admission::Open);
        assert_eq!(e.state(), ServerState::Lagging);
        assert_eq!(t.find(&"10.0.0.0:3306".parse().unwrap()), Some(0));
        assert_eq!(t.find(&"10.0.0.9:3306".parse().unwrap()), None);
        let d = ServerEntry::new_discovered(3, "h:1".parse().expect("an address"));
        assert!(d.is_discovered() && !d.is_healthy() && d.role() == Role::Replica);
    }
}
