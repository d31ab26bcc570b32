//! The backend monitor: one task per server, every `monitor.interval`, on a thread of its own
//! (with its own tokio runtime) so checks never share a worker's event loop.
//!
//! A check logs in as `config.monitor_user()` (the connection is kept between checks and
//! re-opened after a failure, with a back-off), pings, reads `@@read_only`, the GTID
//! position and `@@server_id` (binlog clients may not take a replica's), and on a replica its
//! replication status (MariaDB `SHOW ALL SLAVES STATUS`, MySQL `SHOW REPLICA STATUS`). What it
//! learns goes into the server's [`ServerEntry`] (atomics), where the statement path reads it
//! without a lock.
//!
//! Replication lag, in milliseconds, is the larger of
//! - `Seconds_Behind_Master` × 1000 (unknown ⇒ [`LAG_UNKNOWN`] when the SQL thread is stopped or
//!   the value is NULL), and
//! - the GTID distance in time: when a replica's applied position is behind the primary's
//!   binlog position (as the primary's own task last read it), the monitor remembers that target
//!   and when it saw it; until the replica has applied it, the lag is at least the time since.
//!
//! States (see [`Health`]): `up`; `lagging` (lag above `routing.max_replication_lag`);
//! `down` after `monitor.failure_threshold` failed checks in a row, and back after
//! `monitor.success_threshold` good ones. Every change is logged once at info. A drain (admin
//! API or reload) is not the monitor's to undo: it lives beside the state, in the server's
//! admission ([`crate::topology::Admission`]).
//!
//! The server list can grow while the monitor runs (reload, discovery): the monitor follows
//! every publish ([`Shared::watch_changes`]), starting a task for each server it does not watch
//! yet; a task ends when its server is removed. Each check reads the configuration in force.
//!
//! Position fetches (`routing.consistency: cluster`): a task of its own on this thread answers
//! the reads' fetches of the primary's GTID position one at a time (see
//! [`crate::consistency::cluster`]), on a monitor-user connection to the primary kept between
//! fetches.
//!
//! Discovery (`monitor.discovery: true`): after each good check of the primary, its task lists
//! the primary's replicas (MariaDB `SHOW SLAVE HOSTS`, MySQL `SHOW REPLICAS`; the replicas set
//! `report_host` / `report_port`) and adds the `host:port` pairs not known yet as replicas
//! (see [`crate::reload::add_discovered`]). They start `down` and serve reads after
//! `monitor.success_threshold` good checks in a row, within the lag limit.
use std::collections::HashMap;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::backend::{BackendConn, ResultFlags, TextRows};
use crate::config::Role;
use crate::error::{Error, Result};
use crate::gtid::GtidSet;
use crate::topology::{Admission, LAG_UNKNOWN, ServerEntry, ServerState};
use crate::worker::Shared;

/// Starts the monitor thread; it stops when `shutdown` turns `true`.
pub fn start(
    shared: Arc<Shared>,
    shutdown: watch::Receiver<bool>,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("splitrail-monitor".into())
        .spawn(move || {
            let Some(runtime) = crate::worker::thread_runtime("monitor") else {
                return;
            };
            runtime.block_on(supervise(shared, shutdown));
        })
}

/// Keeps one task per server that is not removed, following every publish, until shutdown.
async fn supervise(shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>) {
    let mut changes = shared.watch_changes();
    let mut tasks = tokio::task::JoinSet::new();
    let fetcher = tokio::spawn(fetch_positions(shared.clone()));
    // Server index by task, so a task that ended (its server removed) or failed frees its
    // server for a new task.
    let mut watched: HashMap<tokio::task::Id, usize> = HashMap::new();
    loop {
        for entry in &shared.topology().servers {
            let known = watched.values().any(|&i| i == entry.index);
            if entry.admission() != Admission::Removed && !known {
                let task = watch_server(shared.clone(), entry.index, shutdown.clone());
                watched.insert(tasks.spawn(task).id(), entry.index);
            }
        }
        tokio::select! {
            changed = changes.changed() => if changed.is_err() { break },
            Some(ended) = tasks.join_next_with_id(), if !tasks.is_empty() => {
                let id = match ended {
                    Ok((id, _)) => id,
                    Err(e) => {
                        warn!(error = %e, "a server's monitor task failed; starting it again");
                        e.id()
                    }
                };
                watched.remove(&id);
            }
            _ = shutdown.wait_for(|stop| *stop) => break,
        }
    }
    tasks.abort_all();
    fetcher.abort();
    while tasks.join_next().await.is_some() {}
}

