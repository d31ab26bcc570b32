//! Corpus tests: real-world statement streams under `tests/corpus/*.txt`, routed in order.
//!
//! Each statement is routed with the state left by the ones before it (applied as if the
//! backend accepted them), uncached and through a cache, which must agree. The file format is
//! described in `common/corpus.rs`.

#[path = "common/corpus.rs"]
mod corpus;

use corpus::load;
use splitrail_router::{ClassifierCache, Policy, SessionState, classify, route};

#[test]
fn corpus_routes_as_expected() {
    let policy = Policy::default();
    let mut cache = ClassifierCache::new(64);
    let mut misses = Vec::new();
    let mut count = 0;
    for file in load() {
        let mut state = SessionState::new("app");
        for case in file {
            if case.sql == "@reset" {
                state = SessionState::new("app");
                continue;
            }
            count += 1;
            let c = classify(&case.sql);
            let cached = cache.classify(&case.sql);
            let d = route(&c, &state, &policy);
            assert_eq!(
                d,
                route(&cached, &state, &policy),
                "{}:{}: cache disagrees",
                case.file,
                case.line
            );
            if d.target != case.target || d.reason != case.reason {
                misses.push(format!(
                    "{}:{}: {} {} {}\n    got {} {} (kind {:?}, effects {:?})",
                    case.file,
                    case.line,
                    case.target.as_str(),
                    case.reason.as_str(),
                    case.sql,
                    d.target.as_str(),
                    d.reason.as_str(),
                    c.kind(),
                    c.effects()
                ));
            }
            state.apply_statement(&c);
        }
    }
    assert!(
        misses.is_empty(),
        "{} of {count} corpus statements differ:\n{}",
        misses.len(),
        misses.join("\n")
    );
    assert!(
        count >= 400,
        "the corpus should hold at least 400 statements, has {count}"
    );
}
