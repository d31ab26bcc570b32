//! The Splitrail proxy server: listener, client sessions, backend pools, monitor, admin.
//!
//! The only crate in the workspace that owns sockets, processes' signals and time.
//!
//! # Layout
//!
//! - [`config`]: the typed, validated `proxy.yaml` — [`config::Config`] and its sections, the
//!   loader that reports every problem with its key path and line, and the duration format.
#![forbid(unsafe_code)]

pub mod config;
