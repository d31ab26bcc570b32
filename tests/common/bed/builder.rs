//! The test bed builder: which cluster a [`Bed`] runs (the binary's shared one, or one of the
//! test's own from replica count or [`ClusterConfig`]) and what its proxy's configuration gets
//! beside what [`ProxyYaml`] always writes: extra YAML, settings per server, `role: auto`, or a
//! `proxy.yaml` file naming only some servers.

use splitrail_server::config::Config;
use splitrail_testbed::{Cluster, ClusterConfig, Server, shared_cluster};

use super::{Backends, Bed, start_proxy};
use crate::common::config::ProxyYaml;
use crate::common::users::create_monitor_user;

/// A [`Bed`] to be started: its cluster and what its proxy's configuration gets beside what
/// [`ProxyYaml`] always writes.
#[must_use = "the bed starts with `start`"]
pub struct BedBuilder {
    cluster: Wanted,
    extra_yaml: String,
    server_extra: Vec<String>,
    auto: bool,
    /// From a file naming this many servers (primary first).
    listed_in_file: Option<usize>,
}

/// The cluster a [`BedBuilder`] asks for.
enum Wanted {
    Shared(usize),
    Own(ClusterConfig),
}

impl BedBuilder {
    /// The binary's shared cluster with `replicas` replicas.
    pub fn shared(replicas: usize) -> Self {
        BedBuilder::new(Wanted::Shared(replicas))
    }

    /// A cluster of the test's own with `replicas` replicas.
    pub fn own(replicas: usize) -> Self {
        BedBuilder::cluster(ClusterConfig::with_replicas(replicas))
    }

    /// A cluster of the test's own started from `config`.
    pub fn cluster(config: ClusterConfig) -> Self {
        BedBuilder::new(Wanted::Own(config))
    }

    fn new(cluster: Wanted) -> Self {
        BedBuilder {
            cluster,
            extra_yaml: String::new(),
            server_extra: Vec::new(),
            auto: false,
            listed_in_file: None,
        }
    }

    /// The proxy's configuration gets `extra_yaml` (top-level keys, e.g.
    /// `"pool: { max_size: 4 }"`) appended.
    pub fn yaml(mut self, extra_yaml: &str) -> Self {
        self.extra_yaml = extra_yaml.to_string();
        self
    }

    /// The proxy's server entries get `per_server[i]` (e.g. `"weight: 3"`), for the servers in
    /// [`Cluster::servers`] order: primary first.
    pub fn server_yaml(mut self, per_server: &[&str]) -> Self {
        self.server_extra = per_server.iter().map(|s| s.to_string()).collect();
        self
    }

    /// Every server is configured `role: auto`: the monitor tells the primary from the replicas
    /// by `read_only`.
    pub fn auto_roles(mut self) -> Self {
        self.auto = true;
        self
    }

    /// The proxy is started from a `proxy.yaml` file that names only the first `listed` servers
    /// (primary first); see [`Bed::write_config`].
    pub fn config_file(mut self, listed: usize) -> Self {
        self.listed_in_file = Some(listed);
        self
    }

    /// Starts the cluster (unless shared) and the proxy. An in-process configuration is started
    /// and waited for until the monitor has checked every server once; a file's is started only.
    pub fn start(self) -> Bed {
        let backends = match self.cluster {
            Wanted::Shared(replicas) => Backends::Shared(shared_cluster(replicas)),
            Wanted::Own(config) => Backends::Own(Box::new(
                Cluster::start(config)
                    .unwrap_or_else(|e| panic!("cannot start the MariaDB test bed: {e}")),
            )),
        };
        let cluster = backends.cluster();
        create_monitor_user(cluster);
        let listed = self.listed_in_file.unwrap_or(cluster.servers().len());
        let servers: Vec<&Server> = cluster.servers().iter().take(listed).collect();
        let yaml = ProxyYaml::new(cluster)
            .servers(&servers)
            .extra(&self.extra_yaml)
            .auto_roles(self.auto)
            .server_extra(&self.server_extra);
        let (proxy, config_dir) = match self.listed_in_file {
            None => (start_proxy(yaml.config()), None),
            Some(_) => {
                let dir =
                    tempfile::tempdir().unwrap_or_else(|e| panic!("temporary directory: {e}"));
                let path = yaml.write_to(dir.path());
                let config = Config::load(&path)
                    .unwrap_or_else(|e| panic!("bad proxy configuration:\n{}\n{e}", yaml.text()));
                let proxy = splitrail_server::start_from_file(config, &path)
                    .unwrap_or_else(|e| panic!("cannot start the proxy: {e}"));
                (proxy, Some(dir))
            }
        };
        Bed {
            proxy,
            backends,
            config_dir,
        }
    }
}
