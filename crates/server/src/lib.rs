//! The Splitrail proxy server: listener, client sessions, backend pools, routing.
//!
//! The only crate in the workspace that owns sockets, threads, signals and time. It speaks the
//! MySQL protocol through `splitrail-protocol` and asks `splitrail-router` where each statement
//! goes; it never parses SQL or packets itself.
//!
//! ```no_run
//! let config = splitrail_server::config::Config::load("proxy.yaml").unwrap();
//! let proxy = splitrail_server::start(config).unwrap();
//! println!("listening on {}", proxy.local_addr());
//! proxy.wait();
//! ```
//!
//! # Layout
//!
//! - [`config`]: the typed, validated `proxy.yaml` — [`config::Config`] and its sections, the
//!   loader that reports every problem with its key path and line, and the duration format.
//! - [`runtime`]: worker threads, `SO_REUSEPORT` listeners, accepting clients, shutdown.
//! - [`worker`]: what is shared between workers ([`worker::Shared`]) and what each owns.
//! - [`busy_poll`]: a lightly loaded worker polls its sockets briefly instead of sleeping.
//! - [`client`]: what the proxy offers clients, and the handshake and authentication.
//! - [`session`]: one client session — command dispatch, statement execution, state sync,
//!   response relay.
//! - [`backend`]: backend connections (the proxy as a MySQL client) and per-worker pools.
//! - [`monitor`]: the per-server health, role and replication-lag checks, and replica
//!   discovery.
//! - [`reload`]: applying a changed `proxy.yaml` at runtime (SIGHUP, `POST /reload`, file
//!   change).
//! - [`consistency`]: read-your-writes — the global write position, read requirements, waits.
//! - [`gtid`]: GTID sets of both flavours, parsed, merged and compared.
//! - [`topology`]: the backend servers, their roles and health.
//! - [`balance`]: read balancing over them (one balancer per worker).
//! - [`io`]: a framed packet stream over a socket.
//! - [`tls`]: client and backend streams (plain or TLS), certificates, backend TLS modes.
//! - [`admin`]: the admin HTTP API (`/status`, `/sessions`, `/explain`, `/metrics`, `/reload`,
//!   server drain / enable) and the counters it reads.
//! - [`error`]: the server's [`Error`], with its side, retry verdict and MySQL code.
#![forbid(unsafe_code)]

pub mod admin;
pub mod backend;
pub mod balance;
pub mod busy_poll;
pub mod client;
pub mod consistency;
pub mod error;
pub mod gtid;
pub mod io;
pub mod monitor;
pub mod reload;
pub mod runtime;
pub mod session;
pub mod tls;
pub mod topology;
pub mod worker;

pub use error::{Error, Result};
pub use runtime::{ProxyHandle, start, start_from_file};
/// The configuration (the `splitrail-config` crate), under the name the server has always used.
pub use splitrail_config as config;
