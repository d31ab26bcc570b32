//! KILL: the target the server answers for itself, and the forms it leaves to the backend.
mod common;
use common::*;
use splitrail_router::{ClassifierCache, KillScope, KillTarget, Kind, classify};

#[test]
fn kill_targets_are_read_in_the_exact_forms_only() {
    use KillScope::{Connection, Query};
    let rows: &[(&str, Option<(KillScope, u64)>)] = &[
        ("KILL 12", Some((Connection, 12))),
        ("kill query 7", Some((Query, 7))),
        ("KILL HARD CONNECTION 9;", Some((Connection, 9))),
        ("KILL SOFT QUERY 3", Some((Query, 3))),
        ("KILL HARD 4", Some((Connection, 4))),
        ("KILL CONNECTION 05", Some((Connection, 5))),
        ("  KILL\tQUERY\n8 ; ", Some((Query, 8))),
        ("/* who */ KILL 10", Some((Connection, 10))),
        (
            "SET STATEMENT max_statement_time=1 FOR KILL QUERY 11",
            Some((Query, 11)),
        ),
        ("KILL 18446744073709551615", Some((Connection, u64::MAX))),
        // Not read: the backend runs them as written (and gives its error where it has one).
        ("KILL USER app", None),
        ("KILL QUERY ID 5", None),
        ("KILL CONNECTION USER app", None),
        ("KILL 18446744073709551616", None),
        ("KILL 0x5", None),
        ("KILL 1.5", None),
        ("KILL -5", None),
        ("KILL '5'", None),
        ("KILL @id", None),
        ("KILL 2 + 3", None),
        ("KILL CONNECTION_ID()", None),
        ("KILL 5 6", None),
        ("KILL QUERY CONNECTION 5", None),
        ("KILL HARD SOFT 5", None),
        ("KILL QUERY HARD 5", None),
        ("KILL", None),
        ("KILL QUERY", None),
    ];
    check_each(rows, |&(sql, want)| {
        let want = Kind::Kill(want.map(|(scope, id)| KillTarget { scope, id }));
        let got = classify(sql).kind().clone();
        (got != want).then(|| format!("  {sql:?}: expected {want:?}, got {got:?}"))
    });
}

#[test]
fn every_kill_goes_to_the_primary_when_the_proxy_does_not_answer_it() {
    check_rows(&[
        ("KILL 42", Primary, Admin),
        ("KILL QUERY 42", Primary, Admin),
        ("KILL USER app", Primary, Admin),
        ("KILL QUERY ID 5", Primary, Admin),
        ("SELECT 1; KILL 42", Primary, Admin),
    ]);
}

#[test]
fn kill_targets_are_never_served_from_the_cache() {
    let mut cache = ClassifierCache::new(8);
    for (sql, id) in [("KILL 5", Some(5)), ("KILL 6", Some(6)), ("KILL 0x7", None)] {
        let want = id.map(|id| KillTarget {
            scope: KillScope::Connection,
            id,
        });
        assert_eq!(cache.classify(sql).kind(), &Kind::Kill(want), "{sql}");
    }
    assert_eq!(cache.stats().hits, 0);
}
