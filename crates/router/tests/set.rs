//! SET: what each item says, and what the session replays.
mod common;
use common::*;
use splitrail_router::{Kind, Scope, SessionState, SessionVariables, SetItem, classify};

fn items(sql: &str) -> Vec<SetItem> {
    match classify(sql).kind() {
        Kind::Set(items) => items.clone(),
        k => panic!("{sql}: not a SET but {k:?}"),
    }
}

fn var(sql: &str) -> (Scope, String, String) {
    match &items(sql)[..] {
        [SetItem::Variable { scope, name, value }] => {
            (*scope, name.to_string(), value.sql.to_string())
        }
        other => panic!("{sql}: {other:?}"),
    }
}

#[test]
fn set_routes_to_the_primary() {
    check_rows(&[
        ("SET autocommit=0", Primary, SessionState),
        ("SET NAMES utf8mb4", Primary, SessionState),
        ("SET @x = 1", Primary, SessionState),
        ("SET GLOBAL max_connections = 1000", Primary, SessionState),
        ("SET PASSWORD = 'x'", Primary, Admin),
        ("SET DEFAULT ROLE r TO u", Primary, Admin),
        ("USE shop", Primary, SessionState),
        ("PREPARE s FROM 'SELECT 1'", Primary, SessionState),
        ("EXECUTE s USING @a", Primary, SessionState),
        ("DEALLOCATE PREPARE s", Primary, SessionState),
        (
            "SET STATEMENT max_statement_time=1 FOR SELECT * FROM t",
            Replica,
            PlainRead,
        ),
        (
            "SET STATEMENT max_statement_time=1 FOR UPDATE t SET a = 1",
            Primary,
            Write,
        ),
    ]);
}

#[test]
fn set_items_carry_scope_name_and_value() {
    assert_eq!(
        var("SET autocommit=0"),
        (Scope::Session, "autocommit".into(), "0".into())
    );
    assert_eq!(
        var("SET SESSION sql_mode = 'TRADITIONAL'"),
        (Scope::Session, "sql_mode".into(), "'TRADITIONAL'".into())
    );
    assert_eq!(
        var("SET @@session.time_zone = '+00:00'"),
        (Scope::Session, "time_zone".into(), "'+00:00'".into())
    );
    assert_eq!(
        var("SET @@GLOBAL.read_only = ON"),
        (Scope::Global, "read_only".into(), "ON".into())
    );
    assert_eq!(
        var("SET LOCAL wait_timeout=28800"),
        (Scope::Session, "wait_timeout".into(), "28800".into())
    );
    assert_eq!(
        var("SET sql_mode = CONCAT(@@sql_mode, ',STRICT_TRANS_TABLES')"),
        (
            Scope::Session,
            "sql_mode".into(),
            "CONCAT(@@sql_mode, ',STRICT_TRANS_TABLES')".into()
        )
    );
    // The most recent scope keyword applies to the following items.
    let i = items("SET GLOBAL a = 1, b = 2, SESSION c = 3");
    let scopes: Vec<Scope> = i
        .iter()
        .map(|x| match x {
            SetItem::Variable { scope, .. } => *scope,
            _ => unreachable!(),
        })
        .collect();
    assert_eq!(scopes, [Scope::Global, Scope::Global, Scope::Session]);
    assert_eq!(
        items("SET NAMES 'utf8mb4' COLLATE 'utf8mb4_unicode_ci'"),
        [SetItem::Names {
            charset: "utf8mb4".into(),
            collation: Some("utf8mb4_unicode_ci".into())
        }]
    );
    assert_eq!(
        items("SET CHARACTER SET utf8"),
        [SetItem::CharacterSet("utf8".into())]
    );
    assert_eq!(
        items("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED"),
        [SetItem::Transaction {
            scope: Some(Scope::Session),
            isolation: Some("READ COMMITTED".into()),
            read_only: None
        }]
    );
    assert_eq!(
        items("SET TRANSACTION READ ONLY"),
        [SetItem::Transaction {
            scope: None,
            isolation: None,
            read_only: Some(true)
        }]
    );
    match &items("SET @`my var` := 5")[..] {
        [SetItem::UserVariable { name, value }] => {
            assert_eq!((&**name, &*value.sql), ("my var", "5"))
        }
        other => panic!("{other:?}"),
    }
    assert!(classify("SET autocommit=0").analysis.literal_sensitive);
}

