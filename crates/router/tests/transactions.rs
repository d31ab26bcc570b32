//! Transactions: explicit, implicit (autocommit off), read-only, savepoints, XA.
mod common;
use common::*;
use splitrail_router::{Policy, ServerStatus, SessionState, classify};

#[test]
fn transaction_control_outside_a_transaction() {
    check_rows(&[
        ("BEGIN", Primary, TransactionControl),
        ("BEGIN WORK", Primary, TransactionControl),
        ("START TRANSACTION", Primary, TransactionControl),
        ("START TRANSACTION READ WRITE", Primary, TransactionControl),
        (
            "START TRANSACTION WITH CONSISTENT SNAPSHOT",
            Primary,
            TransactionControl,
        ),
        ("START TRANSACTION READ ONLY", Replica, ReadOnlyTransaction),
        (
            "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY",
            Replica,
            ReadOnlyTransaction,
        ),
        (
            "START TRANSACTION READ ONLY; DELETE FROM t",
            Primary,
            TransactionControl,
        ),
        ("COMMIT", Primary, TransactionControl),
        ("ROLLBACK", Primary, TransactionControl),
        ("XA START 'x'", Primary, TransactionControl),
        ("XA RECOVER", Primary, TransactionControl),
    ]);
}

#[test]
fn everything_in_a_transaction_stays_on_its_backend() {
    let s = session_after(&["BEGIN"]);
    assert!(s.in_transaction());
    check_table(
        &s,
        &Policy::default(),
        &[
            ("SELECT 1", Pinned, InTransaction),
            ("UPDATE t SET a = 1", Pinned, InTransaction),
            ("SAVEPOINT s1", Pinned, InTransaction),
            ("ROLLBACK TO SAVEPOINT s1", Pinned, InTransaction),
            ("RELEASE SAVEPOINT s1", Pinned, InTransaction),
            ("COMMIT", Pinned, InTransaction),
            (
                "SELECT * FROM t /* splitrail:replica */",
                Pinned,
                InTransaction,
            ),
        ],
    );
    let s = session_after(&["BEGIN", "COMMIT"]);
    assert!(!s.in_transaction());
    let s = session_after(&["BEGIN", "CREATE TABLE x (a int)"]);
    assert!(!s.in_transaction(), "DDL commits implicitly");
    let s = session_after(&["BEGIN", "COMMIT AND CHAIN"]);
    assert!(s.in_transaction());
}

#[test]
fn autocommit_off_opens_a_transaction_on_the_primary() {
    // Django's atomic(): SET autocommit=0, statements, COMMIT, SET autocommit=1.
    let s = session_after(&["SET autocommit=0"]);
    assert!(!s.autocommit());
    check_table(
        &s,
        &Policy::default(),
        &[
            (
                "SELECT * FROM auth_user WHERE id = 1",
                Primary,
                AutocommitOff,
            ),
            ("SHOW TABLES", Primary, AutocommitOff),
            ("INSERT INTO t VALUES (1)", Primary, Write),
            ("SET autocommit=1", Primary, SessionState),
        ],
    );
    let s = session_after(&["SET autocommit=0", "SELECT 1"]);
    assert!(s.in_transaction());
    check_in(&s, "SAVEPOINT `s1_x1`", (Pinned, InTransaction));
    let s = session_after(&["SET autocommit=0", "SELECT 1", "COMMIT"]);
    assert!(!s.in_transaction() && !s.autocommit());
    check_in(&s, "SELECT 2", (Primary, AutocommitOff));
    let s = session_after(&["SET autocommit=0", "SELECT 1", "SET autocommit=1"]);
    assert!(!s.in_transaction() && s.autocommit());
    check_in(&s, "SELECT 2", (Replica, PlainRead));
}

