//! What the admin API answers with, built from the shared state: the bodies of `/status`,
//! `/sessions`, `/digests` and `/explain`, and the `/reload` summary. Read-only: nothing here
//! changes the proxy (the routes and the changes are in `admin/mod.rs`).
use std::sync::atomic::Ordering;
use std::time::Instant;

use super::{Admin, api};
use crate::metrics::ServerStats;
use crate::metrics::digests;
use crate::worker::Shared;

impl Admin {
    pub(super) fn status(&self) -> api::Status {
        let shared = &self.shared;
        let snapshot = shared.snapshot();
        let servers = snapshot
            .topology
            .servers
            .iter()
            .filter(|s| listed(shared, s))
            .map(|s| server_status(shared, &snapshot, s))
            .collect();
        let source = shared.source();
        api::Status {
            version: env!("CARGO_PKG_VERSION").to_string(),
            uptime_seconds: self.info.started.elapsed().as_secs(),
            config: api::ConfigInForce {
                path: source.path.map(|p| p.display().to_string()),
                sha256: source.sha256,
            },
            listen: self.info.listen.to_string(),
            admin_listen: self.info.admin.to_string(),
            client_connections: shared.clients.load(Ordering::Relaxed) as u64,
            reloads: api::Reloads {
                ok: shared.stats.reloads_ok.load(Ordering::Relaxed),
                error: shared.stats.reloads_failed.load(Ordering::Relaxed),
            },
            consistency: {
                let (waits, primary_fallbacks) = shared.stats.consistency();
                api::Consistency {
                    waits,
                    primary_fallbacks,
                }
            },
            routing: shared
                .stats
                .routes()
                .into_iter()
                .map(|(target, reason, count)| api::RoutingCount {
                    target: target.to_string(),
                    reason: reason.to_string(),
                    count,
                })
                .collect(),
            pinned: super::metrics::pinned_counts(shared)
                .filter(|(_, n)| *n > 0)
                .map(|(reason, n)| (reason.to_string(), n))
                .collect(),
            servers,
        }
    }

    /// The `limit` statement shapes with the largest total time.
    pub(super) fn digests(&self, limit: usize) -> api::Digests {
        let digests = self
            .shared
            .digests
            .top(limit)
            .into_iter()
            .map(|(hash, d)| api::DigestRow {
                digest: hash.map(|h| format!("{h:016x}")),
                text: d.text.to_string(),
                count: d.count,
                errors: d.errors,
                rows: d.rows,
                total_us: d.total_us,
                avg_us: d.avg_us(),
                max_us: d.max_us,
                targets: digests::TARGETS
                    .iter()
                    .zip(d.targets)
                    .map(|(t, n)| ((*t).to_string(), n))
                    .collect(),
            })
            .collect();
        api::Digests { digests }
    }

    pub(super) fn sessions(&self) -> api::Sessions {
        let mut sessions = self.shared.sessions();
        sessions.sort_by_key(|s| s.id);
        let topology = self.shared.topology();
        let now = Instant::now();
        let sessions = sessions
            .iter()
            .map(|s| {
                let running = s.running();
                let activity = s.activity();
                let command = match activity.command {
                    Some(code) => splitrail_protocol::command::name(code).unwrap_or("Unknown"),
                    None => "Sleep",
                };
                let statement = activity.statement.as_ref().map(|sql| {
                    let cut = &sql[..sql.len().min(STATEMENT_SHOWN)];
                    String::from_utf8_lossy(cut).into_owned()
                });
                api::SessionRow {
                    id: s.id,
                    user: s.user().to_string(),
                    peer: s.peer.to_string(),
                    state: if running.is_some() { "running" } else { "idle" }.to_string(),
                    server: running
                        .and_then(|(i, _)| topology.servers.get(i))
                        .map(|e| e.address.to_string()),
                    pinned: s.pinned().is_some(),
                    pin_reason: s.pinned().map(|r| r.as_str().to_string()),
                    command: command.to_string(),
                    seconds: now.saturating_duration_since(activity.since).as_secs(),
                    schema: activity.schema.as_deref().map(str::to_string),
                    statement,
                }
            })
            .collect();
        api::Sessions { sessions }
    }
}

/// The `POST /reload` answer for what a reload changed.
pub(super) fn reloaded(summary: &crate::reload::Summary) -> api::Reloaded {
    api::Reloaded {
        reloaded: true,
        servers: api::ServerChanges {
            added: summary.added.clone(),
            removed: summary.removed.clone(),
            changed: summary.changed.clone(),
        },
        users_changed: summary.users_changed,
        sections_changed: summary.sections.iter().map(|s| s.to_string()).collect(),
        needs_restart: summary.needs_restart.clone(),
    }
}

/// One server's line in `/status`.
fn server_status(
    shared: &Shared,
    snapshot: &crate::worker::Snapshot,
    s: &crate::topology::ServerEntry,
) -> api::ServerStatus {
    let config = snapshot.server_config(s.index);
    let stats = shared.stats.server(s.index);
    let (open, idle, in_use) = stats.map(ServerStats::pool).unwrap_or_default();
    api::ServerStatus {
        address: s.address.to_string(),
        name: config
            .and_then(|c| c.name.clone())
            .unwrap_or_else(|| s.address.to_string()),
        role: s.role().as_str().to_string(),
        configured_role: s.role.as_str().to_string(),
        state: s.state().as_str().to_string(),
        healthy: s.is_healthy(),
        read_only: s.read_only(),
        lag_ms: s.lag_ms(),
        gtid: s.gtid(),
        last_check_ms_ago: s.since_last_check().map(|d| d.as_millis() as u64),
        weight: s.weight,
        read_weight: s.read_weight,
        discovered: s.is_discovered(),
        pool: api::PoolStatus {
            open,
            idle,
            in_use,
            waiting: stats.map_or(0, ServerStats::waiting),
        },
        in_flight: stats.map_or(0, ServerStats::in_flight),
        queries: stats.map_or(0, |st| st.queries.load(Ordering::Relaxed)),
        errors: stats.map_or(0, |st| st.errors.load(Ordering::Relaxed)),
    }
}

/// How much of a running statement's text `/sessions` shows (bytes).
const STATEMENT_SHOWN: usize = 1024;

/// Whether `/status` and `/metrics` show a server: a removed one only until its last
/// connection closed (meanwhile its state is `draining`).
pub fn listed(shared: &Shared, server: &crate::topology::ServerEntry) -> bool {
    server.admission() != crate::topology::Admission::Removed
        || shared
            .stats
            .server(server.index)
            .is_some_and(|s| s.pool().0 > 0)
}

/// The router's decision for `sql` in a fresh session of the first configured user.
pub fn explain(shared: &Shared, sql: &str) -> api::Explain {
    let c = splitrail_router::classify(sql);
    let snapshot = shared.snapshot();
    let user = snapshot
        .config
        .users
        .first()
        .map(|u| u.user.as_str())
        .unwrap_or("");
    let session = splitrail_router::SessionState::new(user);
    let d = splitrail_router::route(&c, &session, &snapshot.policy);
    api::Explain {
        target: d.target.as_str().to_string(),
        reason: d.reason.to_string(),
        kind: format!("{:?}", c.kind()),
        digest: api::ExplainDigest {
            hash: format!("{:016x}", c.digest().hash),
            text: c.digest().text.to_string(),
        },
    }
}