#[test]
fn variables_set_in_another_order_are_the_same_state() {
    let mut a = SessionVariables::default();
    a.set("names", "NAMES utf8mb4".into());
    a.set("time_zone", "SESSION time_zone = '+01:00'".into());
    let mut b = SessionVariables::default();
    b.set("time_zone", "SESSION time_zone = '+01:00'".into());
    b.set("names", "NAMES utf8mb4".into());
    assert!(a.same_as(&b) && b.same_as(&a));
    b.set("time_zone", "SESSION time_zone = '+02:00'".into());
    assert!(!a.same_as(&b));
    let mut c = a.clone();
    c.set("sql_mode", "SESSION sql_mode = ''".into());
    assert!(!a.same_as(&c) && !c.same_as(&a));
    assert!(SessionVariables::default().same_as(&SessionVariables::default()));
}

#[test]
fn session_variables_are_replayed_with_a_minimal_diff() {
    let s = session_after(&[
        "SET NAMES utf8mb4",
        "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
        "SET sql_mode='STRICT_TRANS_TABLES'",
        "SET GLOBAL max_connections = 10",
        "SET @a = 1",
    ]);
    let vars = s.variables();
    assert_eq!(vars.get("names"), Some("NAMES utf8mb4"));
    assert_eq!(
        vars.get("sql_mode"),
        Some("SESSION sql_mode = 'STRICT_TRANS_TABLES'")
    );
    assert_eq!(
        vars.get("max_connections"),
        None,
        "global variables are not replayed"
    );
    assert_eq!(s.user_variables().collect::<Vec<_>>(), ["a"]);

    let mut backend = SessionVariables::default();
    backend.set("names", "NAMES utf8mb4".into());
    let diff: Vec<_> = vars.diff(&backend).collect();
    assert_eq!(diff.len(), 2);
    assert_eq!(
        SessionVariables::to_sql(diff),
        [
            "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED".to_string(),
            "SET SESSION sql_mode = 'STRICT_TRANS_TABLES'".to_string(),
        ]
    );

    let mut s = s;
    s.apply_tracked_variable("time_zone", "+00:00");
    assert_eq!(
        s.variables().get("time_zone"),
        Some("SESSION time_zone = '+00:00'")
    );
    s.apply_tracked_schema("shop");
    assert_eq!(s.schema.as_deref(), Some("shop"));
}

#[test]
fn replay_follows_the_order_of_changes() {
    let s = session_after(&[
        "SET NAMES latin1",
        "SET character_set_results = NULL",
        "SET time_zone = '+00:00'",
    ]);
    let all: Vec<_> = s.variables().iter().map(|(k, _)| k).collect();
    assert_eq!(all, ["names", "character_set_results", "time_zone"]);
    let s = session_after(&["SET character_set_results = NULL", "SET NAMES latin1"]);
    assert_eq!(
        s.variables().iter().map(|(k, _)| k).collect::<Vec<_>>(),
        ["character_set_results", "names"]
    );
    let mut s = session_after(&["USE shop", "SET @a = 1", "CREATE TEMPORARY TABLE t (a int)"]);
    s.reset();
    assert_eq!(s.schema.as_deref(), Some("shop"));
    assert!(!s.has_temp_tables() && s.user_variables().next().is_none());
}

#[test]
fn roles_and_transaction_characteristics_replay_alone() {
    let s = session_after(&[
        "SET NAMES utf8mb4",
        "SET ROLE 'reporting'",
        "SET sql_mode = ''",
        "SET time_zone = 'UTC'",
    ]);
    assert_eq!(
        SessionVariables::to_sql(s.variables().iter()),
        [
            "SET NAMES utf8mb4",
            "SET ROLE 'reporting'",
            "SET SESSION sql_mode = '', SESSION time_zone = 'UTC'"
        ]
    );
}

