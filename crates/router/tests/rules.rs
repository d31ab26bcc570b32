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

#[test]
fn policy_reads_from_configuration_text() {
    let yaml = r#"
reads: replica
max_lag: 500ms
rules:
  - pattern: "(?i)^select .* from reports"
    action: primary
  - user: batch
    action: { reject: "batch jobs use the reporting replica" }
"#;
    let p: Policy = serde_yaml::from_str(yaml).unwrap();
    assert_eq!(p.max_lag, Some(std::time::Duration::from_millis(500)));
    assert!(p.honor_hints, "defaults fill what the text leaves out");
    assert_eq!(p.rules.len(), 2);
    assert_eq!(p.rules[1].user.as_deref(), Some("batch"));
    check_table(
        &SessionState::new("app"),
        &p,
        &[("SELECT * FROM reports WHERE d = 1", Primary, Rule(0))],
    );
    let back: Policy = serde_yaml::from_str(&serde_yaml::to_string(&p).unwrap()).unwrap();
    assert_eq!(back, p);
    assert!(serde_yaml::from_str::<Policy>("max_lag: soon").is_err());
    assert!(serde_yaml::from_str::<Policy>("rules: [{pattern: '(', action: primary}]").is_err());
    assert!(serde_yaml::from_str::<Policy>("bogus: 1").is_err());
    assert!(serde_yaml::from_str::<Policy>("rules: [{action: sideways}]").is_err());
}
