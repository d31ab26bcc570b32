//! The admin API's answers as types: one struct per JSON document an endpoint returns. The
//! server serializes them; a client (the `splitrail` admin commands, a test) reads them back
//! with the same types, so the API's shape is written down in one place. Field names are the
//! API's; docs/operations.md describes them.
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `GET /status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Status {
    /// The proxy's version.
    pub version: String,
    /// Seconds since the proxy started.
    pub uptime_seconds: u64,
    /// The configuration in force.
    pub config: ConfigInForce,
    /// The client listener's address.
    pub listen: String,
    /// The admin listener's address.
    pub admin_listen: String,
    /// Client connections open now.
    pub client_connections: u64,
    /// Reloads since start.
    pub reloads: Reloads,
    /// Read-your-writes reads since start.
    pub consistency: Consistency,
    /// Statements routed since start, by target and reason (pairs seen so far).
    pub routing: Vec<RoutingCount>,
    /// Client sessions holding a backend connection now, by why (reasons with none left out).
    pub pinned: BTreeMap<String, u64>,
    /// The backend servers (removed ones until their last connection closed).
    pub servers: Vec<ServerStatus>,
}

/// `GET /live` and `GET /ready`: whether the probe passes (200) or not (503), and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Probe {
    /// The probe passes.
    pub ok: bool,
    /// Why (not).
    pub reason: String,
}

/// Where the configuration came from and its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigInForce {
    /// The file, when the proxy was started from one.
    pub path: Option<String>,
    /// SHA-256 (hex) of what was applied.
    pub sha256: String,
}

/// Reload attempts by outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reloads {
    /// Applied.
    pub ok: u64,
    /// Refused (the running configuration stayed).
    pub error: u64,
}

/// Read-your-writes reads since start (what `splitrail_consistency_*_total` count).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consistency {
    /// Reads that waited on a replica for the GTID of earlier writes.
    pub waits: u64,
    /// Reads sent to the primary because no replica had that GTID in time.
    pub primary_fallbacks: u64,
}

/// Statements routed to one target for one reason (`splitrail_routing_decisions_total`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoutingCount {
    /// `primary`, `replica`, `pinned` or `reject`.
    pub target: String,
    /// The router's reason (`plain_read`, `write`, `in_transaction`, …).
    pub reason: String,
    /// Statements since start.
    pub count: u64,
}

/// One backend server in `/status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerStatus {
    /// `host:port`.
    pub address: String,
    /// The configured name, else the address.
    pub name: String,
    /// The role it has now (detected for `auto`): `primary`, `replica` or `auto`.
    pub role: String,
    /// The role it was configured with.
    pub configured_role: String,
    /// `up`, `down`, `lagging`, `draining`, `drained`, …
    pub state: String,
    /// Whether it takes work.
    pub healthy: bool,
    /// `read_only` as last checked (`None` before the first check).
    pub read_only: Option<bool>,
    /// Replication lag as last measured, in milliseconds.
    pub lag_ms: u64,
    /// The GTID position as last read.
    pub gtid: String,
    /// How long ago the last successful check was.
    pub last_check_ms_ago: Option<u64>,
    /// Write weight.
    pub weight: u32,
    /// Read weight.
    pub read_weight: u32,
    /// Found by replica discovery rather than configured.
    pub discovered: bool,
    /// Its backend connections.
    pub pool: PoolStatus,
    /// Statements running there now.
    pub in_flight: u64,
    /// Statements sent there since start.
    pub queries: u64,
    /// Statements that failed there since start.
    pub errors: u64,
}

/// One server's pooled connections, summed over workers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolStatus {
    /// Open connections.
    pub open: u64,
    /// Open and idle in the pool.
    pub idle: u64,
    /// Lent to a session or a pipelined connection.
    pub in_use: u64,
    /// Sessions waiting for a connection.
    pub waiting: u64,
}

/// `GET /digests`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Digests {
    /// Statement shapes, largest total time first.
    pub digests: Vec<DigestRow>,
}

