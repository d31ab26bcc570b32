//! The proxy configuration the harness writes: [`ProxyYaml`] builds the YAML text for (some
//! of) a cluster's servers, parses it, or writes it to a `proxy.yaml` file.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use splitrail_server::config::Config;
use splitrail_testbed::{Cluster, Server};

use super::users::{MONITOR_PASSWORD, MONITOR_USER, OTHER_PASSWORD, OTHER_USER};

/// The proxy configuration for servers of a cluster: ephemeral ports, users `app`,
/// [`OTHER_USER`] and [`MONITOR_USER`] (the monitor's, unless the extra YAML sets `monitor`),
/// the servers with their current roles (or all `auto`), a pool of 10 per server unless the
/// extra YAML sets `pool`, an admin API on an ephemeral port unless it sets `admin`, and no
/// drain on shutdown unless it sets `shutdown_timeout` (a test's clients may still be connected
/// when it drops).
pub struct ProxyYaml<'a> {
    cluster: &'a Cluster,
    servers: Vec<&'a Server>,
    auto: bool,
    server_extra: Vec<String>,
    extra: String,
}

impl<'a> ProxyYaml<'a> {
    /// Every server of `cluster` (primary first), with its current role and nothing extra.
    pub fn new(cluster: &'a Cluster) -> Self {
        ProxyYaml {
            cluster,
            servers: cluster.servers().iter().collect(),
            auto: false,
            server_extra: Vec::new(),
            extra: String::new(),
        }
    }

    /// Only `servers`, in this order.
    pub fn servers(mut self, servers: &[&'a Server]) -> Self {
        self.servers = servers.to_vec();
        self
    }

    /// With `auto`, every server is `role: auto`: the monitor tells the primary from the
    /// replicas by `read_only`.
    pub fn auto_roles(mut self, auto: bool) -> Self {
        self.auto = auto;
        self
    }

    /// `per_server[i]` (e.g. `"weight: 3"`) is added to the i-th server's entry.
    pub fn server_extra(mut self, per_server: &[impl AsRef<str>]) -> Self {
        self.server_extra = per_server.iter().map(|s| s.as_ref().to_string()).collect();
        self
    }

    /// `extra_yaml` (top-level keys, e.g. `"pool: { max_size: 4 }"`) is appended.
    pub fn extra(mut self, extra_yaml: &str) -> Self {
        self.extra = extra_yaml.to_string();
        self
    }

    /// The YAML text.
    pub fn text(&self) -> String {
        let sets = |key: &str| self.extra.lines().any(|l| l.starts_with(key));
        let mut yaml = String::from("listen: 127.0.0.1:0\n");
        if !sets("admin:") {
            yaml.push_str("admin: { listen: 127.0.0.1:0 }\n");
        }
        if !sets("shutdown_timeout:") {
            yaml.push_str("shutdown_timeout: 0s\n");
        }
        yaml.push_str("users:\n");
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
        let primary = self.cluster.primary().port();
        for (i, server) in self.servers.iter().enumerate() {
            let role = if self.auto {
                "auto"
            } else if server.port() == primary {
                "primary"
            } else {
                "replica"
            };
            let extra = match self.server_extra.get(i) {
                Some(extra) => format!(", {extra}"),
                None => String::new(),
            };
            let _ = writeln!(
                yaml,
                "  - {{ address: '{}', role: {role}{extra} }}",
                server.address()
            );
        }
        if !sets("pool:") {
            yaml.push_str("pool: { max_size: 10 }\n");
        }
        if !sets("monitor:") {
            let _ = writeln!(yaml, "monitor: {{ user: {MONITOR_USER} }}");
        }
        yaml.push_str(&self.extra);
        yaml.push('\n');
        yaml
    }

    /// The configuration, parsed; panics with the text when it does not parse.
    pub fn config(&self) -> Config {
        parse(&self.text())
    }

    /// Writes the text to `proxy.yaml` in `dir` and returns the file's path.
    pub fn write_to(&self, dir: &Path) -> PathBuf {
        let path = dir.join("proxy.yaml");
        std::fs::write(&path, self.text()).unwrap_or_else(|e| panic!("writing {path:?}: {e}"));
        path
    }
}

/// Parses `yaml` as a proxy configuration, panicking with the text and the problems.
pub fn parse(yaml: &str) -> Config {
    Config::from_yaml_str(yaml).unwrap_or_else(|e| panic!("bad proxy configuration:\n{yaml}\n{e}"))
}
