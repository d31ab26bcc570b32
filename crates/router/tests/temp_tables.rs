//! Temporary tables live on the connection that created them: the primary.
mod common;
use common::*;
use splitrail_router::Policy;

#[test]
fn reads_of_temporary_tables_go_to_the_primary() {
    check_rows(&[
        (
            "CREATE TEMPORARY TABLE tmp (id int)",
            Primary,
            WritesToTempTable,
        ),
        (
            "CREATE TEMPORARY TABLE IF NOT EXISTS db.tmp AS SELECT 1",
            Primary,
            WritesToTempTable,
        ),
        (
            "DROP TEMPORARY TABLE IF EXISTS tmp",
            Primary,
            WritesToTempTable,
        ),
    ]);
    let s = session_after(&["CREATE TEMPORARY TABLE `Tmp` (id int)"]);
    assert_eq!(s.temp_tables().collect::<Vec<_>>(), ["tmp"]);
    check_table(
        &s,
        &Policy::default(),
        &[
            ("SELECT * FROM tmp", Primary, ReadsTempTable),
            (
                "SELECT * FROM db.TMP t JOIN u ON u.id = t.id",
                Primary,
                ReadsTempTable,
            ),
            (
                "SELECT * FROM u WHERE id IN (SELECT id FROM tmp)",
                Primary,
                ReadsTempTable,
            ),
            (
                "WITH c AS (SELECT * FROM tmp) SELECT * FROM c",
                Primary,
                ReadsTempTable,
            ),
            ("DESCRIBE tmp", Primary, ReadsTempTable),
            ("SHOW CREATE TABLE tmp", Primary, ReadsTempTable),
            ("TABLE tmp", Primary, ReadsTempTable),
            ("EXPLAIN SELECT * FROM u", Primary, ReadsTempTable),
            ("SELECT * FROM u", Replica, PlainRead),
            ("INSERT INTO tmp VALUES (1)", Primary, WritesToTempTable),
            ("UPDATE tmp SET id = 2", Primary, WritesToTempTable),
            ("INSERT INTO u VALUES (1)", Primary, Write),
        ],
    );
    let s = session_after(&[
        "CREATE TEMPORARY TABLE tmp (id int)",
        "DROP TEMPORARY TABLE tmp",
    ]);
    check_in(&s, "SELECT * FROM tmp", (Replica, PlainRead));
    let s = session_after(&[
        "CREATE TEMPORARY TABLE tmp (id int)",
        "DROP TABLE IF EXISTS tmp",
    ]);
    check_in(&s, "SELECT * FROM tmp", (Replica, PlainRead));
}

#[test]
fn renamed_temporary_tables_stay_tracked() {
    let s = session_after(&[
        "CREATE TEMPORARY TABLE tmp (id int)",
        "ALTER TABLE tmp RENAME TO tmp2",
    ]);
    check_in(&s, "SELECT * FROM tmp2", (Primary, ReadsTempTable));
    check_in(&s, "SELECT * FROM tmp", (Replica, PlainRead));
    let s = session_after(&[
        "CREATE TEMPORARY TABLE tmp (id int)",
        "RENAME TABLE x TO y, tmp TO db.tmp3",
    ]);
    check_in(&s, "SELECT * FROM tmp3", (Primary, ReadsTempTable));
    let s = session_after(&[
        "CREATE TEMPORARY TABLE tmp (id int)",
        "ALTER TABLE tmp RENAME COLUMN id TO k",
    ]);
    check_in(&s, "SELECT * FROM tmp", (Primary, ReadsTempTable));
}
