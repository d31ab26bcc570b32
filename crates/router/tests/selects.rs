//! Reads: which go to a replica and which side effects keep them on the primary.
mod common;
use common::*;

#[test]
fn plain_reads_go_to_a_replica() {
    check_rows(&[
        ("SELECT 1", Replica, PlainRead),
        ("select c from sbtest1 where id=5", Replica, PlainRead),
        (
            "SELECT * FROM t1 JOIN t2 ON t1.id = t2.id WHERE t1.x IN (1, 2, 3)",
            Replica,
            PlainRead,
        ),
        (
            "(SELECT a FROM t) UNION (SELECT b FROM u)",
            Replica,
            PlainRead,
        ),
        (
            "WITH c AS (SELECT 1 AS x) SELECT x FROM c",
            Replica,
            PlainRead,
        ),
        ("TABLE t", Replica, PlainRead),
        ("SHOW TABLES", Replica, PlainRead),
        ("SHOW CREATE TABLE t", Replica, PlainRead),
        ("DESCRIBE t", Replica, PlainRead),
        ("DESC t", Replica, PlainRead),
        ("EXPLAIN SELECT * FROM t", Replica, PlainRead),
        ("HELP 'contents'", Replica, PlainRead),
        ("SELECT @@version, @@session.sql_mode", Replica, PlainRead),
        ("SELECT * FROM t WHERE a = ? LIMIT ?", Replica, PlainRead),
        (
            "SELECT count(*) FROM t WHERE name = 'FOR UPDATE'",
            Replica,
            PlainRead,
        ),
        ("EXPLAIN SELECT * FROM t FOR UPDATE", Replica, PlainRead),
    ]);
}

#[test]
fn reads_with_side_effects_go_to_the_primary() {
    check_rows(&[
        (
            "SELECT * FROM t WHERE id = 1 FOR UPDATE",
            Primary,
            LockingRead,
        ),
        (
            "SELECT * FROM t FOR SHARE SKIP LOCKED",
            Primary,
            LockingRead,
        ),
        ("SELECT * FROM t FOR UPDATE NOWAIT", Primary, LockingRead),
        ("SELECT * FROM t LOCK IN SHARE MODE", Primary, LockingRead),
        ("SELECT * FROM t INTO OUTFILE '/tmp/x'", Primary, SelectInto),
        ("SELECT a INTO @a FROM t", Primary, SelectInto),
        ("SELECT @x := max(id) FROM t", Primary, UserVariableWrite),
        ("SELECT @x", Primary, UserVariableRead),
        (
            "SELECT * FROM t WHERE id = @last",
            Primary,
            UserVariableRead,
        ),
        ("SELECT LAST_INSERT_ID()", Primary, SessionFunction),
        // About the previous statement: on the connection it ran on, which may be a replica's.
        ("SELECT found_rows()", Pinned, Diagnostics),
        ("SELECT ROW_COUNT()", Pinned, Diagnostics),
        (
            "SELECT SQL_CALC_FOUND_ROWS * FROM t LIMIT 10",
            Primary,
            SessionFunction,
        ),
        ("SELECT @@identity", Primary, SessionFunction),
        ("SELECT GET_LOCK('job', 10)", Primary, NamedLock),
        ("SELECT IS_FREE_LOCK('job')", Primary, NamedLock),
        ("SELECT RELEASE_ALL_LOCKS()", Primary, NamedLock),
        ("SELECT NEXTVAL(s)", Primary, Sequence),
        ("SELECT NEXT VALUE FOR s", Primary, Sequence),
        ("SELECT PREVIOUS VALUE FOR s", Primary, Sequence),
        ("SELECT s.nextval", Primary, Sequence),
        ("SHOW WARNINGS", Pinned, Diagnostics),
        ("SHOW COUNT(*) ERRORS", Pinned, Diagnostics),
        ("SELECT @@warning_count", Pinned, Diagnostics),
        ("GET DIAGNOSTICS @n = NUMBER", Primary, UserVariableRead),
        ("SHOW MASTER STATUS", Primary, Admin),
        ("SHOW PROCESSLIST", Primary, Admin),
    ]);
}

#[test]
fn writes_and_unknowns_go_to_the_primary() {
    check_rows(&[
        ("INSERT INTO t VALUES (1)", Primary, Write),
        ("UPDATE t SET a = 1", Primary, Write),
        ("DELETE FROM t", Primary, Write),
        ("REPLACE INTO t VALUES (1)", Primary, Write),
        ("LOAD DATA INFILE 'x' INTO TABLE t", Primary, Write),
        ("CALL p()", Primary, Write),
        ("DO SLEEP(1)", Primary, Write),
        (
            "WITH c AS (SELECT id FROM t) UPDATE t JOIN c USING (id) SET t.a = 1",
            Primary,
            Write,
        ),
        (
            "WITH c AS (SELECT id FROM t) DELETE t FROM t JOIN c USING (id)",
            Primary,
            Write,
        ),
        ("EXPLAIN ANALYZE DELETE FROM t", Primary, Write),
        ("ANALYZE UPDATE t SET a = 1", Primary, Write),
        ("ANALYZE TABLE t", Primary, Admin),
        ("CREATE TABLE t (id int)", Primary, Ddl),
        ("ALTER TABLE t ADD COLUMN b int", Primary, Ddl),
        ("TRUNCATE TABLE t", Primary, Ddl),
        ("GRANT SELECT ON db.* TO u", Primary, Admin),
        ("KILL 42", Primary, Admin),
        ("FLUSH PRIVILEGES", Primary, Admin),
        ("FROBNICATE everything", Primary, Unknown),
        ("SELECT FROM WHERE", Primary, ParseFailed),
        ("", Primary, Empty),
        ("/* nothing */", Primary, Empty),
    ]);
}

