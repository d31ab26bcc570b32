//! Statements the proxy answers itself (`session/answered_here.rs`): once the primary answered a
//! session `SET` or a `COMMIT`/`ROLLBACK` with nothing to end, later sessions get that answer
//! without a round trip, and what the statement does — the variable, autocommit's effect on the
//! next writes, the transaction it does or does not end, the diagnostics the next statement
//! reads — is what the server would have done.
mod common;
mod fuzzing;

use common::{Bed, connect, counter, get, one, opts_for, run};
use fuzzing::raw::{login_with, read_packet};
use fuzzing::streams::push_frame;
use mysql_async::Conn;
use mysql_async::prelude::*;
use splitrail_protocol::response::OkPacket;
use splitrail_protocol::{CapabilityFlags, StatusFlags};
use tokio::io::AsyncWriteExt;

/// The proxy's count of `SET`s it answered itself.
fn local_answers(bed: &Bed) -> u64 {
    counter(bed.proxy.admin_addr(), "splitrail_local_set_answers_total")
}

/// What drivers send when they open a connection.
const OPENING: &[&str] = &[
    "SET NAMES latin1",
    "SET autocommit = 1",
    "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
    "SET SESSION sql_mode = 'ANSI_QUOTES', time_zone = '+05:00'",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_set_the_primary_answered_once_is_answered_by_the_proxy_with_its_effect() {
    let bed = Bed::shared();
    let t = bed.new_table("local_set", "id INT PRIMARY KEY").await;
    let mut first = bed.conn().await;
    for sql in OPENING {
        run(&mut first, sql).await;
    }
    drop(first);
    let before = local_answers(&bed);

    let mut conn = bed.conn().await;
    for sql in OPENING {
        run(&mut conn, sql).await;
    }
    assert_eq!(local_answers(&bed), before + OPENING.len() as u64);
    // /digests tells the two apart: the primary answered the first, the proxy the second.
    let digests = get(bed.proxy.admin_addr(), "/digests").json();
    let names = digests["digests"]
        .as_array()
        .expect("digests")
        .iter()
        .find(|d| d["text"] == "SET NAMES latin1")
        .unwrap_or_else(|| panic!("no SET NAMES latin1 in {digests}"));
    assert_eq!(
        (&names["targets"]["primary"], &names["targets"]["proxy"]),
        (&1.into(), &1.into()),
        "{names}"
    );
    let (charset, isolation, autocommit): (String, String, i64) = conn
        .query_first("SELECT @@character_set_client, @@tx_isolation, @@autocommit")
        .await
        .expect("variables")
        .expect("a row");
    assert_eq!(
        (charset.as_str(), isolation.as_str(), autocommit),
        ("latin1", "READ-COMMITTED", 1)
    );
    let (mode, zone): (String, String) = conn
        .query_first("SELECT @@sql_mode, @@time_zone")
        .await
        .expect("variables")
        .expect("a row");
    assert_eq!((mode.as_str(), zone.as_str()), ("ANSI_QUOTES", "+05:00"));

    // autocommit off, answered here, still holds the next write in a transaction...
    run(&mut conn, "SET autocommit = 0").await;
    run(&mut conn, "SET autocommit = 0").await;
    assert_eq!(local_answers(&bed), before + OPENING.len() as u64 + 1);
    run(&mut conn, &format!("INSERT INTO {t} VALUES (1)")).await;
    run(&mut conn, "ROLLBACK").await;
    // ...and on again, the next write commits by itself.
    run(&mut conn, "SET autocommit = 1").await;
    run(&mut conn, &format!("INSERT INTO {t} VALUES (2)")).await;
    let mut direct = connect(bed.direct_to_primary()).await;
    let ids: Vec<i64> = direct
        .query(format!("SELECT id FROM {t} ORDER BY id"))
        .await
        .expect("rows");
    assert_eq!(
        ids,
        [2],
        "the rolled back row is gone, the autocommitted one is there"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inside_a_transaction_a_set_runs_on_the_server() {
    let bed = Bed::shared();
    let t = bed.new_table("local_set", "id INT PRIMARY KEY").await;
    let mut conn = bed.conn().await;
    run(&mut conn, "SET autocommit = 1").await;
    run(&mut conn, "SET autocommit = 0").await;
    let before = local_answers(&bed);
    run(&mut conn, &format!("INSERT INTO {t} VALUES (1)")).await;
    // Turning autocommit on commits the open transaction, on the server.
    run(&mut conn, "SET autocommit = 1").await;
    run(&mut conn, "ROLLBACK").await;
    assert_eq!(local_answers(&bed), before);
    let mut direct = connect(bed.direct_to_primary()).await;
    let n: i64 = one(&mut direct, &format!("SELECT COUNT(*) FROM {t}")).await;
    assert_eq!(
        n, 1,
        "SET autocommit = 1 committed the insert before the ROLLBACK"
    );
}

/// `ROW_COUNT()` and the warnings after `SET`s, on `conn`. The second `SET autocommit = 1`
/// changes nothing the connection lacks, so no sync runs before the `ROW_COUNT()` behind it.
async fn diagnostics_after_sets(
    conn: &mut Conn,
    t: &str,
) -> (i64, i64, Vec<(String, u32, String)>) {
    run(conn, "SET autocommit = 1").await;
    run(conn, &format!("INSERT INTO {t} VALUES (1), (2)")).await;
    run(conn, "SET NAMES utf8mb4").await;
    let rows_after_set: i64 = one(conn, "SELECT ROW_COUNT()").await;
    run(conn, &format!("DELETE FROM {t}")).await;
    run(conn, "SET autocommit = 1").await;
    let rows_after_same_set: i64 = one(conn, "SELECT ROW_COUNT()").await;
    run(conn, "SELECT 1 / 0").await;
    run(conn, "SET autocommit = 1").await;
    let warnings: Vec<(String, u32, String)> = conn.query("SHOW WARNINGS").await.expect("warnings");
    (rows_after_set, rows_after_same_set, warnings)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diagnostics_after_a_set_answered_here_are_the_servers() {
    let bed = Bed::shared();
    let t = bed.new_table("local_set", "id INT PRIMARY KEY").await;
    let t2 = bed.new_table("local_set", "id INT PRIMARY KEY").await;
    let mut direct = connect(bed.direct_to_primary()).await;
    let server = diagnostics_after_sets(&mut direct, &t).await;
    // The first session teaches the proxy the answers; the second gets them from it.
    let mut first = bed.conn().await;
    run(&mut first, "SET NAMES utf8mb4").await;
    run(&mut first, "SET autocommit = 1").await;
    drop(first);
    let before = local_answers(&bed);
    let mut conn = bed.conn().await;
    let proxy = diagnostics_after_sets(&mut conn, &t2).await;
    assert_eq!(
        local_answers(&bed),
        before + 4,
        "every SET was answered here"
    );
    assert_eq!(proxy, server);
    assert_eq!((server.0, server.1), (0, 0), "ROW_COUNT() after SET");
}

/// What a client that tracks session state asks for.
const TRACKING_CLIENT: CapabilityFlags = CapabilityFlags::CLIENT_PROTOCOL_41
    .union(CapabilityFlags::CLIENT_SECURE_CONNECTION)
    .union(CapabilityFlags::CLIENT_PLUGIN_AUTH)
    .union(CapabilityFlags::CLIENT_LONG_PASSWORD)
    .union(CapabilityFlags::CLIENT_TRANSACTIONS)
    .union(CapabilityFlags::CLIENT_MULTI_RESULTS)
    .union(CapabilityFlags::CLIENT_CONNECT_WITH_DB)
    .union(CapabilityFlags::CLIENT_DEPRECATE_EOF)
    .union(CapabilityFlags::CLIENT_SESSION_TRACK);

/// The OK each of `texts` gets on a new connection to `port`, its session-state changes
/// sorted (a server lists them in no fixed order).
async fn oks(port: u16, texts: &[&str]) -> Vec<OkPacket> {
    let (mut stream, _, caps) = login_with(port, |server| TRACKING_CLIENT & server)
        .await
        .expect("login");
    let mut out = Vec::new();
    for text in texts {
        let mut wire = Vec::new();
        push_frame(&mut wire, 0, &[&[0x03][..], text.as_bytes()].concat());
        stream.write_all(&wire).await.expect("query");
        let (_, payload) = read_packet(&mut stream).await.expect("answer");
        let mut ok = OkPacket::decode(&payload, caps).unwrap_or_else(|e| panic!("{text}: {e}"));
        ok.session_state.sort_by_key(|c| format!("{c:?}"));
        out.push(ok);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_answer_is_what_the_proxy_relayed_with_the_servers_status() {
    let bed = Bed::shared();
    let texts = [
        "SET autocommit = 0",
        "SET autocommit = 1",
        "SET SESSION sql_mode = 'NO_BACKSLASH_ESCAPES'",
        "SET NAMES utf8mb4",
        "SET SESSION sql_mode = 'STRICT_TRANS_TABLES'",
        "SET SESSION TRANSACTION ISOLATION LEVEL SERIALIZABLE",
    ];
    let relayed = oks(bed.port(), &texts).await;
    let before = local_answers(&bed);
    let kept = oks(bed.port(), &texts).await;
    assert_eq!(local_answers(&bed), before + texts.len() as u64);
    let direct = oks(bed.primary().port(), &texts).await;
    // Which variables the server reports depends on the connection's tracking settings (the
    // proxy's connections track them all), so the flags are compared with a direct session's.
    let flags = |ok: &OkPacket| ok.status - StatusFlags::SERVER_SESSION_STATE_CHANGED;
    for ((text, kept), (relayed, direct)) in
        texts.iter().zip(&kept).zip(relayed.iter().zip(&direct))
    {
        assert_eq!(kept, relayed, "{text}: the kept answer is the relayed one");
        assert_eq!(flags(kept), flags(direct), "{text}: status flags");
    }
    assert!(
        flags(&kept[2]).contains(StatusFlags::SERVER_STATUS_NO_BACKSLASH_ESCAPES)
            && flags(&kept[3]).contains(StatusFlags::SERVER_STATUS_NO_BACKSLASH_ESCAPES)
            && !flags(&kept[4]).contains(StatusFlags::SERVER_STATUS_NO_BACKSLASH_ESCAPES),
        "NO_BACKSLASH_ESCAPES follows sql_mode: {kept:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_or_rollback_with_nothing_to_end_is_answered_by_the_proxy() {
    let bed = Bed::shared();
    // A proxy of its own, one worker: its counter counts this test's statements only.
    let proxy = bed.another_proxy("workers: 1");
    let answers = || counter(proxy.admin_addr(), "splitrail_local_commit_answers_total");
    let t = bed.new_table("local_end", "id INT PRIMARY KEY").await;
    let mut conn = connect(opts_for(&proxy)).await;
    // The first of each text runs on the primary; its OK is kept.
    for sql in ["ROLLBACK", "COMMIT", "ROLLBACK", "COMMIT"] {
        run(&mut conn, sql).await;
    }
    assert_eq!(answers(), 2);

    // Inside a transaction they run on the server and end it.
    run(&mut conn, "BEGIN").await;
    run(&mut conn, &format!("INSERT INTO {t} VALUES (1)")).await;
    run(&mut conn, "ROLLBACK").await;
    run(&mut conn, "SET autocommit = 0").await;
    run(&mut conn, &format!("INSERT INTO {t} VALUES (2)")).await;
    run(&mut conn, "COMMIT").await;
    run(&mut conn, &format!("INSERT INTO {t} VALUES (3)")).await;
    run(&mut conn, "ROLLBACK").await;
    run(&mut conn, "SET autocommit = 1").await;
    assert_eq!(answers(), 2, "none of those was answered here");
    let mut direct = connect(bed.direct_to_primary()).await;
    let ids: Vec<i32> = direct
        .query(format!("SELECT id FROM {t} ORDER BY id"))
        .await
        .expect("rows");
    assert_eq!(ids, [2]);

    // With completion_type CHAIN a COMMIT opens a transaction even with none open: it runs on
    // the server, and the insert after it is rolled back with that transaction.
    run(&mut conn, "SET completion_type = 'CHAIN'").await;
    run(&mut conn, "COMMIT").await;
    run(&mut conn, &format!("INSERT INTO {t} VALUES (4)")).await;
    run(&mut conn, "ROLLBACK").await;
    let n: i64 = one(
        &mut direct,
        &format!("SELECT COUNT(*) FROM {t} WHERE id = 4"),
    )
    .await;
    assert_eq!(n, 0, "the COMMIT chained a transaction");
    assert_eq!(answers(), 2);
    drop(conn);

    // The diagnostics after an answered COMMIT are the server's: ROW_COUNT() is 0.
    let mut conn = connect(opts_for(&proxy)).await;
    run(&mut conn, &format!("DELETE FROM {t}")).await;
    run(&mut conn, "COMMIT").await;
    let rows: i64 = one(&mut conn, "SELECT ROW_COUNT()").await;
    assert_eq!(answers(), 3);
    run(&mut direct, &format!("INSERT INTO {t} VALUES (5)")).await;
    run(&mut direct, &format!("DELETE FROM {t}")).await;
    run(&mut direct, "COMMIT").await;
    let direct_rows: i64 = one(&mut direct, "SELECT ROW_COUNT()").await;
    assert_eq!((rows, direct_rows), (0, 0));
}
