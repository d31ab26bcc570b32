//! The admin commands' human output: each API document as a few summary lines and aligned
//! tables.
use splitrail_server::admin::api;

use super::table::{Table, cut};

/// A replica whose lag the monitor cannot tell reports `u64::MAX`.
const LAG_UNKNOWN: u64 = u64::MAX;

/// How much of a statement a table shows.
const STATEMENT_WIDTH: usize = 60;

/// `splitrail status`: the proxy, its servers, routing decisions.
pub fn status(s: &api::Status) -> String {
    let up = s.uptime_seconds;
    let mut out = format!(
        "splitrail {}, up {}h {}m {}s, clients on {}, client connections: {}\n",
        s.version,
        up / 3600,
        up % 3600 / 60,
        up % 60,
        s.listen,
        s.client_connections
    );
    out.push_str(&format!(
        "config {} (sha256 {}), reloads: {} ok, {} refused\n",
        s.config.path.as_deref().unwrap_or("(in code)"),
        s.config.sha256.get(..12).unwrap_or(&s.config.sha256),
        s.reloads.ok,
        s.reloads.error
    ));
    let pinned: Vec<String> = s.pinned.iter().map(|(r, n)| format!("{r} {n}")).collect();
    out.push_str(&format!(
        "read-your-writes: {} waits, {} primary fallbacks; pinned sessions: {}\n\n",
        s.consistency.waits,
        s.consistency.primary_fallbacks,
        if pinned.is_empty() {
            "none".to_string()
        } else {
            pinned.join(", ")
        }
    ));
    let mut servers = Table::new(&[
        "SERVER",
        "NAME",
        "ROLE",
        "STATE",
        ">LAG",
        ">OPEN",
        ">IDLE",
        ">IN USE",
        ">WAITING",
        ">IN FLIGHT",
        ">QUERIES",
        ">ERRORS",
    ]);
    for v in &s.servers {
        let lag = match v.lag_ms {
            LAG_UNKNOWN => "unknown".to_string(),
            ms => format!("{ms} ms"),
        };
        let name = if v.name == v.address { "-" } else { &v.name };
        servers.row(vec![
            v.address.clone(),
            name.to_string(),
            v.role.clone(),
            v.state.clone(),
            lag,
            v.pool.open.to_string(),
            v.pool.idle.to_string(),
            v.pool.in_use.to_string(),
            v.pool.waiting.to_string(),
            v.in_flight.to_string(),
            v.queries.to_string(),
            v.errors.to_string(),
        ]);
    }
    out.push_str(&servers.render("no servers"));
    let mut routes = s.routing.clone();
    routes.sort_by_key(|r| std::cmp::Reverse(r.count));
    let mut routing = Table::new(&["TARGET", "REASON", ">STATEMENTS"]);
    for r in routes {
        routing.row(vec![r.target, r.reason, r.count.to_string()]);
    }
    out.push('\n');
    out.push_str(&routing.render("no statements routed yet"));
    out
}

/// `splitrail sessions`.
pub fn sessions(s: &api::Sessions) -> String {
    let mut t = Table::new(&[
        ">ID",
        "USER",
        "PEER",
        "STATE",
        "SERVER",
        "PINNED",
        "COMMAND",
        ">TIME",
        "SCHEMA",
        "STATEMENT",
    ]);
    for row in &s.sessions {
        t.row(vec![
            row.id.to_string(),
            row.user.clone(),
            row.peer.clone(),
            row.state.clone(),
            row.server.clone().unwrap_or_else(|| "-".into()),
            row.pin_reason.clone().unwrap_or_else(|| "no".into()),
            row.command.clone(),
            format!("{}s", row.seconds),
            row.schema.clone().unwrap_or_else(|| "-".into()),
            row.statement
                .as_deref()
                .map_or_else(|| "-".into(), |t| cut(t, STATEMENT_WIDTH)),
        ]);
    }
    t.render("no client sessions")
}

/// Microseconds as milliseconds with two decimals.
fn ms(us: u64) -> String {
    format!("{:.2}", us as f64 / 1000.0)
}

/// `splitrail digests`.
pub fn digests(d: &api::Digests) -> String {
    let mut t = Table::new(&[
        ">COUNT",
        ">TOTAL MS",
        ">AVG MS",
        ">MAX MS",
        ">ERRORS",
        ">ROWS",
        "WHERE",
        "DIGEST",
        "STATEMENT",
    ]);
    for row in &d.digests {
        let targets: Vec<String> = row
            .targets
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(t, n)| format!("{t}:{n}"))
            .collect();
        t.row(vec![
            row.count.to_string(),
            ms(row.total_us),
            ms(row.avg_us),
            ms(row.max_us),
            row.errors.to_string(),
            row.rows.to_string(),
            targets.join(","),
            row.digest.clone().unwrap_or_else(|| "(other)".into()),
            cut(&row.text, STATEMENT_WIDTH),
        ]);
    }
    t.render("no statements yet")
}