#[test]
fn wait_timeout_is_read_once_as_seconds() {
    let rows: &[(&[&str], Option<u64>)] = &[
        (&[], None),
        (&["SET wait_timeout = 1"], Some(1)),
        (&["SET SESSION wait_timeout = 28800"], Some(28800)),
        (&["SET @@session.wait_timeout = 60"], Some(60)),
        (&["SET @@wait_timeout = 0"], Some(0)),
        (&["SET sql_mode = '', wait_timeout = 5"], Some(5)),
        (&["SET wait_timeout = 5", "SET wait_timeout = 7"], Some(7)),
        (
            &["SET wait_timeout = 5", "SET wait_timeout = DEFAULT"],
            None,
        ),
        (
            &["SET wait_timeout = 5", "SET GLOBAL wait_timeout = 9"],
            Some(5),
        ),
        (&["SET GLOBAL wait_timeout = 9"], None),
        (&["SET STATEMENT wait_timeout = 9 FOR SELECT 1"], None),
        // What only the server can work out: its default, until session tracking tells.
        (&["SET wait_timeout = 2 * 30"], None),
        (&["SET wait_timeout = @t"], None),
        (&["SET wait_timeout = -1"], None),
        (&["SET wait_timeout = 1.5"], None),
        (&["SET wait_timeout = 5", "SET wait_timeout = 2 * 30"], None),
        (&["SET interactive_timeout = 5"], None),
    ];
    check_each(rows, |&(statements, want)| {
        let got = session_after(statements).wait_timeout();
        (got != want).then(|| format!("  {statements:?}: expected {want:?}, got {got:?}"))
    });

    // The value the server reports wins, whatever the SET said.
    let mut s = session_after(&["SET wait_timeout = 2 * 30"]);
    s.apply_tracked_variable("wait_timeout", "60");
    assert_eq!(s.wait_timeout(), Some(60));
    s.apply_tracked_variable("WAIT_TIMEOUT", "28800");
    assert_eq!(s.wait_timeout(), Some(28800));
    s.apply_tracked_variable("wait_timeout", "");
    assert_eq!(s.wait_timeout(), None);
    // A fresh state, as COM_RESET_CONNECTION leaves the backend.
    let mut s = session_after(&["SET wait_timeout = 5"]);
    s.reset();
    assert_eq!(s.wait_timeout(), None);
}

#[test]
fn values_for_the_next_insert_only_are_not_replayed_once_used() {
    let mut s = session_after(&["SET INSERT_ID = 100", "SET time_zone = '+01:00'"]);
    assert_eq!(
        s.variables().get("insert_id"),
        Some("SESSION insert_id = 100")
    );
    s.auto_increment_used();
    let left: Vec<_> = s.variables().iter().map(|(k, _)| k).collect();
    assert_eq!(left, ["time_zone"]);
    // LAST_INSERT_ID() follows the session's inserts (the server tracks it), never a replay.
    let s = session_after(&["SET last_insert_id = 5", "SET @@session.last_insert_id = 6"]);
    assert_eq!(s.variables().iter().count(), 0);
    // Nor RAND()'s seeds: each RAND() moves the sequence they start on.
    let s = session_after(&["SET rand_seed1 = 1, rand_seed2 = 2", "SET @@rand_seed1 = 3"]);
    assert_eq!(s.variables().iter().count(), 0);
}

#[test]
fn reported_values_are_replayed_as_the_server_takes_them() {
    let mut s = SessionState::new("app");
    for (name, value) in [
        ("wait_timeout", "600"),
        ("max_statement_time", "0.500000"),
        ("sql_mode", "ANSI_QUOTES,STRICT_ALL_TABLES"),
        ("time_zone", "+05:30"),
        ("lc_time_names", "it's"),
    ] {
        s.apply_tracked_variable(name, value);
    }
    let sql: Vec<_> = s.variables().iter().map(|(_, v)| v).collect();
    assert_eq!(
        sql,
        [
            "SESSION wait_timeout = 600",
            "SESSION max_statement_time = 0.500000",
            "SESSION sql_mode = 'ANSI_QUOTES,STRICT_ALL_TABLES'",
            "SESSION time_zone = '+05:30'",
            "SESSION lc_time_names = 'it''s'",
        ]
    );
}
