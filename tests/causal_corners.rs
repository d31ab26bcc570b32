//! Read-your-writes in the corners Django's own test suite found: a write whose answer is a
//! result set (`INSERT … RETURNING`, which MariaDB answers with a classic EOF and no OK to carry
//! the GTID when the client, like Connector/C, lacks CLIENT_DEPRECATE_EOF), and a new
//! connection to a schema created a moment ago that the replica has not applied yet.
mod common;

use common::{Bed, MONITOR_USER, connect, one, run, server_id, table};
use mysql_async::prelude::*;

/// A bed whose reads wait briefly for the replica before the primary answers them.
fn bed() -> Bed {
    Bed::own(
        1,
        &format!(
            "monitor: {{ user: {MONITOR_USER}, interval: 200ms }}\n\
             routing: {{ consistency: global, causal_read_timeout: 300ms }}"
        ),
    )
}

/// Stops the replica's SQL thread: from now on it applies nothing, so a read there that is not
/// made to wait misses every new write.
async fn freeze_replica(bed: &Bed) {
    let mut root = connect(bed.replica_root(0)).await;
    run(&mut root, "STOP SLAVE SQL_THREAD").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_answered_by_a_result_set_is_read_back_at_once() {
    let bed = bed();
    let t = bed
        .new_table("returning", "id INT AUTO_INCREMENT PRIMARY KEY, k INT")
        .await;
    let mut conn = bed.conn().await;
    freeze_replica(&bed).await;

    // The mariadb client does not ask for CLIENT_DEPRECATE_EOF: the INSERT's answer ends in a
    // classic EOF. The same session reads the row back, and the proxy has a token for it.
    let out = bed.mariadb_ok(
        &["app"],
        &format!(
            "INSERT INTO {t} (k) VALUES (7) RETURNING k;\n\
             SELECT COUNT(*) FROM {t} WHERE k = 7;\n\
             SELECT splitrail_last_gtid();\n"
        ),
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[..2], ["7", "1"], "{out}");
    assert!(
        lines.get(2).is_some_and(|token| token.starts_with("0-")),
        "a consistency token for the write: {out}"
    );

    // Another session (global consistency) sees it too.
    let n: i64 = one(&mut conn, &format!("SELECT COUNT(*) FROM {t} WHERE k = 7")).await;
    assert_eq!(n, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schema_the_replica_has_not_applied_yet_is_read_on_the_primary() {
    let bed = bed();
    freeze_replica(&bed).await;
    let mut conn = bed.conn().await;
    let db = table("newdb").replace('.', "_");
    run(&mut conn, &format!("CREATE DATABASE {db}")).await;
    run(&mut conn, &format!("CREATE TABLE {db}.t (k INT)")).await;
    run(&mut conn, &format!("INSERT INTO {db}.t VALUES (1), (2)")).await;

    // A new connection whose default schema exists on the primary only.
    let mut fresh = connect(bed.opts().db_name(Some(db.clone()))).await;
    assert_eq!(server_id(&mut fresh).await, bed.primary().server_id());
    let n: Option<i64> = fresh
        .exec_first("SELECT COUNT(*) FROM t", ())
        .await
        .expect("a prepared read in the new schema");
    assert_eq!(n, Some(2));
    let n: i64 = one(&mut fresh, "SELECT COUNT(*) FROM t").await;
    assert_eq!(n, 2);
}
