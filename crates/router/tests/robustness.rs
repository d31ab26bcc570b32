//! Spelling does not change routing: case, whitespace and comments between tokens are ignored
//! (checked over every corpus statement).

#[path = "common/corpus.rs"]
mod corpus;

use proptest::prelude::*;
use splitrail_router::{Decision, Policy, SessionState, classify, route};

fn decide(sql: &str) -> Decision {
    route(
        &classify(sql),
        &SessionState::new("app"),
        &Policy::default(),
    )
}

#[test]
fn case_does_not_matter() {
    for sql in corpus::statements() {
        let (upper, lower) = (sql.to_uppercase(), sql.to_lowercase());
        let d = decide(&sql);
        assert_eq!(
            (d.target.as_str(), d.reason),
            (decide(&lower).target.as_str(), decide(&lower).reason),
            "{sql}"
        );
        assert_eq!(
            (d.target.as_str(), d.reason),
            (decide(&upper).target.as_str(), decide(&upper).reason),
            "{sql}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    /// Replacing one space by a newline, a tab or a comment keeps the route. (Statements with
    /// comments are left out: a newline ends a line comment, and comments do not nest.)
    #[test]
    fn spacing_and_comments_do_not_matter(pick in any::<prop::sample::Index>(), at in any::<prop::sample::Index>(), filler in prop::sample::select(vec!["\n", "\t", "  ", " /* x */ ", "/**/", "\r\n"])) {
        let all = corpus::statements();
        let sql = pick.get(&all);
        prop_assume!(!sql.contains("--") && !sql.contains('#') && !sql.contains("/*"));
        let spaces: Vec<usize> = sql.match_indices(' ').map(|(i, _)| i).collect();
        prop_assume!(!spaces.is_empty());
        let i = *at.get(&spaces);
        let mutated = format!("{}{}{}", &sql[..i], filler, &sql[i + 1..]);
        let (a, b) = (decide(sql), decide(&mutated));
        prop_assert_eq!((a.target, a.reason), (b.target, b.reason), "{:?} vs {:?}", sql, mutated);
    }
}
