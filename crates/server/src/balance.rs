//! Read balancing: which server takes a read, among the replicas the monitor and the statement's
//! lag bound allow and the primary's `read_weight` share. One [`Balancer`] per worker, so picking
//! a server takes no lock; what it reads about servers (health, role, lag) is
//! [`crate::topology`]'s.
use std::time::Duration;

use crate::config::Role;
use crate::topology::Topology;

/// Smooth weighted round-robin over the healthy replicas and the primary's `read_weight`
/// (nginx's algorithm: evenly interleaved, deterministic). One per worker.
#[derive(Debug, Default)]
pub struct Balancer {
    current: Vec<i64>,
}

impl Balancer {
    /// Picks the server for a read, or `None` when only the primary can take it (no healthy
    /// replica within `max_lag` and no read weight on the primary: the caller falls back to the
    /// primary). Replicas the monitor saw down or lagging are skipped; `max_lag` (the
    /// statement's bound, if any) excludes those whose last measured lag exceeds it.
    pub fn pick_read(&mut self, topology: &Topology, max_lag: Option<Duration>) -> Option<usize> {
        let max_lag_ms = max_lag.map(|d| d.as_millis().min(u128::from(u64::MAX - 1)) as u64);
        let primary = topology.primary();
        if self.current.len() != topology.servers.len() {
            self.current = vec![0; topology.servers.len()];
        }
        let mut total = 0i64;
        let mut best: Option<usize> = None;
        for s in &topology.servers {
            let weight = if Some(s.index) == primary {
                if s.is_healthy() {
                    i64::from(s.read_weight)
                } else {
                    0
                }
            } else if s.role() == Role::Replica && s.can_read(max_lag_ms) {
                i64::from(s.weight)
            } else {
                0
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
    use crate::topology::ServerState;
    use crate::topology::tests::topology;

    fn counts(t: &Topology, n: usize) -> Vec<usize> {
        let mut b = Balancer::default();
        let mut c = vec![0; t.servers.len()];
        for _ in 0..n {
            if let Some(i) = b.pick_read(t, None) {
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
        assert_eq!(Balancer::default().pick_read(&t, None), None);
        t.servers[1].set_healthy(true);
        assert_eq!(Balancer::default().pick_read(&t, None), Some(1));
    }

    #[test]
    fn monitor_states_and_lag_exclude_replicas() {
        let t = topology(&[(Role::Primary, 1, 0), (Role::Replica, 1, 0)]);
        let ms = |n| Some(Duration::from_millis(n));
        t.servers[1].set_state(ServerState::Down);
        assert_eq!(Balancer::default().pick_read(&t, None), None);
        t.servers[1].set_state(ServerState::Lagging);
        assert_eq!(Balancer::default().pick_read(&t, None), None);
        t.servers[1].set_state(ServerState::Up);
        t.servers[1].record_check(true, 1500, "0-1-5");
        assert_eq!(Balancer::default().pick_read(&t, ms(1000)), None);
        assert_eq!(Balancer::default().pick_read(&t, ms(2000)), Some(1));
        assert_eq!(Balancer::default().pick_read(&t, None), Some(1));
        assert_eq!(t.servers[1].gtid(), "0-1-5");
    }

    #[test]
    fn an_auto_server_seen_read_only_takes_reads() {
        let t = topology(&[(Role::Auto, 1, 0), (Role::Auto, 1, 0)]);
        t.servers[0].record_check(true, 0, "");
        t.servers[1].record_check(false, 0, "");
        assert_eq!(Balancer::default().pick_read(&t, None), Some(0));
    }
}
