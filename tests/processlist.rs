//! `SHOW [FULL] PROCESSLIST` through the proxy: the proxy's own client sessions, by the ids the
//! clients were given (the ids `CONNECTION_ID()` answers and `KILL` takes), with the statement
//! each is running — not the backends' threads.
mod common;

use std::time::{Duration, Instant};

use common::{Bed, OTHER_PASSWORD, OTHER_USER, connect, one, run};
use mysql_async::consts::ColumnType;
use mysql_async::prelude::*;
use mysql_async::{Conn, Row, Value};

/// One row of `SHOW PROCESSLIST`, as text (`None` for NULL).
#[derive(Debug, Clone, PartialEq)]
struct Process {
    id: u64,
    user: Option<String>,
    host: Option<String>,
    db: Option<String>,
    command: Option<String>,
    state: Option<String>,
    info: Option<String>,
}

fn text(row: &Row, i: usize) -> Option<String> {
    match row.as_ref(i) {
        Some(Value::Bytes(b)) => Some(String::from_utf8_lossy(b).into_owned()),
        Some(Value::NULL) | None => None,
        Some(other) => Some(other.as_sql(true)),
    }
}

async fn processlist(conn: &mut Conn, sql: &str) -> Vec<Process> {
    let rows: Vec<Row> = conn
        .query(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    rows.iter()
        .map(|r| Process {
            id: text(r, 0).and_then(|v| v.parse().ok()).unwrap_or(0),
            user: text(r, 1),
            host: text(r, 2),
            db: text(r, 3),
            command: text(r, 4),
            state: text(r, 6),
            info: text(r, 7),
        })
        .collect()
}

fn ids(list: &[Process]) -> Vec<u64> {
    list.iter().map(|p| p.id).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_session_sees_the_proxys_sessions_by_their_proxy_ids() {
    let bed = Bed::shared();
    let mut a = bed.conn().await;
    let mut b = bed.conn().await;
    let (a_id, b_id) = (u64::from(a.id()), u64::from(b.id()));
    let list = processlist(&mut a, "SHOW PROCESSLIST").await;
    // Exactly the bed's proxy's two sessions (no backend thread, no pooled connection).
    assert_eq!(ids(&list), vec![a_id.min(b_id), a_id.max(b_id)], "{list:?}");
    let own = list.iter().find(|p| p.id == a_id).expect("a's row");
    assert_eq!(own.info.as_deref(), Some("SHOW PROCESSLIST"));
    assert_eq!(own.command.as_deref(), Some("Query"));
    assert_eq!(own.state.as_deref(), Some("starting"));
    assert_eq!(own.user.as_deref(), Some("app"));
    assert_eq!(own.db.as_deref(), Some("app"));
    let host = own.host.as_deref().unwrap_or_default();
    assert!(host.starts_with("127.0.0.1:"), "{host}");
    let other = list.iter().find(|p| p.id == b_id).expect("b's row");
    assert_eq!(other.command.as_deref(), Some("Sleep"));
    assert_eq!(other.info, None);
    assert_eq!(other.state.as_deref(), Some(""));

    // b sees itself the same way, by the id its handshake and CONNECTION_ID() give.
    let b_says: u64 = one(&mut b, "SELECT CONNECTION_ID()").await;
    assert_eq!(b_says, b_id);
    let list = processlist(&mut b, "show full processlist").await;
    let own = list.iter().find(|p| p.id == b_id).expect("b's row");
    assert_eq!(own.info.as_deref(), Some("show full processlist"));

    // While b runs a statement, a sees it in b's row.
    let running = tokio::spawn(async move {
        let result = b.query_first::<i64, _>("SELECT SLEEP(30)").await;
        (b, result)
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let list = processlist(&mut a, "SHOW PROCESSLIST").await;
        let row = list.iter().find(|p| p.id == b_id).expect("b's row");
        if row.info.as_deref() == Some("SELECT SLEEP(30)") {
            assert_eq!(row.command.as_deref(), Some("Query"));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "b's statement never showed: {row:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // KILL of b's proxy id ends it, and it is gone from the list at once.
    run(&mut a, &format!("KILL {b_id}")).await;
    let list = processlist(&mut a, "SHOW PROCESSLIST").await;
    assert_eq!(ids(&list), vec![a_id], "{list:?}");
    let (_, result) = running.await.expect("b's task");
    assert!(
        !matches!(result, Ok(Some(0))),
        "the killed session's SLEEP ran to its end"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn columns_are_typed_as_mariadb_types_them_and_info_is_cut_unless_full() {
    let bed = Bed::shared();
    let mut conn = bed.conn().await;
    let result = conn
        .query_iter("SHOW PROCESSLIST")
        .await
        .expect("SHOW PROCESSLIST");
    let columns: Vec<(String, ColumnType)> = result
        .columns()
        .expect("columns")
        .iter()
        .map(|c| (c.name_str().into_owned(), c.column_type()))
        .collect();
    result.drop_result().await.expect("reading the rows");
    use ColumnType::*;
    let expected = [
        ("Id", MYSQL_TYPE_LONGLONG),
        ("User", MYSQL_TYPE_VAR_STRING),
        ("Host", MYSQL_TYPE_VAR_STRING),
        ("db", MYSQL_TYPE_VAR_STRING),
        ("Command", MYSQL_TYPE_VAR_STRING),
        ("Time", MYSQL_TYPE_LONG),
        ("State", MYSQL_TYPE_VAR_STRING),
        ("Info", MYSQL_TYPE_VAR_STRING),
        ("Progress", MYSQL_TYPE_DOUBLE),
    ];
    let expected: Vec<(String, ColumnType)> =
        expected.iter().map(|(n, t)| (n.to_string(), *t)).collect();
    assert_eq!(columns, expected);

    // A statement longer than 100 bytes: cut unless FULL.
    let comment = format!("/* {} */", "x".repeat(120));
    let id = u64::from(conn.id());
    let short = processlist(&mut conn, &format!("{comment} SHOW PROCESSLIST")).await;
    let info = short
        .iter()
        .find(|p| p.id == id)
        .and_then(|p| p.info.clone());
    assert_eq!(info.as_deref().map(str::len), Some(100));
    let sql = format!("{comment} SHOW FULL PROCESSLIST");
    let full = processlist(&mut conn, &sql).await;
    let info = full
        .iter()
        .find(|p| p.id == id)
        .and_then(|p| p.info.clone());
    assert_eq!(info, Some(sql));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_sees_only_its_own_sessions() {
    let bed = Bed::shared();
    bed.create_other_user();
    let mut app = bed.conn().await;
    let mut other = connect(bed.opts_as(OTHER_USER, OTHER_PASSWORD)).await;
    let other_id = u64::from(other.id());
    let seen_by_other = processlist(&mut other, "SHOW PROCESSLIST").await;
    assert_eq!(ids(&seen_by_other), vec![other_id]);
    let seen_by_app = processlist(&mut app, "SHOW PROCESSLIST").await;
    assert_eq!(ids(&seen_by_app), vec![u64::from(app.id())]);
}
