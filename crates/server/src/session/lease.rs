//! The session's backend connections: the held one (pinned state), the sticky and kept ones,
//! and pooled ones; which to use for a statement, and where it goes back afterwards.
use super::Session;
use super::query::Choice;
use crate::backend::{Lease, PoolKey, State};
use crate::error::{Error, Result};

impl Session {
    /// Whether the session must keep its connection: it holds state no other connection has.
    pub(crate) fn must_hold(&self) -> bool {
        self.hold_reason().is_some()
    }

    /// The connection the session used last, if it still has it.
    pub(crate) fn last_lease_mut(&mut self) -> Option<&mut Lease> {
        self.held.as_mut()
    }

    /// A connection for `choice`: the held one, the sticky one, a kept one, or a pooled one.
    /// `reuse` says how sure a reused connection must be to be open.
    pub(crate) async fn lease_for(&mut self, choice: Choice, reuse: Reuse) -> Result<Lease> {
        let view = self.worker.view();
        let topology = &view.topology;
        let primary = topology.primary().ok_or(Error::NoPrimary)?;
        if let Some(held) = self.held.take() {
            if choice == Choice::Pinned || held.conn.server == primary && choice == Choice::Primary
            {
                return Ok(held);
            }
            self.held = Some(held);
        }
        let sticky = self
            .sticky
            .borrow_mut()
            .take()
            .and_then(|l| usable(l, reuse));
        let server = match choice {
            Choice::Pinned => match &sticky {
                Some(lease) => lease.conn.server,
                None => primary,
            },
            Choice::Primary => primary,
            Choice::Read => self.read_server(primary),
        };
        if let Some(lease) = sticky {
            if lease.conn.server == server {
                return Ok(lease);
            }
            self.worker.pools.release(lease);
        }
        while let Some(i) = self.kept.iter().position(|l| l.conn.server == server) {
            if let Some(lease) = usable(self.kept.swap_remove(i), reuse) {
                return Ok(lease);
            }
        }
        self.acquire(server).await
    }

    async fn acquire(&mut self, server: usize) -> Result<Lease> {
        let shared = self.worker.shared.clone();
        let view = self.worker.view();
        let entry = view
            .topology
            .servers
            .get(server)
            .ok_or(Error::UnknownServer { index: server })?;
        let key = PoolKey {
            server,
            user: self.user.clone(),
            flags: self.flags,
        };
        match self
            .worker
            .pools
            .acquire(
                &key,
                &entry.address,
                &self.password,
                State {
                    schema: self.state.schema.as_deref(),
                    vars: self.state.variables(),
                },
            )
            .await
        {
            Ok(lease) => {
                // Only a new connection ends a back-off: an idle one may be to a server that
                // died since, and clearing another session's suspicion on its strength sends
                // that session's replay back to the dead server.
                if lease.fresh {
                    entry.set_healthy(true);
                    entry.note_max_packet(lease.conn.max_packet);
                }
                if Some(server) == view.topology.primary() {
                    shared.set_server_version(&lease.conn.server_version);
                }
                Ok(lease)
            }
            Err(e @ Error::BackendConnect { .. }) => {
                entry.set_healthy(false);
                Err(e)
            }
            Err(e) => Err(e),
        }
    }

    /// Keeps or gives back the connection a statement ran on.
    pub(crate) fn put_back(&mut self, lease: Lease) {
        if lease.conn.broken {
            drop(lease);
        } else if self.must_hold() && self.held.is_none() {
            self.held = Some(lease);
        } else if self.worker.shared.session_pooling() {
            let mut lease = lease;
            lease.conn.idle_since = std::time::Instant::now();
            self.kept.push(lease);
        } else if self.worker.pools.has_waiters(lease.conn.server) {
            self.worker.pools.release(lease);
        } else {
            let mut lease = lease;
            lease.conn.idle_since = std::time::Instant::now();
            let old = self.sticky.borrow_mut().replace(lease);
            if let Some(old) = old {
                self.worker.pools.release(old);
            }
        }
        if !self.must_hold()
            && let Some(held) = self.held.take()
        {
            let old = self.sticky.borrow_mut().replace(held);
            if let Some(old) = old {
                self.worker.pools.release(old);
            }
        }
        self.info
            .set_pinned(self.held.as_ref().and_then(|_| self.hold_reason()));
    }
}

/// How sure a connection a session kept must be to be open before a statement is sent on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reuse {
    /// The statement may run again if the connection fails before answering (a read): checked
    /// only after [`CHECK_IDLE_AFTER`] unused.
    Replayable,
    /// A failure would reach the client as error 2013, since the statement may have run (a
    /// write): always checked, so a connection the server closed before the statement was sent
    /// (a crashed or restarted primary, a killed connection) is never the reason it fails.
    Checked,
}

/// After this long unused, a connection kept by a session is checked (one non-blocking read)
/// before a replayable statement uses it: the server may have closed it (a restart,
/// `wait_timeout`). Reused sooner, it is not checked, to keep a syscall off the hot path; a
/// read on it that fails before answering is replayed anyway.
const CHECK_IDLE_AFTER: std::time::Duration = std::time::Duration::from_millis(500);

/// The lease, unless it was checked and the check found it closed.
fn usable(mut lease: Lease, reuse: Reuse) -> Option<Lease> {
    let check = reuse == Reuse::Checked || lease.conn.idle_since.elapsed() > CHECK_IDLE_AFTER;
    if check && lease.conn.closed_while_idle() {
        None
    } else {
        Some(lease)
    }
}
