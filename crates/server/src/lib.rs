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
//! Rooms, bottom first; each uses only the rooms above it in this list (the layer rule of
//! `docs/ARCHITECTURE.md`, checked by `tests/layers.rs`):
//!
//! - [`config`]: the `splitrail-config` crate — the typed, validated `proxy.yaml`.
//! - [`error`]: the server's [`Error`], with its side, retry verdict and MySQL code.
//! - [`io`]: a framed packet stream over a socket. [`gtid`]: GTID sets of both flavours.
//! - [`metrics`]: the counters every layer adds to and the admin API reads.
//! - [`tls`]: client and backend streams (plain or TLS), certificates, backend TLS modes.
//! - [`backend`]: the proxy as a MySQL client — connections, per-flavour SQL, statement cache,
//!   session state replay, per-worker pools.
//! - [`topology`]: the backend servers, their roles and health. [`balance`]: read balancing.
//! - [`consistency`]: read-your-writes — the global write position, read requirements, waits.
//! - [`client`]: what the proxy offers clients, and the handshake and authentication.
//! - [`relay`]: answers streamed to clients, and pipelined connections.
//! - [`worker`]: what workers share ([`worker::Shared`]), what each owns, the session
//!   registry, busy polling.
//! - [`session`]: one client session — command dispatch, statements, state sync, prepared
//!   statements, read-your-writes.
//! - [`reload`]: applying a changed `proxy.yaml` at runtime.
//! - [`monitor`]: per-server health, role and lag checks, and replica discovery.
//! - [`admin`]: the admin HTTP API (`/status`, `/sessions`, `/explain`, `/metrics`, …).
//! - [`runtime`]: worker threads, `SO_REUSEPORT` listeners, accepting clients, shutdown.
#![forbid(unsafe_code)]

pub mod admin;
pub mod backend;
pub mod balance;
pub mod client;
pub mod consistency;
pub mod error;
pub mod gtid;
pub mod io;
pub mod metrics;
pub mod monitor;
pub mod relay;
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
