//! The test bed: a real MariaDB cluster (the test binary's shared one or the test's own) with a
//! Splitrail proxy started in-process in front of it, and the proxy's `proxy.yaml` when it was
//! started from a file.
//!
//! - [`Bed::shared`]: the test binary's shared cluster (a primary and one replica) behind a proxy
//!   of the test's own. For tests that only read and write rows.
//! - [`Bed::own`]: a cluster of the test's own, for tests that stop, kill or count connections on
//!   servers.
//! - [`BedBuilder`]: the rest — more replicas, a cluster configuration of the test's own,
//!   settings per server, `role: auto`, or a proxy started from a `proxy.yaml` naming only some
//!   of the servers, which [`Bed::write_config`] rewrites (reload tests).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use splitrail_server::ProxyHandle;
use splitrail_server::config::Config;
use splitrail_testbed::{Cluster, Server};

use super::config::{ProxyYaml, parse};
use super::sql::{run, table};
use super::users::create_monitor_user;

mod builder;
pub use builder::BedBuilder;

/// The cluster behind a bed: the binary's shared one, or the test's own.
pub enum Backends {
    /// Shared by the tests of this binary that ask for the same replica count.
    Shared(&'static Cluster),
    /// Started for one test; its servers die with it.
    Own(Box<Cluster>),
}

impl Backends {
    /// The cluster.
    pub fn cluster(&self) -> &Cluster {
        match self {
            Backends::Shared(c) => c,
            Backends::Own(c) => c,
        }
    }
}

/// A proxy configuration (for [`Bed::another_proxy`]) with one worker and one connection per
/// server: sessions take turns on the same backend connections, so state one session leaves on
/// a connection would show in the next session that borrows it.
pub const ONE_CONNECTION: &str = "workers: 1\npool: { max_size: 1 }";

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
        BedBuilder::shared(1).start()
    }

    /// A cluster of the test's own with `replicas` replicas, behind a proxy whose configuration
    /// gets `extra_yaml` (top-level keys, e.g. `"pool: { max_size: 4 }"`) appended.
    pub fn own(replicas: usize, extra_yaml: &str) -> Bed {
        BedBuilder::own(replicas).yaml(extra_yaml).start()
    }

    /// Another proxy in front of the same cluster, configured like the bed's own plus
    /// `extra_yaml`; connect with [`opts_for`](super::opts_for).
    pub fn another_proxy(&self, extra_yaml: &str) -> ProxyHandle {
        start_proxy(ProxyYaml::new(self.cluster()).extra(extra_yaml).config())
    }

    /// The proxy's `proxy.yaml` ([`BedBuilder::config_file`] only).
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
        self.backends.cluster()
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

/// Starts a proxy in-process with `config` and waits for its first checks.
pub(super) fn start_proxy(config: Config) -> ProxyHandle {
    let proxy =
        splitrail_server::start(config).unwrap_or_else(|e| panic!("cannot start the proxy: {e}"));
    first_checks(&proxy);
    proxy
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
