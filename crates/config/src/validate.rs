//! Checks that a well-typed [`Config`] also makes sense, reporting every problem.
//!
//! Paths name list items as they are numbered in the file even when an earlier item was left
//! out for a type error (see [`Dropped`]).

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::hash::Hash;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use super::load::Dropped;
use super::{Config, ConfigError, ErrorKind, Role};

/// Largest `weight` / `read_weight`; beyond it a typo (`10000` for `100`) is the likelier story.
pub const MAX_WEIGHT: u32 = 10_000;

/// Collects problems as (kind, path, message).
#[derive(Default)]
struct Report(Vec<ConfigError>);

impl Report {
    fn add(&mut self, kind: ErrorKind, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(ConfigError::new(kind, path, message));
    }

    fn positive(&mut self, path: &str, value: u64) {
        if value == 0 {
            self.add(ErrorKind::InvalidValue, path, "must be > 0");
        }
    }

    fn not_empty(&mut self, path: impl Into<String>, value: Option<&str>) {
        if value == Some("") {
            self.add(ErrorKind::InvalidValue, path, "must not be empty");
        }
    }

    fn positive_duration(&mut self, path: &str, value: Duration) {
        if value.is_zero() {
            self.add(ErrorKind::InvalidValue, path, "must be > 0 (e.g. \"5s\")");
        }
    }

    fn file(&mut self, path: &str, file: &Path) {
        if !file.is_file() {
            let why = if file.exists() {
                "is not a file"
            } else {
                "does not exist"
            };
            self.add(ErrorKind::File, path, format!("{} {why}", file.display()));
        }
    }
}

/// Every semantic problem in `config`.
pub(super) fn validate(config: &Config, dropped: &Dropped) -> Vec<ConfigError> {
    let mut report = Report::default();
    top_level(config, &mut report);
    users(config, dropped, &mut report);
    servers(config, dropped, &mut report);
    pool(config, &mut report);
    routing(config, dropped, &mut report);
    monitor(config, &mut report);
    tls(config, &mut report);
    report.0
}

/// Largest `admin.max_digests`: a million shapes is already hundreds of MB of digest text.
const MAX_DIGESTS: u32 = 1_000_000;

fn top_level(config: &Config, report: &mut Report) {
    report.positive(
        "max_client_connections",
        config.max_client_connections.into(),
    );
    let admin = &config.admin;
    if clash(config.listen, admin.listen) {
        report.add(
            ErrorKind::Conflict,
            "admin.listen",
            format!("{} is also `listen`; use another port", admin.listen),
        );
    }
    report.not_empty("admin.token", admin.token.as_ref().map(|t| t.expose()));
    report.not_empty("admin.token_env", admin.token_env.as_deref());
    if admin.max_digests > MAX_DIGESTS {
        report.add(
            ErrorKind::InvalidValue,
            "admin.max_digests",
            format!("must be at most {MAX_DIGESTS}"),
        );
    }
    if !admin.listen.ip().is_loopback() && admin.token.is_none() && admin.token_env.is_none() {
        report.add(
            ErrorKind::Missing,
            "admin.listen",
            "an admin API reachable from other hosts needs admin.token or admin.token_env",
        );
    }
}

/// The path where `key` was first seen, or `None` (and `path` remembered) if this is the first.
fn first_seen<K: Hash + Eq>(seen: &mut HashMap<K, String>, key: K, path: &str) -> Option<String> {
    match seen.entry(key) {
        Entry::Occupied(first) => Some(first.get().clone()),
        Entry::Vacant(slot) => {
            slot.insert(path.to_string());
            None
        }
    }
}

/// Whether two listeners would fight over one port (port 0 picks a free port: never clashes).
fn clash(a: SocketAddr, b: SocketAddr) -> bool {
    a.port() == b.port()
        && a.port() != 0
        && (a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified())
}

