//! Configuration reload against the real test bed: `POST /reload` and a change of the file each
//! add a replica that starts taking reads while clients keep reading (none of them sees an
//! error); an invalid file keeps the running configuration; a user added by a reload can log
//! in; a server left out of the file drains; the drain / enable endpoints and their errors.
mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{
    Bed, BedBuilder, MONITOR_USER, ProxyProcess, connect, get, request, server_id, wait_reads_on,
    wait_until,
};
use mysql_async::OptsBuilder;
use serde_json::Value;

/// Short monitor checks so new servers are checked quickly.
fn monitor_yaml() -> String {
    format!("monitor: {{ user: {MONITOR_USER}, interval: 100ms }}")
}

const WAIT: Duration = Duration::from_secs(30);

/// Clients reading `@@server_id` in a loop until stopped: what answered, and every error.
struct ReadLoad {
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<HashMap<u32, u64>>>,
    tasks: Vec<tokio::task::JoinHandle<Vec<String>>>,
}

impl ReadLoad {
    fn start(opts: OptsBuilder, clients: usize) -> ReadLoad {
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(HashMap::new()));
        let tasks = (0..clients)
            .map(|_| {
                let (stop, seen, opts) = (stop.clone(), seen.clone(), opts.clone());
                tokio::spawn(async move {
                    let mut errors = Vec::new();
                    let mut conn = connect(opts).await;
                    while !stop.load(Ordering::Relaxed) {
                        use mysql_async::prelude::Queryable;
                        match conn.query_first::<u32, _>("SELECT @@server_id").await {
                            Ok(Some(id)) => *seen.lock().unwrap().entry(id).or_insert(0) += 1,
                            Ok(None) => errors.push("no row".to_string()),
                            Err(e) => errors.push(e.to_string()),
                        }
                    }
                    errors
                })
            })
            .collect();
        ReadLoad { stop, seen, tasks }
    }

    /// Reads answered by `server_id` so far.
    fn reads_on(&self, server_id: u32) -> u64 {
        self.seen
            .lock()
            .unwrap()
            .get(&server_id)
            .copied()
            .unwrap_or(0)
    }

    /// Waits, without blocking the clients, until `server_id` answered `n` reads.
    fn wait_reads(&self, server_id: u32, n: u64) {
        tokio::task::block_in_place(|| {
            wait_until(&format!("{n} reads on server {server_id}"), WAIT, || {
                self.reads_on(server_id) >= n
            })
        });
    }

    /// Stops the clients; returns what answered and every error they saw.
    async fn finish(self) -> (HashMap<u32, u64>, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        let mut errors = Vec::new();
        for task in self.tasks {
            errors.extend(task.await.expect("a reading client panicked"));
        }
        let seen = self.seen.lock().unwrap().clone();
        (seen, errors)
    }
}

fn post(admin: SocketAddr, path: &str) -> (u16, Value) {
    let answer = request(admin, "POST", path, None);
    (answer.status, answer.json())
}

