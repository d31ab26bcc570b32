//! Moving a backend's answers to clients: the one place a response is streamed, its final OK
//! decoded and its GTID recorded before the client can see it.
//!
//! - [`stream`]: one session's statement on a connection it holds — frames go from the
//!   backend's read buffer to the client as they arrive ([`stream::relay`]).
//! - [`mux`]: pipelining — one connection per worker and session state on which many
//!   sessions' autocommit reads are queued, written in one flush and answered in order, each
//!   answer handed to its session through a bounded channel.
//!
//! Below the worker and the sessions (a mux reaches its worker through [`mux::MuxHost`]),
//! above the backend connections, the client stream and the consistency tracker.
pub mod mux;
pub mod stream;

pub use stream::{RelayError, Relayed, Statement, relay};