fn users(config: &Config, dropped: &Dropped, report: &mut Report) {
    if config.users.is_empty() && !dropped.touched("users") {
        report.add(ErrorKind::Missing, "users", "at least one user is required");
    }
    let mut seen = HashMap::new();
    for (i, user) in config.users.iter().enumerate() {
        let path = dropped.item("users", i);
        report.not_empty(format!("{path}.user"), Some(&user.user));
        report.not_empty(format!("{path}.password_env"), user.password_env.as_deref());
        if let Some(first) = first_seen(&mut seen, user.user.as_str(), &path) {
            report.add(
                ErrorKind::Duplicate,
                format!("{path}.user"),
                format!("user {:?} is already defined at {first}", user.user),
            );
        }
    }
}

fn servers(config: &Config, dropped: &Dropped, report: &mut Report) {
    let touched = dropped.touched("servers");
    if config.servers.is_empty() && !touched {
        report.add(
            ErrorKind::Missing,
            "servers",
            "at least one server is required",
        );
    }
    let mut addresses = HashMap::new();
    let mut names = HashMap::new();
    let mut primary: Option<String> = None;
    for (i, server) in config.servers.iter().enumerate() {
        let path = dropped.item("servers", i);
        let address = server.address.to_string().to_lowercase();
        if let Some(first) = first_seen(&mut addresses, address, &path) {
            let message = format!("{} is already used by {first}", server.address);
            report.add(ErrorKind::Duplicate, format!("{path}.address"), message);
        }
        if let Some(name) = &server.name {
            server_name(name, &format!("{path}.name"), report);
            if let Some(first) = first_seen(&mut names, name.as_str(), &path) {
                let message = format!("{name:?} is already the name of {first}");
                report.add(ErrorKind::Duplicate, format!("{path}.name"), message);
            }
        }
        weights(server, &path, report);
        if server.max_connections == Some(0) {
            report.add(
                ErrorKind::InvalidValue,
                format!("{path}.max_connections"),
                "must be > 0",
            );
        }
        if let Some(max) = server
            .max_connections
            .filter(|&m| m > 0 && m < config.pool.min_idle)
        {
            report.add(
                ErrorKind::Conflict,
                format!("{path}.max_connections"),
                format!("{max} is below pool.min_idle ({})", config.pool.min_idle),
            );
        }
        if server.role == Role::Primary {
            match &primary {
                Some(first) => report.add(
                    ErrorKind::Conflict,
                    format!("{path}.role"),
                    format!("only one server may be primary, and {first} is; use role: auto to let the monitor decide"),
                ),
                None => primary = Some(path),
            }
        }
    }
    let auto = config.servers.iter().any(|s| s.role == Role::Auto);
    if primary.is_none() && !auto && !config.servers.is_empty() && !touched {
        report.add(
            ErrorKind::Missing,
            "servers",
            "no server has role: primary; mark the primary, or use role: auto to let the monitor find it",
        );
    }
}

fn server_name(name: &str, path: &str, report: &mut Report) {
    let valid = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':');
    if name.is_empty() || !name.chars().all(valid) {
        report.add(
            ErrorKind::InvalidValue,
            path,
            "must be letters, digits, '.', '-', '_' or ':' (it appears in metrics and admin URLs)",
        );
    }
}

fn weights(server: &super::Server, path: &str, report: &mut Report) {
    if server.weight == 0 {
        report.add(
            ErrorKind::InvalidValue,
            format!("{path}.weight"),
            "must be > 0",
        );
    }
    for (key, value) in [
        ("weight", server.weight),
        ("read_weight", server.read_weight),
    ] {
        if value > MAX_WEIGHT {
            let message = format!("must be at most {MAX_WEIGHT}");
            report.add(ErrorKind::InvalidValue, format!("{path}.{key}"), message);
        }
    }
    if server.role == Role::Replica && server.read_weight > 0 {
        report.add(
            ErrorKind::Conflict,
            format!("{path}.read_weight"),
            "applies to a primary (or auto) server only; a replica's share of reads is its weight",
        );
    }
}

