//! The proxy configuration the harness writes: the users it configures on every proxy and the
//! YAML text for a cluster's servers.

use std::fmt::Write as _;

use splitrail_testbed::{Cluster, Server};

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

/// The proxy configuration for `servers` of `cluster`: ephemeral ports, users `app`,
/// [`OTHER_USER`] and [`MONITOR_USER`] (the monitor's, unless `extra_yaml` sets `monitor`), the
/// servers with their current roles (all `auto` with `auto`), pool of 10 per server unless
/// `extra_yaml` sets `pool`, and no drain on shutdown (a test's clients may still be connected
/// when it drops). `server_extra[i]` is added to the i-th server's entry.
pub fn proxy_yaml(
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