/// One statement shape in `/digests`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DigestRow {
    /// The shape's hash (hex), `None` for the bucket of shapes past the table's size.
    pub digest: Option<String>,
    /// The normalized text.
    pub text: String,
    /// Statements run.
    pub count: u64,
    /// Of which failed.
    pub errors: u64,
    /// Rows returned or affected.
    pub rows: u64,
    /// Total time, microseconds.
    pub total_us: u64,
    /// Mean time, microseconds.
    pub avg_us: u64,
    /// Longest time, microseconds.
    pub max_us: u64,
    /// Statements by where they went (`primary`, `replica`, `pinned`, `reject`).
    pub targets: BTreeMap<String, u64>,
}

/// `GET /sessions`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sessions {
    /// Client sessions, by id.
    pub sessions: Vec<SessionRow>,
}

/// One client session in `/sessions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRow {
    /// The proxy's connection id (what `KILL` takes).
    pub id: u32,
    /// The user it logged in as.
    pub user: String,
    /// The client's address.
    pub peer: String,
    /// `running` or `idle`.
    pub state: String,
    /// The server running its statement, when one is.
    pub server: Option<String>,
    /// Whether it holds a backend connection between statements.
    pub pinned: bool,
    /// Why it does (`transaction`, `temporary_tables`, …).
    pub pin_reason: Option<String>,
    /// The command running (`Query`, `Execute`, …), `Sleep` when idle.
    pub command: String,
    /// Seconds in that command.
    pub seconds: u64,
    /// The session's schema.
    pub schema: Option<String>,
    /// The statement running, cut to the first 1 024 bytes.
    pub statement: Option<String>,
}

/// `GET /explain?sql=…`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Explain {
    /// `primary`, `replica`, `pinned` or `reject`.
    pub target: String,
    /// Why.
    pub reason: String,
    /// The statement kind the router saw.
    pub kind: String,
    /// Its shape.
    pub digest: ExplainDigest,
}

/// The shape of an explained statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExplainDigest {
    /// Hash (hex).
    pub hash: String,
    /// Normalized text.
    pub text: String,
}

/// `POST /reload`, applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reloaded {
    /// Always `true`.
    pub reloaded: bool,
    /// The servers that changed.
    pub servers: ServerChanges,
    /// Whether the user list changed.
    pub users_changed: bool,
    /// Other sections whose values changed and are in force now.
    pub sections_changed: Vec<String>,
    /// Changes that need a restart and were not applied.
    pub needs_restart: Vec<String>,
}

/// The servers a reload added, removed and changed (addresses).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerChanges {
    /// Added, or brought back after a removal.
    pub added: Vec<String>,
    /// Removed: they drain.
    pub removed: Vec<String>,
    /// Role or weights changed.
    pub changed: Vec<String>,
}

/// `POST /servers/{address}/drain|enable`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Admitted {
    /// The server.
    pub address: String,
    /// Its state now.
    pub state: String,
}

/// `POST /digests/reset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigestsReset {
    /// Always `true`.
    pub reset: bool,
}

/// Any refused request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorReply {
    /// What was wrong.
    pub error: String,
    /// For a refused reload: one line per configuration problem.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_round_trip_and_errors_omit_empty_problems() {
        let e = ErrorReply {
            error: "no endpoint /x".into(),
            problems: Vec::new(),
        };
        let text = serde_json::to_string(&e).expect("serializes");
        assert_eq!(text, r#"{"error":"no endpoint /x"}"#);
        assert_eq!(serde_json::from_str::<ErrorReply>(&text).ok(), Some(e));
        let row = SessionRow {
            id: 7,
            user: "app".into(),
            peer: "127.0.0.1:5000".into(),
            state: "idle".into(),
            server: None,
            pinned: false,
            pin_reason: None,
            command: "Sleep".into(),
            seconds: 3,
            schema: Some("app".into()),
            statement: None,
        };
        let text = serde_json::to_string(&Sessions {
            sessions: vec![row.clone()],
        })
        .expect("serializes");
        let back: Sessions = serde_json::from_str(&text).expect("reads back");
        assert_eq!(back.sessions, vec![row]);
    }
}
