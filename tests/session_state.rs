//! What a client sets or negotiates for its session holds for every statement, whichever pooled
//! backend connection runs it: character set, sql_mode, result-shaping flags (CLIENT_FOUND_ROWS),
//! `FOUND_ROWS()`, `INSERT_ID`, `LAST_INSERT_ID` and RAND()'s seeds set by hand; logging in,
//! changing user and resetting the session.
mod common;

use common::{
    Bed, ONE_CONNECTION, OTHER_PASSWORD, OTHER_USER, connect, one, opts_for, run, server_code,
    table,
};
use mysql_async::prelude::*;
use mysql_async::{ChangeUserOpts, Conn};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn utf8mb4_emoji_round_trip_after_set_names() {
    let bed = Bed::shared();
    let t = table("emoji");
    let mut conn = bed.conn().await;
    run(&mut conn, "SET NAMES utf8mb4").await;
    let text = "héllo 😀🚀 𝄞 日本";
    run(
        &mut conn,
        &format!("CREATE TABLE {t} (id INT PRIMARY KEY, s VARCHAR(50)) CHARACTER SET utf8mb4"),
    )
    .await;
    run(&mut conn, &format!("INSERT INTO {t} VALUES (1, '{text}')")).await;
    bed.caught_up();
    // Read back from the replica: the session's SET NAMES was replayed on that connection.
    let back: String = one(&mut conn, &format!("SELECT s FROM {t} WHERE id = 1")).await;
    assert_eq!(back, text);
    let hex: String = one(&mut conn, "SELECT HEX('😀')").await;
    assert_eq!(hex, "F09F9880", "the server did not receive utf8mb4");
    let (cs, len): (String, i64) = conn
        .query_first(format!(
            "SELECT @@character_set_client, CHAR_LENGTH(s) FROM {t} WHERE id = 1"
        ))
        .await
        .expect("select")
        .expect("a row");
    assert_eq!(cs, "utf8mb4");
    assert_eq!(len, text.chars().count() as i64);

    // A session that switched to latin1 gets its own view, and does not disturb this one.
    let mut latin = bed.conn().await;
    run(&mut latin, "SET NAMES latin1").await;
    let cs: String = one(&mut latin, "SELECT @@character_set_client").await;
    assert_eq!(cs, "latin1");
    let cs: String = one(&mut conn, "SELECT @@character_set_results").await;
    assert_eq!(cs, "utf8mb4");
    run(&mut conn, &format!("DROP TABLE {t}")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_variables_follow_the_session_across_servers() {
    let bed = Bed::shared();
    let mut conn = bed.conn().await;
    run(
        &mut conn,
        "SET SESSION sql_mode = 'ANSI_QUOTES,NO_ZERO_DATE'",
    )
    .await;
    run(&mut conn, "SET time_zone = '+05:30'").await;
    run(
        &mut conn,
        "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
    )
    .await;
    // Alternate reads (replica) and writes' neighbourhood (primary, in a transaction).
    for _ in 0..2 {
        let (mode, tz, iso): (String, String, String) = conn
            .query_first("SELECT @@sql_mode, @@time_zone, @@tx_isolation")
            .await
            .expect("select")
            .expect("a row");
        assert_eq!(mode, "ANSI_QUOTES,NO_ZERO_DATE");
        assert_eq!(tz, "+05:30");
        assert_eq!(iso, "READ-COMMITTED");
        run(&mut conn, "BEGIN").await;
        let mode: String = one(&mut conn, "SELECT @@sql_mode").await;
        assert_eq!(mode, "ANSI_QUOTES,NO_ZERO_DATE", "on the primary");
        run(&mut conn, "COMMIT").await;
    }
    // Another session keeps the server defaults.
    let mut other = bed.conn().await;
    let tz: String = one(&mut other, "SELECT @@time_zone").await;
    assert_eq!(tz, "SYSTEM");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn found_rows_after_sql_calc_found_rows() {
    let bed = Bed::shared();
    let t = table("fr");
    let mut conn = bed.conn().await;
    run(&mut conn, &format!("CREATE TABLE {t} (id INT PRIMARY KEY)")).await;
    run(
        &mut conn,
        &format!("INSERT INTO {t} VALUES (1),(2),(3),(4),(5)"),
    )
    .await;
    bed.caught_up();
    for _ in 0..3 {
        let first: i32 = one(
            &mut conn,
            &format!("SELECT SQL_CALC_FOUND_ROWS id FROM {t} ORDER BY id LIMIT 1"),
        )
        .await;
        assert_eq!(first, 1);
        let found: i64 = one(&mut conn, "SELECT FOUND_ROWS()").await;
        assert_eq!(
            found, 5,
            "FOUND_ROWS() must come from the previous SELECT's connection"
        );
    }
    // Without SQL_CALC_FOUND_ROWS: the row count the previous SELECT returned.
    let ids: Vec<i32> = conn
        .query(format!("SELECT id FROM {t} WHERE id > 2"))
        .await
        .expect("select");
    assert_eq!(ids.len(), 3);
    let found: i64 = one(&mut conn, "SELECT FOUND_ROWS()").await;
    assert_eq!(found, 3);
    run(&mut conn, &format!("DROP TABLE {t}")).await;
}

/// Affected rows of an UPDATE that matches a row but changes nothing.
async fn affected_by_no_op_update(conn: &mut Conn, t: &str) -> u64 {
    conn.query_drop(format!("UPDATE {t} SET v = v WHERE id = 1"))
        .await
        .expect("update");
    conn.affected_rows()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_found_rows_changes_affected_rows_like_mysql() {
    let bed = Bed::shared();
    let t = table("cfr");
    let mut plain = common::connect(bed.opts().client_found_rows(false)).await;
    let mut found = common::connect(bed.opts().client_found_rows(true)).await;
    run(
        &mut plain,
        &format!("CREATE TABLE {t} (id INT PRIMARY KEY, v INT)"),
    )
    .await;
    run(&mut plain, &format!("INSERT INTO {t} VALUES (1, 1)")).await;
    // Interleaved, several times: each must get connections opened with its own flags.
    for _ in 0..3 {
        assert_eq!(
            affected_by_no_op_update(&mut found, &t).await,
            1,
            "CLIENT_FOUND_ROWS: matched rows"
        );
        assert_eq!(
            affected_by_no_op_update(&mut plain, &t).await,
            0,
            "without CLIENT_FOUND_ROWS: changed rows"
        );
    }
    // An UPDATE that changes the row counts it either way (its OK carries info and a tracked
    // GTID change, which the proxy strips for these clients).
    for conn in [&mut found, &mut plain] {
        conn.query_drop(format!("UPDATE {t} SET v = v + 1 WHERE id = 1"))
            .await
            .expect("update");
        assert_eq!(conn.affected_rows(), 1);
        assert!(
            conn.info().starts_with("Rows matched: 1"),
            "{}",
            conn.info()
        );
    }
    // The same on the primary inside a transaction.
    run(&mut found, "BEGIN").await;
    assert_eq!(affected_by_no_op_update(&mut found, &t).await, 1);
    run(&mut found, "COMMIT").await;
    run(&mut plain, &format!("DROP TABLE {t}")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_gets_1045() {
    let bed = Bed::shared();
    let err = Conn::new(bed.opts().pass(Some("wrong")))
        .await
        .expect_err("logged in with a wrong password");
    assert_eq!(server_code(&err), Some(1045), "{err}");
    let err = Conn::new(bed.opts().pass(None::<String>))
        .await
        .expect_err("logged in without a password");
    assert_eq!(server_code(&err), Some(1045), "{err}");
    // The right one still works afterwards.
    let mut conn = bed.conn().await;
    let n: i32 = one(&mut conn, "SELECT 1").await;
    assert_eq!(n, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_user_gets_1045() {
    let bed = Bed::shared();
    let err = Conn::new(bed.opts_as("nobody", "app"))
        .await
        .expect_err("an unknown user logged in");
    assert_eq!(server_code(&err), Some(1045), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mariadb_cli_with_a_wrong_password_gets_1045() {
    let bed = Bed::shared();
    let stderr = bed.mariadb_err(&["--password=wrong", "-e", "select 1"], "");
    assert!(stderr.contains("1045"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_connection_forgets_the_session_state() {
    let bed = Bed::shared();
    let mut conn = bed.conn().await;
    run(&mut conn, "SET @v = 1").await;
    run(&mut conn, "SET time_zone = '+01:00'").await;
    run(&mut conn, "CREATE TEMPORARY TABLE app.rc_tmp (id INT)").await;
    // mysql_async sends COM_RESET_CONNECTION only to servers it recognises as MariaDB ≥ 10.2.4
    // (or MySQL ≥ 5.7.3) from the proxy's greeting; otherwise it does nothing and says false.
    let sent = conn.reset().await.expect("COM_RESET_CONNECTION");
    assert!(
        sent,
        "mysql_async did not send COM_RESET_CONNECTION: the proxy's greeting \
                   did not announce a version that has it"
    );
    let v: Option<i64> = one(&mut conn, "SELECT @v").await;
    assert_eq!(v, None);
    let tz: String = one(&mut conn, "SELECT @@time_zone").await;
    assert_eq!(tz, "SYSTEM");
    let err = conn
        .query_drop("SELECT * FROM app.rc_tmp")
        .await
        .expect_err("the temporary table survived the reset");
    assert_eq!(server_code(&err), Some(1146), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn change_user_switches_identity_and_resets_state() {
    let bed = Bed::shared();
    bed.create_other_user();
    let mut conn = bed.conn().await;
    run(&mut conn, "SET @v = 1").await;
    run(&mut conn, "SET time_zone = '+01:00'").await;
    let me: String = one(&mut conn, "SELECT CURRENT_USER()").await;
    assert_eq!(me, "app@%");

    conn.change_user(
        ChangeUserOpts::default()
            .with_user(Some(OTHER_USER.to_string()))
            .with_pass(Some(OTHER_PASSWORD.to_string()))
            .with_db_name(Some("app".to_string())),
    )
    .await
    .expect("COM_CHANGE_USER");
    // Reads (replica) and a transaction (primary) both run as the new user.
    let me: String = one(&mut conn, "SELECT CURRENT_USER()").await;
    assert_eq!(me, format!("{OTHER_USER}@%"));
    run(&mut conn, "BEGIN").await;
    let me: String = one(&mut conn, "SELECT CURRENT_USER()").await;
    assert_eq!(me, format!("{OTHER_USER}@%"));
    run(&mut conn, "COMMIT").await;
    let v: Option<i64> = one(&mut conn, "SELECT @v").await;
    assert_eq!(v, None, "user variables survive CHANGE_USER");
    let tz: String = one(&mut conn, "SELECT @@time_zone").await;
    assert_eq!(tz, "SYSTEM", "session variables survive CHANGE_USER");

    // A wrong password is refused with 1045.
    let err = conn
        .change_user(
            ChangeUserOpts::default()
                .with_user(Some("app".to_string()))
                .with_pass(Some("wrong".to_string())),
        )
        .await
        .expect_err("CHANGE_USER with a wrong password");
    assert_eq!(server_code(&err), Some(1045), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mysql_async_pool_hands_out_clean_sessions() {
    let bed = Bed::shared();
    let pool = bed.pool();
    {
        let mut conn = pool.get_conn().await.expect("a pooled connection");
        run(&mut conn, "SET @left_over = 1").await;
        run(&mut conn, "SET time_zone = '+02:00'").await;
        run(&mut conn, "CREATE TEMPORARY TABLE app.left_over (id INT)").await;
    } // back to the pool: mysql_async resets it (COM_RESET_CONNECTION) before reuse
    for _ in 0..3 {
        let mut conn = pool.get_conn().await.expect("a pooled connection");
        let v: Option<i64> = one(&mut conn, "SELECT @left_over").await;
        assert_eq!(v, None);
        let tz: String = one(&mut conn, "SELECT @@time_zone").await;
        assert_eq!(tz, "SYSTEM");
        let err = conn
            .query_drop("SELECT * FROM app.left_over")
            .await
            .expect_err("the temporary table outlived its session");
        assert_eq!(server_code(&err), Some(1146), "{err}");
    }
    pool.disconnect().await.expect("closing the pool");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_id_is_the_proxys_stable_id() {
    let bed = Bed::shared();
    let mut conn = bed.conn().await;
    let handshake_id = conn.id();
    for sql in ["SELECT CONNECTION_ID()", "select connection_id() ;"] {
        let id: u32 = one(&mut conn, sql).await;
        assert_eq!(id, handshake_id, "{sql}");
        // Statements in between may run on any backend connection; the id does not move.
        run(&mut conn, "SELECT 1").await;
    }
    // It is typed as the server types it (an integer column), and the CLI prints it as such.
    let printed = bed.mariadb_ok(&["-e", "SELECT CONNECTION_ID()"], "");
    assert!(printed.trim().parse::<u32>().is_ok(), "{printed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_idle_past_its_wait_timeout_is_disconnected_as_by_the_server() {
    let bed = Bed::shared();
    let mut conn = bed.conn().await;
    run(&mut conn, "SET SESSION wait_timeout = 1").await;
    let other = bed.conn().await;
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    // The server would have closed the connection; the proxy does the same for the client.
    let gone = conn.query_drop("SELECT 1").await;
    assert!(
        gone.is_err(),
        "a connection idle past wait_timeout was still served"
    );
    // Sessions that set no wait_timeout stay.
    let mut other = other;
    let n: i32 = one(&mut other, "SELECT 1").await;
    assert_eq!(n, 1);
}

/// `NOWAIT`, `SKIP LOCKED` and `SET STATEMENT … FOR` change variables for one statement, and
/// MariaDB reports the change (`innodb_lock_wait_timeout = 0`) in that statement's answer and
/// the restored value in the next one: the session keeps its own values throughout. A
/// procedure's `SET SESSION` is the session's from then on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn variables_changed_for_one_statement_stay_with_it() {
    let bed = Bed::shared();
    let t = table("nowait");
    let mut conn = bed.conn().await;
    run(&mut conn, &format!("CREATE TABLE {t} (id INT PRIMARY KEY)")).await;
    run(&mut conn, &format!("INSERT INTO {t} VALUES (1)")).await;
    // The replica has it all: the plain reads below run there, on a connection of their own.
    bed.caught_up();
    let before: u64 = one(&mut conn, "SELECT @@innodb_lock_wait_timeout").await;
    assert_ne!(before, 0);
    for sql in [
        format!("SELECT id FROM {t} WHERE id = 1 FOR UPDATE NOWAIT"),
        format!("SELECT id FROM {t} WHERE id = 1 FOR UPDATE SKIP LOCKED"),
        format!("SET STATEMENT innodb_lock_wait_timeout = 0 FOR SELECT id FROM {t} FOR UPDATE"),
    ] {
        let id: u32 = one(&mut conn, &sql).await;
        assert_eq!(id, 1, "{sql}");
        for check in [
            "@@innodb_lock_wait_timeout",
            "@@SESSION.innodb_lock_wait_timeout",
        ] {
            let after: u64 = one(&mut conn, &format!("SELECT {check}")).await;
            assert_eq!(after, before, "{check} after {sql}");
        }
    }
    let procedure = format!("{t}_set");
    run(
        &mut conn,
        &format!("CREATE PROCEDURE {procedure}() SET SESSION innodb_lock_wait_timeout = 7"),
    )
    .await;
    run(&mut conn, &format!("CALL {procedure}()")).await;
    let after: u64 = one(&mut conn, "SELECT @@innodb_lock_wait_timeout").await;
    assert_eq!(after, 7, "a procedure's SET SESSION holds for the session");
    run(&mut conn, &format!("DROP PROCEDURE {procedure}")).await;
    run(&mut conn, &format!("DROP TABLE {t}")).await;
}

/// A schema dropped under a session: its next read, brought to that schema on a pooled
/// connection another session used, gets the server's "Unknown database" (the read sent in the
/// same write behind the refused `COM_INIT_DB` is never relayed), and the session goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_behind_a_refused_schema_gets_the_error_and_the_session_goes_on() {
    let bed = Bed::own(1, "workers: 1\npool: { max_size: 1, pipeline: false }");
    let schema = "sync_refused";
    let mut a = bed.conn().await;
    run(&mut a, &format!("CREATE DATABASE {schema}")).await;
    run(&mut a, &format!("USE {schema}")).await;
    let answer: i64 = one(&mut a, "SELECT 1").await;
    assert_eq!(answer, 1);
    // One connection per server: the other session takes them over, into its own schema, and
    // drops the first one's.
    let mut b = bed.conn().await;
    run(&mut b, "USE app").await;
    let answer: i64 = one(&mut b, "SELECT 2").await;
    assert_eq!(answer, 2);
    run(&mut b, &format!("DROP DATABASE {schema}")).await;
    bed.caught_up();
    let answer: i64 = one(&mut b, "SELECT 3").await;
    assert_eq!(answer, 3);

    let refused = a
        .query_first::<i64, _>("SELECT 4")
        .await
        .expect_err("the session's schema is gone");
    assert_eq!(server_code(&refused), Some(1049), "{refused}");
    run(&mut a, "USE app").await;
    for n in 5..8_i64 {
        let answer: i64 = one(&mut a, &format!("SELECT {n}")).await;
        assert_eq!(answer, n);
        let answer: i64 = one(&mut b, &format!("SELECT {n}")).await;
        assert_eq!(answer, n);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insert_id_and_last_insert_id_set_by_hand_are_used_once_as_on_the_server() {
    let bed = Bed::shared();
    // The first session's state is brought back to the connection after the second's insert.
    let proxy = bed.another_proxy(ONE_CONNECTION);
    let t = bed
        .new_table("insert_id", "id INT AUTO_INCREMENT PRIMARY KEY, v INT")
        .await;
    let mut a = connect(opts_for(&proxy)).await;
    let mut b = connect(opts_for(&proxy)).await;
    // As mysqlbinlog's output sets it before an insert.
    run(&mut a, "SET INSERT_ID=100").await;
    run(&mut a, &format!("INSERT INTO {t} (v) VALUES (1)")).await;
    assert_eq!(a.last_insert_id(), Some(100));
    run(&mut b, &format!("INSERT INTO {t} (v) VALUES (2)")).await;
    assert_eq!(b.last_insert_id(), Some(101));
    // Used up by the first insert: not replayed for the next (a duplicate key otherwise).
    run(&mut a, &format!("INSERT INTO {t} (v) VALUES (3)")).await;
    assert_eq!(a.last_insert_id(), Some(102));

    // SET last_insert_id gives LAST_INSERT_ID() a value until the session's next insert.
    run(&mut a, "SET last_insert_id = 5").await;
    let id: u64 = one(&mut a, "SELECT LAST_INSERT_ID()").await;
    assert_eq!(id, 5);
    // (A statement after it: the connection is kept for the one after a LAST_INSERT_ID().)
    run(&mut a, "SELECT 1").await;
    run(&mut b, &format!("INSERT INTO {t} (v) VALUES (4)")).await;
    let id: u64 = one(&mut a, "SELECT LAST_INSERT_ID()").await;
    assert_eq!(id, 5, "another session's insert is its own");
    run(&mut a, &format!("INSERT INTO {t} (v) VALUES (5)")).await;
    run(&mut b, &format!("INSERT INTO {t} (v) VALUES (6)")).await;
    let id: u64 = one(&mut a, "SELECT LAST_INSERT_ID()").await;
    assert_eq!(
        id, 104,
        "the session's own insert, not the value set before it"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rand_seeds_give_the_sequence_of_the_server() {
    let bed = Bed::shared();
    // Statement-based binlogs set them before a statement that calls RAND().
    let seed = "SET rand_seed1 = 1234, rand_seed2 = 5678";
    let mut direct = connect(bed.direct_to_primary()).await;
    let mut want = Vec::new();
    let mut got = Vec::new();
    let mut conn = bed.conn().await;
    let mut other = bed.conn().await;
    for (conn, values) in [(&mut direct, &mut want), (&mut conn, &mut got)] {
        for _ in 0..2 {
            run(conn, seed).await;
            for _ in 0..3 {
                values.push(one::<f64>(conn, "SELECT RAND()").await);
                // Another session's statement in between takes no part in the sequence.
                let _: f64 = one(&mut other, "SELECT RAND()").await;
            }
        }
    }
    assert_eq!(
        want[..3],
        want[3..],
        "the same seeds start the same sequence"
    );
    assert_eq!(got, want);
}

/// `@@sql_mode` and `@@wait_timeout` as the primary connection running the session's
/// transaction has them.
async fn mode_and_timeout_on_the_primary(conn: &mut Conn) -> (String, u64) {
    run(conn, "BEGIN").await;
    let values = conn
        .query_first("SELECT @@sql_mode, @@wait_timeout")
        .await
        .expect("select")
        .expect("a row");
    run(conn, "COMMIT").await;
    values
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_variable_set_to_an_expression_keeps_its_value_on_other_connections() {
    let bed = Bed::shared();
    // Each session's state is brought back to a connection another session's state was on.
    let proxy = bed.another_proxy(ONE_CONNECTION);
    let mut other = connect(opts_for(&proxy)).await;
    run(&mut other, "SET SESSION sql_mode = 'ANSI_QUOTES'").await;
    run(&mut other, "SET SESSION wait_timeout = 100").await;
    let mut rails = connect(opts_for(&proxy)).await;
    // What Rails' MySQL adapter sends on connecting.
    run(
        &mut rails,
        "SET NAMES utf8mb4, @@SESSION.sql_mode = CONCAT(CONCAT(@@sql_mode, \
         ',STRICT_ALL_TABLES'), ',NO_AUTO_VALUE_ON_ZERO'), @@SESSION.sql_auto_is_null = 0, \
         @@SESSION.wait_timeout = 60 * 10",
    )
    .await;
    let first = mode_and_timeout_on_the_primary(&mut rails).await;
    assert!(first.0.contains("STRICT_ALL_TABLES"), "{first:?}");
    assert!(!first.0.contains("ANSI_QUOTES"), "{first:?}");
    assert_eq!(first.1, 600);
    for _ in 0..2 {
        assert_eq!(
            mode_and_timeout_on_the_primary(&mut other).await,
            ("ANSI_QUOTES".to_string(), 100)
        );
        // Not worked out again from the other session's sql_mode.
        assert_eq!(mode_and_timeout_on_the_primary(&mut rails).await, first);
    }
}
