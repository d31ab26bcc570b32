//! The plan of the statement being run: what routing decided for it (its hints, parsed once)
//! and what execution worked out (what a read must see, the causal wait to send before it).
//! A statement's plan replaces the last one's, so nothing a statement decided leaks into the
//! next.
use std::sync::Arc;
use std::time::Duration;

use splitrail_router::Decision;

use crate::backend::state::SyncPlan;
use crate::consistency::Requirement;
use crate::gtid::GtidSet;

/// A `min_gtid` hint, typed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) enum GtidHint {
    /// The statement gave none.
    #[default]
    None,
    /// The position the read must see.
    Set(GtidSet),
    /// Text that is no GTID set: it cannot be waited for, so only the primary answers.
    Unreadable,
}

/// What the session knows about the statement it is running.
#[derive(Debug, Clone, Default)]
pub(crate) struct StatementPlan {
    /// The replica lag the statement accepts (its decision's `max_lag`).
    pub max_lag: Option<Duration>,
    /// The statement's `hash_key` hint.
    pub hash_hint: Option<u64>,
    /// The statement's `min_gtid` hint.
    pub min_gtid: GtidHint,
    /// What the read must see, once execution has worked it out.
    pub requirement: Requirement,
    /// The requirement as first worked out for this statement (a pipelining attempt and the
    /// normal path then share one, and one position fetch under `consistency: cluster`).
    pub requirement_known: Option<Requirement>,
    /// A causal wait to send before the statement on the chosen replica.
    pub causal_wait: Option<Arc<GtidSet>>,
    /// A plain read's sync, sent in the same write as the read (and its causal wait): should
    /// the connection refuse the state, the read's answer is never relayed.
    pub sync_behind: Option<SyncPlan>,
    /// The command sets the default schema itself (COM_INIT_DB): the connection is not brought
    /// to the session's schema first.
    pub sets_schema: bool,
}

impl StatementPlan {
    /// The plan a routing decision starts a statement with.
    pub(crate) fn of(decision: &Decision) -> Self {
        let min_gtid = match decision.min_gtid.as_deref().map(GtidSet::parse) {
            None => GtidHint::None,
            Some(Ok(set)) => GtidHint::Set(set),
            Some(Err(_)) => GtidHint::Unreadable,
        };
        StatementPlan {
            max_lag: decision.max_lag,
            hash_hint: decision.hash_key,
            min_gtid,
            ..StatementPlan::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use splitrail_router::{Reason, Target};

    use super::*;

    fn decision(min_gtid: Option<&str>) -> Decision {
        Decision {
            target: Target::Replica,
            reason: Reason::PlainRead,
            max_lag: Some(Duration::from_secs(2)),
            min_gtid: min_gtid.map(Into::into),
            hash_key: Some(7),
        }
    }

    #[test]
    fn hints_are_parsed_once_into_the_plan() {
        let plan = StatementPlan::of(&decision(Some("0-1-5")));
        assert_eq!(plan.max_lag, Some(Duration::from_secs(2)));
        assert_eq!(plan.hash_hint, Some(7));
        assert_eq!(
            plan.min_gtid,
            GtidHint::Set(GtidSet::parse("0-1-5").expect("a GTID"))
        );
        assert_eq!(plan.requirement, Requirement::None);
        assert!(plan.causal_wait.is_none());
        assert_eq!(
            StatementPlan::of(&decision(Some("not a gtid"))).min_gtid,
            GtidHint::Unreadable
        );
        assert_eq!(StatementPlan::of(&decision(None)).min_gtid, GtidHint::None);
    }
}
