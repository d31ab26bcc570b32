//! Table locks and named locks.
mod common;
use common::*;
use splitrail_router::Policy;

#[test]
fn lock_statements_go_to_the_primary() {
    check_rows(&[
        ("LOCK TABLES t READ", Primary, TableLock),
        ("LOCK TABLE t WRITE, u READ", Primary, TableLock),
        ("UNLOCK TABLES", Primary, TableLock),
        ("FLUSH TABLES WITH READ LOCK", Primary, TableLock),
        ("SELECT GET_LOCK('a', 0)", Primary, NamedLock),
        ("SELECT RELEASE_LOCK('a')", Primary, NamedLock),
        ("SELECT IS_USED_LOCK('a')", Primary, NamedLock),
        ("DO GET_LOCK('a', 0)", Primary, Write),
    ]);
}

#[test]
fn held_locks_keep_the_session_in_place() {
    let s = session_after(&["LOCK TABLES t READ"]);
    assert!(s.holds_table_locks());
    check_table(
        &s,
        &Policy::default(),
        &[
            ("SELECT * FROM t", Pinned, LocksHeld),
            ("UNLOCK TABLES", Pinned, LocksHeld),
        ],
    );
    let s = session_after(&["LOCK TABLES t READ", "UNLOCK TABLES"]);
    check_in(&s, "SELECT * FROM t", (Replica, PlainRead));

    let s = session_after(&["SELECT GET_LOCK('job', 10)"]);
    assert!(s.holds_named_locks());
    check_in(&s, "SELECT * FROM t", (Primary, LocksHeld));
    let s = session_after(&["SELECT GET_LOCK('job', 10)", "SELECT RELEASE_ALL_LOCKS()"]);
    check_in(&s, "SELECT * FROM t", (Replica, PlainRead));
}

#[test]
fn several_named_locks_in_one_text_are_held_until_all_are_released() {
    for text in [
        "SELECT GET_LOCK('a', 0), GET_LOCK('b', 0)",
        "SELECT GET_LOCK('a', 0); SELECT GET_LOCK('b', 0)",
    ] {
        let s = session_after(&[text, "SELECT RELEASE_LOCK('a')"]);
        check_in(&s, "SELECT 1", (Primary, LocksHeld));
        let s = session_after(&[
            text,
            "SELECT RELEASE_LOCK('a')",
            "SELECT RELEASE_ALL_LOCKS()",
        ]);
        check_in(&s, "SELECT 1", (Replica, PlainRead));
    }
    let s = session_after(&["SELECT GET_LOCK('a', 0)", "SELECT RELEASE_LOCK('a')"]);
    check_in(&s, "SELECT 1", (Replica, PlainRead));
}
