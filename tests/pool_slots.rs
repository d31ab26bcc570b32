//! Pool slots and pipelining: a session that needs a backend connection never waits behind a
//! pipelined connection that has nothing to do. Sessions whose session state differs each get a
//! mux of their own; with more such sessions than `pool.max_size`, the idle muxes must give
//! their slots back the moment someone waits, not after their idle timeout.
mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{Bed, one, run};
use mysql_async::prelude::*;

/// Total time the proxy's sessions (and muxes) spent waiting for a connection to any server.
fn acquire_wait(bed: &Bed) -> (u64, Duration) {
    let shared = bed.proxy.shared();
    let servers = shared.topology().servers.len();
    let (mut waits, mut us) = (0, 0);
    for i in 0..servers {
        if let Some(s) = shared.stats.server(i) {
            waits += s.acquire_waits.load(Ordering::Relaxed);
            us += s.acquire_wait_us.load(Ordering::Relaxed);
        }
    }
    (waits, Duration::from_micros(us))
}

/// Twelve sessions with twelve different session states (sql_mode, time_zone, isolation level,
/// schema) on a pool of eight connections per server, each writing a row, reading it back and
/// reading a few more values in a loop, with a pause between rounds: every statement completes
/// with the right answer, and the time spent waiting for a pool slot stays small. Before idle
/// muxes gave their slots back at once, each wait lasted up to the muxes' idle timeout (2 s):
/// this run waited about 290 s in all, against under a second now. (It also caught writes'
/// GTIDs lost to a misread OK packet: reads of the session's own rows that found nothing.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_with_distinct_state_never_wait_behind_idle_muxes() {
    let bed = Bed::own(1, "workers: 1\npool: { max_size: 8, acquire_timeout: 20s }");
    let table = bed
        .new_table("slots", "id INT PRIMARY KEY, session INT, n INT")
        .await;
    {
        let mut conn = bed.conn().await;
        run(&mut conn, "CREATE DATABASE IF NOT EXISTS slots_other").await;
    }
    bed.caught_up();
    let before = acquire_wait(&bed);
    const SESSIONS: u32 = 12;
    const ROUNDS: u32 = 40;
    let modes = [
        "ANSI_QUOTES",
        "NO_ZERO_DATE",
        "PIPES_AS_CONCAT",
        "IGNORE_SPACE",
    ];
    let isolations = ["READ COMMITTED", "REPEATABLE READ", "SERIALIZABLE"];
    let mut tasks = Vec::new();
    for session in 0..SESSIONS {
        let opts = bed.opts();
        let table = table.clone();
        let mode = modes[session as usize % modes.len()];
        let isolation = isolations[session as usize % isolations.len()];
        tasks.push(tokio::spawn(async move {
            let mut conn = common::connect(opts).await;
            run(&mut conn, &format!("SET sql_mode = '{mode}'")).await;
            run(&mut conn, &format!("SET time_zone = '+{session:02}:00'")).await;
            let isolation = format!("SET SESSION TRANSACTION ISOLATION LEVEL {isolation}");
            run(&mut conn, &isolation).await;
            if session % 2 == 1 {
                run(&mut conn, "USE slots_other").await;
            }
            for round in 0..ROUNDS {
                let id = session * 1000 + round;
                conn.exec_drop(
                    format!("INSERT INTO {table} VALUES (?, ?, ?)"),
                    (id, session, round),
                )
                .await
                .unwrap_or_else(|e| panic!("session {session}, write {round}: {e}"));
                // Read at once: a replica may answer only once it has the row.
                let sql = format!("SELECT n FROM {table} WHERE id = {id}");
                let n: Option<u32> = conn
                    .query_first(&sql)
                    .await
                    .unwrap_or_else(|e| panic!("session {session}, read {round}: {e}"));
                let n = n.unwrap_or_else(|| panic!("session {session}: write {round} not seen"));
                assert_eq!(n, round, "session {session} reads its own write {round}");
                // Reads that need nothing new: the ones pipelining takes.
                for k in 0..3u32 {
                    let v: u32 = one(&mut conn, &format!("SELECT {id} + {k}")).await;
                    assert_eq!(v, id + k, "session {session}, read {round}.{k}");
                }
                let zone: String = one(&mut conn, "SELECT @@time_zone").await;
                assert_eq!(zone, format!("+{session:02}:00"), "session {session}");
                // The application's own work between requests: together the sessions need
                // fewer connections than the pool has, most of the time.
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }));
    }
    for task in tasks {
        task.await.expect("a session's statements");
    }
    let after = acquire_wait(&bed);
    let waited = after.1.saturating_sub(before.1);
    // A generous bound, not a timing assertion: waits behind busy connections happen, waits
    // behind idle ones (2 s each) must not.
    assert!(
        waited < Duration::from_secs(5),
        "sessions waited {waited:?} in all for a pool slot ({} waits)",
        after.0 - before.0
    );
}