/// Answers the position fetches of `consistency: cluster` reads, one at a time, until aborted.
async fn fetch_positions(shared: Arc<Shared>) {
    let cluster = &shared.causal.cluster;
    let mut conn: Option<BackendConn> = None;
    loop {
        let number = cluster.next_fetch().await;
        shared
            .stats
            .position_fetches
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let limit = crate::consistency::cluster::fetch_limit(&shared.config());
        let outcome = match tokio::time::timeout(limit, primary_position(&shared, &mut conn)).await
        {
            Ok(Ok(position)) => Some(position),
            Ok(Err(e)) => {
                debug!(error = %e, "reading the primary's position failed");
                conn = None;
                None
            }
            Err(_) => {
                debug!(?limit, "the primary's position: no answer in time");
                conn = None;
                None
            }
        };
        if let Some(position) = &outcome {
            shared.causal.primary_position(position);
        }
        cluster.finish(number, outcome);
    }
}

/// Reads the current primary's GTID position on `conn` (opened, or re-opened when the primary
/// changed, as the monitor user).
async fn primary_position(shared: &Shared, conn: &mut Option<BackendConn>) -> Result<GtidSet> {
    let topology = shared.topology();
    let entry = topology
        .primary()
        .and_then(|i| topology.servers.get(i))
        .ok_or(Error::NoPrimary)?;
    if conn.as_ref().is_some_and(|c| c.server != entry.index) {
        *conn = None;
    }
    let conn = match conn {
        Some(conn) => conn,
        None => conn.insert(connect_as_monitor(shared, entry.index, &entry.address).await?),
    };
    let sql = conn.flavor.position_sql();
    let rows = match conn.query_rows(sql).await? {
        Ok(rows) => rows,
        Err(err) => return Err(conn.refused(sql, &err)),
    };
    let text = rows
        .rows
        .first()
        .and_then(|row| row.first().cloned().flatten())
        .unwrap_or_default();
    GtidSet::parse(&text).map_err(|e| Error::ProxyStatement {
        server: conn.address.clone(),
        what: sql.to_string(),
        code: 0,
        message: format!("unreadable GTID position {text:?}: {}", e.0),
    })
}

/// A connection to server `index` as the monitor user (no CLIENT_DEPRECATE_EOF, as
/// [`BackendConn::query_rows`] wants).
async fn connect_as_monitor(
    shared: &Shared,
    index: usize,
    address: &crate::config::Address,
) -> Result<BackendConn> {
    let config = shared.config();
    let user = config
        .monitor_user()
        .ok_or_else(|| Error::Config("no user for the monitor (monitor.user)".into()))?;
    let flags = ResultFlags {
        found_rows: false,
        deprecate_eof: false,
    };
    BackendConn::connect(
        index,
        address,
        &user.user,
        user.password.expose().as_bytes(),
        flags,
        config.monitor.connect_timeout,
        &shared.tls.backend,
    )
    .await
}

/// The `host:port` of each replica a primary lists (`SHOW SLAVE HOSTS`: `Host`, `Port`;
/// `SHOW REPLICAS` the same). Rows without a host (no `report_host`), with a port that is not
/// a number, or with a host that is not a valid address are skipped; IPv6 hosts get brackets.
pub fn parse_replica_hosts(rows: &TextRows) -> Vec<crate::config::Address> {
    (0..rows.rows.len())
        .filter_map(|row| {
            let host = rows.get(row, "Host")?.trim();
            let port = rows.get(row, "Port")?.trim();
            let text = if host.contains(':') {
                format!("[{host}]:{port}")
            } else {
                format!("{host}:{port}")
            };
            text.parse().ok()
        })
        .collect()
}

/// One replication channel's status, from `SHOW ALL SLAVES STATUS` / `SHOW REPLICA STATUS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaStatus {
    /// The SQL (applier) thread is running.
    pub sql_running: bool,
    /// The IO (receiver) thread is running.
    pub io_running: bool,
    /// `Seconds_Behind_Master` / `Seconds_Behind_Source`; `None` when NULL.
    pub seconds_behind: Option<u64>,
}

