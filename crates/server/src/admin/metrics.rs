//! `GET /metrics`: the counters in Prometheus' text exposition format (version 0.0.4).
use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use crate::metrics::ServerStats;
use crate::metrics::stats::LATENCY_BUCKETS;
use crate::topology::ServerEntry;
use crate::worker::Shared;
use crate::worker::sessions::PinReason;

/// Renders every metric; `uptime` in seconds.
pub fn render_metrics(shared: &Shared, uptime: f64) -> String {
    let mut out = String::with_capacity(4096);
    proxy_wide(&mut out, shared, uptime);
    pinned_sessions(&mut out, shared);
    let topology = shared.topology();
    let servers: Vec<&ServerEntry> = topology
        .servers
        .iter()
        .filter(|s| crate::admin::listed(shared, s))
        .map(|s| &**s)
        .collect();
    per_server(&mut out, shared, &servers);
    latency(&mut out, shared, &servers);
    reloads_and_routing(&mut out, shared);
    out
}

/// Uptime, client connections, consistency waits and fallbacks.
fn proxy_wide(out: &mut String, shared: &Shared, uptime: f64) {
    family(
        out,
        "splitrail_uptime_seconds",
        "gauge",
        "Seconds since the proxy started.",
    );
    let _ = writeln!(out, "splitrail_uptime_seconds {uptime:.3}");
    family(
        out,
        "splitrail_client_connections",
        "gauge",
        "Client connections open now.",
    );
    let _ = writeln!(
        out,
        "splitrail_client_connections {}",
        shared.clients.load(Ordering::Relaxed)
    );
    let (waits, fallbacks) = shared.stats.consistency();
    let totals = [
        (
            "splitrail_client_connections_total",
            "Client connections accepted since start.",
            shared.stats.clients_total.load(Ordering::Relaxed),
        ),
        (
            "splitrail_consistency_waits_total",
            "Reads that waited on a replica for the GTID of earlier writes (read-your-writes).",
            waits,
        ),
        (
            "splitrail_consistency_primary_fallbacks_total",
            "Reads sent to the primary because no replica had the GTID of earlier writes in time.",
            fallbacks,
        ),
        (
            "splitrail_consistency_position_fetches_total",
            "Queries of the primary's GTID position (consistency: cluster), one per batch of reads.",
            shared.stats.position_fetches.load(Ordering::Relaxed),
        ),
        (
            "splitrail_consistency_position_reads_total",
            "Reads that waited for a fetched primary position (consistency: cluster).",
            shared.stats.position_reads.load(Ordering::Relaxed),
        ),
        (
            "splitrail_consistency_slow_replay_reads_total",
            "Reads sent to the primary at once because the replica had yet to replay a DDL \
             statement they must see.",
            shared.stats.slow_replay_reads.load(Ordering::Relaxed),
        ),
        (
            "splitrail_local_set_answers_total",
            "Session SET statements the proxy answered itself, with the OK a backend gave the \
             same text, instead of running them on the primary.",
            shared.stats.local_set_answers.load(Ordering::Relaxed),
        ),
        (
            "splitrail_local_commit_answers_total",
            "COMMIT and ROLLBACK statements with no transaction open the proxy answered itself, \
             with the OK a backend gave the same text, instead of running them on the primary.",
            shared.stats.local_commit_answers.load(Ordering::Relaxed),
        ),
    ];
    for (name, help, n) in totals {
        family(out, name, "counter", help);
        let _ = writeln!(out, "{name} {n}");
    }
}

/// Sessions holding a backend connection, by why.
fn pinned_sessions(out: &mut String, shared: &Shared) {
    family(
        out,
        "splitrail_pinned_sessions",
        "gauge",
        "Client sessions holding a backend connection, by why (the first reason that applies).",
    );
    for (reason, n) in pinned_counts(shared) {
        let _ = writeln!(out, "splitrail_pinned_sessions{{reason=\"{reason}\"}} {n}");
    }
}

/// Sessions pinned now, per reason (every reason, zeros included).
pub fn pinned_counts(shared: &Shared) -> impl Iterator<Item = (&'static str, u64)> {
    let mut pinned = [0u64; PinReason::ALL.len()];
    for s in shared.sessions() {
        if let Some(r) = s.pinned() {
            pinned[r as usize] += 1;
        }
    }
    PinReason::ALL.iter().map(|r| r.as_str()).zip(pinned)
}

/// The labels of a server's samples.
fn label(s: &ServerEntry) -> String {
    format!(
        "server=\"{}\",role=\"{}\"",
        escape(&s.address.to_string()),
        format!("{:?}", s.role).to_lowercase()
    )
}

/// How one per-server sample is read.
type Read = fn(&ServerStats, &ServerEntry) -> f64;

