//! Protocol features relayed through the proxy: multi-statements and multiple result sets,
//! LOAD DATA LOCAL INFILE, packets over 16 MiB, COM_INIT_DB and COM_PING.
mod common;

use common::{Bed, one, run, table};
use mysql_async::prelude::*;
use mysql_async::{Row, WhiteListFsHandler};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_statements_return_every_result_set() {
    let bed = Bed::shared();
    let mut conn = bed.conn().await;
    let mut result = conn
        .query_iter("SELECT 1; SELECT 2, 'two'; SELECT 3 UNION SELECT 4")
        .await
        .expect("multi-statement query");
    let mut sets: Vec<Vec<Vec<String>>> = Vec::new();
    while !result.is_empty() {
        let rows: Vec<Row> = result.collect().await.expect("a result set");
        sets.push(
            rows.into_iter()
                .map(|r| r.unwrap().into_iter().map(String::from_value).collect())
                .collect(),
        );
    }
    drop(result);
    assert_eq!(
        sets,
        vec![
            vec![vec!["1".to_string()]],
            vec![vec!["2".to_string(), "two".to_string()]],
            vec![vec!["3".to_string()], vec!["4".to_string()]],
        ]
    );
    // The connection is usable afterwards.
    let n: i32 = one(&mut conn, "SELECT 5").await;
    assert_eq!(n, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_statements_with_writes_run_on_the_primary() {
    let bed = Bed::shared();
    let primary = bed.primary().server_id();
    let t = table("ms");
    let mut conn = bed.conn().await;
    run(&mut conn, &format!("CREATE TABLE {t} (id INT PRIMARY KEY)")).await;
    // A write among the parts: the whole batch goes to the primary and sees its own insert.
    let mut result = conn
        .query_iter(format!(
            "INSERT INTO {t} VALUES (1), (2); SELECT COUNT(*), @@server_id FROM {t}; \
             UPDATE {t} SET id = id + 10"
        ))
        .await
        .expect("multi-statement batch");
    let _: Vec<Row> = result.collect().await.expect("the INSERT's OK");
    assert_eq!(result.affected_rows(), 2);
    let rows: Vec<(i64, u32)> = result.collect().await.expect("the SELECT");
    assert_eq!(rows, vec![(2, primary)]);
    let _: Vec<Row> = result.collect().await.expect("the UPDATE's OK");
    assert_eq!(result.affected_rows(), 2);
    assert!(result.is_empty());
    drop(result);

    // An error in the middle ends the batch with that error; the session goes on.
    let err = conn
        .query_drop(format!("SELECT 1; SELECT * FROM {t}_missing; SELECT 3"))
        .await
        .expect_err("a failing part");
    assert_eq!(common::server_code(&err), Some(1146), "{err}");
    let n: i32 = one(&mut conn, "SELECT 7").await;
    assert_eq!(n, 7);
    run(&mut conn, &format!("DROP TABLE {t}")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_procedure_with_several_result_sets() {
    let bed = Bed::shared();
    let name = table("proc");
    let mut conn = bed.conn().await;
    run(
        &mut conn,
        &format!("CREATE PROCEDURE {name}() BEGIN SELECT 1 AS a; SELECT 2 AS b, 3 AS c; END"),
    )
    .await;
    let mut result = conn
        .query_iter(format!("CALL {name}()"))
        .await
        .expect("CALL");
    let a: Vec<i32> = result.collect().await.expect("first set");
    let bc: Vec<(i32, i32)> = result.collect().await.expect("second set");
    assert_eq!((a, bc), (vec![1], vec![(2, 3)]));
    drop(result);
    let n: i32 = one(&mut conn, "SELECT 9").await;
    assert_eq!(n, 9);
    run(&mut conn, &format!("DROP PROCEDURE {name}")).await;
}

/// A CSV file of `rows` lines `i,name-i` in the target directory, removed by the caller.
fn csv_file(name: &str, rows: usize) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("splitrail-itests-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(name);
    let mut text = String::new();
    for i in 1..=rows {
        text.push_str(&format!("{i},name-{i}\n"));
    }
    std::fs::write(&path, text).expect("write csv");
    path
}

/// Removes a file of [`csv_file`], and its directory once empty.
fn remove_csv(path: &std::path::Path) {
    let _ = std::fs::remove_file(path);
    if let Some(dir) = path.parent() {
        let _ = std::fs::remove_dir(dir);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_data_local_infile_with_mysql_async() {
    let bed = Bed::shared();
    let t = table("ld");
    // Enough rows for the file to span many packets.
    let path = csv_file("ld.csv", 20_000);
    let opts = bed
        .opts()
        .local_infile_handler(Some(WhiteListFsHandler::new(&[path.clone()][..])));
    let mut conn = common::connect(opts).await;
    run(
        &mut conn,
        &format!("CREATE TABLE {t} (id INT PRIMARY KEY, name VARCHAR(20))"),
    )
    .await;
    conn.query_drop(format!(
        "LOAD DATA LOCAL INFILE '{}' INTO TABLE {t} FIELDS TERMINATED BY ','",
        path.display()
    ))
    .await
    .expect("LOAD DATA LOCAL INFILE");
    assert_eq!(conn.affected_rows(), 20_000);
    bed.caught_up();
    let (n, last): (i64, String) = conn
        .query_first(format!("SELECT COUNT(*), MAX(name) FROM {t}"))
        .await
        .expect("select")
        .expect("a row");
    assert_eq!((n, last.as_str()), (20_000, "name-9999"));
    run(&mut conn, &format!("DROP TABLE {t}")).await;
    remove_csv(&path);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_data_local_infile_with_the_mariadb_cli() {
    let bed = Bed::shared();
    let t = table("ldcli");
    let path = csv_file("ldcli.csv", 1000);
    let script = format!(
        "CREATE TABLE {t} (id INT PRIMARY KEY, name VARCHAR(20));\n\
         LOAD DATA LOCAL INFILE '{}' INTO TABLE {t} FIELDS TERMINATED BY ',';\n\
         SELECT ROW_COUNT();\n\
         BEGIN; SELECT COUNT(*) FROM {t}; COMMIT;\n\
         DROP TABLE {t};\n",
        path.display()
    );
    let stdout = bed.mariadb_ok(&["--local-infile=1", "app"], &script);
    assert_eq!(stdout, "1000\n1000\n");
    remove_csv(&path);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_20_mib_statement_and_result() {
    let bed = Bed::shared();
    let t = table("big");
    let mut conn = bed.conn().await;
    run(
        &mut conn,
        &format!("CREATE TABLE {t} (id INT PRIMARY KEY, data LONGBLOB)"),
    )
    .await;
    const SIZE: usize = 20 << 20;
    // A varied payload, so a shifted or dropped frame cannot go unnoticed.
    let blob: String = (0..SIZE)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    // One COM_QUERY of 20 MiB + a few bytes: two 16 MiB frames and the rest.
    let sql = format!("INSERT INTO {t} VALUES (1, '{blob}')");
    assert!(sql.len() > 16 << 20);
    conn.query_drop(sql).await.expect("20 MiB INSERT");
    assert_eq!(conn.affected_rows(), 1);
    bed.caught_up();
    let len: i64 = one(
        &mut conn,
        &format!("SELECT LENGTH(data) FROM {t} WHERE id = 1"),
    )
    .await;
    assert_eq!(len, SIZE as i64);
    // The whole 20 MiB value comes back as one row spanning several frames.
    let data: Vec<u8> = one(&mut conn, &format!("SELECT data FROM {t} WHERE id = 1")).await;
    assert_eq!(data.len(), SIZE);
    assert!(data == blob.as_bytes(), "the blob came back different");
    // The session goes on with small statements.
    let n: i32 = one(&mut conn, "SELECT 1").await;
    assert_eq!(n, 1);
    run(&mut conn, &format!("DROP TABLE {t}")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_db_and_ping() {
    let bed = Bed::shared();
    let mut conn = common::connect(bed.opts().db_name(None::<String>)).await;
    let db: Option<String> = one(&mut conn, "SELECT DATABASE()").await;
    assert_eq!(db, None);
    conn.ping().await.expect("COM_PING");
    run(&mut conn, "USE app").await;
    let db: Option<String> = one(&mut conn, "SELECT DATABASE()").await;
    assert_eq!(db.as_deref(), Some("app"));
    run(&mut conn, "USE mysql").await;
    for _ in 0..2 {
        let db: String = one(&mut conn, "SELECT DATABASE()").await;
        assert_eq!(db, "mysql");
        run(&mut conn, "BEGIN").await;
        let db: String = one(&mut conn, "SELECT DATABASE()").await;
        assert_eq!(db, "mysql", "on the primary");
        run(&mut conn, "COMMIT").await;
    }
    let err = conn
        .query_drop("USE no_such_schema")
        .await
        .expect_err("USE of an unknown schema");
    assert_eq!(common::server_code(&err), Some(1049), "{err}");
    conn.ping().await.expect("COM_PING");
    let db: String = one(&mut conn, "SELECT DATABASE()").await;
    assert_eq!(db, "mysql");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn com_init_db_from_the_mariadb_cli() {
    let bed = Bed::shared();
    // The client's own `use` command sends COM_INIT_DB (not a USE statement).
    let script = "use mysql\nSELECT DATABASE();\nBEGIN; SELECT DATABASE(); COMMIT;\n\
                  use app\nSELECT DATABASE();\n";
    let stdout = bed.mariadb_ok(&[], script);
    assert_eq!(stdout, "mysql\nmysql\napp\n");
    let stderr = bed.mariadb_err(&[], "use no_such_schema\n");
    assert!(stderr.contains("1049"), "{stderr}");
}
