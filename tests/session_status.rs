//! `SHOW SESSION STATUS` through the proxy describes the client's own session: the counters
//! the proxy keeps (`Questions`, the statements' and commands' `Com_*`) answer what a direct
//! session that sent the same commands reads from the server; the rest is a backend's.
mod common;

use std::collections::BTreeMap;

use common::{Bed, connect, run};
use mysql_async::Conn;
use mysql_async::prelude::*;

/// Counters compared with the server's (the proxy keeps them; `Bytes_*` differ by the
/// handshake, which is the proxy's own).
const COMPARED: &[&str] = &[
    "Questions",
    "Com_begin",
    "Com_change_db",
    "Com_commit",
    "Com_insert",
    "Com_insert_select",
    "Com_rollback",
    "Com_select",
    "Com_set_option",
    "Com_show_status",
    "Com_stmt_close",
    "Com_stmt_execute",
    "Com_stmt_prepare",
    "Com_stmt_reset",
];

/// The same commands on `conn`, then its `SHOW SESSION STATUS`, by name.
async fn workload(conn: &mut Conn, t: &str) -> BTreeMap<String, String> {
    run(conn, "SELECT 1").await;
    run(conn, &format!("INSERT INTO {t} VALUES (1)")).await;
    run(
        conn,
        &format!("INSERT INTO {t} SELECT MAX(id) + 1 FROM {t}"),
    )
    .await;
    run(conn, "BEGIN").await;
    run(conn, &format!("SELECT COUNT(*) FROM {t}")).await;
    run(conn, "COMMIT").await;
    run(conn, "START TRANSACTION").await;
    run(conn, "ROLLBACK").await;
    run(conn, "SET SESSION sql_mode = 'STRICT_ALL_TABLES'").await;
    run(conn, "USE app").await;
    for i in 0..3 {
        let stmt = conn.prep(format!("SELECT ? + {i}")).await.expect("prepare");
        let _: Option<i64> = conn.exec_first(&stmt, (1,)).await.expect("execute");
        conn.close(stmt).await.expect("close");
    }
    let rows: Vec<(String, String)> = conn.query("SHOW SESSION STATUS").await.expect("status");
    rows.into_iter().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_counters_are_the_clients_own() {
    let bed = Bed::shared();
    let t = bed.new_table("status", "id INT PRIMARY KEY").await;
    let t2 = bed.new_table("status", "id INT PRIMARY KEY").await;
    // Warm the pool: other sessions' statements on the connections the next session borrows.
    let mut other = bed.conn().await;
    for _ in 0..5 {
        run(&mut other, "SELECT 1").await;
        let stmt = other.prep("SELECT 2").await.expect("prepare");
        other.close(stmt).await.expect("close");
    }
    drop(other);

    let mut direct = connect(bed.direct_to_primary()).await;
    let server = workload(&mut direct, &t).await;
    let mut conn = bed.conn().await;
    let proxy = workload(&mut conn, &t2).await;
    for name in COMPARED {
        assert_eq!(
            proxy.get(*name),
            server.get(*name),
            "{name}: proxy vs server"
        );
    }
    assert_eq!(proxy.get("Com_stmt_close").map(String::as_str), Some("3"));
    for name in ["Bytes_received", "Bytes_sent"] {
        let n: u64 = proxy[name].parse().expect("a number");
        assert!(n > 100, "{name} = {n}");
    }
    // The rest is the backend's: every variable the server lists is there.
    assert_eq!(
        proxy.keys().collect::<Vec<_>>(),
        server.keys().collect::<Vec<_>>()
    );

    // LIKE and WHERE filter as the server does; the counts are this session's.
    let like: Vec<(String, String)> = conn
        .query("SHOW SESSION STATUS LIKE 'Com_stmt_close'")
        .await
        .expect("LIKE");
    assert_eq!(like, vec![("Com_stmt_close".to_string(), "3".to_string())]);
    let questions: Vec<(String, u64)> = conn
        .query("SHOW STATUS WHERE Variable_name = 'Questions'")
        .await
        .expect("WHERE");
    let before: u64 = proxy["Questions"].parse().expect("a number");
    assert_eq!(questions, vec![("Questions".to_string(), before + 2)]);
    // information_schema.SESSION_STATUS answers the same counters.
    let table: Vec<(String, String)> = conn
        .query(
            "SELECT VARIABLE_NAME, VARIABLE_VALUE FROM information_schema.SESSION_STATUS \
             WHERE VARIABLE_NAME IN ('COM_STMT_CLOSE', 'COM_STMT_PREPARE') ORDER BY 1",
        )
        .await
        .expect("SESSION_STATUS");
    let expected = |name: &str| (name.to_uppercase(), proxy[name].clone());
    assert_eq!(
        table,
        vec![expected("Com_stmt_close"), expected("Com_stmt_prepare")]
    );
    // GLOBAL stays a server's (here the replica's, where plain reads go).
    let global: Vec<(String, u64)> = conn
        .query("SHOW GLOBAL STATUS LIKE 'Com_stmt_close'")
        .await
        .expect("GLOBAL");
    assert_eq!(global.len(), 1, "{global:?}");
}

/// A table of the user's own called `session_status` answers with its own rows, even when a
/// literal of the query names `information_schema`: only the view is the client's counters.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_users_table_called_session_status_is_the_users() {
    let bed = Bed::shared();
    let mut conn = bed.conn().await;
    run(&mut conn, "CREATE DATABASE IF NOT EXISTS status_user").await;
    run(
        &mut conn,
        "CREATE TABLE IF NOT EXISTS status_user.session_status \
         (variable_name VARCHAR(64) PRIMARY KEY, variable_value VARCHAR(64), note VARCHAR(64))",
    )
    .await;
    run(
        &mut conn,
        "REPLACE INTO status_user.session_status VALUES ('Questions', 'mine', 'information_schema')",
    )
    .await;
    let qualified: Vec<(String, String)> = conn
        .query(
            "SELECT variable_name, variable_value FROM status_user.session_status \
             WHERE note = 'information_schema'",
        )
        .await
        .expect("qualified");
    assert_eq!(qualified, vec![("Questions".into(), "mine".into())]);
    run(&mut conn, "USE status_user").await;
    let unqualified: Vec<(String, String)> = conn
        .query(
            "SELECT variable_name, variable_value FROM session_status \
             WHERE note = 'information_schema'",
        )
        .await
        .expect("unqualified");
    assert_eq!(unqualified, vec![("Questions".into(), "mine".into())]);
}
