//! The admin HTTP API against a running proxy: status and its counters, sessions, explain,
//! metrics, the bearer token, and the error answers. The client is the harness's few lines over
//! a `std::net::TcpStream` (HTTP/1.1, `Connection: close`).
mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{Bed, get, one, request, run, table, wait_until};
use mysql_async::prelude::Queryable;
use serde_json::Value;

/// The `queries` counter of the server at `address` in `/status`.
fn queries_of(addr: SocketAddr, address: &str) -> u64 {
    let status = get(addr, "/status").json();
    status["servers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["address"] == address)
        .unwrap_or_else(|| panic!("{address} not in {status}"))["queries"]
        .as_u64()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_lists_the_servers_and_counts_their_statements() {
    let bed = Bed::shared();
    let admin = bed.proxy.admin_addr();
    let answer = get(admin, "/status");
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(answer.headers.contains("content-type: application/json"));
    let status = answer.json();
    assert_eq!(status["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(status["listen"], bed.proxy.local_addr().to_string());
    assert_eq!(status["config"]["sha256"].as_str().unwrap().len(), 64);
    let servers = status["servers"].as_array().unwrap();
    assert_eq!(servers.len(), 2);
    let primary = bed.primary().address();
    let replica = bed.replica(0).address();
    let roles: Vec<(String, String)> = servers
        .iter()
        .map(|s| {
            assert_eq!(s["healthy"], true, "{s}");
            for key in ["open", "idle", "in_use", "waiting"] {
                assert!(s["pool"][key].is_u64(), "{key}: {s}");
            }
            assert!(s["in_flight"].is_u64(), "{s}");
            assert!(s["gtid"].is_string() && s["weight"].is_u64(), "{s}");
            assert!(s["lag_ms"].is_u64(), "{s}");
            assert!(
                ["up", "lagging", "down"].contains(&s["state"].as_str().unwrap()),
                "{s}"
            );
            (
                s["address"].as_str().unwrap().to_string(),
                s["role"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(roles.contains(&(primary.to_string(), "primary".to_string())));
    assert!(roles.contains(&(replica.to_string(), "replica".to_string())));

    // The monitor's findings show up once it has checked the replica.
    wait_until(
        "the monitor reports the replica read-only with a GTID position",
        Duration::from_secs(15),
        || {
            let status = get(admin, "/status").json();
            status["servers"].as_array().unwrap().iter().any(|s| {
                s["address"] == replica.to_string()
                    && s["read_only"] == true
                    && s["gtid"].as_str().is_some_and(|g| !g.is_empty())
            })
        },
    );

    let before = queries_of(admin, &replica.to_string());
    let mut conn = bed.conn().await;
    for _ in 0..3 {
        let n: i64 = one(&mut conn, "SELECT 1").await;
        assert_eq!(n, 1);
    }
    // Counted once the relay is over, which may be just after the client has the answer.
    wait_until(
        "the replica's statement counter moves by 3",
        Duration::from_secs(10),
        || queries_of(admin, &replica.to_string()) >= before + 3,
    );
    let status = get(admin, "/status").json();
    assert!(status["client_connections"].as_u64().unwrap() >= 1);
    // The routing decisions and read-your-writes counters the dashboard shows.
    let routed = status["routing"].as_array().unwrap();
    assert!(
        routed.iter().any(|r| r["target"] == "replica"
            && r["reason"] == "plain_read"
            && r["count"].as_u64().unwrap() >= 3),
        "{status}"
    );
    assert!(status["consistency"]["waits"].is_u64(), "{status}");
    assert!(
        status["consistency"]["primary_fallbacks"].is_u64(),
        "{status}"
    );
    assert!(status["pinned"].is_object(), "{status}");
    let replica_entry = status["servers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["address"] == replica.to_string())
        .unwrap()
        .clone();
    assert!(
        replica_entry["pool"]["open"].as_u64().unwrap() >= 1,
        "{replica_entry}"
    );
    drop(conn);
}

/// Session `id`'s entry in `/sessions`, if listed.
fn session_entry(bed: &Bed, id: u32) -> Option<Value> {
    let sessions = get(bed.proxy.admin_addr(), "/sessions").json();
    sessions["sessions"]
        .as_array()?
        .iter()
        .find(|s| s["id"] == id)
        .cloned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_list_a_connected_client_with_its_user() {
    let bed = Bed::shared();
    let mut conn = bed.conn().await;
    let _: i64 = one(&mut conn, "SELECT 1").await;
    // The id of the handshake: the proxy's own, which CONNECTION_ID() answers too.
    let id = conn.id();
    let me = || session_entry(&bed, id).unwrap_or_else(|| panic!("session {id} not in /sessions"));
    // The client may read the last packet before the session marks itself idle.
    wait_until("the session is idle", Duration::from_secs(10), || {
        me()["state"] == "idle"
    });
    let idle = me();
    assert_eq!(idle["user"], "app");
    assert_eq!(idle["pinned"], false);
    assert_eq!(idle["pin_reason"], Value::Null);
    assert!(idle["peer"].as_str().unwrap().starts_with("127.0.0.1:"));
    assert_eq!(idle["command"], "Sleep");
    assert_eq!(idle["schema"], "app");
    assert_eq!(idle["statement"], Value::Null);
    // While a statement runs: its command and text, as SHOW PROCESSLIST gives them.
    let mut sleeper = bed.conn().await;
    let sleeper_id = sleeper.id();
    let running = tokio::spawn(async move {
        let _: i64 = one(&mut sleeper, "SELECT SLEEP(2)").await;
        sleeper
    });
    let busy = || session_entry(&bed, sleeper_id).unwrap_or(Value::Null);
    tokio::task::block_in_place(|| {
        wait_until(
            "the sleeper's statement is listed",
            Duration::from_secs(10),
            || busy()["statement"] == "SELECT SLEEP(2)",
        )
    });
    assert_eq!(busy()["command"], "Query");
    drop(running.await.expect("the sleeping session"));
    // A user variable pins the session's connection, and says so.
    run(&mut conn, "SET @pinned = 1").await;
    wait_until("the session is pinned", Duration::from_secs(10), || {
        me()["pinned"] == true
    });
    let pinned = me();
    assert_eq!(pinned["pin_reason"], "user_variables");
    drop(conn);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_gives_the_route_and_needs_sql() {
    let bed = Bed::shared();
    let admin = bed.proxy.admin_addr();
    let read = get(admin, "/explain?sql=SELECT+*+FROM+t+WHERE+id%3D1").json();
    assert_eq!(read["target"], "replica");
    assert_eq!(read["reason"], "plain_read");
    let hash = read["digest"]["hash"].as_str().unwrap();
    assert_eq!(hash.len(), 16);
    assert!(hash.chars().all(|c| c.is_ascii_hexdigit()));
    assert!(read["digest"]["text"].as_str().unwrap().contains("FROM t"));
    let write = get(admin, "/explain?sql=UPDATE%20t%20SET%20a%20%3D%201").json();
    assert_eq!(write["target"], "primary");
    assert_eq!(write["reason"], "write");
    let missing = get(admin, "/explain");
    assert_eq!(missing.status, 400);
    assert!(missing.json()["error"].is_string());
    // Malformed SQL is not an error of the API: the router sends it to the primary, which
    // would answer it with its own syntax error.
    let garbage = get(admin, "/explain?sql=this%20is%20%29%20not%20sql");
    assert_eq!(garbage.status, 200);
    assert_eq!(garbage.json()["target"], "primary");
    // Bytes that are not UTF-8 are explained as their lossy text (U+FFFD), not a failure.
    let bad = get(admin, "/explain?sql=%FF%FE");
    assert_eq!(bad.status, 200, "{}", bad.body);
    assert_eq!(bad.json()["target"], "primary");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_prometheus_text_with_the_expected_names() {
    let bed = Bed::shared();
    let mut conn = bed.conn().await;
    let _: i64 = one(&mut conn, "SELECT 1").await;
    let answer = get(bed.proxy.admin_addr(), "/metrics");
    assert_eq!(answer.status, 200);
    assert!(answer.headers.contains("content-type: text/plain"));
    for name in [
        "splitrail_uptime_seconds ",
        "splitrail_client_connections ",
        "splitrail_server_queries_total{",
        "splitrail_server_errors_total{",
        "splitrail_server_healthy{",
        "splitrail_server_state{",
        "splitrail_server_replication_lag_ms{",
        "splitrail_pool_open_connections{",
        "splitrail_pool_idle_connections{",
        "splitrail_pool_in_use_connections{",
        "splitrail_pool_waiting{",
        "splitrail_routing_decisions_total{target=\"replica\",reason=\"plain_read\"} ",
        "splitrail_client_connections_total ",
        "splitrail_server_in_flight{",
        "splitrail_server_query_duration_seconds_bucket{",
        "splitrail_server_query_duration_seconds_sum{",
        "splitrail_server_query_duration_seconds_count{",
        "splitrail_pool_acquire_waits_total{",
        "splitrail_pool_acquire_wait_seconds_total{",
        "splitrail_pinned_sessions{reason=\"transaction\"} ",
        "splitrail_consistency_waits_total 0",
        "splitrail_consistency_primary_fallbacks_total 0",
    ] {
        assert!(
            answer.body.lines().any(|l| l.starts_with(name)),
            "no {name} in\n{}",
            answer.body
        );
    }
    drop(conn);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_paths_and_methods_get_json_errors() {
    let bed = Bed::shared();
    let admin = bed.proxy.admin_addr();
    let missing = get(admin, "/nope");
    assert_eq!(missing.status, 404);
    assert!(missing.json()["error"].is_string());
    let post = request(admin, "POST", "/status", None);
    assert_eq!(post.status, 405);
    assert!(post.headers.contains("allow: get, head"));
    assert!(post.json()["error"].is_string());
}

/// A token needs no backend: this proxy's only server does not exist.
#[test]
fn a_configured_token_is_required() {
    let proxy = common::proxy_without_backend("s3cret-token");
    let admin = proxy.admin_addr();
    let none = request(admin, "GET", "/status", None);
    assert_eq!(none.status, 401);
    assert!(none.json()["error"].is_string());
    assert!(none.headers.contains("www-authenticate: bearer"));
    assert_eq!(request(admin, "GET", "/status", Some("wrong")).status, 401);
    assert_eq!(
        request(admin, "GET", "/metrics", Some("s3cret-tokeN")).status,
        401
    );
    // Even an unknown path asks for the token first.
    assert_eq!(request(admin, "GET", "/nope", None).status, 401);
    let ok = request(admin, "GET", "/status", Some("s3cret-token"));
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(ok.json()["servers"][0]["address"], "127.0.0.1:1");
    proxy.shutdown();
}

/// The value of the sample `name` (labels included) in `/metrics`.
fn metric(addr: SocketAddr, name: &str) -> f64 {
    let text = get(addr, "/metrics").body;
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in\n{text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_clients_latency_pins_and_acquire_waits() {
    // One primary connection per worker: with one session more than there are workers, two
    // sessions share a worker, and the second's statement waits for the first's transaction.
    let bed = Bed::own(1, "pool: { max_size: 1 }");
    let admin = bed.proxy.admin_addr();
    let primary = format!("server=\"{}\",role=\"primary\"", bed.primary().address());
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut first = bed.conn().await;
    run(&mut first, "BEGIN").await;
    let _: i64 = one(&mut first, "SELECT 1 FOR UPDATE").await;
    wait_until("a pinned transaction", Duration::from_secs(10), || {
        metric(admin, "splitrail_pinned_sessions{reason=\"transaction\"}") == 1.0
    });
    let mut others = Vec::new();
    for _ in 0..workers {
        let mut conn = bed.conn().await;
        others.push(tokio::spawn(async move {
            run(&mut conn, "BEGIN").await;
            let _: i64 = one(&mut conn, "SELECT 2 FOR UPDATE").await;
            tokio::time::sleep(Duration::from_millis(100)).await;
            run(&mut conn, "COMMIT").await;
            conn
        }));
    }
    assert!(metric(admin, "splitrail_client_connections_total") >= 1.0 + workers as f64);
    // The session sharing the first one's worker waits for its connection, and says so.
    let waiting = format!("splitrail_pool_waiting{{{primary}}}");
    tokio::task::block_in_place(|| {
        wait_until(
            "a session waiting for the primary's connection",
            Duration::from_secs(10),
            || metric(admin, &waiting) >= 1.0,
        )
    });
    let status = get(admin, "/status").json();
    let primary_status = status["servers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["role"] == "primary")
        .unwrap()
        .clone();
    assert!(primary_status["pool"]["waiting"].as_u64().unwrap() >= 1);
    run(&mut first, "COMMIT").await;
    let mut conns = vec![first];
    for other in others {
        conns.push(other.await.expect("a session"));
    }
    wait_until("no session waiting", Duration::from_secs(10), || {
        metric(admin, &waiting) == 0.0
    });
    let waits = format!("splitrail_pool_acquire_waits_total{{{primary}}}");
    assert!(metric(admin, &waits) >= 1.0, "no acquisition waited");
    let waited = format!("splitrail_pool_acquire_wait_seconds_total{{{primary}}}");
    assert!(metric(admin, &waited) > 0.0);
    // A client can read an answer before the proxy counts the statement and updates the
    // session's pin: poll until the last statements are in.
    wait_until("no pinned transaction", Duration::from_secs(10), || {
        metric(admin, "splitrail_pinned_sessions{reason=\"transaction\"}") == 0.0
    });
    let histogram = "splitrail_server_query_duration_seconds";
    wait_until(
        "every statement in the histogram",
        Duration::from_secs(10),
        || {
            let count = metric(admin, &format!("{histogram}_count{{{primary}}}"));
            let inf = metric(
                admin,
                &format!("{histogram}_bucket{{{primary},le=\"+Inf\"}}"),
            );
            let queries = metric(
                admin,
                &format!("splitrail_server_queries_total{{{primary}}}"),
            );
            count >= 2.0 * (workers as f64 + 1.0) && count == inf && count == queries
        },
    );
    drop(conns);
    wait_until("no client left", Duration::from_secs(10), || {
        metric(admin, "splitrail_client_connections") == 0.0
    });
}

/// The `/digests` entry whose text contains `needle`.
fn digest_with(addr: SocketAddr, needle: &str) -> Option<Value> {
    let all = get(addr, "/digests?limit=1000").json();
    all["digests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["text"].as_str().is_some_and(|t| t.contains(needle)))
        .cloned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn digests_count_statements_rows_errors_and_routes() {
    let bed = Bed::shared();
    let admin = bed.proxy.admin_addr();
    let t = table("digests");
    let mut conn = bed.conn().await;
    run(&mut conn, &format!("CREATE TABLE {t} (id INT PRIMARY KEY)")).await;
    for id in 1..=3 {
        run(&mut conn, &format!("INSERT INTO {t} VALUES ({id})")).await;
    }
    bed.caught_up();
    for _ in 0..2 {
        let n: Vec<i32> = conn.query(format!("SELECT id FROM {t}")).await.unwrap();
        assert_eq!(n.len(), 3);
    }
    let missing = format!("{t}_missing");
    for _ in 0..2 {
        conn.query_drop(format!("SELECT id FROM {missing}"))
            .await
            .expect_err("no such table");
    }
    // The client can read the answer before the proxy counts the statement: poll.
    wait_until("the digests", Duration::from_secs(10), || {
        digest_with(admin, &missing).is_some_and(|d| d["count"] == 2)
    });
    let insert = digest_with(admin, &format!("INSERT INTO {t}")).expect("the INSERT");
    assert_eq!(insert["count"], 3);
    assert_eq!(insert["rows"], 3, "affected rows");
    assert_eq!(insert["errors"], 0);
    assert_eq!(insert["targets"]["primary"], 3);
    assert_eq!(insert["digest"].as_str().unwrap().len(), 16);
    // The read of the table itself, not of `{t}_missing`, whose text starts the same.
    let all = get(admin, "/digests?limit=1000").json();
    let select = all["digests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| {
            d["text"]
                .as_str()
                .is_some_and(|text| text.trim_end().ends_with(&format!("FROM {t}")))
        })
        .cloned()
        .expect("the SELECT");
    assert_eq!(select["count"], 2);
    assert_eq!(select["rows"], 6, "rows sent");
    assert_eq!(select["targets"]["replica"], 2);
    let total = select["total_us"].as_u64().unwrap();
    assert!(select["max_us"].as_u64().unwrap() <= total);
    assert_eq!(select["avg_us"].as_u64().unwrap(), total / 2);
    let failed = digest_with(admin, &missing).unwrap();
    assert_eq!(
        (failed["count"].as_u64(), failed["errors"].as_u64()),
        (Some(2), Some(2))
    );
    // Sorted by total time, and limited.
    let top = get(admin, "/digests?limit=2").json();
    let top = top["digests"].as_array().unwrap();
    assert!(top.len() <= 2);
    if let [first, second] = top.as_slice() {
        assert!(first["total_us"].as_u64() >= second["total_us"].as_u64());
    }
    assert_eq!(get(admin, "/digests?limit=zero").status, 400);
    assert_eq!(get(admin, "/digests?limit=0").status, 400);
    let reset = request(admin, "POST", "/digests/reset", None);
    assert_eq!(reset.status, 200, "{}", reset.body);
    assert!(digest_with(admin, &missing).is_none());
    run(&mut conn, &format!("DROP TABLE {t}")).await;
}
