//! The harness of the proxy's integration tests: a real MariaDB cluster from the test bed, a
//! Splitrail proxy started in-process in front of it, and real clients — `mysql_async` and the
//! `mariadb` command-line client — talking to the proxy.
//!
//! - [`Bed::shared`]: the test binary's shared cluster (a primary and one replica) behind a proxy
//!   of the test's own. For tests that only read and write rows.
//! - [`Bed::own`]: a cluster of the test's own, for tests that stop, kill or count connections on
//!   servers.
//!
//! The proxy listens on a port the kernel picks; nothing here uses a fixed port, and no sleep
//! stands in for an assertion: waits poll a condition with a generous deadline.
#![allow(dead_code)] // each test binary uses its own part of the harness

use std::fmt::Write as _;
use std::io::Write as _;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use mysql_async::prelude::*;
use mysql_async::{Conn, Opts, OptsBuilder, Pool};
use splitrail_server::ProxyHandle;
use splitrail_server::config::Config;
use splitrail_testbed::{Cluster, ClusterConfig, Server, shared_cluster};

/// A second proxy user, configured on every proxy the harness starts; it exists on the servers
/// only after [`Bed::create_other_user`].
pub const OTHER_USER: &str = "other";
/// Its password.
pub const OTHER_PASSWORD: &str = "other-pw";

/// The user the proxy's monitor logs in as: created on every server by the harness (outside
/// the binlog) with the privileges to read replication status, so the monitor's connections
/// never count among `app`'s.
pub const MONITOR_USER: &str = "monitor";
/// Its password.
pub const MONITOR_PASSWORD: &str = "monitor-pw";

/// The cluster behind a bed: the binary's shared one, or the test's own.
pub enum Backends {
    /// Shared by the tests of this binary that ask for the same replica count.
    Shared(&'static Cluster),
    /// Started for one test; its servers die with it.
    Own(Box<Cluster>),
}

/// A proxy in front of a cluster.
pub struct Bed {
    /// Declared first so it shuts down before an own cluster's servers are killed.
    pub proxy: ProxyHandle,
    backends: Backends,
}

impl Bed {
    /// The binary's shared cluster (primary + 1 replica) behind a new proxy.
    pub fn shared() -> Bed {
        Bed::start(Backends::Shared(shared_cluster(1)), "")
    }

    /// A cluster of the test's own with `replicas` replicas, behind a proxy whose configuration
    /// gets `extra_yaml` (top-level keys, e.g. `"pool: { max_size: 4 }"`) appended.
    pub fn own(replicas: usize, extra_yaml: &str) -> Bed {
        let cluster = Cluster::start(ClusterConfig::with_replicas(replicas))
            .unwrap_or_else(|e| panic!("cannot start the MariaDB test bed: {e}"));
        Bed::start(Backends::Own(Box::new(cluster)), extra_yaml)
    }

    /// As [`Bed::own`], but every server is configured `role: auto`: the monitor tells the
    /// primary from the replicas by `read_only`.
    pub fn own_auto(replicas: usize, extra_yaml: &str) -> Bed {
        let cluster = Cluster::start(ClusterConfig::with_replicas(replicas))
            .unwrap_or_else(|e| panic!("cannot start the MariaDB test bed: {e}"));
        Bed::start_with(Backends::Own(Box::new(cluster)), extra_yaml, true, &[])
    }

    /// The binary's shared cluster with `replicas` replicas behind a new proxy whose server
    /// entries get `servers[i]` (e.g. `"weight: 3"`, for the servers in [`Cluster::servers`]
    /// order: primary first) and whose configuration gets `extra_yaml`.
    pub fn shared_with(replicas: usize, servers: &[&str], extra_yaml: &str) -> Bed {
        Bed::start_with(
            Backends::Shared(shared_cluster(replicas)),
            extra_yaml,
            false,
            servers,
        )
    }

    fn start(backends: Backends, extra_yaml: &str) -> Bed {
        Bed::start_with(backends, extra_yaml, false, &[])
    }

    fn start_with(backends: Backends, extra_yaml: &str, auto: bool, servers: &[&str]) -> Bed {
        let cluster = match &backends {
            Backends::Shared(c) => *c,
            Backends::Own(c) => &**c,
        };
        create_monitor_user(cluster);
        let yaml = proxy_yaml(cluster, extra_yaml, auto, servers);
        let config = Config::from_yaml_str(&yaml)
            .unwrap_or_else(|e| panic!("bad proxy configuration:\n{yaml}\n{e}"));
        let proxy = splitrail_server::start(config)
            .unwrap_or_else(|e| panic!("cannot start the proxy: {e}"));
        Bed { proxy, backends }
    }

