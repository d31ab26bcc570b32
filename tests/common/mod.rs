//! The harness of the proxy's integration tests: a real MariaDB cluster from the test bed, a
//! Splitrail proxy started in-process in front of it, and real clients — `mysql_async` and the
//! `mariadb` command-line client — talking to the proxy.
//!
//! - [`bed`]: the test bed ([`Bed`]), a cluster with a proxy in front of it, and its builder.
//! - [`config`]: the proxy configuration the harness writes.
//! - [`sql`]: connecting to a proxy and running statements.
//! - [`users`]: the users beside `app`, created on the servers.
//! - [`admin`]: the client of the proxy's admin HTTP API.
//! - [`process`]: the proxy as a child process, and the `mariadb` client.
//! - [`wait`]: polling a condition with a deadline.
//!
//! The proxy listens on a port the kernel picks; nothing here uses a fixed port, and no sleep
//! stands in for an assertion: waits poll a condition with a generous deadline.
#![allow(dead_code)] // each test binary uses its own part of the harness

pub mod admin;
pub mod bed;
pub mod config;
pub mod process;
pub mod sql;
pub mod users;
pub mod wait;

// What the tests import, each binary a part of it.
#[allow(unused_imports)]
pub use admin::{Answer, counter, get, request};
#[allow(unused_imports)]
pub use bed::{Backends, Bed, BedBuilder, ONE_CONNECTION, proxy_without_backend};
#[allow(unused_imports)]
pub use process::{ProxyProcess, mariadb_cli};
#[allow(unused_imports)]
pub use sql::{
    connect, field, one, opts_for, run, server_code, server_id, table, wait_reads_on,
    wait_reads_through,
};
#[allow(unused_imports)]
pub use users::{MONITOR_PASSWORD, MONITOR_USER, OTHER_PASSWORD, OTHER_USER};
#[allow(unused_imports)]
pub use wait::wait_until;
