//! Backends: one connection ([`conn`]) and the per-worker pools of them ([`pool`]).
pub mod conn;
pub mod mux;
pub mod pool;

pub use conn::{BackendConn, Outcome, ResultFlags, TextRows};
pub use pool::{Lease, PoolKey, PoolLimits, Pools, Sticky};
