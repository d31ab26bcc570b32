//! Hot reload of `proxy.yaml`: on SIGHUP, `POST /reload`, or when the file's contents change
//! (polled every second), the file is read and checked again with the loader that checked it
//! at start. An invalid file changes nothing (the problems are logged, with line and column, and
//! `/reload` answers them); a valid one is applied without dropping a client:
//!
//! - servers: new addresses are appended (their index is new and stays theirs), a changed
//!   `role` / `weight` / `read_weight` takes effect for new picks, and a server left out is
//!   marked removed — it drains: no new work, what runs finishes, its idle connections close;
//!   servers found by discovery stay;
//! - users: new logins use the new list (sessions already open keep going);
//! - `routing`, `monitor`, the rest of `pool`, `admin.token`, `max_client_connections`,
//!   `shutdown_timeout`: in force for what starts after the reload;
//! - `listen`, `admin.listen`, `tls` and `pool.mode` need a restart: a change is logged as such
//!   and the running values stay.
//!
//! Every attempt counts in [`crate::metrics::Stats`] (`splitrail_reloads_total`).
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tracing::{info, warn};

use crate::config::{Address, Config, ConfigErrors, Loader};
use crate::topology::{Admission, ServerEntry, Topology};
use crate::worker::{ConfigSource, Shared};

/// How often the configuration file is read to see whether it changed.
pub const POLL_EVERY: Duration = Duration::from_secs(1);

/// Why a reload changed nothing.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The proxy was started from a [`Config`] value, not a file.
    #[error("the proxy was started without a configuration file: there is nothing to reload")]
    NoFile,
    /// The file cannot be read.
    #[error("{path}: cannot read the file: {reason}")]
    Unreadable {
        /// The file.
        path: String,
        /// The operating system's reason.
        reason: String,
    },
    /// The file has problems (each with its line, column and key).
    #[error("{0}")]
    Invalid(ConfigErrors),
}

impl ReloadError {
    /// One line per problem.
    pub fn problems(&self) -> Vec<String> {
        self.to_string().lines().map(str::to_string).collect()
    }
}

/// What a reload changed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Servers added (or brought back after a removal).
    pub added: Vec<String>,
    /// Servers removed: they drain.
    pub removed: Vec<String>,
    /// Servers whose role or weights changed.
    pub changed: Vec<String>,
    /// Whether the user list changed.
    pub users_changed: bool,
    /// Other sections whose values changed and are in force now.
    pub sections: Vec<&'static str>,
    /// Changes that need a restart and were not applied, one sentence each.
    pub needs_restart: Vec<String>,
}

/// Reads the configuration file again and applies it when it is valid; counts the attempt and
/// logs its outcome.
pub fn reload(shared: &Shared) -> Result<Summary, ReloadError> {
    let result = load_and_apply(shared);
    shared.stats.reloaded(result.is_ok());
    match &result {
        Ok(s) => info!(
            added = ?s.added,
            removed = ?s.removed,
            changed = ?s.changed,
            users_changed = s.users_changed,
            sections = ?s.sections,
            "configuration reloaded"
        ),
        Err(e) => warn!("configuration reload refused; the running configuration stays:\n{e}"),
    }
    result
}