#[test]
fn read_only_transactions_stay_on_one_replica() {
    let s = session_after(&["START TRANSACTION READ ONLY"]);
    assert!(s.read_only_transaction());
    check_table(
        &s,
        &Policy::default(),
        &[
            ("SELECT * FROM t", Pinned, ReadOnlyTransaction),
            ("SELECT * FROM t FOR UPDATE", Pinned, ReadOnlyTransaction),
            ("UPDATE t SET a = 1", Pinned, ReadOnlyTransaction),
            ("COMMIT", Pinned, ReadOnlyTransaction),
            ("CREATE TABLE x (a int)", Primary, Ddl),
            ("FROBNICATE", Primary, Unknown),
            ("CALL p()", Primary, Write),
            ("SET sql_mode = ''", Pinned, ReadOnlyTransaction),
            ("SET GLOBAL read_only = OFF", Primary, SessionState),
            ("SET @@global.max_connections = 1", Primary, SessionState),
        ],
    );
    let s = session_after(&["SET SESSION TRANSACTION READ ONLY"]);
    check_in(&s, "START TRANSACTION", (Replica, ReadOnlyTransaction));
    check_in(
        &s,
        "START TRANSACTION READ WRITE",
        (Primary, TransactionControl),
    );
    // For the next transaction only, the characteristics live on the primary connection that
    // ran the SET: the transaction runs there.
    let s = session_after(&["SET TRANSACTION READ ONLY"]);
    check_in(&s, "START TRANSACTION", (Pinned, NextTransaction));
    let policy = Policy {
        read_only_transactions_on_replica: false,
        ..Policy::default()
    };
    check_table(
        &SessionState::new("app"),
        &policy,
        &[("START TRANSACTION READ ONLY", Primary, TransactionControl)],
    );
}

#[test]
fn server_status_flags_are_the_source_of_truth() {
    let mut s = SessionState::new("app");
    // A stored procedure opened a transaction the text did not show.
    s.apply_statement(&classify("CALL p()"));
    s.apply_server_status(ServerStatus {
        in_transaction: true,
        autocommit: true,
        read_only_transaction: None,
    });
    check_in(&s, "SELECT 1", (Pinned, InTransaction));
    s.apply_server_status(ServerStatus {
        in_transaction: false,
        autocommit: true,
        read_only_transaction: None,
    });
    check_in(&s, "SELECT 1", (Replica, PlainRead));
    s.apply_server_status(ServerStatus {
        in_transaction: false,
        autocommit: false,
        read_only_transaction: None,
    });
    check_in(&s, "SELECT 1", (Primary, AutocommitOff));
    s.apply_tracked_variable("autocommit", "ON");
    check_in(&s, "SELECT 1", (Replica, PlainRead));
}

#[test]
fn next_transaction_characteristics_keep_the_session_where_they_wait() {
    let s = session_after(&["SET TRANSACTION ISOLATION LEVEL SERIALIZABLE"]);
    assert!(s.next_transaction_pending());
    check_table(
        &s,
        &Policy::default(),
        &[
            ("SELECT 1", Pinned, NextTransaction),
            ("SELECT * FROM t", Pinned, NextTransaction),
            ("SET NAMES utf8mb4", Pinned, NextTransaction),
            ("START TRANSACTION", Pinned, NextTransaction),
            ("START TRANSACTION READ ONLY", Pinned, NextTransaction),
            ("COMMIT", Pinned, NextTransaction),
            ("UPDATE t SET a = 1", Pinned, NextTransaction),
        ],
    );
    // Taken by the transaction that starts, explicitly or as the server reports it.
    let s = session_after(&["SET TRANSACTION ISOLATION LEVEL SERIALIZABLE", "BEGIN"]);
    assert!(!s.next_transaction_pending());
    check_in(&s, "SELECT 1", (Pinned, InTransaction));
    let mut s = session_after(&["SET TRANSACTION READ ONLY", "SET autocommit = 0"]);
    assert!(s.next_transaction_pending());
    s.apply_statement(&classify("SELECT * FROM t"));
    s.apply_server_status(ServerStatus {
        in_transaction: true,
        autocommit: false,
        read_only_transaction: Some(true),
    });
    assert!(!s.next_transaction_pending());
    // Dropped by COMMIT, ROLLBACK (with no transaction open) and implicit commits.
    for end in ["COMMIT", "ROLLBACK", "CREATE TABLE x (a int)"] {
        let s = session_after(&["SET TRANSACTION ISOLATION LEVEL READ COMMITTED", end]);
        assert!(!s.next_transaction_pending(), "{end}");
        check_in(&s, "SELECT * FROM t", (Replica, PlainRead));
    }
    for end in ["ROLLBACK", "CREATE TABLE x (a int)"] {
        let s = session_after(&["SET TRANSACTION READ ONLY", end]);
        check_in(&s, "START TRANSACTION", (Primary, TransactionControl));
    }
    // Neither a SESSION scope nor a statement that opens no transaction drops them.
    let s = session_after(&[
        "SET TRANSACTION READ ONLY",
        "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
        "SELECT 1",
    ]);
    assert!(s.next_transaction_pending());
    let mut s = session_after(&["SET TRANSACTION READ ONLY"]);
    s.clear_next_transaction();
    check_in(&s, "START TRANSACTION", (Primary, TransactionControl));
}