    /// The cluster.
    pub fn cluster(&self) -> &Cluster {
        match &self.backends {
            Backends::Shared(c) => c,
            Backends::Own(c) => c,
        }
    }

    /// The primary.
    pub fn primary(&self) -> &Server {
        self.cluster().primary()
    }

    /// The `i`-th replica.
    pub fn replica(&self, i: usize) -> &Server {
        self.cluster().replica(i)
    }

    /// The proxy's port.
    pub fn port(&self) -> u16 {
        self.proxy.local_addr().port()
    }

    /// `mysql://app:app@127.0.0.1:PORT/app`.
    pub fn url(&self) -> String {
        format!("mysql://app:app@127.0.0.1:{}/app", self.port())
    }

    /// Options for a client of the proxy as `app`, ready for more settings.
    pub fn opts(&self) -> OptsBuilder {
        let opts = Opts::from_url(&self.url()).unwrap_or_else(|e| panic!("bad URL: {e}"));
        OptsBuilder::from_opts(opts).prefer_socket(false)
    }

    /// Options as `user` / `password`.
    pub fn opts_as(&self, user: &str, password: &str) -> OptsBuilder {
        self.opts().user(Some(user)).pass(Some(password))
    }

    /// A `mysql_async` pool of connections to the proxy.
    pub fn pool(&self) -> Pool {
        Pool::new(self.opts())
    }

    /// One connection to the proxy, i.e. one client session.
    pub async fn conn(&self) -> Conn {
        connect(self.opts()).await
    }

    /// Runs the `mariadb` client against the proxy as `app` with `args` (e.g.
    /// `["-e", "select 1"]`), feeding `stdin` to it.
    pub fn mariadb_cli(&self, args: &[&str], stdin: &str) -> Output {
        mariadb_cli(self.port(), args, stdin)
    }

