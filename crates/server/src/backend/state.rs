//! Session state on one backend connection: bringing it to a session's schema and variables
//! with the fewest statements (one `SET a = …, b = …` for the difference; a reset first when it
//! carries variables of another session that this one never set).
use splitrail_protocol::Command;
use splitrail_protocol::response::ErrPacket;
use splitrail_router::SessionVariables;

use super::{BackendConn, Outcome};
use crate::error::Result;

/// Brings `conn` to `schema` and `vars` (a reset first when it carries variables `vars` lacks).
/// `Ok(Some(err))`: the backend refused part of that state.
pub async fn sync_state(
    conn: &mut BackendConn,
    schema: Option<&str>,
    vars: &SessionVariables,
) -> Result<Option<ErrPacket>> {
    if conn.vars.iter().any(|(k, _)| vars.get(k).is_none()) {
        conn.reset().await?;
    }
    if let Some(schema) = schema
        && conn.schema.as_deref() != Some(schema)
    {
        let payload = conn.payload(&Command::InitDb {
            schema: schema.as_bytes(),
        });
        if let Outcome::Err(err) = conn.run(&payload).await? {
            return Ok(Some(err));
        }
        conn.schema = Some(schema.into());
    }
    let diff: Vec<(&str, &str)> = vars.diff(&conn.vars).collect();
    if diff.is_empty() {
        return Ok(None);
    }
    for sql in SessionVariables::to_sql(diff) {
        if let Outcome::Err(err) = conn.run(&conn.query_payload(sql.as_bytes())).await? {
            return Ok(Some(err));
        }
    }
    conn.vars = vars.clone();
    Ok(None)
}
