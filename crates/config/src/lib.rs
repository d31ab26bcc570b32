//! The proxy's configuration: the typed [`Config`] read from `proxy.yaml`, its defaults, and
//! the loader that checks it.
//!
//! This crate owns the file format and nothing else: it opens no sockets and keeps no global.
//! The server gets a [`Config`] (plain structs with `Duration`s, `SocketAddr`s and enums, every
//! default filled in, `*_env` secrets resolved, relative paths made relative to the file) and
//! hands it down as an `Arc<Config>`; a reload builds a new one.
//!
//! Loading is strict: unknown keys, values of the wrong type, and inconsistent settings are
//! errors, and one run reports every problem at once, each with its key path and position:
//!
//! ```text
//! proxy.yaml:12:7: servers[1].weight: must be > 0
//! proxy.yaml:14:5: users[0]: set exactly one of password or password_env
//! ```
//!
//! ```
//! use splitrail_config::{Config, Role};
//!
//! let config = Config::from_yaml_str(
//!     "users: [{ user: app, password: app }]\n\
//!      servers: [{ address: 127.0.0.1:13306, role: primary }]\n",
//! )
//! .unwrap();
//! assert_eq!(config.listen.port(), 6033);
//! assert_eq!(config.servers[0].role, Role::Primary);
//! assert_eq!(config.pool.max_size, 10);
//! ```
//!
//! `docs/configuration.md` documents every key; a test keeps it in sync with [`Config::key_paths`].
#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod duration;
mod error;
mod keys;
mod load;
mod monitor;
mod pool;
mod position;
mod routing;
mod servers;
mod tls;
mod users;
mod validate;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use error::{ConfigError, ConfigErrors, ErrorKind};
pub use load::Loader;
pub use monitor::MonitorConfig;
pub use pool::{PoolConfig, PoolMode};
pub use routing::{
    Balance, Consistency, HashKey, Pattern, ReplicationClients, RoutingConfig, Rule, RuleAction,
    RuleMatch, RuleTarget, parse_digest,
};
pub use servers::{Address, Role, Server};
pub use tls::{BackendTls, BackendTlsMode, ClientTls, TlsConfig};
pub use users::{Secret, User};

/// The whole configuration. Every key but `users` and `servers` has a default.
///
/// Build it with [`Config::load`], [`Config::from_yaml_str`] or a [`Loader`]: they also resolve
/// `*_env` secrets, rebase TLS paths and validate. Deserializing it directly with serde does
/// none of that. Serializing it (for an admin dump) shows secrets as `<redacted>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where clients connect.
    pub listen: SocketAddr,
    /// The admin HTTP API.
    pub admin: AdminConfig,
    /// Client connections accepted at once; more wait in the listen backlog.
    pub max_client_connections: u32,
    /// On SIGTERM/SIGINT, how long in-flight statements may finish before connections are
    /// closed. 0: close at once.
    #[serde(with = "duration")]
    pub shutdown_timeout: Duration,
    /// Worker threads, each with its own listener, sessions and pools. 0: half the cores (at
    /// least one) — the proxy usually shares the machine with its clients or servers, and a
    /// worker that serves more sessions per wake-up batches more (see `docs/benchmarks.md`).
    pub workers: u32,
    /// After a command starts or ends, how long a worker keeps polling its sockets before it
    /// sleeps (standing aside while that does not pay: see `busy_poll`); zero turns it off.
    #[serde(with = "duration")]
    pub busy_poll: Duration,
    /// Who may connect; also the credentials used towards the backends.
    pub users: Vec<User>,
    /// The backends.
    pub servers: Vec<Server>,
    /// Backend connection pools.
    pub pool: PoolConfig,
    /// Read balancing, consistency and rules.
    pub routing: RoutingConfig,
    /// Health and replication checks.
    pub monitor: MonitorConfig,
    /// TLS to clients and backends.
    pub tls: TlsConfig,
}

impl Config {
    /// How many worker threads to run: `workers`, or for 0 half the cores (at least one).
    pub fn worker_threads(&self) -> usize {
        match self.workers {
            0 => std::thread::available_parallelism()
                .map(|n| n.get() / 2)
                .unwrap_or(1)
                .max(1),
            n => n as usize,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 6033)),
            admin: AdminConfig::default(),
            max_client_connections: 10_000,
            shutdown_timeout: Duration::from_secs(25),
            workers: 0,
            busy_poll: Duration::from_micros(100),
            users: Vec::new(),
            servers: Vec::new(),
            pool: PoolConfig::default(),
            routing: RoutingConfig::default(),
            monitor: MonitorConfig::default(),
            tls: TlsConfig::default(),
        }
    }
}

/// The admin HTTP listener.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// Where the admin API listens. Loopback by default; any other address needs a token.
    pub listen: SocketAddr,
    /// The bearer token requests must carry. After loading, holds the token read from
    /// `token_env` too; `None`: no token is asked for.
    pub token: Option<Secret>,
    /// Read the token from this environment variable instead. At most one of the two.
    pub token_env: Option<String>,
    /// Statement shapes `/digests` keeps statistics for, at most (0: none are recorded);
    /// statements of further shapes are summed in one "other" row.
    pub max_digests: u32,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 6034)),
            token: None,
            token_env: None,
            max_digests: 10_000,
        }
    }
}

impl Config {
    /// Parses and validates YAML text, reading `*_env` secrets from the process environment.
    /// Relative TLS paths stay relative to the working directory. Errors are shown as
    /// `<config>:LINE:COL: …`; use a [`Loader`] to name the origin or inject the environment.
    pub fn from_yaml_str(text: &str) -> Result<Config, ConfigErrors> {
        Loader::new().from_yaml_str(text)
    }

    /// Reads, parses and validates the file at `path`, with the process environment.
    /// Relative TLS paths are taken from the file's directory.
    pub fn load(path: impl AsRef<Path>) -> Result<Config, ConfigErrors> {
        Loader::new().load(path)
    }

    /// Checks a config built in code (positions are unknown). The loader runs the same checks.
    pub fn validate(&self) -> Result<(), ConfigErrors> {
        let errors = validate::validate(self, &load::Dropped::default());
        if errors.is_empty() {
            return Ok(());
        }
        Err(ConfigErrors {
            origin: "<config>".into(),
            errors,
        })
    }

    /// The user the monitor logs in as: `monitor.user`, else the first of `users`.
    pub fn monitor_user(&self) -> Option<&User> {
        match &self.monitor.user {
            Some(name) => self.users.iter().find(|u| &u.user == name),
            None => self.users.first(),
        }
    }

    /// Every key path the format has, such as `servers[].weight` (list items as `[]`),
    /// sections included. `docs/configuration.md` must document exactly these.
    pub fn key_paths() -> Vec<String> {
        keys::key_paths()
    }
}

/// The SHA-256 (hex) of `bytes`: the fingerprint of a configuration's text (or of the
/// configuration in force) that `/status` shows and reloads compare.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
