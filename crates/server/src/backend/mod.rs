//! Backends, the proxy as a MySQL client: one connection ([`conn`]), what differs between
//! MariaDB and MySQL ([`flavor`]), the statements prepared on a connection ([`statements`]),
//! a connection brought to a session's state ([`state`]), and the per-worker pools
//! ([`pool`]). Below everything that routes or relays: it knows servers by index and address,
//! never sessions.
pub mod conn;
pub mod flavor;
pub mod pool;
pub mod state;
pub mod statements;

pub use conn::{BackendConn, Outcome, ResultFlags, TextRows};
pub use pool::{GlobalsEpoch, Lease, PoolKey, PoolLimits, Pools, State, Sticky};