/// The channels of a status result (no row: the server does not replicate).
pub fn parse_replica_status(rows: &TextRows) -> Vec<ReplicaStatus> {
    let pick = |row: usize, names: &[&str]| names.iter().find_map(|n| rows.get(row, n));
    (0..rows.rows.len())
        .map(|row| ReplicaStatus {
            sql_running: pick(row, &["Slave_SQL_Running", "Replica_SQL_Running"])
                .is_some_and(|v| v.eq_ignore_ascii_case("yes")),
            io_running: pick(row, &["Slave_IO_Running", "Replica_IO_Running"])
                .is_some_and(|v| v.eq_ignore_ascii_case("yes")),
            seconds_behind: pick(row, &["Seconds_Behind_Master", "Seconds_Behind_Source"])
                .and_then(|v| v.trim().parse().ok()),
        })
        .collect()
}

/// Lag in milliseconds from the status of every channel: the worst; [`LAG_UNKNOWN`] when a
/// channel's SQL thread is stopped or its lag is NULL while it receives; 0 with no channel.
///
/// A channel whose receiver is disconnected (its primary is down, or being failed over) says
/// NULL too, but its applier runs: what it lags by is then told by the GTID distance to the
/// primary's last known position alone, so a replica that has applied everything the primary
/// wrote keeps serving reads while the primary is away.
pub fn status_lag_ms(channels: &[ReplicaStatus]) -> u64 {
    channels
        .iter()
        .map(|c| match (c.sql_running, c.seconds_behind) {
            (true, Some(s)) => s.saturating_mul(1000),
            (true, None) if !c.io_running => 0,
            _ => LAG_UNKNOWN,
        })
        .max()
        .unwrap_or(0)
}

/// Turns "behind the primary's GTID position" into a time: the target the replica has not
/// reached yet and since when it was known.
#[derive(Debug, Default)]
pub struct GtidLag {
    pending: Option<(GtidSet, Instant)>,
}

impl GtidLag {
    /// Updates with the replica's applied position and the primary's current one at `now`;
    /// returns the lag implied (0 when caught up with everything it was shown).
    pub fn observe(&mut self, applied: &GtidSet, primary: &GtidSet, now: Instant) -> Duration {
        if let Some((target, _)) = &self.pending
            && applied.contains(target)
        {
            self.pending = None;
        }
        if self.pending.is_none() && !applied.contains(primary) {
            self.pending = Some((primary.clone(), now));
        }
        self.pending
            .as_ref()
            .map(|(_, since)| now.saturating_duration_since(*since))
            .unwrap_or_default()
    }

    /// Forgets the target (the server is no longer a replica, or its primary changed).
    pub fn reset(&mut self) {
        self.pending = None;
    }
}

/// The outcome of one check, for [`Health::observe`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Observation {
    /// The server answered; `lagging` when its lag is above the limit.
    Reachable {
        /// Lag beyond `routing.max_replication_lag` (or replication stopped).
        lagging: bool,
    },
    /// The check failed (connect, login, ping or a query).
    Failed,
}

/// The state machine of one server: consecutive failures and successes against the thresholds.
#[derive(Debug)]
pub struct Health {
    state: ServerState,
    failures: u32,
    successes: u32,
    failure_threshold: u32,
    success_threshold: u32,
}

impl Health {
    /// Starts `up` (a server is assumed usable until checks say otherwise).
    pub fn new(failure_threshold: u32, success_threshold: u32) -> Self {
        Health {
            state: ServerState::Up,
            failures: 0,
            successes: 0,
            failure_threshold: failure_threshold.max(1),
            success_threshold: success_threshold.max(1),
        }
    }

    /// The same thresholds, starting `down` (a server not known to work yet).
    pub fn down(self) -> Self {
        Health {
            state: ServerState::Down,
            ..self
        }
    }

    /// The current state.
    pub fn state(&self) -> ServerState {
        self.state
    }

    /// Consecutive failed checks so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Takes one check's outcome; returns the new state when it changed.
    pub fn observe(&mut self, observation: Observation) -> Option<ServerState> {
        let next = match observation {
            Observation::Failed => {
                self.successes = 0;
                self.failures = self.failures.saturating_add(1);
                if self.failures >= self.failure_threshold {
                    ServerState::Down
                } else {
                    self.state
                }
            }
            Observation::Reachable { lagging } => {
                self.failures = 0;
                self.successes = self.successes.saturating_add(1);
                if self.state == ServerState::Down && self.successes < self.success_threshold {
                    ServerState::Down
                } else if lagging {
                    ServerState::Lagging
                } else {
                    ServerState::Up
                }
            }
        };
        (next != self.state).then(|| {
            self.state = next;
            next
        })
    }
}

