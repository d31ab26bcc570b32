//! The users the harness configures on every proxy beside `app` (which the test bed creates):
//! their names and passwords, their creation on the servers (outside the binlog), and counting
//! a user's connections on a server.

use splitrail_testbed::{Cluster, Server};

use super::Bed;

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

impl Bed {
    /// Creates [`OTHER_USER`] on every server, outside the binlog (as the test bed creates
    /// `app`), with the same privileges on the `app` schema. Idempotent.
    pub fn create_other_user(&self) {
        let sql = format!(
            "SET SESSION sql_log_bin = 0;
             CREATE USER IF NOT EXISTS '{OTHER_USER}'@'%' IDENTIFIED BY '{OTHER_PASSWORD}';
             GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, CREATE TEMPORARY TABLES
                 ON app.* TO '{OTHER_USER}'@'%';"
        );
        on_running_servers(self.cluster(), OTHER_USER, &sql);
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

    /// Kills the connections on `server` that `condition` (SQL on
    /// `information_schema.PROCESSLIST`, e.g. `USER = 'app'`) selects; returns how many.
    pub fn kill_connections(server: &Server, condition: &str) -> usize {
        let kills = server
            .query_one(&format!(
                "SELECT GROUP_CONCAT(CONCAT('KILL ', ID) SEPARATOR ';') \
                 FROM information_schema.PROCESSLIST WHERE {condition}"
            ))
            .unwrap_or_else(|e| panic!("listing {}'s connections: {e}", server.name()));
        if kills.is_empty() || kills == "NULL" {
            return 0;
        }
        server
            .sql(&kills)
            .unwrap_or_else(|e| panic!("killing connections on {}: {e}", server.name()));
        kills.split(';').count()
    }
}

/// Creates [`MONITOR_USER`] on every running server of `cluster`. Idempotent. REPLICATION
/// MASTER ADMIN lets it list a primary's replicas (`SHOW SLAVE HOSTS`, for discovery).
pub fn create_monitor_user(cluster: &Cluster) {
    let sql = format!(
        "SET SESSION sql_log_bin = 0;
         CREATE USER IF NOT EXISTS '{MONITOR_USER}'@'%' IDENTIFIED BY '{MONITOR_PASSWORD}';
         GRANT REPLICATION CLIENT, SLAVE MONITOR, REPLICATION MASTER ADMIN ON *.*
             TO '{MONITOR_USER}'@'%';"
    );
    on_running_servers(cluster, MONITOR_USER, &sql);
}

/// Runs `sql`, which creates `user`, as root on every running server of `cluster`.
fn on_running_servers(cluster: &Cluster, user: &str, sql: &str) {
    for server in cluster.servers() {
        if server.is_running() {
            server
                .sql(sql)
                .unwrap_or_else(|e| panic!("creating {user}: {e}"));
        }
    }
}
