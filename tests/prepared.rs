//! Prepared statements (COM_STMT_PREPARE / EXECUTE / SEND_LONG_DATA / CLOSE) through the proxy:
//! reads on a replica, writes on the primary, transparent re-preparing elsewhere.
mod common;

use common::{Bed, one, run, server_code, table, wait_reads_on};
use mysql_async::Value;
use mysql_async::prelude::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepared_reads_run_on_the_replica_and_writes_on_the_primary() {
    let bed = Bed::shared();
    let (primary, replica) = (bed.primary().server_id(), bed.replica(0).server_id());
    let t = table("ps");
    let mut conn = bed.conn().await;
    run(
        &mut conn,
        &format!("CREATE TABLE {t} (id INT PRIMARY KEY, sid INT)"),
    )
    .await;
    // Reads that need the DDL go to the primary until the proxy knows the replica has it.
    wait_reads_on(&bed, replica).await;

    let read = conn
        .prep("SELECT @@server_id + ?")
        .await
        .expect("COM_STMT_PREPARE of a read");
    assert_eq!(read.num_params(), 1);
    for _ in 0..3 {
        let sid: Option<u32> = conn.exec_first(&read, (0,)).await.expect("EXECUTE read");
        assert_eq!(sid, Some(replica));
    }
    let write = conn
        .prep(format!("INSERT INTO {t} VALUES (?, @@server_id)"))
        .await
        .expect("COM_STMT_PREPARE of a write");
    for id in 1..=3 {
        conn.exec_drop(&write, (id,)).await.expect("EXECUTE write");
        assert_eq!(conn.affected_rows(), 1);
    }
    let rows: String = bed
        .primary()
        .query_one(&format!("SELECT GROUP_CONCAT(DISTINCT sid) FROM {t}"))
        .expect("rows on the primary");
    assert_eq!(rows, primary.to_string(), "a prepared write ran elsewhere");

    // The read statement inside a transaction runs on the primary (re-prepared there).
    run(&mut conn, "BEGIN").await;
    let sid: Option<u32> = conn
        .exec_first(&read, (0,))
        .await
        .expect("EXECUTE in BEGIN");
    assert_eq!(sid, Some(primary));
    let n: Option<i64> = conn
        .exec_first(format!("SELECT COUNT(*) FROM {t} WHERE id >= ?"), (1,))
        .await
        .expect("EXECUTE in BEGIN");
    assert_eq!(n, Some(3));
    run(&mut conn, "COMMIT").await;
    let sid: Option<u32> = conn.exec_first(&read, (0,)).await.expect("EXECUTE read");
    assert_eq!(
        sid,
        Some(replica),
        "after COMMIT the read is back on the replica"
    );

    conn.close(read).await.expect("COM_STMT_CLOSE");
    conn.close(write).await.expect("COM_STMT_CLOSE");
    // The session goes on after closing.
    let n: i64 = one(&mut conn, "SELECT 1").await;
    assert_eq!(n, 1);
    run(&mut conn, &format!("DROP TABLE {t}")).await;
}

