//! Session state on one backend connection: bringing it to a session's schema and variables
//! with the fewest statements (one `SET a = …, b = …` for the difference; a reset first when it
//! carries variables of another session that this one never set).
use splitrail_protocol::Command;
use splitrail_protocol::response::ErrPacket;
use splitrail_router::SessionVariables;

use super::{BackendConn, Outcome};
use crate::error::Result;

/// Brings `conn` to `schema` and `vars` (a reset first when it carries variables `vars` lacks).
/// Every step goes out in one write and the answers are read in order, so a sync costs one
/// round trip however many steps it takes. `Ok(Some(err))`: the backend refused part of that
/// state; the connection is then marked broken (which of its steps took is not worth tracking
/// for so rare a case).
pub async fn sync_state(
    conn: &mut BackendConn,
    schema: Option<&str>,
    vars: &SessionVariables,
) -> Result<Option<ErrPacket>> {
    let plan = SyncPlan::new(conn, schema, vars);
    if plan.is_empty() {
        return Ok(None);
    }
    conn.send_many(&plan.payloads()).await?;
    plan.finish(conn, vars).await
}

/// The commands that bring a connection to a session's state, to be sent (alone, or in the
/// same write as a read that may run behind them) and then [`SyncPlan::finish`]ed.
#[derive(Debug, Clone, Default)]
pub struct SyncPlan {
    steps: Vec<(Step, Vec<u8>)>,
    reset: bool,
    schema: Option<Box<str>>,
}

impl SyncPlan {
    /// What `conn` must run to be in `schema` and `vars`.
    pub fn new(conn: &BackendConn, schema: Option<&str>, vars: &SessionVariables) -> Self {
        let reset = conn.vars.iter().any(|(k, _)| vars.get(k).is_none());
        let base = if reset {
            &SessionVariables::default()
        } else {
            &conn.vars
        };
        let mut steps: Vec<(Step, Vec<u8>)> = Vec::new();
        if reset {
            steps.push((Step::Reset, conn.payload(&Command::ResetConnection)));
            if let Some(sql) = conn.tracking_sql() {
                steps.push((Step::Tracking, conn.query_payload(sql)));
            }
        }
        let schema = schema.filter(|s| conn.schema.as_deref() != Some(*s));
        if let Some(schema) = schema {
            let payload = conn.payload(&Command::InitDb {
                schema: schema.as_bytes(),
            });
            steps.push((Step::Schema, payload));
        }
        for sql in SessionVariables::to_sql(vars.diff(base)) {
            steps.push((Step::Variables, conn.query_payload(sql.as_bytes())));
        }
        SyncPlan {
            steps,
            reset,
            schema: schema.map(Into::into),
        }
    }

    /// Nothing to run: the connection is in the state already.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// The commands, in order.
    pub fn payloads(&self) -> Vec<&[u8]> {
        self.steps.iter().map(|(_, p)| &p[..]).collect()
    }

    /// Reads the answers to the plan's commands (sent earlier) and records the state they left
    /// on `conn`. `Ok(Some(err))`: part of the state was refused and the connection is marked
    /// broken (anything sent behind the plan is not read).
    pub async fn finish(
        self,
        conn: &mut BackendConn,
        vars: &SessionVariables,
    ) -> Result<Option<ErrPacket>> {
        let mut refused: Option<(Step, ErrPacket)> = None;
        for (step, payload) in &self.steps {
            let command = payload.first().copied().unwrap_or(0);
            conn.next_answer();
            if let Outcome::Err(err) = conn.read_outcome(command, |_, _| Ok(())).await? {
                refused.get_or_insert((*step, err));
            }
        }
        // Whatever was sent behind the plan answers next.
        conn.next_answer();
        if self.reset {
            conn.forget_session();
        }
        let Some((step, err)) = refused else {
            if let Some(schema) = self.schema {
                conn.schema = Some(schema);
            }
            conn.vars = vars.clone();
            return Ok(None);
        };
        conn.broken = true;
        match step {
            Step::Reset => Err(conn.refused("COM_RESET_CONNECTION", &err)),
            Step::Tracking => Err(conn.refused("session tracking", &err)),
            Step::Schema | Step::Variables => Ok(Some(err)),
        }
    }
}

/// What one command of a sync does (for what its refusal means).
#[derive(Debug, Clone, Copy)]
enum Step {
    Reset,
    Tracking,
    Schema,
    Variables,
}