/// The `/status` entry of the server at `address`, if listed.
fn status_of(admin: SocketAddr, address: &str) -> Option<Value> {
    let status = get(admin, "/status").json();
    status["servers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["address"] == address)
        .cloned()
}

fn metric(admin: SocketAddr, line_start: &str) -> f64 {
    let body = get(admin, "/metrics").body;
    body.lines()
        .find_map(|l| l.strip_prefix(line_start))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {line_start} in\n{body}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_reload_adds_a_replica_that_takes_reads_without_client_errors() {
    let bed = BedBuilder::own(2)
        .config_file(2)
        .yaml(&monitor_yaml())
        .start();
    let admin = bed.proxy.admin_addr();
    let servers: Vec<_> = bed.cluster().servers().iter().collect();
    let (replica, added) = (servers[1].server_id(), servers[2].server_id());
    wait_reads_on(&bed, replica).await;

    let load = ReadLoad::start(bed.opts(), 4);
    load.wait_reads(replica, 20);
    bed.write_config(&servers, &monitor_yaml());
    let (code, summary) = post(admin, "/reload");
    assert_eq!(code, 200, "{summary}");
    assert_eq!(summary["reloaded"], true, "{summary}");
    // The file watch may have applied the file a moment before: then nothing is new.
    let new_address = servers[2].address().to_string();
    let listed = summary["servers"]["added"].as_array().unwrap();
    assert!(
        listed.is_empty() || listed[0] == new_address.as_str(),
        "{summary}"
    );
    load.wait_reads(added, 20);
    let before = load.reads_on(replica);
    load.wait_reads(replica, before + 20);
    let (seen, errors) = load.finish().await;
    assert!(errors.is_empty(), "clients saw errors: {errors:?}");
    assert!(seen[&added] >= 20 && seen[&replica] >= 20, "{seen:?}");

    let status = status_of(admin, &new_address).expect("the new replica in /status");
    assert_eq!(status["state"], "up", "{status}");
    assert_eq!(status["discovered"], false);
    assert!(metric(admin, "splitrail_reloads_total{result=\"ok\"}") >= 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_file_keeps_the_config_and_a_changed_file_applies_servers_and_users() {
    let bed = BedBuilder::own(2)
        .config_file(2)
        .yaml(&monitor_yaml())
        .start();
    let admin = bed.proxy.admin_addr();
    let servers: Vec<_> = bed.cluster().servers().iter().collect();
    let (replica, added) = (servers[1].server_id(), servers[2].server_id());
    let hash = get(admin, "/status").json()["config"]["sha256"].clone();

    // Invalid: an unknown key and a server without a port.
    bed.write_config_text(&format!(
        "{}surprise: 1\n",
        bed.config_yaml(&servers, &monitor_yaml())
            .replace(&servers[2].address().to_string(), "db-without-port")
    ));
    let (code, answer) = post(admin, "/reload");
    assert_eq!(code, 400, "{answer}");
    let problems: Vec<&str> = answer["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert!(
        problems
            .iter()
            .any(|p| p.contains("proxy.yaml:") && p.contains("surprise")),
        "{problems:?}"
    );
    assert!(
        problems.iter().any(|p| p.contains("servers[2].address")),
        "{problems:?}"
    );
    // Nothing changed: reads work, on the servers of before; the refusal is counted.
    let mut conn = bed.conn().await;
    for _ in 0..5 {
        assert_ne!(server_id(&mut conn).await, added);
    }
    assert_eq!(get(admin, "/status").json()["config"]["sha256"], hash);
    assert_eq!(
        get(admin, "/status").json()["servers"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert!(metric(admin, "splitrail_reloads_total{result=\"error\"}") >= 1.0);
    assert_eq!(metric(admin, "splitrail_reloads_total{result=\"ok\"}"), 0.0);

    // A user that exists on the servers but not in the proxy's list cannot log in yet.
    for server in bed.cluster().servers() {
        server
            .sql(
                "SET SESSION sql_log_bin = 0;
                 CREATE USER IF NOT EXISTS 'late'@'%' IDENTIFIED BY 'late-pw';
                 GRANT SELECT ON app.* TO 'late'@'%';",
            )
            .expect("creating the user late");
    }
    let late = bed.opts_as("late", "late-pw");
    assert!(mysql_async::Conn::new(late.clone()).await.is_err());

    // A valid file with the third server and the user: the file watch applies it by itself.
    let load = ReadLoad::start(bed.opts(), 2);
    bed.write_config_text(&bed.config_yaml(&servers, &monitor_yaml()).replace(
        "users:\n",
        "users:\n  - { user: late, password: late-pw }\n",
    ));
    load.wait_reads(added, 10);
    load.wait_reads(replica, 10);
    let (_, errors) = load.finish().await;
    assert!(errors.is_empty(), "clients saw errors: {errors:?}");
    let mut conn = connect(late).await;
    let id = server_id(&mut conn).await;
    assert!([replica, added].contains(&id), "read on {id}");
    let status = get(admin, "/status").json();
    assert_ne!(status["config"]["sha256"], hash);
    let on_disk = std::fs::read(bed.config_path()).unwrap();
    assert_eq!(
        status["config"]["sha256"],
        splitrail_server::config::sha256_hex(&on_disk)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_enable_and_a_removed_server_draining_away() {
    let bed = BedBuilder::own(1)
        .config_file(2)
        .yaml(&monitor_yaml())
        .start();
    let admin = bed.proxy.admin_addr();
    let (primary, replica) = (bed.primary().server_id(), bed.replica(0).server_id());
    let address = bed.replica(0).address().to_string();
    wait_reads_on(&bed, replica).await;

    let (code, answer) = post(admin, &format!("/servers/{address}/drain"));
    assert_eq!(code, 200, "{answer}");
    assert_eq!(answer["state"], "draining");
    let drained_at = Instant::now();
    let mut conn = bed.conn().await;
    for _ in 0..10 {
        assert_eq!(
            server_id(&mut conn).await,
            primary,
            "a read on a drained server"
        );
    }
    // The monitor keeps checking it and does not undo the drain.
    wait_until("a monitor check after the drain", WAIT, || {
        let s = status_of(admin, &address).unwrap();
        s["last_check_ms_ago"]
            .as_u64()
            .is_some_and(|ago| u128::from(ago) < drained_at.elapsed().as_millis())
    });
    assert_eq!(status_of(admin, &address).unwrap()["state"], "draining");
    assert_eq!(server_id(&mut conn).await, primary);

    let (code, answer) = post(admin, &format!("/servers/{address}/enable"));
    assert_eq!(code, 200, "{answer}");
    assert_ne!(answer["state"], "draining");
    wait_reads_on(&bed, replica).await;

    // Errors: unknown server, wrong method, unknown action.
    let (code, answer) = post(admin, "/servers/127.0.0.1:1/drain");
    assert_eq!(code, 404);
    assert!(answer["error"].as_str().unwrap().contains("127.0.0.1:1"));
    let get_drain = request(admin, "GET", &format!("/servers/{address}/drain"), None);
    assert_eq!(get_drain.status, 405);
    assert!(get_drain.headers.contains("allow: post"));
    assert_eq!(post(admin, &format!("/servers/{address}/explode")).0, 404);
    assert_eq!(request(admin, "GET", "/reload", None).status, 405);

    // Left out of the file: removed, it drains and leaves /status once its connections closed.
    bed.write_config(&[bed.primary()], &monitor_yaml());
    let (code, summary) = post(admin, "/reload");
    assert_eq!(code, 200, "{summary}");
    let removed = &summary["servers"]["removed"];
    assert!(
        removed.as_array().unwrap().is_empty() || removed[0] == address.as_str(),
        "{summary}"
    );
    wait_until("the replica removed", WAIT, || {
        status_of(admin, &address).is_none_or(|s| s["state"] == "draining")
    });
    let mut conn = bed.conn().await;
    for _ in 0..10 {
        assert_eq!(
            server_id(&mut conn).await,
            primary,
            "a read on a removed server"
        );
    }
    wait_until("the removed replica leaves /status", WAIT, || {
        status_of(admin, &address).is_none()
    });
    assert!(!get(admin, "/metrics").body.contains(&address));
}

/// Tokens and a proxy without a file need no backend: this proxy's only server does not exist.
#[test]
fn server_endpoints_ask_for_the_token_and_reload_needs_a_file() {
    let proxy = common::proxy_without_backend("s3cret-token");
    let admin = proxy.admin_addr();
    let token = Some("s3cret-token");
    for path in [
        "/servers/127.0.0.1:1/drain",
        "/servers/127.0.0.1:1/enable",
        "/reload",
    ] {
        assert_eq!(request(admin, "POST", path, None).status, 401, "{path}");
        assert_eq!(
            request(admin, "POST", path, Some("nope")).status,
            401,
            "{path}"
        );
    }
    let drained = request(admin, "POST", "/servers/127.0.0.1:1/drain", token);
    assert_eq!(drained.status, 200, "{}", drained.body);
    assert_eq!(drained.json()["state"], "draining");
    let status = request(admin, "GET", "/status", token).json();
    assert_eq!(status["servers"][0]["state"], "draining");
    assert_eq!(
        request(admin, "POST", "/servers/127.0.0.1:2/drain", token).status,
        404
    );
    let reload = request(admin, "POST", "/reload", token);
    assert_eq!(reload.status, 409, "{}", reload.body);
    assert!(
        reload.json()["error"]
            .as_str()
            .unwrap()
            .contains("without a configuration file")
    );
    proxy.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_the_running_binarys_file() {
    let bed = Bed::shared();
    let proxy = ProxyProcess::start(&bed, &monitor_yaml());
    // An unchanged file: only the signal can cause this reload.
    proxy.signal("HUP");
    tokio::task::block_in_place(|| {
        wait_until("a reload after SIGHUP", WAIT, || {
            get(proxy.admin, "/metrics")
                .body
                .lines()
                .any(|l| l == "splitrail_reloads_total{result=\"ok\"} 1")
        })
    });
    // A broken file and SIGHUP: counted as a failed reload; the proxy keeps serving.
    let text = std::fs::read_to_string(proxy.config_path()).expect("reading proxy.yaml");
    std::fs::write(
        proxy.config_path(),
        text.replace("role: replica", "role: replica, weight: 0"),
    )
    .expect("writing proxy.yaml");
    proxy.signal("HUP");
    tokio::task::block_in_place(|| {
        wait_until("a failed reload after SIGHUP", WAIT, || {
            metric(proxy.admin, "splitrail_reloads_total{result=\"error\"}") >= 1.0
        })
    });
    let mut conn = connect(proxy.opts()).await;
    assert!(server_id(&mut conn).await > 0);
}
