//! What other sessions and the admin API see of a session ([`SessionInfo`], kept in the
//! registry of [`crate::worker::Shared`]): who it is, which backend statement it runs (for
//! `KILL`), why it holds a connection, whether it was killed, and what it is doing since when
//! (for `SHOW PROCESSLIST`).
use std::net::SocketAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::time::Instant;

use bytes::Bytes;
use tokio::sync::Notify;

/// What other sessions may need to know about a session: who it is, what backend statement it
/// is running, what command it is in, and whether it was killed.
#[derive(Debug)]
pub struct SessionInfo {
    /// The proxy's connection id.
    pub id: u32,
    /// The client's address.
    pub peer: SocketAddr,
    /// The authenticated user (changes with COM_CHANGE_USER).
    pub user: Mutex<String>,
    /// The backend running the session's current statement: server index + 1 in the high 32
    /// bits, its thread id in the low; 0 when none.
    running: AtomicU64,
    /// Set by `KILL CONNECTION`.
    killed: AtomicBool,
    /// Wakes the session when it is killed while waiting for the client.
    pub kill_signal: Notify,
    /// Why the session holds a backend connection it must keep: a [`PinReason`] + 1, 0 when
    /// it holds none.
    pinned: AtomicU8,
    /// The command in progress and since when: touched twice per command, by the session only
    /// (so never contended but by a `SHOW PROCESSLIST` reading it).
    activity: Mutex<Activity>,
}

/// What a session is doing, as `SHOW PROCESSLIST` shows it.
#[derive(Debug, Clone)]
pub struct Activity {
    /// The command in progress (its code), `None` between commands (MariaDB's "Sleep").
    pub command: Option<u8>,
    /// When the session entered this state: its command started, or its last one ended.
    pub since: Instant,
    /// The text of the statement in progress (COM_QUERY, COM_STMT_PREPARE, COM_STMT_EXECUTE).
    pub statement: Option<Bytes>,
    /// The session's schema, as of its last command.
    pub schema: Option<Box<str>>,
}

/// Why a session keeps its backend connection instead of giving it back to the pool: it holds
/// state no other connection has. When several apply, the first in this order is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum PinReason {
    /// A transaction is open.
    Transaction = 0,
    /// Temporary tables exist.
    TempTables = 1,
    /// Table locks (`LOCK TABLES`) or named locks (`GET_LOCK`) are held.
    Locks = 2,
    /// User variables (`@x`) are set.
    UserVariables = 3,
    /// A SQL-level `PREPARE` ran.
    SqlPrepare = 4,
    /// A cursor is open.
    Cursor = 5,
    /// The last statement left a result the next may ask for (`SQL_CALC_FOUND_ROWS`): kept
    /// for one statement.
    SessionFunction = 6,
    /// A procedure (or a statement the proxy cannot classify) changed the session's state and
    /// the server did not say what: only this connection has it.
    UntrackedState = 7,
    /// A binlog client: its connection to the primary is its own for the session's life.
    Replication = 8,
    /// Characteristics for the next transaction only (`SET TRANSACTION …`) wait on the
    /// connection that ran them.
    NextTransaction = 9,
}

impl PinReason {
    /// Every reason, in order.
    pub const ALL: [PinReason; 10] = [
        PinReason::Transaction,
        PinReason::TempTables,
        PinReason::Locks,
        PinReason::UserVariables,
        PinReason::SqlPrepare,
        PinReason::Cursor,
        PinReason::SessionFunction,
        PinReason::UntrackedState,
        PinReason::Replication,
        PinReason::NextTransaction,
    ];

    /// `transaction`, `temporary_tables`, `locks`, `user_variables`, `sql_prepare`, `cursor`,
    /// `session_function`, `untracked_state`, `replication`, `next_transaction`.
    pub fn as_str(self) -> &'static str {
        match self {
            PinReason::Transaction => "transaction",
            PinReason::TempTables => "temporary_tables",
            PinReason::Locks => "locks",
            PinReason::UserVariables => "user_variables",
            PinReason::SqlPrepare => "sql_prepare",
            PinReason::Cursor => "cursor",
            PinReason::SessionFunction => "session_function",
            PinReason::UntrackedState => "untracked_state",
            PinReason::Replication => "replication",
            PinReason::NextTransaction => "next_transaction",
        }
    }
}

impl SessionInfo {
    /// A session's entry, idle since now in `schema`.
    pub fn new(id: u32, peer: SocketAddr, user: &str, schema: Option<&str>) -> Self {
        SessionInfo {
            id,
            peer,
            user: Mutex::new(user.to_string()),
            running: AtomicU64::new(0),
            killed: AtomicBool::new(false),
            kill_signal: Notify::new(),
            pinned: AtomicU8::new(0),
            activity: Mutex::new(Activity {
                command: None,
                since: Instant::now(),
                statement: None,
                schema: schema.map(Into::into),
            }),
        }
    }

    /// Records the backend statement in progress (`None` when it is over).
    pub fn set_running(&self, backend: Option<(usize, u32)>) {
        let packed = backend
            .map(|(server, thread)| ((server as u64 + 1) << 32) | u64::from(thread))
            .unwrap_or(0);
        self.running.store(packed, Ordering::Relaxed);
    }

    /// The backend statement in progress: (server index, thread id).
    pub fn running(&self) -> Option<(usize, u32)> {
        let packed = self.running.load(Ordering::Relaxed);
        let server = (packed >> 32) as usize;
        (server > 0).then(|| (server - 1, packed as u32))
    }

    /// Records why the session holds a connection it must keep (`None`: it holds none), for
    /// the admin API.
    pub fn set_pinned(&self, reason: Option<PinReason>) {
        let v = reason.map_or(0, |r| r as u8 + 1);
        self.pinned.store(v, Ordering::Relaxed);
    }

    /// Why the session holds a connection it must keep, if it does.
    pub fn pinned(&self) -> Option<PinReason> {
        let v = self.pinned.load(Ordering::Relaxed);
        PinReason::ALL.get(usize::from(v).checked_sub(1)?).copied()
    }

    /// Marks the session killed and wakes it.
    pub fn kill(&self) {
        self.killed.store(true, Ordering::Relaxed);
        self.kill_signal.notify_one();
    }

    /// Whether `KILL CONNECTION` was issued for it.
    pub fn is_killed(&self) -> bool {
        self.killed.load(Ordering::Relaxed)
    }

    /// The user, for permission checks.
    pub fn user(&self) -> String {
        self.user.lock().map(|u| u.clone()).unwrap_or_default()
    }

    /// A command starts: `command` is its code, `statement` its SQL text if it has one.
    pub fn begin_command(&self, command: u8, statement: Option<Bytes>) {
        let mut a = self.activity.lock().unwrap_or_else(|p| p.into_inner());
        a.command = Some(command);
        a.since = Instant::now();
        a.statement = statement;
    }

    /// The command ended; the session is idle in `schema`.
    pub fn end_command(&self, schema: Option<&str>) {
        let mut a = self.activity.lock().unwrap_or_else(|p| p.into_inner());
        a.command = None;
        a.since = Instant::now();
        a.statement = None;
        if a.schema.as_deref() != schema {
            a.schema = schema.map(Into::into);
        }
    }

    /// What the session is doing now.
    pub fn activity(&self) -> Activity {
        self.activity
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}
