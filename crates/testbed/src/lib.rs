//! Test bed: real MariaDB servers — one primary and N replicas with GTID replication — started
//! from the `mariadbd` on this machine, each in its own data directory on free 127.0.0.1 ports.
//!
//! It exists so that every integration test of Splitrail runs against real MySQL-protocol servers
//! with real asynchronous replication, without Docker and without hand-started databases. It is
//! also what `scripts/dev-cluster.sh` uses to run the people-facing dev cluster on the fixed ports
//! 13306 (primary) and 13307 (replica).
//!
//! It never mocks MySQL, never skips silently (a missing `mariadbd` is an error that says how to
//! install it) and never leaves a process behind: every server a test starts is killed when its
//! handle drops — and, through a watchdog in the server's process group, also when the test process
//! dies without unwinding.
//!
//! The proxy user (`app` / `app` by default) has ordinary data privileges plus the monitoring ones
//! (`PROCESS`, `SLAVE MONITOR`, `BINLOG MONITOR`) and `REPLICATION SLAVE` (to read the binlog, as
//! change-data-capture clients do) but neither `SUPER` nor `READ_ONLY ADMIN`, so a write
//! misrouted to a `read_only` replica fails loudly with error 1290.
//!
//! ```no_run
//! use splitrail_testbed::{Cluster, ClusterConfig};
//!
//! let cluster = Cluster::start(ClusterConfig::with_replicas(1)).unwrap();
//! cluster.primary().sql("CREATE TABLE app.t (id INT PRIMARY KEY)").unwrap();
//! cluster.wait_replicas_caught_up().unwrap();
//! assert_eq!(cluster.replica(0).query_one("SELECT COUNT(*) FROM app.t").unwrap(), "0");
//! ```
//!
//! # Layout
//! - [`binaries`]: finding `mariadbd`, `mariadb-install-db` and the `mariadb` client.
//! - [`process`]: spawning a server in its own process group with a watchdog; signals.
//! - [`server`]: one `mariadbd` — its options, data directory, start/stop/kill, SQL via the client.
//! - [`certs`]: a throw-away CA and the certificates it signs, for TLS tests.
//! - [`cluster`]: primary + replicas, GTID replication, lag control, promotion, catch-up waits.
//! - `bin/devcluster.rs`: the `splitrail-devcluster up|down|status` command for people.
#![forbid(unsafe_code)]

pub mod binaries;
pub mod certs;
pub mod cluster;
pub mod error;
pub mod process;
pub mod server;

pub use cluster::{Cluster, ClusterConfig, ServerTls};
pub use error::Error;
pub use server::{Role, Server};

/// Returns a free TCP port on 127.0.0.1, as chosen by the kernel for a listener bound to port 0.
///
/// The port is free when this returns; a concurrent process may still take it before it is used,
/// which is why [`Cluster::start`] retries a server whose port turned out to be taken.
pub fn free_port() -> std::io::Result<u16> {
    use std::collections::HashSet;
    use std::sync::Mutex;
    // Never hand out the same port twice in one process, even after its first user stopped.
    static GIVEN: Mutex<Option<HashSet<u16>>> = Mutex::new(None);
    let mut given = GIVEN.lock().unwrap_or_else(|p| p.into_inner());
    loop {
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
        let port = listener.local_addr()?.port();
        if given.get_or_insert_with(HashSet::new).insert(port) {
            return Ok(port);
        }
    }
}

/// A cluster with `replicas` replicas shared by every test of this test binary that asks for the
/// same count; started on first use. Its servers die with the test process (see [`process`]).
///
/// Tests that stop, kill, pause or promote servers must start a [`Cluster`] of their own instead.
/// Panics with the start-up error (e.g. how to install `mariadbd`) when the cluster cannot start.
pub fn shared_cluster(replicas: usize) -> &'static Cluster {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    static SHARED: OnceLock<Mutex<HashMap<usize, &'static Cluster>>> = OnceLock::new();
    let mut map = SHARED
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    map.entry(replicas).or_insert_with(|| {
        match Cluster::start(ClusterConfig::with_replicas(replicas)) {
            Ok(cluster) => Box::leak(Box::new(cluster)),
            Err(err) => panic!("cannot start the MariaDB test bed: {err}"),
        }
    })
}
