//! `monitor:` — the per-server health, role and replication checks.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::duration;

/// Health checks. Every key has a default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MonitorConfig {
    /// Time between two checks of a server.
    #[serde(with = "duration")]
    pub interval: Duration,
    /// TCP connect plus handshake for a check, at most.
    #[serde(with = "duration")]
    pub connect_timeout: Duration,
    /// Consecutive failed checks before a server is marked down.
    pub failure_threshold: u32,
    /// Consecutive good checks before a down server is used again.
    pub success_threshold: u32,
    /// Find the primary's replicas (`SHOW SLAVE HOSTS` / `SHOW REPLICAS`) and use them
    /// without a config edit.
    pub discovery: bool,
    /// The `users` entry the monitor logs in as. Unset: the first user.
    pub user: Option<String>,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        MonitorConfig {
            interval: Duration::from_secs(1),
            connect_timeout: Duration::from_secs(1),
            failure_threshold: 3,
            success_threshold: 2,
            discovery: false,
            user: None,
        }
    }
}
