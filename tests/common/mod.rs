//! The harness of the proxy's integration tests: a real MariaDB cluster from the test bed, a
//! Splitrail proxy started in-process in front of it, and real clients — `mysql_async` and the
//! `mariadb` command-line client — talking to the proxy.
//!
//! - [`Bed::shared`]: the test binary's shared cluster (a primary and one replica) behind a proxy
//!   of the test's own. For tests that only read and write rows.
//! - [`Bed::own`]: a cluster of the test's own, for tests that stop, kill or count connections on
//!   servers.
//! - [`Bed::own_from_file`]: the same with the proxy started from a `proxy.yaml` naming only some
//!   of the servers, which [`Bed::write_config`] rewrites (reload tests).
//!
//! The proxy listens on a port the kernel picks; nothing here uses a fixed port, and no sleep
//! stands in for an assertion: waits poll a condition with a generous deadline.
#![allow(dead_code)] // each test binary uses its own part of the harness

use std::fmt::Write as _;
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
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
    /// The directory of the proxy's `proxy.yaml`, when it was started from a file.
    config_dir: Option<tempfile::TempDir>,
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

    /// A cluster of the test's own started from `config`, behind a proxy as in [`Bed::own`].
    pub fn own_config(config: ClusterConfig, extra_yaml: &str) -> Bed {
        let cluster = Cluster::start(config)
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

    /// A cluster of the test's own with `replicas` replicas, behind a proxy started from a
    /// `proxy.yaml` file that names only the first `listed` servers (primary first).
    pub fn own_from_file(replicas: usize, listed: usize, extra_yaml: &str) -> Bed {
        let cluster = Cluster::start(ClusterConfig::with_replicas(replicas))
            .unwrap_or_else(|e| panic!("cannot start the MariaDB test bed: {e}"));
        create_monitor_user(&cluster);
        let servers: Vec<&Server> = cluster.servers().iter().take(listed).collect();
        let yaml = proxy_yaml(&cluster, &servers, extra_yaml, false, &[]);
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temporary directory: {e}"));
        let path = dir.path().join("proxy.yaml");
        std::fs::write(&path, &yaml).unwrap_or_else(|e| panic!("writing {path:?}: {e}"));
        let config =
            Config::load(&path).unwrap_or_else(|e| panic!("bad proxy configuration:\n{yaml}\n{e}"));
        let proxy = splitrail_server::start_from_file(config, &path)
            .unwrap_or_else(|e| panic!("cannot start the proxy: {e}"));
        Bed {
            proxy,
            backends: Backends::Own(Box::new(cluster)),
            config_dir: Some(dir),
        }
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
        let all: Vec<&Server> = cluster.servers().iter().collect();
        let yaml = proxy_yaml(cluster, &all, extra_yaml, auto, servers);
        let config = Config::from_yaml_str(&yaml)
            .unwrap_or_else(|e| panic!("bad proxy configuration:\n{yaml}\n{e}"));
        let proxy = splitrail_server::start(config)
            .unwrap_or_else(|e| panic!("cannot start the proxy: {e}"));
        first_checks(&proxy);
        Bed {
            proxy,
            backends,
            config_dir: None,
        }
    }

    /// The proxy's `proxy.yaml` ([`Bed::own_from_file`] only).
    pub fn config_path(&self) -> PathBuf {
        match &self.config_dir {
            Some(dir) => dir.path().join("proxy.yaml"),
            None => panic!("this proxy was not started from a file"),
        }
    }

    /// Rewrites the proxy's `proxy.yaml` as the harness writes it, naming `servers` (in that
    /// order) and with `extra_yaml`. Nothing reloads it by itself but the proxy's file watch.
    pub fn write_config(&self, servers: &[&Server], extra_yaml: &str) {
        self.write_config_text(&self.config_yaml(servers, extra_yaml));
    }

    /// The configuration text the harness writes for `servers` and `extra_yaml`.
    pub fn config_yaml(&self, servers: &[&Server], extra_yaml: &str) -> String {
        proxy_yaml(self.cluster(), servers, extra_yaml, false, &[])
    }

    /// Writes `text` as the proxy's `proxy.yaml` (replacing it in one rename, as editors do).
    pub fn write_config_text(&self, text: &str) {
        let path = self.config_path();
        let tmp = path.with_extension("yaml.new");
        std::fs::write(&tmp, text).unwrap_or_else(|e| panic!("writing {tmp:?}: {e}"));
        std::fs::rename(&tmp, &path).unwrap_or_else(|e| panic!("renaming to {path:?}: {e}"));
    }

    /// Starts one more replica in the test's own cluster (the monitor user included) and waits
    /// until it has caught up; the proxy is not told.
    pub fn add_replica(&mut self) -> &Server {
        let Backends::Own(cluster) = &mut self.backends else {
            panic!("replicas can be added to a cluster of the test's own only");
        };
        let port = cluster
            .add_replica()
            .unwrap_or_else(|e| panic!("adding a replica: {e}"))
            .port();
        create_monitor_user(cluster);
        let server = cluster.servers().iter().find(|s| s.port() == port);
        server.unwrap_or_else(|| panic!("the new replica is not in the cluster"))
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
        opts_for(&self.proxy)
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

    /// Another proxy in front of the same cluster, configured like the bed's own plus
    /// `extra_yaml`; connect with [`opts_for`].
    pub fn another_proxy(&self, extra_yaml: &str) -> ProxyHandle {
        let servers: Vec<&Server> = self.cluster().servers().iter().collect();
        let yaml = proxy_yaml(self.cluster(), &servers, extra_yaml, false, &[]);
        let config = Config::from_yaml_str(&yaml)
            .unwrap_or_else(|e| panic!("bad proxy configuration:\n{yaml}\n{e}"));
        let proxy = splitrail_server::start(config)
            .unwrap_or_else(|e| panic!("cannot start the proxy: {e}"));
        first_checks(&proxy);
        proxy
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

    /// Options for `root` straight to replica `i`, past the proxy (whose user may not stop
    /// replication).
    pub fn replica_root(&self, i: usize) -> OptsBuilder {
        OptsBuilder::default()
            .ip_or_hostname("127.0.0.1")
            .tcp_port(self.replica(i).port())
            .user(Some("root"))
            .prefer_socket(false)
    }

    /// Creates a table `app.<prefix>_…` with `columns` through the proxy, waits until the
    /// replicas have it, and returns its name.
    pub async fn new_table(&self, prefix: &str, columns: &str) -> String {
        let t = table(prefix);
        let mut conn = self.conn().await;
        run(&mut conn, &format!("CREATE TABLE {t} ({columns})")).await;
        self.caught_up();
        t
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

/// Creates [`MONITOR_USER`] on every running server of `cluster`. Idempotent. REPLICATION
/// MASTER ADMIN lets it list a primary's replicas (`SHOW SLAVE HOSTS`, for discovery).
fn create_monitor_user(cluster: &Cluster) {
    let sql = format!(
        "SET SESSION sql_log_bin = 0;
         CREATE USER IF NOT EXISTS '{MONITOR_USER}'@'%' IDENTIFIED BY '{MONITOR_PASSWORD}';
         GRANT REPLICATION CLIENT, SLAVE MONITOR, REPLICATION MASTER ADMIN ON *.*
             TO '{MONITOR_USER}'@'%';"
    );
    for server in cluster.servers() {
        if server.is_running() {
            server
                .sql(&sql)
                .unwrap_or_else(|e| panic!("creating {MONITOR_USER}: {e}"));
        }
    }
}

/// The proxy configuration for `servers` of `cluster`: ephemeral ports, users `app`,
/// [`OTHER_USER`] and [`MONITOR_USER`] (the monitor's, unless `extra_yaml` sets `monitor`), the
/// servers with their current roles (all `auto` with `auto`), pool of 10 per server unless
/// `extra_yaml` sets `pool`, and no drain on shutdown (a test's clients may still be connected
/// when it drops). `server_extra[i]` is added to the i-th server's entry.
fn proxy_yaml(
    cluster: &Cluster,
    servers: &[&Server],
    extra_yaml: &str,
    auto: bool,
    server_extra: &[&str],
) -> String {
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
    for (i, server) in servers.iter().enumerate() {
        let role = if auto {
            "auto"
        } else if server.port() == primary {
            "primary"
        } else {
            "replica"
        };
        let extra = match server_extra.get(i) {
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

/// Waits (a few seconds at most) until the proxy's monitor has checked every server once, so
/// a test starts from what the monitor knows (roles, GTID positions) rather than a race with
/// its first checks. Servers that cannot be reached are not waited for past the deadline.
fn first_checks(proxy: &ProxyHandle) {
    let deadline = Instant::now() + Duration::from_secs(5);
    let topology = proxy.shared().topology();
    while Instant::now() < deadline
        && topology
            .servers
            .iter()
            .any(|s| s.since_last_check().is_none())
    {
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Options for a client of the proxy `proxy` as `app`.
pub fn opts_for(proxy: &ProxyHandle) -> OptsBuilder {
    let url = format!(
        "mysql://app:app@127.0.0.1:{}/app",
        proxy.local_addr().port()
    );
    let opts = Opts::from_url(&url).unwrap_or_else(|e| panic!("bad URL: {e}"));
    OptsBuilder::from_opts(opts).prefer_socket(false)
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

/// Reads on fresh sessions until one is answered by the server with `server_id` `want` (the
/// balancer may need a round, the monitor a check), for up to 30 s.
pub async fn wait_reads_on(bed: &Bed, want: u32) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut conn = bed.conn().await;
        if server_id(&mut conn).await == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "reads never reached server {want}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
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

/// A proxy whose admin API asks for `token` and whose only server, `127.0.0.1:1`, does not
/// exist: for admin API checks that need no backend.
pub fn proxy_without_backend(token: &str) -> ProxyHandle {
    let config = Config::from_yaml_str(&format!(
        "listen: 127.0.0.1:0\n\
         admin: {{ listen: 127.0.0.1:0, token: {token} }}\n\
         shutdown_timeout: 0s\n\
         users: [{{ user: app, password: app }}]\n\
         servers: [{{ address: '127.0.0.1:1', role: primary }}]\n"
    ))
    .unwrap_or_else(|e| panic!("bad proxy configuration: {e}"));
    splitrail_server::start(config).unwrap_or_else(|e| panic!("cannot start the proxy: {e}"))
}

/// An answer: status code, headers (lower-case names) and body.
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// The header block, lower-cased.
    pub headers: String,
    /// The body.
    pub body: String,
}

impl Answer {
    /// The body as JSON, panicking when it is not.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// Sends `method path` to the admin API, with `Authorization: Bearer token` when given.
pub fn request(addr: SocketAddr, method: &str, path: &str, token: Option<&str>) -> Answer {
    let mut stream = TcpStream::connect(addr).expect("connect to the admin API");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).expect("read the answer");
    let (head, body) = raw.split_once("\r\n\r\n").expect("a header block");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line: {head}"));
    Answer {
        status,
        headers: head.to_lowercase(),
        body: body.to_string(),
    }
}

/// `GET path` without a token.
pub fn get(addr: SocketAddr, path: &str) -> Answer {
    request(addr, "GET", path, None)
}

/// The `splitrail` binary running as a process of its own in front of a bed's cluster, from a
/// `proxy.yaml` in a temporary directory; stopped with SIGTERM when dropped.
pub struct ProxyProcess {
    child: std::process::Child,
    dir: tempfile::TempDir,
    /// Where MySQL clients connect.
    pub port: u16,
    /// The admin API.
    pub admin: SocketAddr,
}

impl ProxyProcess {
    /// Starts the binary with the harness's configuration for `bed`'s servers plus
    /// `extra_yaml`, and waits until it accepts clients.
    pub fn start(bed: &Bed, extra_yaml: &str) -> ProxyProcess {
        let free = || splitrail_testbed::free_port().expect("a free port");
        let (port, admin_port) = (free(), free());
        let servers: Vec<&Server> = bed.cluster().servers().iter().collect();
        let yaml = proxy_yaml(bed.cluster(), &servers, extra_yaml, false, &[])
            .replace(
                "listen: 127.0.0.1:0\n",
                &format!("listen: 127.0.0.1:{port}\n"),
            )
            .replace(
                "admin: { listen: 127.0.0.1:0 }",
                &format!("admin: {{ listen: 127.0.0.1:{admin_port} }}"),
            );
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("proxy.yaml");
        std::fs::write(&file, yaml).expect("writing proxy.yaml");
        let child = Command::new(env!("CARGO_BIN_EXE_splitrail"))
            .arg("--config")
            .arg(&file)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting splitrail");
        let proxy = ProxyProcess {
            child,
            dir,
            port,
            admin: SocketAddr::from(([127, 0, 0, 1], admin_port)),
        };
        wait_until(
            "the proxy process accepts clients",
            Duration::from_secs(30),
            || TcpStream::connect(("127.0.0.1", port)).is_ok(),
        );
        proxy
    }

    /// Its `proxy.yaml`.
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("proxy.yaml")
    }

    /// Options for a client of this proxy as `app`.
    pub fn opts(&self) -> OptsBuilder {
        OptsBuilder::default()
            .ip_or_hostname("127.0.0.1")
            .tcp_port(self.port)
            .user(Some("app"))
            .pass(Some("app"))
            .db_name(Some("app"))
            .prefer_socket(false)
    }

    /// The CPU time (user and system) the process has used so far.
    pub fn cpu_time(&self) -> Duration {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))
            .expect("reading the proxy's /proc stat");
        // After the command name in parentheses: state, ppid, … utime (14th), stime (15th).
        let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        let fields: Vec<u64> = after_name
            .split_whitespace()
            .skip(11)
            .take(2)
            .map(|f| f.parse().expect("a tick count"))
            .collect();
        // Linux reports these in USER_HZ, 100 per second on every architecture it exports.
        Duration::from_millis(fields.iter().sum::<u64>() * 10)
    }

    /// Sends it a signal (`kill -<signal>`).
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("running kill");
        assert!(status.success(), "kill -{signal} failed");
    }
}

impl Drop for ProxyProcess {
    fn drop(&mut self) {
        self.signal("TERM");
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