/// What one successful check read.
#[derive(Debug)]
struct Reading {
    read_only: bool,
    /// `@@server_id`, when it could be read.
    server_id: Option<u32>,
    /// The binlog position (what a primary has written).
    binlog: GtidSet,
    /// The applied position (what a replica has applied).
    applied: GtidSet,
    /// Replication channels; `None` when the status could not be read (no privilege).
    channels: Option<Vec<ReplicaStatus>>,
}

/// One server's monitor task.
struct Watcher {
    shared: Arc<Shared>,
    index: usize,
    conn: Option<BackendConn>,
    health: Health,
    gtid_lag: GtidLag,
    /// `SHOW … STATUS` was refused once: not asked again (lag from GTIDs only).
    status_denied: bool,
    /// Listing the replicas was refused once: discovery is off for this task (logged once).
    discovery_denied: bool,
    role: Role,
}

/// Checks server `index` every `monitor.interval` until shutdown or until the server is
/// removed; returns the index.
async fn watch_server(
    shared: Arc<Shared>,
    index: usize,
    mut shutdown: watch::Receiver<bool>,
) -> usize {
    let Some(entry) = shared.topology().servers.get(index).cloned() else {
        return index;
    };
    let monitor = shared.config().monitor.clone();
    let mut health = Health::new(monitor.failure_threshold, monitor.success_threshold);
    if entry.is_discovered() && entry.since_last_check().is_none() {
        // Never checked: it serves reads after `success_threshold` good checks, not before.
        health = health.down();
    }
    let mut w = Watcher {
        health,
        shared: shared.clone(),
        index,
        conn: None,
        gtid_lag: GtidLag::default(),
        status_denied: false,
        discovery_denied: false,
        role: entry.role(),
    };
    drop(entry);
    loop {
        let Some(entry) = w.entry() else {
            return index;
        };
        if entry.admission() == Admission::Removed {
            debug!(server = %entry.address, "removed: no more checks");
            return index;
        }
        let failed = !w.check_once(&entry).await;
        drop(entry);
        let interval = shared
            .config()
            .monitor
            .interval
            .max(Duration::from_millis(10));
        let wait = if failed {
            backoff(interval, w.health.failures())
        } else {
            interval
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.wait_for(|stop| *stop) => return index,
        }
    }
}

/// The wait before the next attempt after `failures` failed ones in a row: the interval,
/// doubled per failure, at most 5 s (or the interval, if longer).
pub fn backoff(interval: Duration, failures: u32) -> Duration {
    let cap = interval.max(Duration::from_secs(5));
    let factor = 1u32 << failures.saturating_sub(1).min(16);
    interval.saturating_mul(factor).min(cap)
}

impl Watcher {
    /// The server's entry in the topology in force (a reload may have replaced it).
    fn entry(&self) -> Option<Arc<ServerEntry>> {
        self.shared.topology().servers.get(self.index).cloned()
    }

    /// One check; whether it succeeded.
    async fn check_once(&mut self, entry: &ServerEntry) -> bool {
        let config = self.shared.config();
        let limit = config.monitor.connect_timeout.max(config.monitor.interval);
        let reading = tokio::time::timeout(limit, self.read(&entry.address)).await;
        let reading = match reading {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no answer within {limit:?}")),
        };
        let observation = match reading {
            Ok(reading) => {
                let lag_ms = self.apply(&reading);
                if config.monitor.discovery {
                    self.discover().await;
                }
                let max = config.routing.max_replication_lag.as_millis();
                Observation::Reachable {
                    lagging: u128::from(lag_ms) > max,
                }
            }
            Err(reason) => {
                self.conn = None;
                if self.health.failures() == 0 {
                    debug!(server = %entry.address, %reason, "check failed");
                }
                Observation::Failed
            }
        };
        let ok = matches!(observation, Observation::Reachable { .. });
        if let Some(state) = self.health.observe(observation) {
            info!(
                server = %entry.address,
                state = state.as_str(),
                lag_ms = entry.lag_ms(),
                "server state changed"
            );
        }
        // Stored at every check, not only on a change: the entry may be new (a reload's, or a
        // discovered server's, which starts `down`).
        if let Some(entry) = self.entry() {
            entry.set_state(self.health.state());
        }
        ok
    }

