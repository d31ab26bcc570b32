//! The proxy's counters: what the statement path, the pools and the reloads add to, and what
//! the admin API reads and renders (`/status`, `/digests`, Prometheus `/metrics`).
//!
//! - [`stats`]: [`Stats`], relaxed atomics shared by every worker — per server statements,
//!   errors, in-flight counts, latency histograms, pool gauges and acquire waits; routing
//!   decisions by target and reason; reloads, consistency waits and fallbacks.
//! - [`digests`]: [`digests::Digests`], per statement shape counts and times, a shard per
//!   worker.
//!
//! To add a metric: a field (and its method) in [`Stats`], the line that adds to it where the
//! event happens, and its rendering in `admin/metrics.rs`. This room imports nothing of the
//! server's: every layer above may count into it.
pub mod digests;
pub mod stats;

pub use stats::{InFlight, ServerStats, Stats, target_index};