#[test]
fn multi_statement_text_is_a_write_if_any_part_is() {
    check_rows(&[
        ("SELECT 1; SELECT 2", Replica, PlainRead),
        ("SELECT 1; DELETE FROM t", Primary, Write),
        ("SELECT 1;;", Replica, PlainRead),
        ("SELECT 1; FOO", Primary, Unknown),
        (
            "SELECT 1; SELECT LAST_INSERT_ID()",
            Primary,
            SessionFunction,
        ),
    ]);
}

#[test]
fn stored_functions_may_write_so_they_stay_on_the_primary() {
    use splitrail_router::{Policy, SessionState};
    check_rows(&[
        (
            "SELECT transfer_funds(1, 2, 10.00)",
            Primary,
            StoredFunction,
        ),
        (
            "SELECT * FROM t WHERE id = shop.next_id()",
            Primary,
            StoredFunction,
        ),
        ("SELECT `count`(*) FROM t", Primary, StoredFunction),
        (
            "SELECT COUNT(*), max(id), JSON_EXTRACT(d, '$.a'), NOW(), IFNULL(a, 0) FROM t",
            Replica,
            PlainRead,
        ),
        (
            "SELECT CURRENT_TIMESTAMP, CAST(a AS CHAR), SUBSTRING(b, 1, 2) FROM t",
            Replica,
            PlainRead,
        ),
    ]);
    let p = Policy {
        stored_functions_read_only: true,
        ..Policy::default()
    };
    check_table(
        &SessionState::new("app"),
        &p,
        &[("SELECT transfer_funds(1, 2, 10.00)", Replica, PlainRead)],
    );
}

#[test]
fn processlist_is_told_apart_in_its_exact_forms_only() {
    use splitrail_router::{Kind, ReadKind, classify};
    let processlist = |full| Some(Kind::Read(ReadKind::ProcessList { full }));
    let rows = [
        ("SHOW PROCESSLIST", processlist(false)),
        ("show processlist", processlist(false)),
        ("  SHOW  PROCESSLIST ; ", processlist(false)),
        ("/* who */ SHOW PROCESSLIST", processlist(false)),
        ("SHOW FULL PROCESSLIST", processlist(true)),
        ("show full processlist;", processlist(true)),
        // Not the statement the proxy answers: the server gives its error or its answer.
        ("SHOW EXTENDED PROCESSLIST", None),
        ("SHOW FULL EXTENDED PROCESSLIST", None),
        ("SHOW PROCESSLIST x", None),
        ("SHOW PROCESSLIST LIKE 'a'", None),
        ("SHOW FULL TABLES", None),
        ("SELECT * FROM information_schema.PROCESSLIST", None),
    ];
    let misses: Vec<String> = rows
        .iter()
        .filter(|(sql, want)| {
            let c = classify(sql);
            let got = matches!(c.kind(), Kind::Read(ReadKind::ProcessList { .. }))
                .then(|| c.kind().clone());
            got != *want
        })
        .map(|(sql, want)| {
            format!(
                "  {sql:?}: expected {want:?}, got {:?}",
                classify(sql).kind()
            )
        })
        .collect();
    assert!(misses.is_empty(), "{}", misses.join("\n"));
    // When the proxy does not answer it (after another statement), the primary does.
    check_rows(&[
        ("SHOW FULL PROCESSLIST", Primary, Admin),
        ("SELECT 1; SHOW PROCESSLIST", Primary, Admin),
    ]);
}

#[test]
fn session_status_is_told_apart_from_global_status() {
    use splitrail_router::{Kind, ReadKind, classify};
    let rows = [
        ("SHOW STATUS", true),
        ("show session status like 'Com_stmt%'", true),
        ("SHOW LOCAL STATUS WHERE Variable_name = 'Questions'", true),
        ("/* c */ SHOW SESSION STATUS", true),
        ("SHOW GLOBAL STATUS", false),
        ("SHOW GLOBAL STATUS LIKE 'Questions'", false),
        ("SHOW SESSION VARIABLES", false),
        ("SHOW FULL STATUS", false),
        ("SHOW STATUS_X", false),
        ("SELECT * FROM information_schema.SESSION_STATUS", false),
    ];
    for (sql, want) in rows {
        let got = matches!(classify(sql).kind(), Kind::Read(ReadKind::SessionStatus));
        assert_eq!(got, want, "{sql}: {:?}", classify(sql).kind());
    }
}

#[test]
fn parsed_reads_list_the_schemas_they_qualify_tables_with() {
    let rows: [(&str, &[&str], &[&str]); 5] = [
        ("SELECT * FROM t", &["t"], &[]),
        ("SELECT * FROM App.T", &["t"], &["app"]),
        (
            "SELECT * FROM a.t JOIN `B`.u ON 1 WHERE x = 'c'",
            &["t", "u"],
            &["a", "b"],
        ),
        ("SELECT * FROM a.t, a.u", &["t", "u"], &["a"]),
        ("SELECT 1; SELECT * FROM d.t", &["t"], &["d"]),
    ];
    for (sql, tables, schemas) in rows {
        let a = splitrail_router::classify(sql).analysis;
        let names = |v: &[Box<str>]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(names(&a.tables), tables, "{sql}");
        assert_eq!(names(&a.schemas), schemas, "{sql}");
    }
}