    /// On the primary: lists its replicas and adds the unknown ones to the topology.
    async fn discover(&mut self) {
        if self.discovery_denied || self.shared.topology().primary() != Some(self.index) {
            return;
        }
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        let flavor = conn.flavor;
        let rows = match conn.query_rows(flavor.replicas_sql()).await {
            Ok(Ok(rows)) => rows,
            Ok(Err(err)) => {
                warn!(
                    server = %conn.address,
                    error = %String::from_utf8_lossy(&err.message),
                    "cannot list the primary's replicas (grant REPLICATION MASTER ADMIN on \
                     MariaDB, REPLICATION SLAVE on MySQL, to the monitor user); discovery is off"
                );
                self.discovery_denied = true;
                return;
            }
            Err(e) => {
                debug!(server = %conn.address, error = %e, "listing replicas failed");
                self.conn = None;
                return;
            }
        };
        let addresses = parse_replica_hosts(&rows);
        for address in crate::reload::add_discovered(&self.shared, &addresses) {
            info!(server = %address, "replica discovered");
        }
    }

    /// Connects if needed and reads the server's variables and replication status.
    async fn read(&mut self, address: &crate::config::Address) -> Result<Reading> {
        if self.conn.is_none() {
            self.conn = Some(self.connect(address).await?);
        }
        let Some(conn) = self.conn.as_mut() else {
            return Err(Error::Config("no monitor connection".into()));
        };
        let flavor = conn.flavor;
        if let crate::backend::Outcome::Err(err) = conn
            .run(&conn.payload(&splitrail_protocol::Command::Ping))
            .await?
        {
            return Err(conn.refused("COM_PING", &err));
        }
        let vars = match conn.query_rows(flavor.variables_sql()).await? {
            Ok(rows) => rows,
            Err(err) => {
                return Err(conn.refused(flavor.variables_sql(), &err));
            }
        };
        let row = vars.rows.first().cloned().unwrap_or_default();
        let value = |i: usize| row.get(i).cloned().flatten().unwrap_or_default();
        let read_only = value(0).trim() == "1" || value(0).eq_ignore_ascii_case("on");
        // Parsed once, here. What cannot be parsed (never seen from a server) counts as empty.
        let position = |i: usize| {
            let text = value(i);
            GtidSet::parse(&text).unwrap_or_else(|e| {
                debug!(server = %address, position = %text, error = %e.0, "unreadable GTID position");
                GtidSet::default()
            })
        };
        let channels = if self.status_denied {
            None
        } else {
            match conn.query_rows(flavor.status_sql()).await? {
                Ok(rows) => Some(parse_replica_status(&rows)),
                Err(err) => {
                    warn!(
                        server = %conn.address,
                        error = %String::from_utf8_lossy(&err.message),
                        "cannot read the replication status (grant REPLICATION CLIENT / SLAVE \
                         MONITOR to the monitor user); lag is measured from GTIDs only"
                    );
                    self.status_denied = true;
                    None
                }
            }
        };
        Ok(Reading {
            read_only,
            server_id: value(3).trim().parse().ok(),
            binlog: position(1),
            applied: position(2),
            channels,
        })
    }

    async fn connect(&self, address: &crate::config::Address) -> Result<BackendConn> {
        connect_as_monitor(&self.shared, self.index, address).await
    }

