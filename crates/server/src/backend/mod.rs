//! Backends: one connection ([`conn`]), the per-worker pools of them ([`pool`]), and the
//! connections several sessions' reads are pipelined on ([`mux`]).
pub mod conn;
pub mod mux;
pub mod pool;

pub use conn::{BackendConn, Outcome, ResultFlags, TextRows};
pub use pool::{Lease, PoolKey, PoolLimits, Pools, Sticky};
