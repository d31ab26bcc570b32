//! Shared helpers for the router's table tests: classify, route, compare, report every miss.
#![allow(dead_code, unused_imports)]

pub use splitrail_router::Reason::*;
pub use splitrail_router::Target::{Pinned, Primary, Replica};
use splitrail_router::{Policy, Reason, SessionState, Target, classify, route};

/// Routes `sql` in a fresh session with the default policy and compares.
pub fn check(sql: &str, expected: (Target, Reason)) {
    check_in(&SessionState::new("app"), sql, expected);
}

/// Routes `sql` in `state` with the default policy and compares.
pub fn check_in(state: &SessionState, sql: &str, expected: (Target, Reason)) {
    if let Some(miss) = miss(state, &Policy::default(), sql, &expected) {
        panic!("{miss}");
    }
}

/// Checks a whole table, reporting every row that does not match.
pub fn check_table(state: &SessionState, policy: &Policy, rows: &[(&str, Target, Reason)]) {
    check_each(rows, |(sql, t, r)| {
        miss(state, policy, sql, &(t.clone(), *r))
    });
}

/// A table in a fresh session with the default policy.
pub fn check_rows(rows: &[(&str, Target, Reason)]) {
    check_table(&SessionState::new("app"), &Policy::default(), rows);
}

fn miss(
    state: &SessionState,
    policy: &Policy,
    sql: &str,
    expected: &(Target, Reason),
) -> Option<String> {
    let c = classify(sql);
    let d = route(&c, state, policy);
    (d.target != expected.0 || d.reason != expected.1).then(|| {
        format!(
            "  {sql:?}\n    expected {:?}/{:?}, got {:?}/{:?} (kind {:?}, effects {:?})",
            expected.0,
            expected.1,
            d.target,
            d.reason,
            c.kind(),
            c.effects()
        )
    })
}

/// Checks every row of a table with `miss` (a description of what differs, or `None`),
/// reporting all the rows that differ at once.
pub fn check_each<T>(rows: &[T], miss: impl Fn(&T) -> Option<String>) {
    let misses: Vec<String> = rows.iter().filter_map(miss).collect();
    assert!(
        misses.is_empty(),
        "{} of {} rows differ:\n{}",
        misses.len(),
        rows.len(),
        misses.join("\n")
    );
}

/// A session after `statements` ran (each applied as if the backend accepted it).
pub fn session_after(statements: &[&str]) -> SessionState {
    let mut s = SessionState::new("app");
    for sql in statements {
        s.apply_statement(&classify(sql));
    }
    s
}
