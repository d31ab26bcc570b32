//! The backend servers as the proxy sees them: address, role, weights and health, shared by all
//! workers; and read balancing over them (smooth weighted round-robin, one balancer per worker so
//! picking a server takes no lock).
use std::sync::atomic::{AtomicBool, Ordering};

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
    /// False after a failed connection attempt, true again after a successful one.
    healthy: AtomicBool,
}

impl ServerEntry {
    /// Whether the server is believed reachable.
    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }

    /// Records the outcome of a connection attempt.
    pub fn set_healthy(&self, healthy: bool) {
        self.healthy.store(healthy, Ordering::Relaxed);
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
                    healthy: AtomicBool::new(true),
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
                    healthy: AtomicBool::new(true),
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