/// `splitrail reload`.
pub fn reloaded(r: &api::Reloaded) -> String {
    let list = |l: &[String]| {
        if l.is_empty() {
            "none".to_string()
        } else {
            l.join(", ")
        }
    };
    format!(
        "reloaded\nservers added: {}\nservers removed: {}\nservers changed: {}\n\
         users changed: {}\nsections changed: {}\nneeds a restart: {}\n",
        list(&r.servers.added),
        list(&r.servers.removed),
        list(&r.servers.changed),
        if r.users_changed { "yes" } else { "no" },
        list(&r.sections_changed),
        list(&r.needs_restart)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(address: &str, name: &str, role: &str, lag_ms: u64) -> api::ServerStatus {
        api::ServerStatus {
            address: address.into(),
            name: name.into(),
            role: role.into(),
            configured_role: role.into(),
            state: "up".into(),
            healthy: true,
            read_only: Some(role == "replica"),
            lag_ms,
            gtid: "0-1-4711".into(),
            last_check_ms_ago: Some(420),
            weight: 1,
            read_weight: 1,
            discovered: false,
            pool: api::PoolStatus {
                open: 4,
                idle: 1,
                in_use: 3,
                waiting: 2,
            },
            in_flight: 1,
            queries: 20441,
            errors: 0,
        }
    }

    #[test]
    fn status_table() {
        let doc = api::Status {
            version: "0.1.0".into(),
            uptime_seconds: 8049,
            config: api::ConfigInForce {
                path: Some("/etc/splitrail/proxy.yaml".into()),
                sha256: "9f2c41d07a3e55aa".into(),
            },
            listen: "0.0.0.0:6033".into(),
            admin_listen: "127.0.0.1:6034".into(),
            client_connections: 12,
            reloads: api::Reloads { ok: 1, error: 0 },
            consistency: api::Consistency {
                waits: 31,
                primary_fallbacks: 2,
            },
            routing: vec![
                api::RoutingCount {
                    target: "primary".into(),
                    reason: "write".into(),
                    count: 20113,
                },
                api::RoutingCount {
                    target: "replica".into(),
                    reason: "plain_read".into(),
                    count: 98310,
                },
            ],
            pinned: [("transaction".to_string(), 3)].into_iter().collect(),
            servers: vec![
                server("10.0.0.1:3306", "db1", "primary", 0),
                server("10.0.0.2:3306", "10.0.0.2:3306", "replica", u64::MAX),
            ],
        };
        let expected = "\
splitrail 0.1.0, up 2h 14m 9s, clients on 0.0.0.0:6033, client connections: 12
config /etc/splitrail/proxy.yaml (sha256 9f2c41d07a3e), reloads: 1 ok, 0 refused
read-your-writes: 31 waits, 2 primary fallbacks; pinned sessions: transaction 3

SERVER         NAME  ROLE     STATE      LAG  OPEN  IDLE  IN USE  WAITING  IN FLIGHT  QUERIES  ERRORS
10.0.0.1:3306  db1   primary  up        0 ms     4     1       3        2          1    20441       0
10.0.0.2:3306  -     replica  up     unknown     4     1       3        2          1    20441       0

TARGET   REASON      STATEMENTS
replica  plain_read       98310
primary  write            20113
";
        assert_eq!(status(&doc), expected);
    }

    #[test]
    fn sessions_and_digests_tables() {
        let row = api::SessionRow {
            id: 9,
            user: "app".into(),
            peer: "10.0.1.6:40110".into(),
            state: "running".into(),
            server: Some("10.0.0.1:3306".into()),
            pinned: true,
            pin_reason: Some("transaction".into()),
            command: "Query".into(),
            seconds: 0,
            schema: Some("app".into()),
            statement: Some("UPDATE orders\nSET state = 'paid' WHERE id = 42".into()),
        };
        let idle = api::SessionRow {
            id: 7,
            peer: "10.0.1.5:51234".into(),
            state: "idle".into(),
            server: None,
            pinned: false,
            pin_reason: None,
            command: "Sleep".into(),
            seconds: 4,
            statement: None,
            ..row.clone()
        };
        let text = sessions(&api::Sessions {
            sessions: vec![idle, row],
        });
        let expected = "\
ID  USER  PEER            STATE    SERVER         PINNED       COMMAND  TIME  SCHEMA  STATEMENT
 7  app   10.0.1.5:51234  idle     -              no           Sleep      4s  app     -
 9  app   10.0.1.6:40110  running  10.0.0.1:3306  transaction  Query      0s  app     UPDATE orders SET state = 'paid' WHERE id = 42
";
        assert_eq!(text, expected);
        let digest = api::DigestRow {
            digest: Some("5c1f0e2b9a7d4410".into()),
            text: "SELECT v FROM orders WHERE id = ?".into(),
            count: 98310,
            errors: 0,
            rows: 98310,
            total_us: 58_986_000,
            avg_us: 600,
            max_us: 43_400,
            targets: [("primary".to_string(), 0), ("replica".to_string(), 98310)]
                .into_iter()
                .collect(),
        };
        let other = api::DigestRow {
            digest: None,
            text: "(other)".into(),
            count: 1,
            rows: 0,
            total_us: 30_800,
            avg_us: 30_800,
            max_us: 30_800,
            targets: [("primary".to_string(), 1)].into_iter().collect(),
            ..digest.clone()
        };
        let text = digests(&api::Digests {
            digests: vec![digest, other],
        });
        let expected = "\
COUNT  TOTAL MS  AVG MS  MAX MS  ERRORS   ROWS  WHERE          DIGEST            STATEMENT
98310  58986.00    0.60   43.40       0  98310  replica:98310  5c1f0e2b9a7d4410  SELECT v FROM orders WHERE id = ?
    1     30.80   30.80   30.80       0      0  primary:1      (other)           (other)
";
        assert_eq!(text, expected);
    }

    #[test]
    fn reload_summary_names_each_change() {
        let text = reloaded(&api::Reloaded {
            reloaded: true,
            servers: api::ServerChanges {
                added: vec!["10.0.0.3:3306".into()],
                removed: Vec::new(),
                changed: Vec::new(),
            },
            users_changed: true,
            sections_changed: vec!["routing".into()],
            needs_restart: Vec::new(),
        });
        assert!(text.contains("servers added: 10.0.0.3:3306\n"), "{text}");
        assert!(text.contains("servers removed: none\n"), "{text}");
        assert!(text.contains("users changed: yes\n"), "{text}");
        assert!(text.contains("sections changed: routing\n"), "{text}");
    }
}
