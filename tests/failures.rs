//! Failures: a backend that dies under a statement or closes a connection between two, and
//! `KILL` of a proxy connection id.
mod common;

use std::time::Duration;

use common::{Bed, one, run, server_code, server_id, wait_until};
use mysql_async::prelude::*;

/// Whether `server` is running a statement whose text starts with `prefix`.
fn running(server: &splitrail_testbed::Server, prefix: &str) -> bool {
    server
        .query_one(&format!(
            "SELECT COUNT(*) FROM information_schema.PROCESSLIST \
             WHERE USER = 'app' AND INFO LIKE '{prefix}%'"
        ))
        .is_ok_and(|n| n != "0")
}

type Answer = (mysql_async::Conn, mysql_async::Result<Option<i64>>);

/// Runs `sql` on `conn` in a task of its own, so the test can act while it runs.
fn spawn_query(mut conn: mysql_async::Conn, sql: &'static str) -> tokio::task::JoinHandle<Answer> {
    tokio::spawn(async move {
        let result = conn.query_first::<i64, _>(sql).await;
        (conn, result)
    })
}

/// Waits (blocking this worker thread) until some server of `servers` runs `sql`.
fn wait_running(servers: &[&splitrail_testbed::Server], sql: &str) {
    tokio::task::block_in_place(|| {
        wait_until(sql, Duration::from_secs(10), || {
            servers.iter().any(|s| running(s, sql))
        })
    });
}

