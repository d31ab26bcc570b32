//! The digest cache: same answers as uncached classification, and never merges differing texts.
use splitrail_router::{ClassifierCache, Digest, Policy, SessionState, classify, route};

#[test]
fn cached_answers_match_uncached_ones() {
    let mut cache = ClassifierCache::new(4);
    let s = SessionState::new("app");
    let p = Policy::default();
    let texts = [
        "SELECT c FROM sbtest1 WHERE id = 1",
        "SELECT c FROM sbtest1 WHERE id = 2",
        "SELECT c FROM sbtest1 WHERE id = @x",
        "SELECT c FROM sbtest1 WHERE id = 3 FOR UPDATE",
        "/* splitrail:primary */ SELECT c FROM sbtest1 WHERE id = 4",
        "SELECT c FROM sbtest1 WHERE id = 5 /* splitrail:replica */",
        "SET autocommit = 0",
        "SET autocommit = 1",
        "KILL 5",
        "KILL 6",
        "KILL 0x7",
        "KILL QUERY 8",
        "SELECT 'x",
        r"SELECT 'a\'; DELETE FROM t; -- '",
        r"SELECT 'a\'; SELECT 1; -- '",
        "SELECT 1 /*!50000 FOR UPDATE */",
        "SELECT 1",
    ];
    for _ in 0..3 {
        for t in texts {
            let cached = cache.classify(t);
            let fresh = classify(t);
            assert_eq!(cached.analysis.kind, fresh.analysis.kind, "{t}");
            assert_eq!(cached.hints, fresh.hints, "{t}");
            assert_eq!(route(&cached, &s, &p), route(&fresh, &s, &p), "{t}");
        }
    }
    let st = cache.stats();
    assert!(
        st.hits > 0 && st.evictions > 0 && st.uncacheable > 0,
        "{st:?}"
    );
    assert!(cache.len() <= 4);
}

#[test]
fn shapes_share_a_digest() {
    let a = Digest::of("SELECT * FROM t WHERE id IN (1, 2, 3) AND name = 'x'");
    let b = Digest::of("select * from t where id in (4) and name = \"y\"");
    assert_ne!(a.hash, b.hash, "case is kept");
    let c = Digest::of("SELECT * FROM t WHERE id IN (7,8) AND name = ?");
    assert_eq!(a, c);
    assert_eq!(
        &*a.text,
        "SELECT * FROM t WHERE id IN (?, ...) AND name = ?"
    );
    let mut cache = ClassifierCache::new(4);
    cache.classify("SELECT * FROM t WHERE id IN (1, 2, 3) AND name = 'x'");
    let hit = cache.classify("SELECT * FROM t WHERE id IN (7,8) AND name = ?");
    assert_eq!(hit.digest(), &a);
    assert_eq!(cache.stats().hits, 1);
}

#[test]
fn escaped_quotes_are_cached_under_both_readings() {
    let mut cache = ClassifierCache::new(16);
    let s = SessionState::new("app");
    let p = Policy::default();
    // Same digest in MySQL's default mode (`SELECT ?`), different under NO_BACKSLASH_ESCAPES.
    let texts = [
        r"SELECT 'O\'Brien'",
        r"SELECT 'a\'; DELETE FROM t; -- '",
        r"SELECT 'x\'y'",
        r"SELECT 'a\'; DELETE FROM t; -- '",
    ];
    for t in texts {
        assert_eq!(
            route(&cache.classify(t), &s, &p),
            route(&classify(t), &s, &p),
            "{t}"
        );
    }
    assert_eq!(cache.stats().hits, 2, "{:?}", cache.stats());
}

#[test]
fn versioned_comments_are_part_of_the_shape() {
    let mut cache = ClassifierCache::new(16);
    let s = SessionState::new("app");
    let p = Policy::default();
    // Without the comment markers in the digest, these two would share a cache entry.
    let plain = "SELECT 1 AS delete FROM t";
    let hidden = "/*!99999 SELECT 1 AS */ delete FROM t";
    let a = route(&cache.classify(plain), &s, &p);
    let b = route(&cache.classify(hidden), &s, &p);
    assert_eq!(a, route(&classify(plain), &s, &p));
    assert_eq!(b, route(&classify(hidden), &s, &p));
    assert_ne!(b.target, splitrail_router::Target::Replica);
}

#[test]
fn tables_named_by_quoted_strings_are_not_cached() {
    // Under ANSI_QUOTES "tmp" is a table; the digest turns it into `?`, so the table list
    // would otherwise come from whichever text was cached first.
    let mut cache = ClassifierCache::new(16);
    let s = splitrail_router::SessionState::new("app");
    let mut with_tmp = s.clone();
    with_tmp.apply_statement(&classify("CREATE TEMPORARY TABLE tmp (a int)"));
    cache.classify(r#"SELECT * FROM "other""#);
    let c = cache.classify(r#"SELECT * FROM "tmp""#);
    assert!(
        c.analysis.tables.iter().any(|t| &**t == "tmp"),
        "{:?}",
        c.analysis.tables
    );
    assert_ne!(
        route(&c, &with_tmp, &Policy::default()).target,
        splitrail_router::Target::Replica
    );
}
