//! Reads go to a replica, writes to the primary, and the statements that must see the primary's
//! session (locking reads, temporary tables, user variables) stay on the primary.
mod common;

use common::{Bed, one, run, server_id, table};
use mysql_async::prelude::*;

/// Whether a server's binlog holds a transaction the server itself originated: GTIDs are
/// `domain-server_id-seq`, so a write that ran on a replica (instead of arriving by
/// replication from the primary) shows up as a GTID carrying the replica's own server id. Robust
/// to other tests writing through the primary at the same time.
fn wrote_locally(server: &splitrail_testbed::Server) -> bool {
    let pos = server.gtid_binlog_pos().expect("gtid_binlog_pos");
    let own = server.server_id().to_string();
    pos.split(',')
        .filter(|g| !g.trim().is_empty())
        .any(|g| g.trim().split('-').nth(1) == Some(own.as_str()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_are_answered_by_the_replica_and_writes_by_the_primary() {
    let bed = Bed::shared();
    let (primary, replica) = (bed.primary().server_id(), bed.replica(0).server_id());
    assert_ne!(primary, replica);
    let t = table("rw");
    let mut conn = bed.conn().await;

    for _ in 0..5 {
        assert_eq!(server_id(&mut conn).await, replica, "a read went elsewhere");
    }

    let before = bed.primary().gtid_binlog_pos().expect("primary position");
    run(
        &mut conn,
        &format!("CREATE TABLE {t} (id INT PRIMARY KEY, sid INT)"),
    )
    .await;
    // `@@server_id` inside the write: the row records which server executed the INSERT.
    run(
        &mut conn,
        &format!("INSERT INTO {t} VALUES (1, @@server_id)"),
    )
    .await;
    run(
        &mut conn,
        &format!("UPDATE {t} SET sid = @@server_id * 10 WHERE id = 1"),
    )
    .await;
    run(
        &mut conn,
        &format!("INSERT INTO {t} VALUES (2, @@server_id)"),
    )
    .await;
    run(&mut conn, &format!("DELETE FROM {t} WHERE id = 2")).await;
    assert_ne!(
        bed.primary().gtid_binlog_pos().expect("primary position"),
        before,
        "the writes did not reach the primary's binlog"
    );
    bed.caught_up();
    let sid: u32 = one(&mut conn, &format!("SELECT sid FROM {t} WHERE id = 1")).await;
    assert_eq!(sid, primary * 10, "the UPDATE ran on server {}", sid / 10);
    let n: u32 = one(&mut conn, &format!("SELECT COUNT(*) FROM {t}")).await;
    assert_eq!(n, 1);
    for replica in bed.cluster().replicas() {
        assert!(
            !wrote_locally(replica),
            "{} wrote a transaction of its own: {}",
            replica.name(),
            replica.gtid_binlog_pos().unwrap_or_default()
        );
    }
    run(&mut conn, &format!("DROP TABLE {t}")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_does_not_move_the_replicas_binlog() {
    // An own cluster: nothing else writes, so any movement of a replica's position would be
    // this test's reads reaching it as writes.
    let bed = Bed::own(2, "");
    let positions = |bed: &Bed| -> Vec<String> {
        bed.cluster()
            .replicas()
            .iter()
            .map(|r| r.gtid_binlog_pos().expect("replica position"))
            .collect()
    };
    let before = positions(&bed);
    let replicas: Vec<u32> = bed
        .cluster()
        .replicas()
        .iter()
        .map(|r| r.server_id())
        .collect();
    let mut conn = bed.conn().await;
    let mut seen = Vec::new();
    for _ in 0..6 {
        let id = server_id(&mut conn).await;
        assert!(replicas.contains(&id), "read answered by server {id}");
        seen.push(id);
    }
    for r in &replicas {
        assert!(seen.contains(r), "replica {r} got no read: {seen:?}");
    }
    assert_eq!(positions(&bed), before, "a read changed a replica's binlog");

    // A write through the proxy moves the primary and, by replication, the replicas — and the
    // replicas only ever apply the primary's GTIDs.
    run(&mut conn, "CREATE TABLE app.w (id INT PRIMARY KEY)").await;
    run(&mut conn, "INSERT INTO app.w VALUES (1)").await;
    bed.caught_up();
    let primary = bed.primary().gtid_binlog_pos().expect("primary position");
    for replica in bed.cluster().replicas() {
        assert_eq!(replica.gtid_binlog_pos().expect("position"), primary);
        assert!(!wrote_locally(replica));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn select_for_update_runs_on_the_primary() {
    let bed = Bed::shared();
    let primary = bed.primary().server_id();
    let t = table("fu");
    let mut conn = bed.conn().await;
    run(
        &mut conn,
        &format!("CREATE TABLE {t} (id INT PRIMARY KEY, v INT)"),
    )
    .await;
    run(&mut conn, &format!("INSERT INTO {t} VALUES (1, 1)")).await;
    // Outside a transaction too: a locking read must see the primary's latest row.
    let sid: u32 = one(
        &mut conn,
        &format!("SELECT @@server_id FROM {t} WHERE id = 1 FOR UPDATE"),
    )
    .await;
    assert_eq!(sid, primary);
    let sid: u32 = one(
        &mut conn,
        &format!("SELECT @@server_id FROM {t} WHERE id = 1 LOCK IN SHARE MODE"),
    )
    .await;
    assert_eq!(sid, primary);
    run(&mut conn, "BEGIN").await;
    let v: i32 = one(
        &mut conn,
        &format!("SELECT v FROM {t} WHERE id = 1 FOR UPDATE"),
    )
    .await;
    assert_eq!(v, 1);
    assert_eq!(server_id(&mut conn).await, primary);
    run(&mut conn, "COMMIT").await;
    run(&mut conn, &format!("DROP TABLE {t}")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn temporary_tables_live_on_the_sessions_connection() {
    let bed = Bed::shared();
    let primary = bed.primary().server_id();
    let mut conn = bed.conn().await;
    run(
        &mut conn,
        "CREATE TEMPORARY TABLE app.scratch (id INT PRIMARY KEY, s VARCHAR(20))",
    )
    .await;
    run(
        &mut conn,
        "INSERT INTO app.scratch VALUES (1, 'one'), (2, 'two')",
    )
    .await;
    // Read back many times: every statement must find the connection that holds the table.
    // Reads that do not touch it may go to a replica (the router's design) without losing it.
    let replica = bed.replica(0).server_id();
    for _ in 0..5 {
        let (s, sid): (String, u32) = conn
            .query_first("SELECT s, @@server_id FROM app.scratch WHERE id = 2")
            .await
            .expect("select from the temporary table")
            .expect("a row");
        assert_eq!((s.as_str(), sid), ("two", primary));
        assert_eq!(server_id(&mut conn).await, replica);
    }
    let rows: Vec<(i32, String)> = conn
        .query("SELECT id, s FROM app.scratch ORDER BY id")
        .await
        .expect("select from the temporary table");
    assert_eq!(rows, vec![(1, "one".into()), (2, "two".into())]);

    // Another session does not see it.
    let mut other = bed.conn().await;
    let err = other
        .query_drop("SELECT * FROM app.scratch")
        .await
        .expect_err("another session saw the temporary table");
    assert_eq!(common::server_code(&err), Some(1146), "{err}");

    run(&mut conn, "DROP TEMPORARY TABLE app.scratch").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_variables_are_seen_by_later_statements() {
    let bed = Bed::shared();
    let mut conn = bed.conn().await;
    run(&mut conn, "SET @x = 42, @greeting = 'hi'").await;
    for _ in 0..3 {
        let (x, g): (i64, String) = conn
            .query_first("SELECT @x, @greeting")
            .await
            .expect("select user variables")
            .expect("a row");
        assert_eq!((x, g.as_str()), (42, "hi"));
    }
    run(&mut conn, "SELECT @y := 7").await;
    let y: i64 = one(&mut conn, "SELECT @y + @x").await;
    assert_eq!(y, 49);

    // Another session starts without them.
    let mut other = bed.conn().await;
    let x: Option<i64> = one(&mut other, "SELECT @x").await;
    assert_eq!(x, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mariadb_cli_works_through_the_proxy() {
    let bed = Bed::shared();
    let stdout = bed.mariadb_ok(&["-e", "select @@server_id"], "");
    assert_eq!(stdout.trim(), bed.replica(0).server_id().to_string());

    // A script on stdin: a write and reads in one session, as people use the client.
    let t = table("cli");
    let script = format!(
        "CREATE TABLE {t} (id INT PRIMARY KEY);\n\
         INSERT INTO {t} VALUES (1), (2);\n\
         SELECT LAST_INSERT_ID() + 0, ROW_COUNT();\n\
         BEGIN; SELECT COUNT(*), @@server_id FROM {t}; COMMIT;\n\
         DROP TABLE {t};\n"
    );
    let stdout = bed.mariadb_ok(&["app"], &script);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines,
        vec![
            "0\t2".to_string(),
            format!("2\t{}", bed.primary().server_id())
        ],
        "{stdout}"
    );
}
