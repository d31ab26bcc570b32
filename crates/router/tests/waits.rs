//! Calls that wait on purpose (`Effects::WAITS`): told by the function called, not by the text.
mod common;
use common::*;
use splitrail_router::{Effects, classify};

#[test]
fn calls_that_wait_on_purpose_are_marked() {
    let rows: &[(&str, bool)] = &[
        ("select sleep(1)", true),
        ("SELECT MASTER_GTID_WAIT('0-1-2', 1)", true),
        ("SELECT Benchmark(10, md5('a'))", true),
        ("SELECT c FROM sbtest1 WHERE id = ?", false),
        ("SELECT SLEEP (1)", true),
        ("SELECT `sleep`(1)", true),
        ("SELECT id FROM t WHERE id IN (SELECT SLEEP(1))", true),
        ("SELECT /*!SLEEP(1)*/ 1", true),
        ("SELECT GET_LOCK('job', 10)", true),
        ("SELECT MASTER_POS_WAIT('binlog.000001', 4, 1)", true),
        ("SELECT SOURCE_POS_WAIT('binlog.000001', 4, 1)", true),
        ("SELECT WAIT_FOR_EXECUTED_GTID_SET('uuid:1-5', 1)", true),
        (
            "SELECT WAIT_UNTIL_SQL_THREAD_AFTER_GTIDS('uuid:1-5', 1)",
            true,
        ),
        ("SELECT WSREP_SYNC_WAIT_UPTO_GTID('uuid:5')", true),
        ("SELECT app.my_sleep(1)", true),
        (
            "SET STATEMENT max_statement_time=1 FOR SELECT SLEEP(2)",
            true,
        ),
        ("DO SLEEP(1)", true),
        ("SELECT 1; SELECT SLEEP(1)", true),
        // Not calls: names in strings, comments, columns and variables.
        ("SELECT 'sleep'", false),
        ("SELECT 'SLEEP(1)'", false),
        ("SELECT 1 /* SLEEP(1) */", false),
        ("SELECT sleep FROM t", false),
        ("SELECT lock_wait FROM t", false),
        ("SELECT @@innodb_lock_wait_timeout", false),
        ("SELECT RELEASE_LOCK('job')", false),
        ("SELECT NOW()", false),
        // EXPLAIN does not run the statement it explains.
        ("EXPLAIN SELECT SLEEP(1)", false),
        // A call in any reading the server may use: without the versioned comment's contents,
        // without backslash escapes.
        ("SELECT sleep /*!50000 + 1, NOW */ (1)", true),
        (r"SELECT 'a\', sleep(1), ' AS x", true),
    ];
    check_each(rows, |&(sql, want)| {
        let effects = classify(sql).effects();
        (effects.contains(Effects::WAITS) != want)
            .then(|| format!("  {sql:?}: expected waits = {want}, effects {effects:?}"))
    });
}

#[test]
fn waiting_does_not_move_a_read() {
    check_rows(&[
        ("SELECT SLEEP(1)", Replica, PlainRead),
        ("SELECT BENCHMARK(10, MD5('a'))", Replica, PlainRead),
        ("SELECT MASTER_GTID_WAIT('0-1-2', 1)", Replica, PlainRead),
        ("SELECT GET_LOCK('job', 10)", Primary, NamedLock),
        ("SELECT sleep /*!50000 + 1, NOW */ (1)", Replica, PlainRead),
        (r"SELECT 'a\', sleep(1), ' AS x", Replica, PlainRead),
    ]);
}
