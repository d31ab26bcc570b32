//! Pipelining (`pool.pipeline: true`): many sessions' reads share a worker's backend connection.
//! Each session must get its own answers, whatever the others do: disconnect mid-result, lose
//! the server under the batch, or run with another schema or other session variables.
mod common;

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use common::{Bed, one, run, server_code, server_id, table, wait_until};
use mysql_async::prelude::*;

/// Statements the proxy answered over a pipelined connection so far.
fn pipelined(bed: &Bed) -> u64 {
    bed.proxy.shared().stats.pipelined.load(Ordering::Relaxed)
}

/// `sessions` sessions each reading its own numbers (`SELECT n`) until `stop`, checking every
/// answer and counting them in `reads`.
fn spawn_readers(
    bed: &Bed,
    sessions: u64,
    stop: &Arc<AtomicBool>,
    reads: &Arc<AtomicU64>,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..sessions)
        .map(|session| {
            let (opts, stop, reads) = (bed.opts(), stop.clone(), reads.clone());
            tokio::spawn(async move {
                let mut conn = common::connect(opts).await;
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let value = session * 1_000_000 + i;
                    let v: u64 = one(&mut conn, &format!("SELECT {value}")).await;
                    assert_eq!(v, value, "session {session}, read {i}");
                    reads.fetch_add(1, Ordering::Relaxed);
                    i += 1;
                }
            })
        })
        .collect()
}

/// Text and prepared reads of 32 concurrent sessions, each checking that every answer is the
/// one to its own statement.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_sessions_each_get_their_own_answers() {
    let bed = Bed::shared();
    let replica = bed.replica(0).server_id();
    let before = pipelined(&bed);
    let mut tasks = Vec::new();
    for session in 0..32u64 {
        let opts = bed.opts();
        tasks.push(tokio::spawn(async move {
            let mut conn = common::connect(opts).await;
            let stmt = conn
                .prep("SELECT ? + 0, @@server_id")
                .await
                .expect("prepare");
            for i in 0..100u64 {
                let value = session * 1_000_000 + i;
                let row: Option<(u64, u32)> = conn.exec_first(&stmt, (value,)).await.expect("exec");
                assert_eq!(row, Some((value, replica)), "session {session}, read {i}");
                let text: u64 = one(&mut conn, &format!("SELECT {value} + 1")).await;
                assert_eq!(text, value + 1, "session {session}, text read {i}");
                let rows: Vec<u64> = conn
                    .query(format!("SELECT seq + {value} FROM seq_1_to_3"))
                    .await
                    .expect("several rows");
                assert_eq!(rows, vec![value + 1, value + 2, value + 3]);
            }
            assert_eq!(server_id(&mut conn).await, replica);
        }));
    }
    for task in tasks {
        task.await.expect("a session's reads");
    }
    assert!(
        pipelined(&bed) > before,
        "no statement took the pipelined path"
    );
}

/// An error is the answer of its own statement only: the statements pipelined around it get
/// their rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_answers_only_its_own_statement() {
    let bed = Bed::shared();
    let mut tasks = Vec::new();
    for session in 0..16u64 {
        let opts = bed.opts();
        tasks.push(tokio::spawn(async move {
            let mut conn = common::connect(opts).await;
            for i in 0..50u64 {
                if (session + i) % 3 == 0 {
                    let err = conn
                        .query_drop("SELECT * FROM app.no_such_table_here")
                        .await
                        .expect_err("a read of a missing table");
                    assert_eq!(server_code(&err), Some(1146), "{err}");
                } else {
                    let v: u64 = one(&mut conn, &format!("SELECT {}", session * 1000 + i)).await;
                    assert_eq!(v, session * 1000 + i);
                }
            }
        }));
    }
    for task in tasks {
        task.await.expect("a session's reads");
    }
}

/// Sessions whose schema or variables differ never share a connection's state: each sees its
/// own schema and its own `sql_mode`, while all of them read concurrently.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_with_different_state_never_share_it() {
    let bed = Bed::shared();
    let t = table("pipe_schema");
    let short = t.trim_start_matches("app.").to_string();
    let mut setup = bed.conn().await;
    run(&mut setup, &format!("CREATE TABLE {t} (v INT)")).await;
    run(&mut setup, &format!("INSERT INTO {t} VALUES (1), (2)")).await;
    bed.caught_up();
    let mut tasks = Vec::new();
    for session in 0..24u32 {
        // A third in `app`, a third in `information_schema`, a third in `app` with ANSI quotes.
        let (schema, ansi) = match session % 3 {
            0 => ("app", false),
            1 => ("information_schema", false),
            _ => ("app", true),
        };
        let opts = bed.opts().db_name(Some(schema));
        let short = short.clone();
        tasks.push(tokio::spawn(async move {
            let mut conn = common::connect(opts).await;
            if ansi {
                run(&mut conn, "SET SESSION sql_mode = 'ANSI_QUOTES'").await;
            }
            for i in 0..60 {
                let count = conn
                    .query_first::<i64, _>(format!("SELECT COUNT(*) FROM {short}"))
                    .await;
                match schema {
                    "app" => assert_eq!(count.expect("count in app").unwrap_or(-1), 2),
                    _ => {
                        let err = count.expect_err("the table is not in information_schema");
                        assert_eq!(server_code(&err), Some(1109), "{err}");
                    }
                }
                let mode: String = one(&mut conn, "SELECT @@SESSION.sql_mode").await;
                assert_eq!(
                    mode.contains("ANSI_QUOTES"),
                    ansi,
                    "session {session}, read {i}: sql_mode {mode}"
                );
            }
        }));
    }
    for task in tasks {
        task.await.expect("a session's reads");
    }
}

