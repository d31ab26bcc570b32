//! Many client sessions over few backend connections (transaction pooling).
mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use common::{Bed, one, run};

/// The pool limit the proxy is configured with, per server.
const MAX_SIZE: usize = 10;

/// What a server's PROCESSLIST may show for user `app` beyond the pool: the proxy's monitor
/// checks each server over a connection of its own (`monitor.user` defaults to the first user,
/// `app`), one at a time. The current proxy has no monitor yet, so this is slack for when it
/// lands, not for the pools.
const MONITOR_MARGIN: usize = 1;

#[test]
fn three_hundred_sessions_share_ten_connections_per_server() {
    // An own cluster: PROCESSLIST counts every `app` connection on a server, so no other test's
    // proxy may use these servers.
    let bed = Bed::own(1, &format!("pool: {{ max_size: {MAX_SIZE} }}"));
    let servers = bed.cluster().servers();
    let peaks: Vec<AtomicUsize> = servers.iter().map(|_| AtomicUsize::new(0)).collect();
    let polls = AtomicUsize::new(0);
    let done = AtomicBool::new(false);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    std::thread::scope(|scope| {
        // Count each server's connections of `app` (as root) while the load runs.
        let watcher = scope.spawn(|| {
            while !done.load(Ordering::Relaxed) {
                for (server, peak) in servers.iter().zip(&peaks) {
                    peak.fetch_max(Bed::connections_of(server, "app"), Ordering::Relaxed);
                }
                polls.fetch_add(1, Ordering::Relaxed);
            }
        });
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            runtime.block_on(load(&bed, &polls))
        }));
        done.store(true, Ordering::Relaxed);
        let _ = watcher.join();
        if let Err(panic) = result {
            std::panic::resume_unwind(panic);
        }
    });
    for (server, peak) in servers.iter().zip(&peaks) {
        let peak = peak.load(Ordering::Relaxed);
        eprintln!("{}: at most {peak} connections of app seen", server.name());
        assert!(
            peak <= MAX_SIZE + MONITOR_MARGIN,
            "{} had {peak} connections of app (pool max_size {MAX_SIZE})",
            server.name()
        );
        assert!(peak > 0, "{} was never used", server.name());
    }
}

/// 300 sessions connected at once, each reading, writing and running a transaction.
async fn load(bed: &Bed, polls: &AtomicUsize) {
    const SESSIONS: usize = 300;
    let t = "app.load";
    let mut setup = bed.conn().await;
    run(
        &mut setup,
        &format!("CREATE TABLE {t} (id INT AUTO_INCREMENT PRIMARY KEY, who INT)"),
    )
    .await;
    drop(setup);
    bed.caught_up();
    let mut tasks = Vec::with_capacity(SESSIONS);
    for who in 0..SESSIONS {
        let opts = bed.opts();
        tasks.push(tokio::spawn(async move {
            let mut conn = common::connect(opts).await;
            // A read, a write, a transaction: every kind of borrowing.
            let n: i64 = one(&mut conn, "SELECT 1").await;
            assert_eq!(n, 1);
            run(&mut conn, &format!("INSERT INTO {t} (who) VALUES ({who})")).await;
            run(&mut conn, "BEGIN").await;
            let n: i64 = one(
                &mut conn,
                &format!("SELECT COUNT(*) FROM {t} WHERE who = {who}"),
            )
            .await;
            assert_eq!(
                n, 1,
                "session {who} does not see its row in its transaction"
            );
            run(&mut conn, "COMMIT").await;
            let _: i64 = one(&mut conn, &format!("SELECT COUNT(*) FROM {t}")).await;
            conn
        }));
    }
    // Every session stays connected until all have run, so 300 are open at once.
    let mut conns = Vec::with_capacity(SESSIONS);
    for task in tasks {
        conns.push(task.await.expect("a session failed"));
    }
    for conn in conns.iter_mut() {
        let n: i64 = one(conn, "SELECT 2").await;
        assert_eq!(n, 2);
    }
    // Two more polls with every session connected.
    let seen = polls.load(Ordering::Relaxed);
    while polls.load(Ordering::Relaxed) < seen + 2 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let rows = bed
        .primary()
        .query_one(&format!("SELECT COUNT(*) FROM {t}"))
        .expect("count rows");
    assert_eq!(rows, SESSIONS.to_string());
    drop(conns);
}

/// `pool.min_idle`: once a worker has served a user, it keeps that many connections to the
/// server idle (and opens them again when they go), without further client traffic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn min_idle_connections_are_kept_open() {
    let bed = Bed::own(1, "pool: { max_size: 10, min_idle: 3 }");
    let replica = bed.replica(0);
    let mut conn = bed.conn().await;
    let n: i64 = one(&mut conn, "SELECT 1").await;
    assert_eq!(n, 1);
    // The session's own (sticky) connection, plus three idle ones opened in the background.
    tokio::task::block_in_place(|| {
        common::wait_until(
            "three idle connections beside the session's",
            Duration::from_secs(20),
            || Bed::connections_of(replica, "app") >= 4,
        )
    });
    // Killed from the server side, they come back.
    let killed = Bed::kill_connections(replica, "USER = 'app' AND COMMAND = 'Sleep'");
    assert!(killed > 0, "no idle connection to kill");
    tokio::task::block_in_place(|| {
        common::wait_until(
            "the idle connections re-opened",
            Duration::from_secs(20),
            || Bed::connections_of(replica, "app") >= 3,
        )
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn found_rows_keeps_its_connection_while_other_sessions_wait_for_one() {
    // One connection per server per worker: other sessions queue for it and would take the
    // session's last connection as soon as it is idle.
    let bed = Bed::own(1, "pool: { max_size: 2 }");
    let mut conn = bed.conn().await;
    run(&mut conn, "CREATE TABLE app.rows20 (id INT PRIMARY KEY)").await;
    run(
        &mut conn,
        "INSERT INTO app.rows20 SELECT seq FROM seq_1_to_20",
    )
    .await;
    bed.caught_up();
    for _ in 0..3 {
        run(
            &mut conn,
            "SELECT SQL_CALC_FOUND_ROWS id FROM app.rows20 ORDER BY id LIMIT 2",
        )
        .await;
        let others: Vec<_> = (0..10)
            .map(|_| {
                let opts = bed.opts();
                tokio::spawn(async move {
                    let mut c = common::connect(opts).await;
                    // On the primary, where the session's SELECT ran.
                    let sql = "SELECT COUNT(*) FROM app.rows20 /* splitrail:primary */";
                    let n: i64 = one(&mut c, sql).await;
                    assert_eq!(n, 20);
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let found: i64 = one(&mut conn, "SELECT FOUND_ROWS()").await;
        assert_eq!(found, 20, "FOUND_ROWS() ran on another connection");
        for o in others {
            o.await.expect("another session");
        }
    }
}
