//! A command larger than the servers' `max_allowed_packet`, through the proxy and directly:
//! the same error (1153, SQLSTATE 08S01) and the same end of the connection, with and without
//! compression asked for; a command just under the limit runs on both.
mod common;

use common::Bed;
use mysql_async::prelude::*;
use mysql_async::{Compression, Conn, OptsBuilder};

/// The servers' limit in these tests (the test bed starts them with 1 GiB).
const LIMIT: usize = 1 << 20;

/// The client's own limit: well above the servers', so the client sends what the server refuses.
const CLIENT_LIMIT: usize = 64 << 20;

/// A bed whose servers all take packets of `LIMIT` bytes at most (set before the proxy opens
/// any pooled connection, so every connection has it).
fn bed() -> Bed {
    let bed = Bed::own(1, "");
    for server in bed.cluster().servers() {
        server
            .sql(&format!("SET GLOBAL max_allowed_packet = {LIMIT}"))
            .unwrap_or_else(|e| panic!("setting max_allowed_packet: {e}"));
    }
    bed
}

/// The text of `SELECT LENGTH('xx…')` without its x's.
const HEAD: &str = "SELECT LENGTH('')";

/// A `SELECT` whose COM_QUERY payload (the command byte and the text) is `len` bytes: the
/// server reads one of fewer than `max_allowed_packet` bytes.
fn select_of(len: usize) -> String {
    format!("SELECT LENGTH('{}')", "x".repeat(len - 1 - HEAD.len()))
}

/// The server error a statement ended with: (code, SQLSTATE, message).
fn server_error(e: &mysql_async::Error) -> (u16, String, String) {
    match e {
        mysql_async::Error::Server(s) => (s.code, s.state.clone(), s.message.clone()),
        other => panic!("not a server error: {other:?}"),
    }
}

/// What a client sees sending a statement of `len` bytes, at least the limit, on a new
/// connection, then another statement: the error (`None`: the connection was reset before it
/// arrived), and whether the connection was closed after it.
async fn oversized(opts: OptsBuilder, len: usize) -> (Option<(u16, String, String)>, bool) {
    let mut conn = Conn::new(opts).await.expect("connect");
    let err = conn
        .query_drop(select_of(len))
        .await
        .expect_err("a statement of max_allowed_packet bytes or more");
    let after = conn.query_drop("SELECT 1").await;
    let closed = match after {
        Ok(()) => false,
        Err(mysql_async::Error::Io(_)) | Err(mysql_async::Error::Driver(_)) => true,
        Err(e) => panic!("after the refused statement: {e:?}"),
    };
    let answer = match &err {
        mysql_async::Error::Io(_) => None,
        e => Some(server_error(e)),
    };
    (answer, closed)
}

fn too_large() -> (u16, String, String) {
    (
        1153,
        "08S01".to_string(),
        "Got a packet bigger than 'max_allowed_packet' bytes".to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_over_max_allowed_packet_gets_the_servers_error_and_closes() {
    let bed = bed();
    for compression in [None, Some(Compression::fast())] {
        let direct_opts = bed
            .direct_to_primary()
            .max_allowed_packet(Some(CLIENT_LIMIT))
            .compression(compression);
        let proxy_opts = bed
            .opts()
            .max_allowed_packet(Some(CLIENT_LIMIT))
            .compression(compression);
        // The server answers and closes the connection with the rest of the packet unread, so
        // its answer may be lost to the reset that closing sends.
        let (answer, closed) = oversized(direct_opts, LIMIT).await;
        assert!(closed, "directly, {compression:?}");
        if let Some(answer) = answer {
            assert_eq!(answer, too_large(), "directly, {compression:?}");
        }
        let proxy = oversized(proxy_opts.clone(), LIMIT).await;
        assert_eq!(proxy, (Some(too_large()), true), "proxy, {compression:?}");
        // Past 16 MiB (several frames) the proxy answers the same; the server, which does not
        // skip such a packet, drops the connection without an answer.
        let proxy = oversized(proxy_opts, 20 << 20).await;
        assert_eq!(proxy, (Some(too_large()), true), "20 MiB, {compression:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_just_under_max_allowed_packet_runs() {
    let bed = bed();
    for compression in [None, Some(Compression::fast())] {
        for opts in [bed.direct_to_primary(), bed.opts()] {
            let opts = opts
                .max_allowed_packet(Some(CLIENT_LIMIT))
                .compression(compression);
            let mut conn = Conn::new(opts).await.expect("connect");
            // Compressed, the server counts the packet's own 4-byte header against the limit
            // too (the proxy offers no compression: its clients send uncompressed).
            let len = LIMIT - 5;
            let n: Option<usize> = conn.query_first(select_of(len)).await.expect("under");
            assert_eq!(n, Some(len - 1 - HEAD.len()));
            let one: Option<i32> = conn.query_first("SELECT 1").await.expect("after");
            assert_eq!(one, Some(1));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_writes_and_executions_are_refused_alike() {
    let bed = bed();
    let t = bed.new_table("big", "id INT PRIMARY KEY, v LONGTEXT").await;
    let opts = bed.opts().max_allowed_packet(Some(CLIENT_LIMIT));
    // A write inside a transaction: refused, the session ends, the transaction is rolled back.
    let mut conn = Conn::new(opts.clone()).await.expect("connect");
    conn.query_drop("BEGIN").await.expect("BEGIN");
    conn.query_drop(format!("INSERT INTO {t} VALUES (1, 'kept?')"))
        .await
        .expect("a small insert");
    let big = "y".repeat(LIMIT + 10);
    let err = conn
        .query_drop(format!("INSERT INTO {t} VALUES (2, '{big}')"))
        .await
        .expect_err("an insert over the limit");
    assert_eq!(server_error(&err), too_large());
    assert!(
        conn.query_drop("SELECT 1").await.is_err(),
        "the session ended"
    );
    // A prepared statement executed with a parameter over the limit.
    let mut conn = Conn::new(opts).await.expect("connect");
    let stmt = conn
        .prep(format!("INSERT INTO {t} VALUES (?, ?)"))
        .await
        .expect("prepare");
    let err = conn
        .exec_drop(&stmt, (3, big.as_str()))
        .await
        .expect_err("an execution over the limit");
    assert_eq!(server_error(&err), too_large());
    assert!(
        conn.query_drop("SELECT 1").await.is_err(),
        "the session ended"
    );
    let mut conn = bed.conn().await;
    let rows: Vec<i32> = conn
        .query(format!("SELECT id FROM {t}"))
        .await
        .expect("the rows");
    assert!(rows.is_empty(), "nothing was written: {rows:?}");
}
