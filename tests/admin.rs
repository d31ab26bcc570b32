//! The admin HTTP API against a running proxy: status and its counters, sessions, explain,
//! metrics, the bearer token, and the error answers. The client is the harness's few lines over
//! a `std::net::TcpStream` (HTTP/1.1, `Connection: close`).
mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{Bed, get, one, request, wait_until};

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
            assert!(s["pool"]["open"].is_u64(), "{s}");
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_list_a_connected_client_with_its_user() {
    let bed = Bed::shared();
    let mut conn = bed.conn().await;
    let _: i64 = one(&mut conn, "SELECT 1").await;
    // The id of the handshake: the proxy's own (CONNECTION_ID() would be the backend's).
    let id = conn.id();
    let me = || {
        let sessions = get(bed.proxy.admin_addr(), "/sessions").json();
        sessions["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == id)
            .unwrap_or_else(|| panic!("session {id} not in {sessions}"))
            .clone()
    };
    // The client may read the last packet before the session marks itself idle.
    wait_until("the session is idle", Duration::from_secs(10), || {
        me()["state"] == "idle"
    });
    let me = me();
    assert_eq!(me["user"], "app");
    assert_eq!(me["pinned"], false);
    assert!(me["peer"].as_str().unwrap().starts_with("127.0.0.1:"));
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
        "splitrail_routing_decisions_total{target=\"replica\",reason=\"plain_read\"} ",
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
