//! Failover against the real test bed: the primary is killed under a write load and a replica
//! is promoted. The proxy follows the promotion without a restart; writes that arrive in
//! between wait for it (`routing.failover_timeout`); no acknowledged write is lost; no write
//! reaches a read-only server; a write with no primary to take it gets a clear error in time.
//!
//! The promotion test runs semi-synchronous replication: with asynchronous replication a
//! primary killed right after a commit may take writes it acknowledged with it, whatever sits in
//! front of it, and the test is about what the proxy acknowledges.
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{Bed, BedBuilder, MONITOR_USER, connect, field, run, server_code, wait_until};
use mysql_async::prelude::*;
use splitrail_testbed::ClusterConfig;

const WAIT: Duration = Duration::from_secs(60);

fn yaml(failover_timeout: &str) -> String {
    format!(
        "monitor: {{ user: {MONITOR_USER}, interval: 100ms, failure_threshold: 2, \
         success_threshold: 1 }}\nrouting: {{ failover_timeout: {failover_timeout} }}"
    )
}

/// What one writer saw.
#[derive(Debug, Default)]
struct Writes {
    acknowledged: Vec<i64>,
    /// MySQL error numbers of failed writes.
    errors: Vec<u16>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_follows_a_promotion_and_loses_no_acknowledged_write() {
    let bed = BedBuilder::cluster(ClusterConfig {
        semi_sync: true,
        ..ClusterConfig::with_replicas(1)
    })
    .yaml(&yaml("30s"))
    .start();
    let mut setup = bed.conn().await;
    run(
        &mut setup,
        "CREATE TABLE app.failover (id BIGINT PRIMARY KEY)",
    )
    .await;
    bed.caught_up();

    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..4i64 {
        let (opts, stop) = (bed.opts(), stop.clone());
        writers.push(tokio::spawn(async move {
            let mut conn = connect(opts).await;
            let mut seen = Writes::default();
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                let id = w * 1_000_000 + n;
                n += 1;
                match conn
                    .exec_drop("INSERT INTO app.failover (id) VALUES (?)", (id,))
                    .await
                {
                    Ok(()) => seen.acknowledged.push(id),
                    Err(e) => seen.errors.push(server_code(&e).unwrap_or(0)),
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            seen
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Every write acknowledged so far is on the replica: the premise of "none lost".
    assert!(
        bed.cluster().semi_sync_on().expect("semi-sync status"),
        "the primary fell back to asynchronous replication"
    );

    // The primary dies; the replica applies what it received, then is promoted.
    bed.primary().kill().expect("killing the primary");
    let topology = bed.proxy.shared().topology();
    tokio::task::block_in_place(|| {
        wait_until("no writable primary", WAIT, || {
            topology.writable_primary().is_none()
        })
    });
    let new_primary = bed.replica(0);
    tokio::task::block_in_place(|| {
        wait_until("the replica applied its relay log", WAIT, || {
            let status = bed.cluster().replication_status(new_primary);
            status.is_ok_and(|s| {
                field(&s, "Slave_SQL_Running_State")
                    .is_some_and(|v| v.contains("has read all relay log"))
            })
        })
    });
    // Writes arriving now wait for a primary instead of failing.
    std::thread::sleep(Duration::from_millis(500));
    bed.cluster()
        .promote(new_primary)
        .expect("promoting the replica");
    tokio::task::block_in_place(|| {
        wait_until("the promotion followed", WAIT, || {
            topology.writable_primary() == Some(1)
        })
    });
    // Writes go on on the new primary.
    let before = Instant::now();
    let mut conn = bed.conn().await;
    run(&mut conn, "INSERT INTO app.failover (id) VALUES (-1)").await;
    assert!(before.elapsed() < WAIT);
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);

    let mut all = Writes::default();
    for w in writers {
        let seen = w.await.expect("writer");
        all.acknowledged.extend(seen.acknowledged);
        all.errors.extend(seen.errors);
    }
    let rows: Vec<i64> = conn
        .query("SELECT id FROM app.failover /* splitrail:primary */")
        .await
        .expect("reading the new primary");
    let missing: Vec<_> = all
        .acknowledged
        .iter()
        .filter(|id| !rows.contains(id))
        .collect();
    eprintln!(
        "failover: {} writes acknowledged, {} failed ({:?}), {} missing",
        all.acknowledged.len(),
        all.errors.len(),
        all.errors,
        missing.len()
    );
    assert!(missing.is_empty(), "acknowledged writes lost: {missing:?}");
    // Only a write in flight when the primary died may fail (2013: its connection was lost);
    // none was refused by a read-only server (1290: the proxy's user cannot write there, so a
    // misrouted write would show) or given up while waiting.
    assert!(
        all.errors.iter().all(|&code| code == 2013),
        "{:?}",
        all.errors
    );
    assert!(all.errors.len() <= 4, "{:?}", all.errors);
    assert!(!all.acknowledged.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_with_no_primary_gets_a_clear_error_after_the_failover_timeout() {
    let bed = Bed::own(1, &yaml("1500ms"));
    let mut conn = bed.conn().await;
    run(&mut conn, "CREATE TABLE app.orphan (id INT PRIMARY KEY)").await;
    bed.caught_up();
    bed.primary().kill().expect("killing the primary");
    let topology = bed.proxy.shared().topology();
    tokio::task::block_in_place(|| {
        wait_until("no writable primary", WAIT, || {
            topology.writable_primary().is_none()
        })
    });
    let started = Instant::now();
    let err = conn
        .query_drop("INSERT INTO app.orphan VALUES (1)")
        .await
        .expect_err("a write succeeded with no primary");
    let waited = started.elapsed();
    assert_eq!(server_code(&err), Some(2003), "{err}");
    assert!(err.to_string().contains("failover_timeout"), "{err}");
    assert!(
        waited >= Duration::from_millis(1400),
        "gave up after {waited:?}"
    );
    // Reads still work, from the replica; the replica got no write.
    let n: i64 = conn
        .query_first("SELECT COUNT(*) FROM app.orphan")
        .await
        .expect("read")
        .expect("row");
    assert_eq!(n, 0);
    assert_eq!(
        bed.replica(0)
            .query_one("SELECT COUNT(*) FROM app.orphan")
            .unwrap(),
        "0"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_killed_under_a_read_load_costs_no_read() {
    let bed = Bed::own(1, &yaml("10s"));
    let mut setup = bed.conn().await;
    run(&mut setup, "CREATE TABLE app.reads (id INT PRIMARY KEY)").await;
    run(&mut setup, "INSERT INTO app.reads VALUES (1), (2), (3)").await;
    bed.caught_up();
    let replica = bed.replica(0).server_id();

    let stop = Arc::new(AtomicBool::new(false));
    let mut readers = Vec::new();
    for _ in 0..4 {
        let (opts, stop) = (bed.opts(), stop.clone());
        readers.push(tokio::spawn(async move {
            let mut conn = connect(opts).await;
            let (mut answered, mut on_replica, mut errors) = (0, 0, Vec::new());
            while !stop.load(Ordering::Relaxed) {
                match conn
                    .query_first::<(i64, u32), _>("SELECT COUNT(*), @@server_id FROM app.reads")
                    .await
                {
                    Ok(Some((3, server))) => {
                        answered += 1;
                        on_replica += usize::from(server == replica);
                    }
                    Ok(other) => panic!("wrong answer {other:?}"),
                    Err(e) => errors.push(e.to_string()),
                }
            }
            (answered, on_replica, errors)
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    bed.replica(0).kill().expect("killing the replica");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.store(true, Ordering::Relaxed);
    let (mut answered, mut on_replica, mut errors) = (0, 0, Vec::new());
    for r in readers {
        let (a, o, e) = r.await.expect("reader");
        answered += a;
        on_replica += o;
        errors.extend(e);
    }
    eprintln!("replica killed: {answered} reads answered, {on_replica} by the replica");
    assert!(errors.is_empty(), "reads failed: {errors:?}");
    assert!(on_replica > 0 && on_replica < answered);
}
