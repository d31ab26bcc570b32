//! Commands about sessions rather than data: `KILL [QUERY|CONNECTION] id` and COM_PROCESS_KILL
//! on the proxy's own connection ids, COM_CHANGE_USER, and COM_STMT_FETCH on an open cursor.
use bytes::{BufMut, Bytes, BytesMut};
use splitrail_protocol::command::code as cmd;
use splitrail_protocol::handshake::ChangeUser;
use splitrail_protocol::response::code;
use splitrail_router::{KillScope, SessionState};
use tracing::info;

use super::Session;
use crate::backend::{BackendConn, ResultFlags};
use crate::client::handshake::{Verdict, authenticate, refuse};
use crate::error::{ER_KILL_DENIED_ERROR, ER_NO_SUCH_THREAD, Error, Result};

impl Session {
    /// Kills a proxy session's statement or the session itself. Only the same user may.
    pub(crate) async fn kill(&mut self, id: u64, scope: KillScope) -> Result<()> {
        let shared = self.worker.shared.clone();
        let target = u32::try_from(id).ok().and_then(|id| shared.session(id));
        let Some(target) = target else {
            return self
                .send_err(ER_NO_SUCH_THREAD, &format!("Unknown thread id: {id}"))
                .await;
        };
        if target.user() != *self.user {
            return self
                .send_err(
                    ER_KILL_DENIED_ERROR,
                    &format!("You are not owner of thread {id}"),
                )
                .await;
        }
        if scope == KillScope::Connection {
            // First, so the victim, seeing its backend go, knows not to replay the statement.
            target.kill();
        }
        if let Some((server, thread)) = target.running() {
            let what = match scope {
                KillScope::Query => "QUERY",
                KillScope::Connection => "CONNECTION",
            };
            let address = shared
                .topology()
                .servers
                .get(server)
                .map(|s| s.address.clone())
                .ok_or(Error::UnknownServer { index: server })?;
            let mut conn = BackendConn::connect(
                server,
                &address,
                &self.user,
                &self.password,
                ResultFlags::of(self.caps),
                shared.config().pool.connect_timeout,
                &shared.tls.backend,
            )
            .await?;
            conn.run_checked(format!("KILL {what} {thread}").as_bytes())
                .await?;
        }
        info!(target = id, ?scope, "killed");
        if target.id == self.id && scope == KillScope::Connection {
            return Ok(()); // the session ends at the top of its loop
        }
        self.send_ok().await
    }

    /// COM_CHANGE_USER: authenticates again with the handshake's nonce and starts a fresh session
    /// state as that user. `Ok(false)`: refused, the connection closes (as MySQL does).
    pub(crate) async fn change_user(&mut self, change: ChangeUser<'_>) -> Result<bool> {
        let user = String::from_utf8_lossy(change.user).into_owned();
        let config = self.worker.shared.config();
        let verdict = authenticate(
            &mut self.client,
            &config,
            &self.nonce,
            &user,
            change.auth_plugin_name,
            change.auth_response,
        )
        .await?;
        let password = match verdict {
            Verdict::Accepted(p) => p,
            Verdict::Gone => return Ok(false),
            Verdict::Denied => {
                let message = format!(
                    "Access denied for user '{user}'@'{}' (using password: YES)",
                    self.info.peer.ip()
                );
                refuse(&mut self.client, code::ER_ACCESS_DENIED_ERROR, message).await?;
                return Ok(false);
            }
        };
        // Every connection held was logged in as the old user with its session state.
        self.forget_session();
        self.user = user.as_str().into();
        self.password = password;
        if let Ok(mut u) = self.info.user.lock() {
            u.clone_from(&user);
        }
        self.state = SessionState::new(&user);
        if !change.database.is_empty() {
            self.state.schema = Some(String::from_utf8_lossy(change.database).into());
        }
        if let Some(collation) = change.charset.and_then(|c| u8::try_from(c).ok()) {
            super::sync::apply_collation(&mut self.state, collation);
        }
        self.send_ok().await?;
        Ok(true)
    }

    /// COM_STMT_FETCH: rows from the cursor open on the held connection.
    pub(crate) async fn stmt_fetch(&mut self, payload: &Bytes, client_id: u32) -> Result<()> {
        let sql = self.stmts.get(&client_id).map(|s| s.sql.clone());
        let Some(mut lease) = self.held.take() else {
            return self
                .send_err(
                    code::ER_UNKNOWN_STMT_HANDLER,
                    "No cursor is open for this statement",
                )
                .await;
        };
        let backend_id = sql
            .as_ref()
            .and_then(|sql| lease.conn.statements.get(sql))
            .map(|s| s.id);
        let Some(backend_id) = backend_id else {
            self.held = Some(lease);
            return self
                .send_err(
                    code::ER_UNKNOWN_STMT_HANDLER,
                    &format!("Unknown prepared statement handler ({client_id}) given to mysqld_stmt_fetch"),
                )
                .await;
        };
        let mut p = BytesMut::with_capacity(payload.len());
        p.put_u8(cmd::STMT_FETCH);
        p.put_u32_le(backend_id);
        p.put_slice(payload.get(5..).unwrap_or_default());
        let payload = p.freeze();
        if let Err(e) = self.sync(&mut lease, None).await {
            drop(lease);
            return Err(e);
        }
        self.execute_on(lease, &payload, None).await.map(drop)
    }
}
