//! Replica discovery against the real test bed: the proxy's configuration names only the
//! primary; the monitor finds its replica (`SHOW SLAVE HOSTS`, the test bed's servers set
//! `report_host` / `report_port`) and reads reach it, then a replica started later is found and
//! used too, and a reload keeps them.
mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{BedBuilder, MONITOR_USER, get, request, wait_reads_on, wait_until};
use serde_json::Value;

fn discovered(admin: SocketAddr) -> Vec<Value> {
    get(admin, "/status").json()["servers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["discovered"] == true)
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_are_discovered_at_start_and_later_and_serve_reads() {
    let monitor = format!("monitor: {{ user: {MONITOR_USER}, interval: 100ms, discovery: true }}");
    let mut bed = BedBuilder::own(1).config_file(1).yaml(&monitor).start();
    let admin = bed.proxy.admin_addr();
    let first = bed.replica(0).address().to_string();
    wait_until("the replica discovered", Duration::from_secs(30), || {
        discovered(admin)
            .iter()
            .any(|s| s["address"] == first.as_str())
    });
    wait_reads_on(&bed, bed.replica(0).server_id()).await;

    let later = tokio::task::block_in_place(|| bed.add_replica().server_id());
    let later_address = bed.replica(1).address().to_string();
    wait_until(
        "the later replica discovered",
        Duration::from_secs(30),
        || {
            discovered(admin)
                .iter()
                .any(|s| s["address"] == later_address.as_str())
        },
    );
    wait_reads_on(&bed, later).await;
    let entry = discovered(admin)
        .into_iter()
        .find(|s| s["address"] == later_address.as_str())
        .unwrap();
    assert_eq!(
        (entry["role"].as_str(), entry["state"].as_str()),
        (Some("replica"), Some("up"))
    );

    // The file still names only the primary: a reload keeps what discovery found.
    let reload = request(admin, "POST", "/reload", None);
    assert_eq!(reload.status, 200, "{}", reload.body);
    assert_eq!(reload.json()["servers"]["removed"], serde_json::json!([]));
    assert_eq!(discovered(admin).len(), 2);
    wait_reads_on(&bed, later).await;
}