/// The per-server families: statements, errors, health, lag, pool gauges, acquire waits.
const PER_SERVER: [(&str, &str, &str, Read); 12] = [
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
    (
        "splitrail_pool_waiting",
        "gauge",
        "Sessions waiting right now for a connection to a server (its pools at pool.max_size).",
        |s, _| s.waiting() as f64,
    ),
    (
        "splitrail_server_in_flight",
        "gauge",
        "Statements sent to a server and not answered yet, all workers.",
        |s, _| s.in_flight() as f64,
    ),
    (
        "splitrail_pool_acquire_waits_total",
        "counter",
        "Connection acquisitions that had to wait for a connection to be given back.",
        |s, _| s.acquire_waits.load(Ordering::Relaxed) as f64,
    ),
    (
        "splitrail_pool_acquire_wait_seconds_total",
        "counter",
        "Total time those acquisitions waited.",
        |s, _| s.acquire_wait_us.load(Ordering::Relaxed) as f64 / 1e6,
    ),
];

/// The [`PER_SERVER`] families.
fn per_server(out: &mut String, shared: &Shared, servers: &[&ServerEntry]) {
    for (name, kind, help, read) in PER_SERVER {
        family(out, name, kind, help);
        for server in servers {
            if let Some(stats) = shared.stats.server(server.index) {
                let _ = writeln!(out, "{name}{{{}}} {}", label(server), read(stats, server));
            }
        }
    }
}

/// The statement duration histogram of each server.
fn latency(out: &mut String, shared: &Shared, servers: &[&ServerEntry]) {
    let name = "splitrail_server_query_duration_seconds";
    family(
        out,
        name,
        "histogram",
        "Statement duration on a server, from sending it to relaying the last byte of its answer.",
    );
    for server in servers {
        let Some(stats) = shared.stats.server(server.index) else {
            continue;
        };
        let (counts, sum) = stats.latency();
        let les = LATENCY_BUCKETS.iter().map(|b| b.to_string());
        for (le, n) in les.chain(["+Inf".to_string()]).zip(&counts) {
            let _ = writeln!(out, "{name}_bucket{{{},le=\"{le}\"}} {n}", label(server));
        }
        let _ = writeln!(out, "{name}_sum{{{}}} {sum}", label(server));
        let count = counts.last().copied().unwrap_or(0);
        let _ = writeln!(out, "{name}_count{{{}}} {count}", label(server));
    }
}

/// Reloads by result, routing decisions by target and reason, pipelined statements.
fn reloads_and_routing(out: &mut String, shared: &Shared) {
    family(
        out,
        "splitrail_reloads_total",
        "counter",
        "Configuration reloads (SIGHUP, POST /reload, file change), by result.",
    );
    for (result, counter) in [
        ("ok", &shared.stats.reloads_ok),
        ("error", &shared.stats.reloads_failed),
    ] {
        let n = counter.load(Ordering::Relaxed);
        let _ = writeln!(out, "splitrail_reloads_total{{result=\"{result}\"}} {n}");
    }

    family(
        out,
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
    family(
        out,
        "splitrail_pipelined_statements_total",
        "counter",
        "Statements answered over a backend connection shared by several sessions' reads.",
    );
    let _ = writeln!(
        out,
        "splitrail_pipelined_statements_total {}",
        shared.stats.pipelined.load(Ordering::Relaxed)
    );
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
        let stats = |i| shared.stats.server(i).unwrap();
        shared.stats.begin(1).done(false);
        shared.stats.begin(1).done(true);
        shared.stats.consistency_wait();
        shared.stats.consistency_fallback();
        stats(0).acquire_waited(std::time::Duration::from_millis(250));
        stats(0).open.fetch_add(3, Ordering::Relaxed);
        stats(0).idle.fetch_add(1, Ordering::Relaxed);
        stats(0).waiting.fetch_add(2, Ordering::Relaxed);
        shared.stats.reloaded(false);
        shared.stats.routed(&splitrail_router::Decision {
            target: splitrail_router::Target::Replica,
            reason: splitrail_router::Reason::PlainRead,
            max_lag: None,
            min_gtid: None,
            hash_key: None,
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
            "# TYPE splitrail_reloads_total counter",
            "splitrail_reloads_total{result=\"ok\"} 0",
            "splitrail_reloads_total{result=\"error\"} 1",
            "splitrail_client_connections_total 0",
            "splitrail_consistency_waits_total 1",
            "splitrail_consistency_primary_fallbacks_total 1",
            "splitrail_pinned_sessions{reason=\"transaction\"} 0",
            "splitrail_server_in_flight{server=\"127.0.0.1:2\",role=\"replica\"} 0",
            "splitrail_pool_waiting{server=\"127.0.0.1:1\",role=\"primary\"} 2",
            "splitrail_pool_acquire_waits_total{server=\"127.0.0.1:1\",role=\"primary\"} 1",
            "splitrail_pool_acquire_wait_seconds_total{server=\"127.0.0.1:1\",role=\"primary\"} 0.25",
            "# TYPE splitrail_server_query_duration_seconds histogram",
            "splitrail_server_query_duration_seconds_bucket{server=\"127.0.0.1:2\",role=\"replica\",le=\"10\"} 2",
            "splitrail_server_query_duration_seconds_bucket{server=\"127.0.0.1:2\",role=\"replica\",le=\"+Inf\"} 2",
            "splitrail_server_query_duration_seconds_count{server=\"127.0.0.1:2\",role=\"replica\"} 2",
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