fn load_and_apply(shared: &Shared) -> Result<Summary, ReloadError> {
    let path = shared.source().path.ok_or(ReloadError::NoFile)?;
    let text = std::fs::read_to_string(&path).map_err(|e| ReloadError::Unreadable {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    let config = Loader::new()
        .origin(path.display().to_string())
        .base_dir(path.parent().unwrap_or(Path::new("")))
        .from_yaml_str(&text)
        .map_err(ReloadError::Invalid)?;
    let summary = apply(shared, config);
    shared.set_source(ConfigSource {
        path: Some(path),
        sha256: crate::config::sha256_hex(text.as_bytes()),
    });
    Ok(summary)
}

/// Applies a valid configuration: the settings that need a restart keep their running values,
/// the server list is merged (see the module docs), and the result is published.
pub fn apply(shared: &Shared, mut config: Config) -> Summary {
    let _changes = shared.lock_changes();
    let old = shared.snapshot();
    let mut summary = Summary::default();
    keep_restart_only(&old.config, &mut config, &mut summary.needs_restart);
    for line in &summary.needs_restart {
        warn!("{line}");
    }
    let topology = merge_servers(&old.topology, &config, &mut summary);
    summary.users_changed = old.config.users != config.users;
    let (o, n) = (&old.config, &config);
    for (name, changed) in [
        ("routing", o.routing != n.routing),
        ("monitor", o.monitor != n.monitor),
        ("pool", o.pool != n.pool),
        ("admin", o.admin != n.admin),
        (
            "max_client_connections",
            o.max_client_connections != n.max_client_connections,
        ),
        ("shutdown_timeout", o.shutdown_timeout != n.shutdown_timeout),
    ] {
        if changed {
            summary.sections.push(name);
        }
    }
    shared.publish(Arc::new(config), topology);
    summary
}

/// Puts back the running values of settings that cannot change live, saying so for each one
/// the file changed.
fn keep_restart_only(old: &Config, new: &mut Config, notes: &mut Vec<String>) {
    let mut note = |key: &str, from: String, to: String| {
        notes.push(format!(
            "{key}: changed from {from} to {to}, which needs a restart; {from} stays in force"
        ));
    };
    if new.listen != old.listen {
        note("listen", old.listen.to_string(), new.listen.to_string());
        new.listen = old.listen;
    }
    if new.admin.listen != old.admin.listen {
        note(
            "admin.listen",
            old.admin.listen.to_string(),
            new.admin.listen.to_string(),
        );
        // The whole section: the new token was validated against the new address only.
        new.admin = old.admin.clone();
    }
    if new.workers != old.workers {
        note("workers", old.workers.to_string(), new.workers.to_string());
        new.workers = old.workers;
    }
    if new.busy_poll != old.busy_poll {
        note(
            "busy_poll",
            crate::config::duration::format(old.busy_poll),
            crate::config::duration::format(new.busy_poll),
        );
        new.busy_poll = old.busy_poll;
    }
    if new.pool.mode != old.pool.mode {
        note(
            "pool.mode",
            format!("{:?}", old.pool.mode).to_lowercase(),
            format!("{:?}", new.pool.mode).to_lowercase(),
        );
        new.pool.mode = old.pool.mode;
    }
    if new.tls != old.tls {
        notes.push(
            "tls: the TLS settings or files changed, which needs a restart; the certificates \
             loaded at start stay in force"
                .to_string(),
        );
        new.tls = old.tls.clone();
    }
}

/// The next server list: every index of `old` kept, configured servers updated or appended,
/// servers the configuration no longer names (and discovery did not find) marked removed.
fn merge_servers(old: &Topology, config: &Config, summary: &mut Summary) -> Topology {
    let mut servers = old.servers.clone();
    let mut named = vec![false; servers.len()];
    for s in &config.servers {
        let address = s.address.to_string();
        let Some(index) = old.find(&s.address) else {
            let index = servers.len();
            let entry = ServerEntry::new(index, s.address.clone(), s.role, s.weight, s.read_weight);
            servers.push(Arc::new(entry));
            named.push(true);
            summary.added.push(address);
            continue;
        };
        named[index] = true;
        let entry = &servers[index];
        let back = entry.admission() == Admission::Removed;
        let settings = (entry.role, entry.weight, entry.read_weight);
        if settings != (s.role, s.weight, s.read_weight) || entry.is_discovered() {
            let next = entry.reconfigured(s.role, s.weight, s.read_weight, false);
            servers[index] = Arc::new(next);
            if !back {
                summary.changed.push(address.clone());
            }
        }
        if back {
            servers[index].set_admission(Admission::Open);
            summary.added.push(address);
        }
    }
    for (entry, named) in servers.iter().zip(named) {
        if !named && !entry.is_discovered() && entry.admission() != Admission::Removed {
            entry.set_admission(Admission::Removed);
            summary.removed.push(entry.address.to_string());
        }
    }
    Topology { servers }
}

/// Appends the servers at `addresses` that the topology does not know (removed ones count as
/// known: a server taken out of the configuration is not brought back by discovery) as
/// discovered replicas. Returns the addresses added.
pub fn add_discovered(shared: &Shared, addresses: &[Address]) -> Vec<Address> {
    let _changes = shared.lock_changes();
    let old = shared.snapshot();
    let mut topology = Topology {
        servers: old.topology.servers.clone(),
    };
    let mut added = Vec::new();
    for address in addresses {
        if topology.find(address).is_none() {
            let index = topology.servers.len();
            let entry = ServerEntry::new_discovered(index, address.clone());
            topology.servers.push(Arc::new(entry));
            added.push(address.clone());
        }
    }
    if !added.is_empty() {
        shared.publish(old.config.clone(), topology);
    }
    added
}

/// Reloads whenever the configuration file's contents change (read every [`POLL_EVERY`]),
/// until shutdown. A file that stays invalid is tried once per change, not once per poll.
pub async fn watch_file(shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>) {
    let Some(path) = shared.source().path else {
        return;
    };
    let mut seen = shared.source().sha256;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(POLL_EVERY) => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
        // Unreadable for a moment (an editor replacing it): the next poll looks again.
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        let hash = crate::config::sha256_hex(&bytes);
        if hash == seen {
            continue;
        }
        seen = hash.clone();
        if hash != shared.source().sha256 {
            info!(file = %path.display(), "the configuration file changed; reloading");
            let _ = reload(&shared);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Role;

    fn config(servers: &str, extra: &str) -> Config {
        Config::from_yaml_str(&format!(
            "users: [{{ user: app, password: app }}]\nservers: [{servers}]\n{extra}"
        ))
        .unwrap()
    }

    fn shared(servers: &str) -> Shared {
        let config = config(servers, "");
        let tls = crate::tls::Tls::load(&config.tls).unwrap();
        Shared::new(Arc::new(config), tls)
    }

    const TWO: &str = "{ address: 'a:1', role: primary }, { address: 'b:1', role: replica }";

    #[test]
    fn servers_are_appended_changed_and_removed_with_stable_indexes() {
        let shared = shared(TWO);
        let generation = shared.generation();
        let next = config(
            "{ address: 'a:1', role: primary }, { address: 'c:1', role: replica, weight: 3 }",
            "",
        );
        let s = apply(&shared, next);
        assert_eq!(s.added, vec!["c:1"]);
        assert_eq!(s.removed, vec!["b:1"]);
        assert!(s.changed.is_empty() && !s.users_changed);
        assert!(shared.generation() > generation);
        let t = shared.topology();
        assert_eq!(t.servers.len(), 3);
        assert_eq!((t.servers[2].index, t.servers[2].weight), (2, 3));
        assert_eq!(t.servers[1].admission(), Admission::Removed);
        assert!(shared.stats.server(2).is_some());
        // Back again, with another weight: the same index, open again.
        let s = apply(
            &shared,
            config(&format!("{TWO}, {{ address: 'C:1', role: replica }}"), ""),
        );
        assert_eq!(
            (s.added.clone(), s.changed.clone()),
            (vec!["b:1".to_string()], vec!["C:1".to_string()])
        );
        let t = shared.topology();
        assert_eq!(t.servers.len(), 3);
        assert_eq!(t.servers[1].admission(), Admission::Open);
        assert_eq!(t.servers[2].weight, 1);
    }

    #[test]
    fn restart_only_settings_keep_their_running_values() {
        let shared = shared(TWO);
        let next = config(
            TWO,
            "listen: 127.0.0.1:7000\npool: { mode: session }\nrouting: { max_replication_lag: 3s }",
        );
        let s = apply(&shared, next);
        assert_eq!(s.needs_restart.len(), 2, "{:?}", s.needs_restart);
        assert!(s.needs_restart[0].starts_with("listen: changed from 127.0.0.1:6033"));
        assert_eq!(s.sections, vec!["routing"], "pool.mode was put back");
        let c = shared.config();
        assert_eq!(c.listen.port(), 6033);
        assert_eq!(c.pool.mode, crate::config::PoolMode::Transaction);
        assert_eq!(c.routing.max_replication_lag, Duration::from_secs(3));
    }

    #[test]
    fn discovered_servers_are_added_once_and_survive_a_reload() {
        let shared = shared(TWO);
        let at = |text: &str| text.parse::<Address>().unwrap();
        let added = add_discovered(&shared, &[at("d:1"), at("B:1"), at("d:1")]);
        assert_eq!(added, vec![at("d:1")]);
        let t = shared.topology();
        assert!(t.servers[2].is_discovered());
        assert_eq!(t.servers[2].role, Role::Replica);
        let s = apply(&shared, config(TWO, ""));
        assert!(s.removed.is_empty());
        assert!(shared.topology().servers[2].is_discovered());
        // Named by the configuration: configured from now on.
        let s = apply(
            &shared,
            config(&format!("{TWO}, {{ address: 'd:1', role: replica }}"), ""),
        );
        assert_eq!(s.changed, vec!["d:1"]);
        assert!(!shared.topology().servers[2].is_discovered());
    }

    #[test]
    fn no_file_means_no_reload_and_counts_as_failed() {
        let shared = shared(TWO);
        assert!(matches!(reload(&shared), Err(ReloadError::NoFile)));
        assert_eq!(
            shared
                .stats
                .reloads_failed
                .load(std::sync::atomic::Ordering::Relaxed),
            1
        );
    }
}
