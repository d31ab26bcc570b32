//! The backend monitor against the real test bed: a killed replica goes down and comes back, a
//! lagging replica is left out of reads until it catches up, and `role: auto` servers are told
//! apart by `read_only` (and followed through a promotion).
mod common;

use std::time::Duration;

use common::{Bed, BedBuilder, MONITOR_USER, run, server_id, wait_reads_on, wait_until};
use splitrail_server::config::Role;
use splitrail_server::topology::ServerState;

/// Short checks so state changes show up quickly; deadlines below are generous all the same.
fn monitor_yaml(extra: &str) -> String {
    format!(
        "monitor: {{ user: {MONITOR_USER}, interval: 100ms, failure_threshold: 2, \
         success_threshold: 2 }}\n{extra}"
    )
}

const WAIT: Duration = Duration::from_secs(30);

fn state(bed: &Bed, server: usize) -> ServerState {
    bed.proxy.shared().topology().servers[server].state()
}

fn wait_state(bed: &Bed, server: usize, want: ServerState) {
    tokio::task::block_in_place(|| {
        wait_until(&format!("server {server} {want}"), WAIT, || {
            state(bed, server) == want
        })
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_replica_goes_down_and_comes_back() {
    let bed = Bed::own(1, &monitor_yaml(""));
    let (primary, replica) = (bed.primary().server_id(), bed.replica(0).server_id());
    wait_reads_on(&bed, replica).await;

    bed.replica(0).kill().expect("killing the replica");
    wait_state(&bed, 1, ServerState::Down);
    // Every read goes to the primary now, on new sessions and on an old one alike.
    let mut conn = bed.conn().await;
    for _ in 0..5 {
        assert_eq!(server_id(&mut conn).await, primary);
    }

    bed.replica(0).start().expect("restarting the replica");
    wait_state(&bed, 1, ServerState::Up);
    wait_reads_on(&bed, replica).await;
    assert_eq!(state(&bed, 0), ServerState::Up);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_with_replication_paused_is_left_out_until_it_catches_up() {
    let bed = Bed::own(1, &monitor_yaml("routing: { max_replication_lag: 1s }"));
    let (primary, replica) = (bed.primary().server_id(), bed.replica(0).server_id());
    wait_reads_on(&bed, replica).await;

    bed.cluster()
        .pause_replication(bed.replica(0))
        .expect("pausing replication");
    let mut conn = bed.conn().await;
    run(
        &mut conn,
        "CREATE TABLE app.monitor_lag (id INT PRIMARY KEY)",
    )
    .await;
    run(&mut conn, "INSERT INTO app.monitor_lag VALUES (1)").await;
    wait_state(&bed, 1, ServerState::Lagging);
    let mut fresh = bed.conn().await;
    for _ in 0..5 {
        assert_eq!(server_id(&mut fresh).await, primary);
    }

    bed.cluster()
        .resume_replication(bed.replica(0))
        .expect("resuming replication");
    wait_state(&bed, 1, ServerState::Up);
    wait_reads_on(&bed, replica).await;
}

/// With the SQL thread running but applying late (`MASTER_DELAY`), the lag comes from the GTID
/// distance to the primary: the replica is left out once it is more than the limit behind, and
/// used again once it has applied the write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delayed_replica_is_lagging_by_gtid_distance() {
    let bed = Bed::own(1, &monitor_yaml("routing: { max_replication_lag: 1s }"));
    let (primary, replica) = (bed.primary().server_id(), bed.replica(0).server_id());
    bed.cluster()
        .set_replication_delay(bed.replica(0), 4)
        .expect("delaying replication");
    wait_reads_on(&bed, replica).await;

    let mut conn = bed.conn().await;
    run(
        &mut conn,
        "CREATE TABLE app.monitor_delay (id INT PRIMARY KEY)",
    )
    .await;
    wait_state(&bed, 1, ServerState::Lagging);
    assert!(bed.proxy.shared().topology().servers[1].lag_ms() > 1000);
    let mut fresh = bed.conn().await;
    assert_eq!(server_id(&mut fresh).await, primary);

    // The delay runs out, the write is applied, the replica is back.
    wait_state(&bed, 1, ServerState::Up);
    wait_reads_on(&bed, replica).await;
    bed.cluster()
        .set_replication_delay(bed.replica(0), 0)
        .expect("removing the delay");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_roles_follow_read_only_and_a_promotion() {
    let bed = BedBuilder::own(1)
        .auto_roles()
        .yaml(&monitor_yaml(""))
        .start();
    let topology = bed.proxy.shared().topology();
    tokio::task::block_in_place(|| {
        wait_until("roles detected", WAIT, || {
            topology.primary() == Some(0) && topology.servers[1].role() == Role::Replica
        })
    });
    let (primary, replica) = (bed.primary().server_id(), bed.replica(0).server_id());
    let mut conn = bed.conn().await;
    run(
        &mut conn,
        "CREATE TABLE app.monitor_auto (id INT PRIMARY KEY)",
    )
    .await;
    run(&mut conn, "INSERT INTO app.monitor_auto VALUES (1)").await;
    let on_primary = bed
        .primary()
        .query_one("SELECT COUNT(*) FROM app.monitor_auto")
        .expect("reading the primary");
    assert_eq!(on_primary, "1");
    bed.caught_up();
    wait_reads_on(&bed, replica).await;

    // Failover: the replica becomes the writable primary, the old primary a read-only replica.
    let new_primary = bed.replica(0);
    bed.cluster().promote(new_primary).expect("promoting");
    tokio::task::block_in_place(|| {
        wait_until("the promotion followed", WAIT, || {
            topology.primary() == Some(1) && topology.servers[0].role() == Role::Replica
        })
    });
    let mut conn = bed.conn().await;
    run(&mut conn, "INSERT INTO app.monitor_auto VALUES (2)").await;
    let on_new = new_primary
        .query_one("SELECT COUNT(*) FROM app.monitor_auto")
        .expect("reading the new primary");
    assert_eq!(on_new, "2");
    wait_reads_on(&bed, primary).await;
}
