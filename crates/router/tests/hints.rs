//! Hints in comments: honoured for plain reads, never able to send a write to a replica.
mod common;
use common::*;
use splitrail_router::{Policy, ReadTarget, SessionState, classify, route};
use std::time::Duration;

#[test]
fn hints_steer_plain_reads_only() {
    check_rows(&[
        ("/* splitrail:primary */ SELECT * FROM t", Primary, Hint),
        ("SELECT * FROM t /* splitrail:primary */", Primary, Hint),
        ("SELECT * FROM t -- maxscale route to master", Primary, Hint),
        (
            "SELECT * FROM t /* maxscale route to master */",
            Primary,
            Hint,
        ),
        ("/* splitrail:replica */ SELECT * FROM t", Replica, Hint),
        ("SELECT * FROM t -- maxscale route to slave", Replica, Hint),
        ("/* splitrail:replica */ DELETE FROM t", Primary, Write),
        (
            "/* splitrail:replica */ SELECT * FROM t FOR UPDATE",
            Primary,
            LockingRead,
        ),
        ("/* splitrail:replica */ FROBNICATE", Primary, Unknown),
        (
            "-- maxscale route to slave\nINSERT INTO t VALUES (1)",
            Primary,
            Write,
        ),
        (
            "SELECT '/* splitrail:primary */' FROM t",
            Replica,
            PlainRead,
        ),
        ("/* splitrail:bogus */ SELECT 1", Replica, PlainRead),
    ]);
}

#[test]
fn replica_hint_overrides_a_primary_read_policy() {
    let policy = Policy {
        reads: ReadTarget::Primary,
        ..Policy::default()
    };
    check_table(
        &SessionState::new("app"),
        &policy,
        &[
            ("SELECT 1", Primary, ReadsToPrimary),
            ("/* splitrail:replica */ SELECT 1", Replica, Hint),
        ],
    );
    let policy = Policy {
        honor_hints: false,
        ..Policy::default()
    };
    check_table(
        &SessionState::new("app"),
        &policy,
        &[("/* splitrail:primary */ SELECT 1", Replica, PlainRead)],
    );
}

#[test]
fn lag_and_gtid_bounds_reach_the_decision() {
    let c = classify("/* splitrail:max_lag=500ms splitrail:min_gtid=0-1-42 */ SELECT 1");
    let d = route(&c, &SessionState::new("app"), &Policy::default());
    assert_eq!(d.max_lag, Some(Duration::from_millis(500)));
    assert_eq!(d.min_gtid.as_deref(), Some("0-1-42"));
    assert_eq!(d.hash_key, None);
    let policy = Policy {
        max_lag: Some(Duration::from_secs(2)),
        ..Policy::default()
    };
    let d = route(&classify("SELECT 1"), &SessionState::new("app"), &policy);
    assert_eq!(d.max_lag, Some(Duration::from_secs(2)));
}

#[test]
fn a_hash_key_reaches_the_decision_and_stays_out_of_the_digest() {
    let c = classify("/* splitrail:hash_key=tenant-7 */ SELECT * FROM t WHERE id = 1");
    let d = route(&c, &SessionState::new("app"), &Policy::default());
    assert_eq!(
        d.hash_key,
        Some(splitrail_router::hints::key_hash("tenant-7"))
    );
    assert_eq!((d.target, d.reason), (Replica, PlainRead));
    let plain = classify("SELECT * FROM t WHERE id = 1");
    assert_eq!(c.digest().hash, plain.digest().hash);
    let policy = Policy {
        honor_hints: false,
        ..Policy::default()
    };
    assert_eq!(route(&c, &SessionState::new("app"), &policy).hash_key, None);
}
