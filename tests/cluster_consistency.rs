//! `routing.consistency: cluster` against the real test bed: two proxy processes that share
//! nothing (the bed's in-process proxy and a `splitrail` child process), a replica applying
//! late (`MASTER_DELAY`), writes through one proxy — or straight on the primary — and reads
//! through the other at once: no read misses a write committed before it started. The
//! position fetches are counted from the proxy's metrics.
mod common;

use common::{Bed, MONITOR_USER, ProxyProcess, connect, counter, run};
use mysql_async::OptsBuilder;
use mysql_async::prelude::*;

fn yaml(consistency: &str) -> String {
    format!(
        "monitor: {{ user: {MONITOR_USER}, interval: 200ms }}\n\
         routing: {{ consistency: {consistency}, causal_read_timeout: 200ms }}"
    )
}

/// `root` straight to the primary, past every proxy.
fn primary_root(bed: &Bed) -> OptsBuilder {
    OptsBuilder::default()
        .ip_or_hostname("127.0.0.1")
        .tcp_port(bed.primary().port())
        .user(Some("root"))
        .db_name(Some("app"))
        .prefer_socket(false)
}

/// Reads row `k` of `table` through `reader`: (rows found, the server that answered).
async fn read_row(reader: &mut mysql_async::Conn, table: &str, k: i64) -> (i64, u32) {
    reader
        .exec_first(
            format!("SELECT COUNT(*), @@server_id FROM {table} WHERE k = ?"),
            (k,),
        )
        .await
        .expect("read")
        .expect("a row")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_through_another_proxy_see_every_committed_write() {
    let bed = Bed::own(1, &yaml("cluster"));
    let table = bed
        .new_table(
            "cluster",
            "k BIGINT PRIMARY KEY, at TIMESTAMP(6) DEFAULT NOW(6)",
        )
        .await;
    let other = ProxyProcess::start(&bed, &yaml("cluster"));
    let control = ProxyProcess::start(&bed, &yaml("eventual"));
    bed.cluster()
        .set_replication_delay(bed.replica(0), 2)
        .expect("set MASTER_DELAY");

    let mut writer = bed.conn().await;
    let mut direct = connect(primary_root(&bed)).await;
    let mut reader = connect(other.opts()).await;
    let mut eventual = connect(control.opts()).await;
    let (mut stale, mut control_stale) = (0, 0);
    let rounds = 20;
    for i in 0..rounds {
        let k = 2 * i;
        // A write through proxy A, then a read through proxy B at once.
        run(
            &mut writer,
            &format!("INSERT INTO {table} (k) VALUES ({k})"),
        )
        .await;
        if read_row(&mut reader, &table, k).await.0 != 1 {
            stale += 1;
        }
        if read_row(&mut eventual, &table, k).await.0 != 1 {
            control_stale += 1;
        }
        // A write made on the primary by a client no proxy sees.
        run(
            &mut direct,
            &format!("INSERT INTO {table} (k) VALUES ({})", k + 1),
        )
        .await;
        // A new connection, as an application that opens one per request does.
        let mut fresh = connect(other.opts()).await;
        if read_row(&mut fresh, &table, k + 1).await.0 != 1 {
            stale += 1;
        }
        drop(fresh);
    }
    eprintln!(
        "cluster: {stale} stale of {} cross-proxy reads; eventual: {control_stale} of {rounds}",
        2 * rounds
    );
    assert_eq!(stale, 0, "a cluster read missed a committed write");
    assert!(
        control_stale > 0,
        "the replica was not behind: the probe proves nothing"
    );

    let fetches = counter(other.admin, "splitrail_consistency_position_fetches_total");
    let reads = counter(other.admin, "splitrail_consistency_position_reads_total");
    assert!(fetches >= 2 * rounds as u64, "{fetches} fetches");
    assert!(reads >= 2 * rounds as u64, "{reads} reads took a position");
    bed.cluster()
        .set_replication_delay(bed.replica(0), 0)
        .expect("reset MASTER_DELAY");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_reads_share_fetches_and_replicas_keep_answering() {
    let bed = Bed::own(1, &yaml("cluster"));
    let table = bed.new_table("shared", "k BIGINT PRIMARY KEY").await;
    let other = ProxyProcess::start(&bed, &yaml("cluster"));
    let mut writer = bed.conn().await;
    run(&mut writer, &format!("INSERT INTO {table} (k) VALUES (1)")).await;
    bed.caught_up();

    let replica = bed.replica(0).server_id();
    let fetches_before = counter(other.admin, "splitrail_consistency_position_fetches_total");
    let reads_before = counter(other.admin, "splitrail_consistency_position_reads_total");
    let clients = 16;
    let per_client = 25;
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (opts, table) = (other.opts(), table.clone());
        tasks.push(tokio::spawn(async move {
            let mut conn = connect(opts).await;
            let mut on_replica = 0;
            for _ in 0..per_client {
                let (count, server) = read_row(&mut conn, &table, 1).await;
                assert_eq!(count, 1, "a read missed the row");
                on_replica += usize::from(server == replica);
            }
            on_replica
        }));
    }
    let mut on_replica = 0;
    for task in tasks {
        on_replica += task.await.expect("a reader");
    }
    let fetches =
        counter(other.admin, "splitrail_consistency_position_fetches_total") - fetches_before;
    let reads = counter(other.admin, "splitrail_consistency_position_reads_total") - reads_before;
    let total = clients * per_client;
    eprintln!(
        "cluster: {reads} reads took a fetched position, {fetches} fetches \
         ({:.0} primary queries per 1 000 reads); {on_replica} of {total} on the replica",
        1000.0 * fetches as f64 / reads.max(1) as f64
    );
    assert!(reads >= total as u64, "{reads} reads took a position");
    assert!(fetches <= reads, "more fetches than reads");
    assert!(on_replica > 0, "the caught-up replica answered no read");
    // The primary position stays current: a write then a read on another proxy sees it.
    run(&mut writer, &format!("INSERT INTO {table} (k) VALUES (2)")).await;
    let mut reader = connect(other.opts()).await;
    assert_eq!(read_row(&mut reader, &table, 2).await.0, 1);
    run(&mut writer, &format!("DELETE FROM {table} WHERE k = 2")).await;
}
