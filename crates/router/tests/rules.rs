//! Query rules from configuration: ordered, first match wins, never unsafe.
mod common;
use common::*;
use splitrail_router::{
    Digest, Pattern, Policy, ReadTarget, Rule, RuleAction, SessionState, Target,
};

fn policy(rules: Vec<Rule>) -> Policy {
    Policy {
        rules,
        ..Policy::default()
    }
}

#[test]
fn first_matching_rule_decides() {
    let report = Digest::of("SELECT * FROM report WHERE day = '2024-01-01'");
    let p = policy(vec![
        Rule::new(RuleAction::Reject {
            message: "no bulk deletes".into(),
        })
        .pattern(Pattern::new("^DELETE FROM big").unwrap()),
        Rule::new(RuleAction::Primary).pattern(Pattern::new("(?i)from\\s+accounts").unwrap()),
        Rule::new(RuleAction::Primary).digest(report.hash),
        Rule::new(RuleAction::Primary).user("admin"),
    ]);
    let s = SessionState::new("app");
    check_table(
        &s,
        &p,
        &[
            (
                "DELETE FROM big WHERE 1",
                Target::Reject("no bulk deletes".into()),
                Rule(0),
            ),
            ("SELECT * FROM accounts WHERE id = 1", Primary, Rule(1)),
            (
                "SELECT * FROM report WHERE day = '2025-02-02'",
                Primary,
                Rule(2),
            ),
            ("SELECT * FROM other", Replica, PlainRead),
            ("DELETE FROM small", Primary, Write),
        ],
    );
    check_table(
        &SessionState::new("admin"),
        &p,
        &[("SELECT * FROM other", Primary, Rule(3))],
    );
}

#[test]
fn replica_rules_only_apply_to_safe_reads() {
    let mut p = policy(vec![Rule::new(RuleAction::Replica).schema("analytics")]);
    p.reads = ReadTarget::Primary;
    let mut s = SessionState::new("app");
    check_table(&s, &p, &[("SELECT 1", Primary, ReadsToPrimary)]);
    s.apply_tracked_schema("analytics");
    check_table(
        &s,
        &p,
        &[
            ("SELECT 1", Replica, Rule(0)),
            ("UPDATE t SET a = 1", Primary, Write),
            ("SELECT * FROM t FOR UPDATE", Primary, LockingRead),
        ],
    );
}
