//! Transactions run wholly on the primary, reads inside them included; `LAST_INSERT_ID()` is the
//! session's own, right after its insert, even with other sessions inserting at the same time.
//! A READ ONLY transaction runs wholly on a replica, unless the session keeps state on the
//! primary.
mod common;

use common::{
    Bed, ONE_CONNECTION, connect, one, opts_for, run, server_code, server_id, table, wait_reads_on,
};
use mysql_async::Conn;
use mysql_async::prelude::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn begin_commit_runs_wholly_on_the_primary() {
    let bed = Bed::shared();
    let (primary, replica) = (bed.primary().server_id(), bed.replica(0).server_id());
    let t = table("tx");
    let mut conn = bed.conn().await;
    run(
        &mut conn,
        &format!("CREATE TABLE {t} (id INT PRIMARY KEY, v INT)"),
    )
    .await;
    // Reads that need the DDL go to the primary until the proxy knows the replica has it.
    wait_reads_on(&bed, replica).await;

    run(&mut conn, "BEGIN").await;
    assert_eq!(server_id(&mut conn).await, primary, "a read inside BEGIN");
    run(&mut conn, &format!("INSERT INTO {t} VALUES (1, 10)")).await;
    // The uncommitted row is visible: the read runs in the same transaction.
    let v: i32 = one(&mut conn, &format!("SELECT v FROM {t} WHERE id = 1")).await;
    assert_eq!(v, 10);
    assert_eq!(server_id(&mut conn).await, primary);
    run(&mut conn, "COMMIT").await;
    assert_eq!(server_id(&mut conn).await, replica, "a read after COMMIT");

    // START TRANSACTION … ROLLBACK leaves nothing behind.
    run(&mut conn, "START TRANSACTION").await;
    run(&mut conn, &format!("INSERT INTO {t} VALUES (2, 20)")).await;
    let n: i64 = one(&mut conn, &format!("SELECT COUNT(*) FROM {t}")).await;
    assert_eq!(n, 2);
    run(&mut conn, "ROLLBACK").await;
    bed.caught_up();
    let n: i64 = one(&mut conn, &format!("SELECT COUNT(*) FROM {t}")).await;
    assert_eq!(n, 1);

    run(&mut conn, &format!("DROP TABLE {t}")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_django_autocommit_off_sequence_runs_on_the_primary() {
    let bed = Bed::shared();
    let (primary, replica) = (bed.primary().server_id(), bed.replica(0).server_id());
    let t = table("dj");
    let mut conn = bed.conn().await;
    run(
        &mut conn,
        &format!("CREATE TABLE {t} (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(20))"),
    )
    .await;
    // Reads that need the DDL go to the primary until the proxy knows the replica has it.
    wait_reads_on(&bed, replica).await;
    bed.caught_up();

    // What Django's `transaction.atomic()` sends with its MySQL backend.
    run(&mut conn, "SET autocommit = 0").await;
    assert_eq!(
        server_id(&mut conn).await,
        primary,
        "a read with autocommit off"
    );
    let n: i64 = one(&mut conn, &format!("SELECT COUNT(*) FROM {t}")).await;
    assert_eq!(n, 0);
    run(&mut conn, &format!("INSERT INTO {t} (name) VALUES ('a')")).await;
    run(&mut conn, "SAVEPOINT s1").await;
    run(&mut conn, &format!("INSERT INTO {t} (name) VALUES ('b')")).await;
    let n: i64 = one(&mut conn, &format!("SELECT COUNT(*) FROM {t}")).await;
    assert_eq!(n, 2, "the read inside the transaction sees its own rows");
    run(&mut conn, "ROLLBACK TO SAVEPOINT s1").await;
    run(&mut conn, "SAVEPOINT s2").await;
    run(
        &mut conn,
        &format!("UPDATE {t} SET name = 'c' WHERE name = 'a'"),
    )
    .await;
    run(&mut conn, "RELEASE SAVEPOINT s2").await;
    assert_eq!(server_id(&mut conn).await, primary);
    run(&mut conn, "COMMIT").await;
    // Still autocommit = 0: the next statement starts a new transaction, on the primary.
    assert_eq!(
        server_id(&mut conn).await,
        primary,
        "autocommit is still off"
    );
    let names: Vec<String> = conn
        .query(format!("SELECT name FROM {t} ORDER BY id"))
        .await
        .expect("select names");
    assert_eq!(names, vec!["c".to_string()]);
    run(&mut conn, "COMMIT").await;
    run(&mut conn, "SET autocommit = 1").await;
    assert_eq!(
        server_id(&mut conn).await,
        replica,
        "reads go back to the replica"
    );

    // The committed result is what everyone sees.
    bed.caught_up();
    let names: Vec<String> = conn
        .query(format!("SELECT name FROM {t} ORDER BY id"))
        .await
        .expect("select names");
    assert_eq!(names, vec!["c".to_string()]);
    run(&mut conn, &format!("DROP TABLE {t}")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_holds_its_locks_until_commit() {
    let bed = Bed::shared();
    let t = table("lk");
    let mut conn = bed.conn().await;
    run(
        &mut conn,
        &format!("CREATE TABLE {t} (id INT PRIMARY KEY, v INT)"),
    )
    .await;
    run(&mut conn, &format!("INSERT INTO {t} VALUES (1, 1)")).await;

    run(&mut conn, "BEGIN").await;
    run(
        &mut conn,
        &format!("SELECT v FROM {t} WHERE id = 1 FOR UPDATE"),
    )
    .await;
    // While the row lock is held, another session's NOWAIT lock fails at once (1205/3572-style
    // "lock wait timeout" as MariaDB reports NOWAIT) — proving the lock lives on one backend
    // connection that the first session keeps.
    let mut other = bed.conn().await;
    let err = other
        .query_drop(format!("SELECT v FROM {t} WHERE id = 1 FOR UPDATE NOWAIT"))
        .await
        .expect_err("the row lock was not held");
    assert_eq!(common::server_code(&err), Some(1205), "{err}");
    run(&mut conn, &format!("UPDATE {t} SET v = 2 WHERE id = 1")).await;
    run(&mut conn, "COMMIT").await;
    let v: i32 = one(
        &mut other,
        &format!("SELECT v FROM {t} WHERE id = 1 FOR UPDATE NOWAIT"),
    )
    .await;
    assert_eq!(v, 2);
    run(&mut conn, &format!("DROP TABLE {t}")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn last_insert_id_right_after_an_insert() {
    let bed = Bed::shared();
    let t = table("ai");
    let mut conn = bed.conn().await;
    run(
        &mut conn,
        &format!("CREATE TABLE {t} (id INT AUTO_INCREMENT PRIMARY KEY, who INT)"),
    )
    .await;
    for i in 1..=3u64 {
        conn.query_drop(format!("INSERT INTO {t} (who) VALUES (0)"))
            .await
            .expect("insert");
        assert_eq!(conn.last_insert_id(), Some(i), "the OK packet's insert id");
        let id: u64 = one(&mut conn, "SELECT LAST_INSERT_ID()").await;
        assert_eq!(id, i, "LAST_INSERT_ID() after insert #{i}");
    }
    // It is the session's value until its next insert, reads on a replica in between.
    let n: i64 = one(
        &mut conn,
        "SELECT COUNT(*) FROM information_schema.SCHEMATA",
    )
    .await;
    assert!(n > 0);
    let id: u64 = one(&mut conn, "SELECT LAST_INSERT_ID()").await;
    assert_eq!(id, 3, "LAST_INSERT_ID() after a read");
    run(&mut conn, &format!("DROP TABLE {t}")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn last_insert_id_is_per_session_with_concurrent_inserts() {
    let bed = Bed::shared();
    let t = table("aic");
    let mut setup = bed.conn().await;
    run(
        &mut setup,
        &format!("CREATE TABLE {t} (id INT AUTO_INCREMENT PRIMARY KEY, who INT)"),
    )
    .await;
    const SESSIONS: i64 = 24;
    const ROUNDS: usize = 10;
    let mut tasks = Vec::new();
    for who in 0..SESSIONS {
        let opts = bed.opts();
        let t = t.clone();
        tasks.push(tokio::spawn(async move {
            let mut conn = common::connect(opts).await;
            let mut ids = Vec::new();
            for _ in 0..ROUNDS {
                conn.query_drop(format!("INSERT INTO {t} (who) VALUES ({who})"))
                    .await
                    .expect("insert");
                let id: i64 = one(&mut conn, "SELECT LAST_INSERT_ID()").await;
                ids.push(id);
            }
            (who, ids)
        }));
    }
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.expect("a session task panicked"));
    }
    // Every id a session got back is a row that session inserted.
    let rows: Vec<(i64, i64)> = bed
        .primary()
        .query(&format!("SELECT id, who FROM {t}"))
        .expect("rows on the primary")
        .into_iter()
        .map(|r| (r[0].parse().unwrap_or(-1), r[1].parse().unwrap_or(-1)))
        .collect();
    assert_eq!(rows.len(), SESSIONS as usize * ROUNDS);
    let owner: std::collections::HashMap<i64, i64> = rows.into_iter().collect();
    for (who, ids) in results {
        for id in ids {
            assert_eq!(
                owner.get(&id),
                Some(&who),
                "session {who} got LAST_INSERT_ID() = {id}, a row of session {:?}",
                owner.get(&id)
            );
        }
    }
    run(&mut setup, &format!("DROP TABLE {t}")).await;
}

/// The isolation level of the transaction open on `conn`'s backend connection, as InnoDB has it
/// (its `INNODB_TRX` view is refreshed at most every 100 ms, hence the pause).
async fn isolation_in_transaction(conn: &mut Conn, t: &str) -> String {
    run(conn, &format!("SELECT COUNT(*) FROM {t}")).await;
    run(conn, "DO SLEEP(0.15)").await;
    one(
        conn,
        "SELECT trx_isolation_level FROM information_schema.INNODB_TRX \
         WHERE trx_mysql_thread_id = CONNECTION_ID()",
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn next_transaction_characteristics_apply_to_it_and_to_no_other_session() {
    let bed = Bed::shared();
    // Every session borrows the same primary connection.
    let proxy = bed.another_proxy(ONE_CONNECTION);
    let t = bed.new_table("next_tx", "id INT PRIMARY KEY").await;
    let mut conn = connect(opts_for(&proxy)).await;
    run(&mut conn, "SET TRANSACTION ISOLATION LEVEL READ COMMITTED").await;
    run(&mut conn, "BEGIN").await;
    assert_eq!(
        isolation_in_transaction(&mut conn, &t).await,
        "READ COMMITTED"
    );
    run(&mut conn, "COMMIT").await;
    run(&mut conn, "BEGIN").await;
    assert_eq!(
        isolation_in_transaction(&mut conn, &t).await,
        "REPEATABLE READ",
        "for the next transaction only"
    );
    run(&mut conn, "COMMIT").await;

    // READ ONLY for the next transaction: its write fails, as on the server; a COMMIT with no
    // transaction open drops it.
    run(&mut conn, "SET TRANSACTION READ ONLY").await;
    run(&mut conn, "START TRANSACTION").await;
    let err = conn
        .query_drop(format!("INSERT INTO {t} VALUES (1)"))
        .await
        .expect_err("a write in a READ ONLY transaction");
    assert_eq!(server_code(&err), Some(1792), "{err}");
    run(&mut conn, "ROLLBACK").await;
    run(&mut conn, "SET TRANSACTION READ ONLY").await;
    run(&mut conn, "COMMIT").await;
    run(&mut conn, "START TRANSACTION").await;
    run(&mut conn, &format!("INSERT INTO {t} VALUES (2)")).await;
    run(&mut conn, "COMMIT").await;

    // A session that leaves with characteristics waiting does not hand them to the next.
    run(
        &mut conn,
        "SET TRANSACTION READ ONLY, ISOLATION LEVEL SERIALIZABLE",
    )
    .await;
    drop(conn);
    for id in 3..6 {
        let mut next = connect(opts_for(&proxy)).await;
        run(&mut next, "START TRANSACTION").await;
        run(&mut next, &format!("INSERT INTO {t} VALUES ({id})")).await;
        assert_eq!(
            isolation_in_transaction(&mut next, &t).await,
            "REPEATABLE READ"
        );
        run(&mut next, "COMMIT").await;
    }
}

/// `@@server_id` and `@@in_transaction` of the connection a session's transaction runs on.
async fn where_the_transaction_runs(conn: &mut Conn) -> (u32, i64) {
    let row: Option<(u32, i64)> = conn
        .query_first("SELECT @@server_id, @@in_transaction")
        .await
        .expect("server and transaction state");
    row.expect("one row")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_transaction_runs_on_a_replica_unless_the_session_keeps_state() {
    let bed = Bed::shared();
    let (primary, replica) = (bed.primary().server_id(), bed.replica(0).server_id());
    let t = bed.new_table("ro_tx", "id INT PRIMARY KEY").await;
    wait_reads_on(&bed, replica).await;
    let mut conn = bed.conn().await;
    let refused = |err: mysql_async::Error| {
        // The replica itself answers such a write with its `read_only` error, 1290.
        assert_eq!(server_code(&err), Some(1792), "{err}");
    };

    // Nothing kept on a connection: the transaction runs, whole, on the replica, and its writes
    // get the primary's error, text and prepared alike.
    run(&mut conn, "START TRANSACTION READ ONLY").await;
    assert_eq!(where_the_transaction_runs(&mut conn).await, (replica, 1));
    refused(
        conn.query_drop(format!("INSERT INTO {t} VALUES (1)"))
            .await
            .expect_err("a write in a READ ONLY transaction"),
    );
    refused(
        conn.exec_drop(format!("UPDATE {t} SET id = ? WHERE id = 1"), (2,))
            .await
            .expect_err("a prepared write in a READ ONLY transaction"),
    );
    assert_eq!(where_the_transaction_runs(&mut conn).await, (replica, 1));
    run(&mut conn, "COMMIT").await;

    // A temporary table, or a user variable, lives on the primary connection the session
    // holds: the transaction starts there and sees it.
    run(&mut conn, "CREATE TEMPORARY TABLE ro_tmp (a INT)").await;
    run(&mut conn, "SET @ro_x = 5").await;
    run(&mut conn, "START TRANSACTION READ ONLY").await;
    assert_eq!(where_the_transaction_runs(&mut conn).await, (primary, 1));
    run(&mut conn, "INSERT INTO ro_tmp VALUES (3)").await;
    let a: i32 = one(&mut conn, "SELECT a FROM ro_tmp").await;
    assert_eq!(
        a, 3,
        "a temporary table may be written in a READ ONLY transaction"
    );
    let x: i32 = one(&mut conn, "SELECT @ro_x").await;
    assert_eq!(x, 5);
    refused(
        conn.query_drop(format!("INSERT INTO {t} VALUES (1)"))
            .await
            .expect_err("a write in a READ ONLY transaction"),
    );
    run(&mut conn, "COMMIT").await;
    bed.caught_up();
    let n: i64 = one(&mut conn, &format!("SELECT COUNT(*) FROM {t}")).await;
    assert_eq!(n, 0, "no write of a READ ONLY transaction ran");
    run(&mut conn, &format!("DROP TABLE {t}")).await;
}
