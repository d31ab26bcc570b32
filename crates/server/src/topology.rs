//! The backend servers as the proxy sees them: address, role, weights and health, shared by all
//! workers; and read balancing over them (smooth weighted round-robin, one balancer per worker so
//! picking a server takes no lock).
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::config::{Config, Role};

/// One backend server.
#[derive(Debug)]
pub struct ServerEntry {
    /// Its position in the configuration; identifies it in pools and metrics.
    pub index: usize,
    /// `host:port`.
    pub address: String,
    /// What it is: configured, or (for `auto`) as last detected.
    pub role: Role,
    /// Share of reads among replicas.
    pub weight: u32,
    /// Share of reads the primary takes beside the replicas (0: none unless no replica is up).
    pub read_weight: u32,
    /// Until when (milliseconds on [`clock_ms`]) the server is skipped after a failed
    /// connection attempt; 0 when it is believed reachable.
    down_until: AtomicU64,
}

/// How long a server that refused a connection is left out of read balancing before it is
/// tried again (the replication monitor will replace this guess with real checks).
pub const RETRY_AFTER: Duration = Duration::from_secs(2);

/// Milliseconds since the first call: a cheap shared clock for health deadlines.
fn clock_ms() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_millis() as u64
}

impl ServerEntry {
    /// Whether the server is believed reachable (or its back-off after a failure is over).
    pub fn is_healthy(&self) -> bool {
        let until = self.down_until.load(Ordering::Relaxed);
        until == 0 || clock_ms() >= until
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
                .map(|(index, s)| ServerEntry {
                    index,
                    address: s.address.to_string(),
                    role: s.role,
                    weight: s.weight,
                    read_weight: s.read_weight,
                    down_until: AtomicU64::new(0),
                })
                .collect(),
        }
    }

    /// The primary's index.
    pub fn primary(&self) -> Option<usize> {
        self.servers
            .iter()
            .find(|s| s.role == Role::Primary)
            .map(|s| s.index)
    }
}

/// Smooth weighted round-robin over the healthy replicas and the primary's `read_weight`
/// (nginx's algorithm: evenly interleaved, deterministic). One per worker.
#[derive(Debug, Default)]
pub struct Balancer {
    current: Vec<i64>,
}

impl Balancer {
    /// Picks the server for a read, or `None` when only the primary can take it (no healthy
    /// replica and no read weight on the primary: the caller falls back to the primary).
    pub fn pick_read(&mut self, topology: &Topology) -> Option<usize> {
        if self.current.len() != topology.servers.len() {
            self.current = vec![0; topology.servers.len()];
        }
        let mut total = 0i64;
        let mut best: Option<usize> = None;
        for s in &topology.servers {
            let weight = match s.role {
                Role::Replica if s.is_healthy() => i64::from(s.weight),
                Role::Primary if s.is_healthy() => i64::from(s.read_weight),
                _ => 0,
            };
            if weight == 0 {
                continue;
            }
            self.current[s.index] += weight;
            total += weight;
            if best.is_none_or(|b| self.current[s.index] > self.current[b]) {
                best = Some(s.index);
            }
        }
        let chosen = best?;
        self.current[chosen] -= total;
        Some(chosen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topology(servers: &[(Role, u32, u32)]) -> Topology {
        Topology {
            servers: servers
                .iter()
                .enumerate()
                .map(|(index, &(role, weight, read_weight))| ServerEntry {
                    index,
                    address: format!("10.0.0.{index}:3306"),
                    role,
                    weight,
                    read_weight,
                    down_until: AtomicU64::new(0),
                })
                .collect(),
        }
    }

    fn counts(t: &Topology, n: usize) -> Vec<usize> {
        let mut b = Balancer::default();
        let mut c = vec![0; t.servers.len()];
        for _ in 0..n {
            if let Some(i) = b.pick_read(t) {
                c[i] += 1;
            }
        }
        c
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
        assert_eq!(Balancer::default().pick_read(&t), None);
        t.servers[1].set_healthy(true);
        assert_eq!(Balancer::default().pick_read(&t), Some(1));
    }
}
