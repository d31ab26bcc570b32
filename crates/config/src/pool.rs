//! `pool:` — backend connection pools, one per server (and per user / result-affecting flags).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::duration;

/// Pool sizes and timeouts. Every key has a default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PoolConfig {
    /// How long a client keeps a backend connection.
    pub mode: PoolMode,
    /// Idle connections kept open per pool. 0: open on demand only.
    pub min_idle: u32,
    /// Connections per pool at most (a server's `max_connections` overrides it).
    pub max_size: u32,
    /// How long a statement waits for a free connection before the client gets an error.
    #[serde(with = "duration")]
    pub acquire_timeout: Duration,
    /// An idle connection above `min_idle` is closed after this long.
    #[serde(with = "duration")]
    pub idle_timeout: Duration,
    /// Any connection is closed after this long (at its next return), to spread reconnects
    /// and stay under the server's `wait_timeout`.
    #[serde(with = "duration")]
    pub max_lifetime: Duration,
    /// TCP connect plus handshake and authentication to a backend, at most.
    #[serde(with = "duration")]
    pub connect_timeout: Duration,
    /// Prepared statements kept per backend connection (least recently used are closed),
    /// to stay under the server's `max_prepared_stmt_count`.
    pub max_prepared_statements: u32,
    /// Autocommit reads of different sessions with the same session state share one backend
    /// connection per worker, several in one write (see the server's `relay::mux`).
    pub pipeline: bool,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            mode: PoolMode::Transaction,
            min_idle: 0,
            max_size: 10,
            acquire_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(600),
            max_lifetime: Duration::from_secs(1800),
            connect_timeout: Duration::from_secs(5),
            max_prepared_statements: 256,
            pipeline: true,
        }
    }
}

impl PoolConfig {
    /// The pool size for `server`: its `max_connections`, else `max_size`.
    pub fn max_size_for(&self, server: &super::Server) -> u32 {
        server.max_connections.unwrap_or(self.max_size)
    }
}

/// Pooling mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PoolMode {
    /// A backend connection is borrowed per statement or per transaction; session state is
    /// replayed on the borrowed connection. Many clients share few connections.
    #[default]
    Transaction,
    /// A client keeps its backend connections for its whole session.
    Session,
}
