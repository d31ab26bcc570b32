//! The test bed: a real MariaDB cluster (the test binary's shared one or the test's own) with
//! a Splitrail proxy started in-process in front of it; the proxy's configuration file when it
//! was started from one, and the users the harness creates on the servers.
//!
//! - [`Bed::shared`]: the test binary's shared cluster (a primary and one replica) behind a proxy
//!   of the test's own. For tests that only read and write rows.
//! - [`Bed::own`]: a cluster of the test's own, for tests that stop, kill or count connections on
//!   servers.
//! - [`Bed::own_from_file`]: the same with the proxy started from a `proxy.yaml` naming only some
//!   of the servers, which [`Bed::write_config`] rewrites (reload tests).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use splitrail_server::ProxyHandle;
use splitrail_server::config::Config;
use splitrail_testbed::{Cluster, ClusterConfig, Server, shared_cluster};

use super::config::{MONITOR_PASSWORD, MONITOR_USER, OTHER_PASSWORD, OTHER_USER, ProxyYaml, parse};
use super::sql::{run, table};

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
        let yaml = ProxyYaml::new(&cluster).servers(&servers).extra(extra_yaml);
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temporary directory: {e}"));
        let path = yaml.write_to(dir.path());
        let config = Config::load(&path)
            .unwrap_or_else(|e| panic!("bad proxy configuration:\n{}\n{e}", yaml.text()));
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
        let config = ProxyYaml::new(cluster)
            .extra(extra_yaml)
            .auto_roles(auto)
            .server_extra(servers)
            .config();
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
        ProxyYaml::new(self.cluster())
            .servers(servers)
            .extra(extra_yaml)
            .text()
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
    /// Another proxy in front of the same cluster, configured like the bed's own plus
    /// `extra_yaml`; connect with [`opts_for`](super::opts_for).
    pub fn another_proxy(&self, extra_yaml: &str) -> ProxyHandle {
        let config = ProxyYaml::new(self.cluster()).extra(extra_yaml).config();
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

/// A proxy whose admin API asks for `token` and whose only server, `127.0.0.1:1`, does not
/// exist: for admin API checks that need no backend.
pub fn proxy_without_backend(token: &str) -> ProxyHandle {
    let config = parse(&format!(
        "listen: 127.0.0.1:0\n\
         admin: {{ listen: 127.0.0.1:0, token: {token} }}\n\
         shutdown_timeout: 0s\n\
         users: [{{ user: app, password: app }}]\n\
         servers: [{{ address: '127.0.0.1:1', role: primary }}]\n"
    ));
    splitrail_server::start(config).unwrap_or_else(|e| panic!("cannot start the proxy: {e}"))
}
