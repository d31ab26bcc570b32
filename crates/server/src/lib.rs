//! The Splitrail proxy server: listener, client sessions, backend pools, monitor, admin.
//!
//! The only crate in the workspace that owns sockets, processes' signals and time.
#![forbid(unsafe_code)]
