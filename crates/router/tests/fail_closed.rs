//! No input makes a write or an unknown statement go to a replica, and nothing panics.
mod common;
use common::*;
use proptest::prelude::*;
use splitrail_router::{
    ClassifierCache, Kind, Policy, SessionState, Target, classify, classify_bytes, route,
};

const READ_WORDS: [&str; 9] = [
    "SELECT", "WITH", "SHOW", "DESCRIBE", "DESC", "EXPLAIN", "TABLE", "VALUES", "HELP",
];

/// True when the text, once leading space, comments, `(` and `;` are gone, starts with a read
/// keyword. (Written independently of the lexer, so the property checks one against the other.)
fn starts_with_read_keyword(sql: &str) -> bool {
    let mut t = sql;
    loop {
        let before = t.len();
        t = t.trim_start_matches(|c: char| c.is_ascii_whitespace() || c == '(' || c == ';');
        if let Some(rest) = t.strip_prefix("/*!").or_else(|| t.strip_prefix("/*M!")) {
            t = rest.trim_start_matches(|c: char| c.is_ascii_digit());
        } else if let Some(rest) = t.strip_prefix("/*") {
            t = rest.find("*/").map_or("", |i| &rest[i + 2..]);
        } else if t.starts_with('#')
            || (t.starts_with("--") && t.as_bytes().get(2).is_none_or(|&b| b <= b' '))
        {
            t = t.find('\n').map_or("", |i| &t[i + 1..]);
        }
        if t.len() == before {
            break;
        }
    }
    READ_WORDS
        .iter()
        .any(|w| t.len() >= w.len() && t.as_bytes()[..w.len()].eq_ignore_ascii_case(w.as_bytes()))
}

fn goes_to_replica(sql: &str) -> bool {
    route(
        &classify(sql),
        &SessionState::new("app"),
        &Policy::default(),
    )
    .target
        == Target::Replica
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_text_never_panics_and_is_no_plain_read(sql in "\\PC{0,80}") {
        let c = classify(&sql);
        if c.analysis.is_read() && goes_to_replica(&sql) {
            prop_assert!(starts_with_read_keyword(&sql), "{sql:?}");
        }
    }

    #[test]
    fn sql_like_text_never_panics(sql in "(SELECT|INSERT|SET|/\\*!|--|#|'|`|\"|\\\\|;|@|:=|\\(|\\)| |FOR|UPDATE|x|1|\n|\0){0,40}") {
        let mut cache = ClassifierCache::new(16);
        let a = cache.classify(&sql);
        let b = classify(&sql);
        prop_assert_eq!(&a.analysis.kind, &b.analysis.kind);
        if goes_to_replica(&sql) {
            prop_assert!(b.analysis.is_read() && starts_with_read_keyword(&sql), "{sql:?}");
        }
    }

    #[test]
    fn writes_stay_on_the_primary_whatever_follows(tail in "\\PC{0,40}") {
        for head in ["INSERT INTO t VALUES (1)", "UPDATE t SET a = 1", "DELETE FROM t"] {
            let sql = format!("{head} {tail}");
            prop_assert!(!goes_to_replica(&sql), "{sql:?}");
        }
    }

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..100)) {
        let _ = classify_bytes(&bytes);
    }
}

#[test]
fn odd_inputs() {
    check_rows(&[
        ("\0SELECT 1", Primary, Unknown),
        ("SELECT 1\0", Primary, ParseFailed),
        ("DELETE\0FROM t", Primary, Write),
        ("\u{feff}SELECT 1", Primary, Unknown),
        ("SÉLECT 1", Primary, Unknown),
        ("SELECT 'é' FROM t", Replica, PlainRead),
    ]);
    let huge_read = format!(
        "SELECT * FROM t WHERE id IN ({})",
        vec!["1"; 200_000].join(",")
    );
    let c = classify(&huge_read);
    assert!(matches!(c.kind(), Kind::Unknown(_)), "{:?}", c.kind());
    let huge_write = format!(
        "INSERT INTO t VALUES {}",
        vec!["(1,'x')"; 100_000].join(",")
    );
    assert!(matches!(classify(&huge_write).kind(), Kind::Write(_)));
    let deep = format!("SELECT {}1{}", "(".repeat(5000), ")".repeat(5000));
    assert!(!goes_to_replica(&deep));
    assert!(!goes_to_replica(&"/*".repeat(10_000)));
    assert!(!goes_to_replica(&"'".repeat(10_001)));
}

#[test]
fn nesting_and_statement_counts_are_bounded() {
    let nested = "EXPLAIN ANALYZE ".repeat(20_000) + "SELECT 1";
    assert!(!goes_to_replica(&nested));
    let nested = "ANALYZE ".repeat(20_000) + "SELECT 1";
    assert!(!goes_to_replica(&nested));
    let nested = "SET STATEMENT a=1 FOR ".repeat(10_000) + "SELECT 1";
    assert!(!goes_to_replica(&nested));
    let many = "SELECT 1;".repeat(100_000);
    let c = classify(&many);
    assert!(c.analysis.rest.len() <= 256);
    assert!(!goes_to_replica(&many));
    assert!(goes_to_replica(&"SELECT 1;".repeat(200)));
}