    /// Stores a reading in the topology; returns the lag in milliseconds.
    fn apply(&mut self, reading: &Reading) -> u64 {
        let topology = self.shared.topology();
        let Some(entry) = topology.servers.get(self.index) else {
            return 0;
        };
        let was_primary = topology.primary() == Some(self.index);
        let replicating = reading.channels.as_ref().is_some_and(|c| !c.is_empty());
        // A primary (configured, or detected: writable and not replicating) has no lag; a
        // replica's lag comes from its status and from the primary's GTID position.
        let is_primary = match entry.role {
            Role::Auto => !reading.read_only,
            _ => was_primary,
        } && !replicating;
        let lag_ms = if is_primary {
            self.gtid_lag.reset();
            0
        } else {
            let from_status = reading.channels.as_deref().map(status_lag_ms).unwrap_or(0);
            let from_gtid = match topology.primary().filter(|p| *p != self.index) {
                Some(p) => {
                    let primary = topology.servers[p].position();
                    let lag = self
                        .gtid_lag
                        .observe(&reading.applied, &primary, Instant::now());
                    lag.as_millis().min(u128::from(LAG_UNKNOWN - 1)) as u64
                }
                None => 0,
            };
            from_status.max(from_gtid)
        };
        if is_primary {
            self.shared.causal.primary_position(&reading.binlog);
        }
        let position = if is_primary {
            &reading.binlog
        } else {
            &reading.applied
        };
        entry.record_check(reading.read_only, lag_ms, position);
        if let Some(id) = reading.server_id {
            entry.note_server_id(id);
        }
        let role = entry.role();
        if role != self.role {
            info!(server = %entry.address, role = ?role, read_only = reading.read_only, "server role detected");
            self.role = role;
        }
        lag_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(columns: &[&str], rows: &[&[Option<&str>]]) -> TextRows {
        TextRows {
            columns: columns.iter().map(|c| c.to_string()).collect(),
            rows: rows
                .iter()
                .map(|r| r.iter().map(|v| v.map(str::to_string)).collect())
                .collect(),
        }
    }

    #[test]
    fn mariadb_and_mysql_status_columns() {
        let maria = rows(
            &[
                "Connection_name",
                "Slave_IO_Running",
                "Slave_SQL_Running",
                "Seconds_Behind_Master",
            ],
            &[
                &[Some(""), Some("Yes"), Some("Yes"), Some("3")],
                &[Some("b"), Some("Yes"), Some("No"), None],
            ],
        );
        let channels = parse_replica_status(&maria);
        assert_eq!(
            channels[0],
            ReplicaStatus {
                sql_running: true,
                io_running: true,
                seconds_behind: Some(3)
            }
        );
        assert!(!channels[1].sql_running);
        assert_eq!(status_lag_ms(&channels[..1]), 3000);
        assert_eq!(status_lag_ms(&channels), LAG_UNKNOWN);
        let mysql = rows(
            &[
                "Replica_IO_Running",
                "Replica_SQL_Running",
                "Seconds_Behind_Source",
            ],
            &[&[Some("Yes"), Some("Yes"), Some("0")]],
        );
        assert_eq!(status_lag_ms(&parse_replica_status(&mysql)), 0);
        // Receiver disconnected (the primary is away), applier running: the GTID distance
        // alone tells the lag.
        let orphan = ReplicaStatus {
            sql_running: true,
            io_running: false,
            seconds_behind: None,
        };
        assert_eq!(status_lag_ms(&[orphan]), 0);
        assert_eq!(
            status_lag_ms(&parse_replica_status(&TextRows::default())),
            0
        );
    }

    #[test]
    fn replica_hosts_of_both_flavors() {
        let maria = rows(
            &["Server_id", "Host", "Port", "Master_id"],
            &[
                &[Some("2"), Some("127.0.0.1"), Some("3307"), Some("1")],
                &[Some("3"), Some(""), Some("3308"), Some("1")],
                &[Some("4"), Some("db 4"), Some("3309"), Some("1")],
                &[Some("5"), Some("::1"), Some("3310"), Some("1")],
                &[Some("6"), Some("db-6"), Some("x"), Some("1")],
            ],
        );
        let text = |rows| -> Vec<String> {
            parse_replica_hosts(rows)
                .iter()
                .map(ToString::to_string)
                .collect()
        };
        assert_eq!(text(&maria), vec!["127.0.0.1:3307", "[::1]:3310"]);
        let mysql = rows(
            &["Server_Id", "Host", "Port", "Source_Id", "Replica_UUID"],
            &[&[Some("2"), Some("db-2"), Some("3306"), Some("1"), Some("u")]],
        );
        assert_eq!(text(&mysql), vec!["db-2:3306"]);
    }

    #[test]
    fn applied_positions_of_both_flavors() {
        let set = |text| GtidSet::parse(text).unwrap();
        assert!(set("0-1-10,1-1-3").contains(&set("0-2-10")));
        assert!(!set("0-1-9").contains(&set("0-1-10")));
        assert!(!set("0-1-9").contains(&set("1-1-1")));
        assert!(set("0-1-9").contains(&set("")));
        let mysql = set(
            "3E11FA47-71CA-11E1-9E33-C80AA9429562:1-5:11-18,\n2174B383-5441-11E8-B90A-C80AA9429562:1-3",
        );
        assert!(mysql.contains(&set("3e11fa47-71ca-11e1-9e33-c80aa9429562:18")));
        assert!(mysql.contains(&set("2174b383-5441-11e8-b90a-c80aa9429562:1-3")));
        assert!(!mysql.contains(&set("2174b383-5441-11e8-b90a-c80aa9429562:4")));
    }

    fn gtid(text: &str) -> GtidSet {
        GtidSet::parse(text).unwrap()
    }

    #[test]
    fn gtid_lag_counts_from_when_the_target_was_seen() {
        let mut lag = GtidLag::default();
        let t0 = Instant::now();
        let primary = gtid("0-1-10");
        assert_eq!(lag.observe(&gtid("0-1-10"), &primary, t0), Duration::ZERO);
        let primary = gtid("0-1-12");
        assert_eq!(lag.observe(&gtid("0-1-10"), &primary, t0), Duration::ZERO);
        let t1 = t0 + Duration::from_millis(700);
        // The primary moved on, but the target stays the first one not applied.
        assert_eq!(
            lag.observe(&gtid("0-1-11"), &gtid("0-1-20"), t1),
            Duration::from_millis(700)
        );
        // Reached it: a new target from now.
        let t2 = t1 + Duration::from_millis(100);
        assert_eq!(
            lag.observe(&gtid("0-1-12"), &gtid("0-1-20"), t2),
            Duration::ZERO
        );
        let t3 = t2 + Duration::from_millis(50);
        assert_eq!(
            lag.observe(&gtid("0-1-19"), &gtid("0-1-20"), t3),
            Duration::from_millis(50)
        );
        assert_eq!(
            lag.observe(&gtid("0-1-20"), &gtid("0-1-20"), t3),
            Duration::ZERO
        );
    }

    #[test]
    fn thresholds_decide_down_and_back() {
        let mut h = Health::new(3, 2);
        let ok = Observation::Reachable { lagging: false };
        assert_eq!(h.observe(Observation::Failed), None);
        assert_eq!(h.observe(Observation::Failed), None);
        assert_eq!(h.observe(ok), None, "a success resets the failures");
        assert_eq!(h.observe(Observation::Failed), None);
        assert_eq!(h.observe(Observation::Failed), None);
        assert_eq!(h.observe(Observation::Failed), Some(ServerState::Down));
        assert_eq!(h.observe(Observation::Failed), None, "logged once");
        assert_eq!(h.observe(ok), None);
        assert_eq!(h.observe(Observation::Failed), None);
        assert_eq!(h.observe(ok), None, "successes must be consecutive");
        assert_eq!(h.observe(ok), Some(ServerState::Up));
        assert_eq!(h.state(), ServerState::Up);
    }

    #[test]
    fn a_server_starting_down_needs_the_success_threshold() {
        let mut h = Health::new(3, 2).down();
        let ok = Observation::Reachable { lagging: false };
        assert_eq!(h.state(), ServerState::Down);
        assert_eq!(h.observe(ok), None);
        assert_eq!(h.observe(ok), Some(ServerState::Up));
    }

    #[test]
    fn lag_moves_between_up_and_lagging() {
        let mut h = Health::new(1, 1);
        assert_eq!(
            h.observe(Observation::Reachable { lagging: true }),
            Some(ServerState::Lagging)
        );
        assert_eq!(h.observe(Observation::Reachable { lagging: true }), None);
        assert_eq!(h.observe(Observation::Failed), Some(ServerState::Down));
        assert_eq!(
            h.observe(Observation::Reachable { lagging: true }),
            Some(ServerState::Lagging)
        );
        assert_eq!(
            h.observe(Observation::Reachable { lagging: false }),
            Some(ServerState::Up)
        );
    }

    #[test]
    fn backoff_doubles_up_to_a_cap() {
        let ms = Duration::from_millis;
        assert_eq!(backoff(ms(100), 1), ms(100));
        assert_eq!(backoff(ms(100), 2), ms(200));
        assert_eq!(backoff(ms(100), 4), ms(800));
        assert_eq!(backoff(ms(100), 40), ms(5000));
        assert_eq!(backoff(ms(10_000), 3), ms(10_000));
    }
}
