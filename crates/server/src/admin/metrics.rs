//! `GET /metrics`: the counters in Prometheus' text exposition format (version 0.0.4).
use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use crate::worker::Shared;

/// Renders every metric; `uptime` in seconds.
pub fn render_metrics(shared: &Shared, uptime: f64) -> String {
    let mut out = String::with_capacity(4096);
    family(
        &mut out,
        "splitrail_uptime_seconds",
        "gauge",
        "Seconds since the proxy started.",
    );
    let _ = writeln!(out, "splitrail_uptime_seconds {uptime:.3}");
    family(
        &mut out,
        "splitrail_client_connections",
        "gauge",
        "Client connections open now.",
    );
    let _ = writeln!(
        out,
        "splitrail_client_connections {}",
        shared.clients.load(Ordering::Relaxed)
    );

    let servers = &shared.topology.servers;
    let label = |i: usize| {
        let s = &servers[i];
        format!(
            "server=\"{}\",role=\"{}\"",
            escape(&s.address),
            format!("{:?}", s.role).to_lowercase()
        )
    };
    type Read = fn(&crate::admin::ServerStats, &crate::topology::ServerEntry) -> f64;
    let per_server: [(&str, &str, &str, Read); 8] = [
        (
            "splitrail_server_queries_total",
            "counter",
            "Commands a server answered (or failed on), through the proxy.",
            |s, _| s.queries.load(Ordering::Relaxed) as f64,
        ),
        (
            "splitrail_server_errors_total",
            "counter",
            "Of those, the ones answered with an error or lost with their connection.",
            |s, _| s.errors.load(Ordering::Relaxed) as f64,
        ),
        (
            "splitrail_server_healthy",
            "gauge",
            "1 when the server is believed reachable, 0 while it is left out after a failure.",
            |_, server| if server.is_healthy() { 1.0 } else { 0.0 },
        ),
        (
            "splitrail_server_state",
            "gauge",
            "The monitor's verdict: 0 up, 1 lagging, 2 down, 3 draining.",
            |_, server| server.state() as u8 as f64,
        ),
        (
            "splitrail_server_replication_lag_ms",
            "gauge",
            "Replication lag the monitor measured, in milliseconds (0 for a primary).",
            |_, server| server.lag_ms() as f64,
        ),
        (
            "splitrail_pool_open_connections",
            "gauge",
            "Backend connections open to a server (idle and in use), all workers.",
            |s, _| s.pool().0 as f64,
        ),
        (
            "splitrail_pool_idle_connections",
            "gauge",
            "Backend connections idle in the pools.",
            |s, _| s.pool().1 as f64,
        ),
        (
            "splitrail_pool_in_use_connections",
            "gauge",
            "Backend connections lent to (or kept by) client sessions.",
            |s, _| s.pool().2 as f64,
        ),
    ];
    for (name, kind, help, read) in per_server {
        family(&mut out, name, kind, help);
        for (i, server) in servers.iter().enumerate() {
            if let Some(stats) = shared.stats.server(i) {
                let _ = writeln!(out, "{name}{{{}}} {}", label(i), read(stats, server));
            }
        }
    }

    family(
        &mut out,
        "splitrail_routing_decisions_total",
        "counter",
        "Statements routed, by target and reason (only pairs seen so far).",
    );
    for (target, reason, n) in shared.stats.routes() {
        let _ = writeln!(
            out,
            "splitrail_routing_decisions_total{{target=\"{target}\",reason=\"{reason}\"}} {n}"
        );
    }
    for (name, help, counter) in [
        (
            "splitrail_consistency_waits_total",
            "Reads sent to a replica behind a wait for the GTID position they must see.",
            &shared.stats.consistency_waits,
        ),
        (
            "splitrail_consistency_primary_fallbacks_total",
            "Reads sent to the primary because no replica had, or reached in time, their position.",
            &shared.stats.consistency_fallbacks,
        ),
        (
            "splitrail_pipelined_statements_total",
            "Statements answered over a backend connection shared by several sessions' reads.",
            &shared.stats.pipelined,
        ),
    ] {
        family(&mut out, name, "counter", help);
        let _ = writeln!(out, "{name} {}", counter.load(Ordering::Relaxed));
    }
    out
}

/// Writes a family's HELP and TYPE lines.
fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// Escapes a label value (backslash, quote, newline).
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_format_has_every_family_with_its_samples() {
        let shared = crate::admin::tests::shared("");
        shared.stats.servers[1].statement_done(false);
        shared.stats.servers[1].statement_done(true);
        shared.stats.servers[0].open.fetch_add(3, Ordering::Relaxed);
        shared.stats.servers[0].idle.fetch_add(1, Ordering::Relaxed);
        shared.stats.routed(&splitrail_router::Decision {
            target: splitrail_router::Target::Replica,
            reason: splitrail_router::Reason::PlainRead,
            max_lag: None,
            min_gtid: None,
        });
        let text = render_metrics(&shared, 12.5);
        for line in [
            "# TYPE splitrail_uptime_seconds gauge",
            "splitrail_uptime_seconds 12.500",
            "splitrail_client_connections 0",
            "# TYPE splitrail_server_queries_total counter",
            "splitrail_server_queries_total{server=\"127.0.0.1:2\",role=\"replica\"} 2",
            "splitrail_server_errors_total{server=\"127.0.0.1:2\",role=\"replica\"} 1",
            "splitrail_server_healthy{server=\"127.0.0.1:1\",role=\"primary\"} 1",
            "splitrail_pool_open_connections{server=\"127.0.0.1:1\",role=\"primary\"} 3",
            "splitrail_pool_idle_connections{server=\"127.0.0.1:1\",role=\"primary\"} 1",
            "splitrail_pool_in_use_connections{server=\"127.0.0.1:1\",role=\"primary\"} 2",
            "splitrail_routing_decisions_total{target=\"replica\",reason=\"plain_read\"} 1",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
        // Every sample line is `name{labels} value` or `name value`.
        for l in text.lines().filter(|l| !l.starts_with('#')) {
            let (_, value) = l.rsplit_once(' ').unwrap();
            value.parse::<f64>().unwrap();
        }
        assert_eq!(escape("a\"b\\c\n"), "a\\\"b\\\\c\\n");
    }
}