/// `i, d, s, b, n, dt` of the round-trip table.
type ValuesRow = (i64, f64, String, Vec<u8>, Option<i32>, Value);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepared_values_round_trip_in_the_binary_protocol() {
    let bed = Bed::shared();
    let t = table("pv");
    let mut conn = bed.conn().await;
    run(
        &mut conn,
        &format!(
            "CREATE TABLE {t} (id INT PRIMARY KEY, i BIGINT, d DOUBLE, s VARCHAR(40), \
             b VARBINARY(10), n INT NULL, dt DATETIME(6)) CHARACTER SET utf8mb4"
        ),
    )
    .await;
    let dt = Value::Date(2024, 2, 29, 13, 14, 15, 123456);
    conn.exec_drop(
        format!("INSERT INTO {t} VALUES (?, ?, ?, ?, ?, ?, ?)"),
        (
            1,
            -9_007_199_254_740_993i64,
            2.5f64,
            "héllo 😀",
            vec![0u8, 1, 255],
            Value::NULL,
            dt.clone(),
        ),
    )
    .await
    .expect("EXECUTE insert");
    bed.caught_up();
    let row: Option<ValuesRow> = conn
        .exec_first(
            format!("SELECT i, d, s, b, n, dt FROM {t} WHERE id = ?"),
            (1,),
        )
        .await
        .expect("EXECUTE select");
    let (i, d, s, b, n, got_dt) = row.expect("a row");
    assert_eq!(i, -9_007_199_254_740_993);
    assert_eq!(d, 2.5);
    assert_eq!(s, "héllo 😀");
    assert_eq!(b, vec![0u8, 1, 255]);
    assert_eq!(n, None);
    assert_eq!(got_dt, dt);

    // Many rows through one statement.
    let ids: Vec<i64> = conn
        .exec(
            "SELECT seq FROM seq_1_to_1000 WHERE seq > ? ORDER BY seq",
            (990,),
        )
        .await
        .expect("EXECUTE many rows");
    assert_eq!(ids, (991..=1000).collect::<Vec<_>>());
    run(&mut conn, &format!("DROP TABLE {t}")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prepared_statement_error_is_the_servers() {
    let bed = Bed::shared();
    let mut conn = bed.conn().await;
    let err = conn
        .prep("SELECT * FROM app.no_such_table WHERE id = ?")
        .await
        .expect_err("preparing against a missing table");
    assert_eq!(server_code(&err), Some(1146), "{err}");
    let err = conn
        .prep("SELEC oops ?")
        .await
        .expect_err("preparing bad SQL");
    assert_eq!(server_code(&err), Some(1064), "{err}");
    let n: Option<i64> = conn
        .exec_first("SELECT ? + 1", (1,))
        .await
        .expect("EXECUTE");
    assert_eq!(n, Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_20_mib_parameter_goes_through_send_long_data() {
    let bed = Bed::shared();
    let t = table("plong");
    let mut conn = bed.conn().await;
    run(
        &mut conn,
        &format!("CREATE TABLE {t} (id INT PRIMARY KEY, data LONGBLOB)"),
    )
    .await;
    const SIZE: usize = 20 << 20;
    let blob: Vec<u8> = (0..SIZE).map(|i| (i % 251) as u8).collect();
    // mysql_async sends a parameter this large with COM_STMT_SEND_LONG_DATA.
    conn.exec_drop(format!("INSERT INTO {t} VALUES (?, ?)"), (1, blob.clone()))
        .await
        .expect("EXECUTE with a 20 MiB parameter");
    bed.caught_up();
    let len: Option<i64> = conn
        .exec_first(format!("SELECT LENGTH(data) FROM {t} WHERE id = ?"), (1,))
        .await
        .expect("EXECUTE select length");
    assert_eq!(len, Some(SIZE as i64));
    let back: Option<Vec<u8>> = conn
        .exec_first(format!("SELECT data FROM {t} WHERE id = ?"), (1,))
        .await
        .expect("EXECUTE select data");
    assert!(
        back.as_deref() == Some(&blob[..]),
        "the blob came back different"
    );
    run(&mut conn, &format!("DROP TABLE {t}")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statements_are_re_prepared_after_the_replica_restarts() {
    let bed = Bed::own(1, "");
    let replica = bed.replica(0).server_id();
    let mut conn = bed.conn().await;
    let stmt = conn
        .prep("SELECT @@server_id + ?")
        .await
        .expect("COM_STMT_PREPARE");
    let sid: Option<u32> = conn.exec_first(&stmt, (0,)).await.expect("EXECUTE");
    assert_eq!(sid, Some(replica));

    // A clean restart: the replica forgets every statement prepared on it.
    bed.replica(0).stop().expect("stopping the replica");
    bed.replica(0).start().expect("starting the replica");
    bed.caught_up();

    // The client's statement id still works: the proxy prepares it again where it runs.
    // (A replica whose connection broke is left out of reads for a couple of seconds: poll.)
    let mut on_replica = false;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while std::time::Instant::now() < deadline {
        let sid: Option<u32> = conn
            .exec_first(&stmt, (0,))
            .await
            .expect("EXECUTE after the restart");
        let sid = sid.expect("a row");
        assert!(
            sid == replica || sid == bed.primary().server_id(),
            "answered by {sid}"
        );
        if sid == replica {
            on_replica = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        on_replica,
        "the statement never ran on the restarted replica again"
    );
    let n: Option<i64> = conn
        .exec_first("SELECT ? * 2", (21,))
        .await
        .expect("EXECUTE");
    assert_eq!(n, Some(42));
}