fn pool(config: &Config, report: &mut Report) {
    let pool = &config.pool;
    report.positive("pool.max_size", pool.max_size.into());
    if pool.mode == super::PoolMode::Session && pool.max_size == 1 {
        report.add(
            ErrorKind::InvalidValue,
            "pool.max_size",
            "session pooling needs at least 2",
        );
    }
    report.positive(
        "pool.max_prepared_statements",
        pool.max_prepared_statements.into(),
    );
    if pool.min_idle > pool.max_size && pool.max_size > 0 {
        let message = format!(
            "{} is above pool.max_size ({})",
            pool.min_idle, pool.max_size
        );
        report.add(ErrorKind::Conflict, "pool.min_idle", message);
    }
    report.positive_duration("pool.acquire_timeout", pool.acquire_timeout);
    report.positive_duration("pool.idle_timeout", pool.idle_timeout);
    report.positive_duration("pool.max_lifetime", pool.max_lifetime);
    report.positive_duration("pool.connect_timeout", pool.connect_timeout);
}

fn routing(config: &Config, dropped: &Dropped, report: &mut Report) {
    let routing = &config.routing;
    report.positive_duration("routing.max_replication_lag", routing.max_replication_lag);
    report.positive_duration(
        "routing.read_after_write_window",
        routing.read_after_write_window,
    );
    for (i, rule) in routing.rules.iter().enumerate() {
        let path = dropped.item("routing.rules", i);
        if dropped.touched(&path) {
            continue; // a key of this rule had a bad value, reported already
        }
        if rule.matches.is_empty() {
            report.add(
                ErrorKind::Missing,
                format!("{path}.match"),
                "set at least one of user, schema, digest or regex",
            );
        }
        match (&rule.target, &rule.reject) {
            (Some(_), Some(_)) | (None, None) => {
                report.add(
                    ErrorKind::Conflict,
                    path.clone(),
                    "set exactly one of target or reject",
                );
            }
            (None, reject) => report.not_empty(format!("{path}.reject"), reject.as_deref()),
            (Some(_), None) => {}
        }
        let matches = &rule.matches;
        if let Some(user) = &matches.user
            && !config.users.iter().any(|u| &u.user == user)
            && !dropped.touched("users")
        {
            let message = format!("no user {user:?} in users");
            report.add(
                ErrorKind::InvalidValue,
                format!("{path}.match.user"),
                message,
            );
        }
        report.not_empty(format!("{path}.match.schema"), matches.schema.as_deref());
        if let Some(digest) = &matches.digest
            && super::routing::parse_digest(digest).is_none()
        {
            report.add(
                ErrorKind::InvalidValue,
                format!("{path}.match.digest"),
                format!("{digest:?} is not a digest: 1 to 16 hexadecimal digits"),
            );
        }
    }
}

fn monitor(config: &Config, report: &mut Report) {
    let monitor = &config.monitor;
    report.positive_duration("monitor.interval", monitor.interval);
    report.positive_duration("monitor.connect_timeout", monitor.connect_timeout);
    report.positive(
        "monitor.failure_threshold",
        monitor.failure_threshold.into(),
    );
    report.positive(
        "monitor.success_threshold",
        monitor.success_threshold.into(),
    );
    if let Some(user) = &monitor.user
        && !config.users.iter().any(|u| &u.user == user)
    {
        report.add(
            ErrorKind::InvalidValue,
            "monitor.user",
            format!("no user {user:?} in users"),
        );
    }
}

fn tls(config: &Config, report: &mut Report) {
    if let Some(client) = &config.tls.client {
        report.file("tls.client.cert", &client.cert);
        report.file("tls.client.key", &client.key);
    }
    let backend = &config.tls.backend;
    match &backend.ca {
        Some(ca) if backend.mode == super::BackendTlsMode::Disabled => report.add(
            ErrorKind::Conflict,
            "tls.backend.ca",
            format!("{} is unused with mode: disabled", ca.display()),
        ),
        Some(ca) => report.file("tls.backend.ca", ca),
        None if backend.mode.verifies() => report.add(
            ErrorKind::Missing,
            "tls.backend.ca",
            "is required by mode: verify_ca and verify_identity",
        ),
        None => {}
    }
}