/// A client that goes away in the middle of a big result (larger than what the proxy holds for
/// a session) costs the other sessions nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_leaving_mid_result_does_not_disturb_the_others() {
    let bed = Bed::shared();
    let stop = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicU64::new(0));
    let tasks = spawn_readers(&bed, 8, &stop, &reads);
    // The mariadb client streams the rows (--quick) into `head`, which stops after a few bytes:
    // the client dies of SIGPIPE with most of an 8 MB answer unread.
    let client = splitrail_testbed::binaries::Binaries::locate()
        .unwrap_or_else(|e| panic!("no mariadb client: {e}"))
        .client;
    for _ in 0..3 {
        let script = format!(
            "{} --no-defaults --protocol=tcp -h127.0.0.1 -P{} -uapp --quick --batch \
             -e \"SELECT seq, REPEAT('x', 1000) FROM seq_1_to_8000\" | head -c 100 >/dev/null",
            client.display(),
            bed.port()
        );
        let status = tokio::task::block_in_place(|| {
            Command::new("sh")
                .arg("-c")
                .arg(&script)
                .env("MYSQL_PWD", "app")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
        })
        .expect("running the mariadb client");
        // `head` succeeded; the client's fate is what is under test.
        assert!(status.success(), "the pipe failed: {status}");
    }
    let seen = reads.load(Ordering::Relaxed);
    tokio::task::block_in_place(|| {
        wait_until("more reads by the others", Duration::from_secs(20), || {
            reads.load(Ordering::Relaxed) > seen + 100
        })
    });
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.expect("a session's reads");
    }
    // And the big read works for a client that stays.
    let mut conn = bed.conn().await;
    let rows: Vec<(u64, String)> = conn
        .query("SELECT seq, REPEAT('x', 1000) FROM seq_1_to_8000")
        .await
        .expect("the big read");
    assert_eq!(rows.len(), 8000);
    assert!(
        rows.iter()
            .enumerate()
            .all(|(i, (n, s))| *n == i as u64 + 1 && s.len() == 1000)
    );
}

/// The replica killed under many sessions' pipelined reads: each read in flight is replayed
/// on the primary or fails with 2013, never gets another session's answer, and every session
/// goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_killed_mid_batch_fails_or_replays_only_the_reads_in_flight() {
    let bed = Bed::own(1, "");
    let primary = bed.primary().server_id();
    let stop = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicU64::new(0));
    let lost = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for session in 0..16u64 {
        let (opts, stop, reads, lost) = (bed.opts(), stop.clone(), reads.clone(), lost.clone());
        tasks.push(tokio::spawn(async move {
            let mut conn = common::connect(opts).await;
            let stmt = conn.prep("SELECT ? + 0").await.expect("prepare");
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let value = session * 1_000_000 + i;
                let answer: mysql_async::Result<Option<u64>> = if i.is_multiple_of(2) {
                    conn.exec_first(&stmt, (value,)).await
                } else {
                    conn.query_first(format!("SELECT {value}")).await
                };
                match answer {
                    Ok(v) => assert_eq!(v, Some(value), "session {session}, read {i}"),
                    Err(e) => {
                        assert_eq!(server_code(&e), Some(2013), "session {session}: {e}");
                        lost.fetch_add(1, Ordering::Relaxed);
                    }
                }
                reads.fetch_add(1, Ordering::Relaxed);
                i += 1;
            }
            // After the replica died, reads go to the primary.
            assert_eq!(server_id(&mut conn).await, primary);
        }));
    }
    let wait_more = |n: u64| {
        let seen = reads.load(Ordering::Relaxed);
        tokio::task::block_in_place(|| {
            wait_until("more reads", Duration::from_secs(30), || {
                reads.load(Ordering::Relaxed) > seen + n
            })
        });
    };
    wait_more(500);
    bed.replica(0).kill().expect("killing the replica");
    wait_more(500);
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.expect("a session's reads");
    }
    // Nothing of a point select reaches the client before its whole answer: every read in
    // flight is replayed rather than lost.
    assert_eq!(
        lost.load(Ordering::Relaxed),
        0,
        "reads were lost, not replayed"
    );
}

/// With one connection per worker and server, the pipelined connection gives its slot to a
/// session that needs one of its own (here reads that wait on purpose, which are never
/// pipelined) instead of keeping it while other sessions' reads keep coming.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipelined_connection_makes_room_for_a_session_waiting_for_one() {
    let bed = Bed::own(1, "pool: { max_size: 2, acquire_timeout: 3s }");
    let stop = Arc::new(AtomicBool::new(false));
    let readers = spawn_readers(&bed, 8, &stop, &Arc::default());
    let mut others = Vec::new();
    for _ in 0..4 {
        others.push(bed.conn().await);
    }
    for round in 0..10 {
        for conn in &mut others {
            let v: i64 = one(conn, "SELECT SLEEP(0)").await;
            assert_eq!(v, 0, "round {round}");
        }
    }
    stop.store(true, Ordering::Relaxed);
    for task in readers {
        task.await.expect("a reader");
    }
}