/// A read whose replica dies before any byte of its answer reached the client is replayed once
/// on another server, invisibly (issue 6: "retried once on another server"). A statement that
/// cannot be replayed (in a transaction) gets 2013 instead: see the primary test below.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_whose_replica_dies_mid_query_is_replayed_on_the_primary() {
    let bed = Bed::own(1, "");
    let (primary, replica) = (bed.primary().server_id(), bed.replica(0).server_id());
    let mut conn = bed.conn().await;
    assert_eq!(server_id(&mut conn).await, replica);

    let query = spawn_query(conn, "SELECT SLEEP(5)");
    // Kill the replica once the statement is running there (polled, not slept for).
    wait_running(&[bed.replica(0)], "SELECT SLEEP(5)");
    bed.replica(0).kill().expect("killing the replica");
    let (mut conn, result) = query.await.expect("the query task");
    // SLEEP returns 0 when it ran to its end: on the primary, since the replica is gone.
    assert_eq!(result.expect("the replayed read"), Some(0));

    // The same session goes on: reads fall back to the primary, writes work.
    assert_eq!(server_id(&mut conn).await, primary);
    run(
        &mut conn,
        "CREATE TABLE app.after_kill (id INT PRIMARY KEY)",
    )
    .await;
    run(&mut conn, "INSERT INTO app.after_kill VALUES (1)").await;
    let n: i64 = one(&mut conn, "SELECT COUNT(*) FROM app.after_kill").await;
    assert_eq!(n, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_return_to_a_replica_that_comes_back() {
    let bed = Bed::own(1, "");
    let (primary, replica) = (bed.primary().server_id(), bed.replica(0).server_id());
    let mut conn = bed.conn().await;
    assert_eq!(server_id(&mut conn).await, replica);
    bed.replica(0).kill().expect("killing the replica");
    // Reads go to the primary while the replica is down (the first may fail: its connection
    // was pooled; the proxy may only learn of the death then).
    let mut on_primary = false;
    for _ in 0..3 {
        if let Ok(Some(id)) = conn.query_first::<u32, _>("SELECT @@server_id").await {
            assert_eq!(id, primary);
            on_primary = true;
            break;
        }
    }
    assert!(on_primary, "reads did not fall back to the primary");

    bed.replica(0).start().expect("restarting the replica");
    bed.caught_up();
    // The proxy notices the replica is back (its monitor, or a retry) within a few seconds.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        if server_id(&mut conn).await == replica {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "reads never returned to the restarted replica"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_primary_killed_mid_transaction_gives_an_error_and_the_session_goes_on() {
    let bed = Bed::own(1, "");
    let mut conn = bed.conn().await;
    run(&mut conn, "CREATE TABLE app.tx (id INT PRIMARY KEY)").await;
    run(&mut conn, "BEGIN").await;
    run(&mut conn, "INSERT INTO app.tx VALUES (1)").await;
    let query = spawn_query(conn, "SELECT SLEEP(5)");
    wait_running(&[bed.primary()], "SELECT SLEEP(5)");
    bed.primary().kill().expect("killing the primary");
    let (mut conn, result) = query.await.expect("the query task");
    let err = result.expect_err("a statement whose server died succeeded");
    assert_eq!(server_code(&err), Some(2013), "{err}");

    // The transaction is gone; the session is not in one any more and works once the primary
    // is back.
    bed.primary().start().expect("restarting the primary");
    let n: i64 = one(&mut conn, "SELECT COUNT(*) FROM app.tx FOR UPDATE").await;
    assert_eq!(n, 0, "the killed transaction's insert survived");
    run(&mut conn, "INSERT INTO app.tx VALUES (2)").await;
}

/// Kills every connection the proxy's user has on `server` and waits until they are gone.
fn kill_app_connections(server: &splitrail_testbed::Server) {
    let killed = Bed::kill_connections(server, "USER = 'app'");
    assert!(killed > 0, "the proxy has no connection to kill");
    wait_until(
        "the killed connections gone",
        Duration::from_secs(20),
        || Bed::connections_of(server, "app") == 0,
    );
}

/// A write cannot be replayed once it may have run, so it is never sent on a connection the
/// server has already closed: the session's connection to the primary is killed between two
/// writes (as a primary restart or `wait_timeout` would), and the next write, text or
/// prepared, runs on a new connection instead of failing with 2013.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_after_its_connection_was_closed_runs_on_a_new_one() {
    let bed = Bed::own(1, "");
    let mut conn = bed.conn().await;
    run(&mut conn, "CREATE TABLE app.reconnect (id INT PRIMARY KEY)").await;
    run(&mut conn, "INSERT INTO app.reconnect VALUES (1)").await;
    tokio::task::block_in_place(|| kill_app_connections(bed.primary()));
    conn.query_drop("INSERT INTO app.reconnect VALUES (2)")
        .await
        .expect("a text write after its connection was killed");
    tokio::task::block_in_place(|| kill_app_connections(bed.primary()));
    conn.exec_drop("INSERT INTO app.reconnect VALUES (?)", (3,))
        .await
        .expect("a prepared write after its connection was killed");
    let n: i64 = one(
        &mut conn,
        "SELECT COUNT(*) FROM app.reconnect /* splitrail:primary */",
    )
    .await;
    assert_eq!(n, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_query_interrupts_a_sessions_statement() {
    let bed = Bed::shared();
    let victim = bed.conn().await;
    let id = victim.id();
    let mut killer = bed.conn().await;
    let query = spawn_query(victim, "SELECT SLEEP(30)");
    let servers: Vec<_> = bed.cluster().servers().iter().collect();
    wait_running(&servers, "SELECT SLEEP(30)");
    let killed = killer.query_drop(format!("KILL QUERY {id}")).await;
    if killed.is_err() {
        query.abort();
    }
    killed.expect("KILL QUERY of a proxy connection id");
    let (mut victim, result) = query.await.expect("the query task");
    // An interrupted SLEEP returns 1 (or the statement fails with 1317, "interrupted").
    match result {
        Ok(v) => assert_eq!(v, Some(1), "SLEEP was not interrupted"),
        Err(e) => assert_eq!(server_code(&e), Some(1317), "{e}"),
    }
    // KILL QUERY leaves the connection: the victim's session goes on.
    let n: i64 = one(&mut victim, "SELECT 3").await;
    assert_eq!(n, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_connection_ends_the_session() {
    let bed = Bed::shared();
    let victim = bed.conn().await;
    let id = victim.id();
    let mut killer = bed.conn().await;
    // The proxy's own connection ids: distinct per session.
    assert_ne!(id, killer.id());
    let query = spawn_query(victim, "SELECT SLEEP(30)");
    let servers: Vec<_> = bed.cluster().servers().iter().collect();
    wait_running(&servers, "SELECT SLEEP(30)");
    let killed = killer.query_drop(format!("KILL {id}")).await;
    if killed.is_err() {
        query.abort();
    }
    killed.expect("KILL of a proxy connection id");
    let (mut victim, result) = query.await.expect("the query task");
    assert!(
        !matches!(result, Ok(Some(0))),
        "the killed session's SLEEP ran to its end"
    );
    // The killed session is closed.
    assert!(victim.query_drop("SELECT 1").await.is_err());
    // The killer's session is fine.
    let n: i64 = one(&mut killer, "SELECT 4").await;
    assert_eq!(n, 4);
    // Unknown ids are refused as MySQL does (1094, "Unknown thread id").
    let err = killer
        .query_drop("KILL QUERY 999999")
        .await
        .expect_err("KILL of an unknown id");
    assert_eq!(server_code(&err), Some(1094), "{err}");
}