    /// Runs the `mariadb` client as [`Bed::mariadb_cli`] does and returns what it printed,
    /// panicking with its error output when it fails.
    pub fn mariadb_ok(&self, args: &[&str], stdin: &str) -> String {
        let out = self.mariadb_cli(args, stdin);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "mariadb {args:?} failed: {stderr}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs the `mariadb` client, expecting it to fail; returns its error output.
    pub fn mariadb_err(&self, args: &[&str], stdin: &str) -> String {
        let out = self.mariadb_cli(args, stdin);
        assert!(!out.status.success(), "mariadb {args:?} succeeded");
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// Creates [`OTHER_USER`] on every server, outside the binlog (as the test bed creates
    /// `app`), with the same privileges on the `app` schema. Idempotent.
    pub fn create_other_user(&self) {
        let sql = format!(
            "SET SESSION sql_log_bin = 0;
             CREATE USER IF NOT EXISTS '{OTHER_USER}'@'%' IDENTIFIED BY '{OTHER_PASSWORD}';
             GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, CREATE TEMPORARY TABLES
                 ON app.* TO '{OTHER_USER}'@'%';"
        );
        for server in self.cluster().servers() {
            if server.is_running() {
                server
                    .sql(&sql)
                    .unwrap_or_else(|e| panic!("creating {OTHER_USER}: {e}"));
            }
        }
    }

    /// Waits until every running replica has applied everything the primary wrote.
    pub fn caught_up(&self) {
        self.cluster()
            .wait_replicas_caught_up()
            .unwrap_or_else(|e| panic!("replicas did not catch up: {e}"));
    }

    /// Client connections of `user` a server has open now (its PROCESSLIST, read as root).
    pub fn connections_of(server: &Server, user: &str) -> usize {
        let n = server
            .query_one(&format!(
                "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = '{user}'"
            ))
            .unwrap_or_else(|e| panic!("reading {}'s processlist: {e}", server.name()));
        n.parse().unwrap_or_else(|e| panic!("count {n:?}: {e}"))
    }
}

/// Creates [`MONITOR_USER`] on every running server of `cluster`. Idempotent.
fn create_monitor_user(cluster: &Cluster) {
    let sql = format!(
        "SET SESSION sql_log_bin = 0;
         CREATE USER IF NOT EXISTS '{MONITOR_USER}'@'%' IDENTIFIED BY '{MONITOR_PASSWORD}';
         GRANT REPLICATION CLIENT, SLAVE MONITOR ON *.* TO '{MONITOR_USER}'@'%';"
    );
    for server in cluster.servers() {
        if server.is_running() {
            server
                .sql(&sql)
                .unwrap_or_else(|e| panic!("creating {MONITOR_USER}: {e}"));
        }
    }
}

/// The proxy configuration for `cluster`: ephemeral ports, users `app`, [`OTHER_USER`] and
/// [`MONITOR_USER`] (the monitor's, unless `extra_yaml` sets `monitor`), the cluster's servers
/// with their current roles (all `auto` with `auto`), pool of 10 per server unless `extra_yaml`
/// sets `pool`, and no drain on shutdown (a test's clients may still be connected when it drops).
/// `servers[i]` is added to the i-th server's entry.
fn proxy_yaml(cluster: &Cluster, extra_yaml: &str, auto: bool, servers: &[&str]) -> String {
    let mut yaml = String::from(
        "listen: 127.0.0.1:0\nadmin: { listen: 127.0.0.1:0 }\nshutdown_timeout: 0s\nusers:\n",
    );
    let _ = writeln!(yaml, "  - {{ user: app, password: app }}");
    let _ = writeln!(
        yaml,
        "  - {{ user: {OTHER_USER}, password: {OTHER_PASSWORD} }}"
    );
    let _ = writeln!(
        yaml,
        "  - {{ user: {MONITOR_USER}, password: {MONITOR_PASSWORD} }}"
    );
    yaml.push_str("servers:\n");
    let primary = cluster.primary().port();
    for (i, server) in cluster.servers().iter().enumerate() {
        let role = if auto {
            "auto"
        } else if server.port() == primary {
            "primary"
        } else {
            "replica"
        };
        let extra = match servers.get(i) {
            Some(extra) => format!(", {extra}"),
            None => String::new(),
        };
        let _ = writeln!(
            yaml,
            "  - {{ address: '{}', role: {role}{extra} }}",
            server.address()
        );
    }
    if !extra_yaml.lines().any(|l| l.starts_with("pool:")) {
        yaml.push_str("pool: { max_size: 10 }\n");
    }
    if !extra_yaml.lines().any(|l| l.starts_with("monitor:")) {
        let _ = writeln!(yaml, "monitor: {{ user: {MONITOR_USER} }}");
    }
    yaml.push_str(extra_yaml);
    yaml.push('\n');
    yaml
}

/// Connects with `opts`, panicking with the error.
pub async fn connect(opts: impl Into<Opts>) -> Conn {
    match Conn::new(opts.into()).await {
        Ok(conn) => conn,
        Err(e) => panic!("cannot connect to the proxy: {e}"),
    }
}

/// `@@server_id` of the backend that answers a plain read on `conn`.
pub async fn server_id(conn: &mut Conn) -> u32 {
    one(conn, "SELECT @@server_id").await
}

/// The first column of the first row of `sql`, panicking on an error or no row.
pub async fn one<T: FromValue + Send + 'static>(conn: &mut Conn, sql: &str) -> T {
    match conn.query_first::<T, _>(sql).await {
        Ok(Some(v)) => v,
        Ok(None) => panic!("{sql}: no row"),
        Err(e) => panic!("{sql}: {e}"),
    }
}

/// Runs `sql`, discarding any result, panicking on an error.
pub async fn run(conn: &mut Conn, sql: &str) {
    if let Err(e) = conn.query_drop(sql).await {
        panic!("{sql}: {e}");
    }
}

/// The MySQL error number of a server error (also what the proxy sends for a lost backend).
pub fn server_code(e: &mysql_async::Error) -> Option<u16> {
    match e {
        mysql_async::Error::Server(s) => Some(s.code),
        _ => None,
    }
}

/// Runs the `mariadb` client against a proxy on `port` as `app`.
pub fn mariadb_cli(port: u16, args: &[&str], stdin: &str) -> Output {
    let client = splitrail_testbed::binaries::Binaries::locate()
        .unwrap_or_else(|e| panic!("no mariadb client: {e}"))
        .client;
    let mut child = Command::new(client)
        .arg("--no-defaults")
        .arg("--protocol=tcp")
        .arg("-h127.0.0.1")
        .arg(format!("-P{port}"))
        .arg("-uapp")
        .arg("--connect-timeout=10")
        .arg("--batch")
        .arg("--skip-column-names")
        .args(args)
        .env("MYSQL_PWD", "app")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run the mariadb client: {e}"));
    if let Some(mut input) = child.stdin.take() {
        input
            .write_all(stdin.as_bytes())
            .unwrap_or_else(|e| panic!("writing to the mariadb client: {e}"));
    }
    child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("waiting for the mariadb client: {e}"))
}

/// Polls `check` until it is true, panicking with `what` after `within`.
pub fn wait_until(what: &str, within: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A table name unique to this test process and call, so tests sharing a cluster never meet.
pub fn table(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "app.{prefix}_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}
