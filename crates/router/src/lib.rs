//! Statement classification and routing policy for Splitrail.
//!
//! This crate decides, for each statement a client sends, whether it may run on a replica, must
//! run on the primary, or must stay on the backend that holds the session's transaction, and why.
//! It is pure: no I/O, no tokio, no clock, no globals, no wire types. It is **never** where SQL is
//! executed, rewritten or sent; the server owns sockets, time and backends, and feeds this crate
//! text and packet flags. It fails closed: whatever it does not understand is
//! [`Kind::Unknown`] and goes to the primary, and no input makes it panic.
//!
//! The hot path is [`ClassifierCache::classify`]: one lexer pass that computes the statement's
//! [`Digest`] and hints, then a cache lookup. Only a new statement shape is classified in full,
//! and only a would-be plain read is confirmed with sqlparser.
//!
//! ```
//! use splitrail_router::{ClassifierCache, Policy, Reason, SessionState, Target, route};
//!
//! let mut cache = ClassifierCache::default(); // one per worker thread
//! let policy = Policy::default();
//! let mut session = SessionState::new("app");
//!
//! let c = cache.classify("SELECT name FROM users WHERE id = 42");
//! let d = route(&c, &session, &policy);
//! assert_eq!((d.target, d.reason), (Target::Replica, Reason::PlainRead));
//!
//! let c = cache.classify("SET autocommit = 0");
//! assert_eq!(route(&c, &session, &policy).target, Target::Primary);
//! session.apply_statement(&c); // after the backend's OK; then apply_server_status(...)
//!
//! let c = cache.classify("SELECT name FROM users WHERE id = 7");
//! assert_eq!(route(&c, &session, &policy).reason, Reason::AutocommitOff);
//! ```
//!
//! # How the server uses it
//!
//! 1. Per worker thread: one [`ClassifierCache`]. Per client statement (COM_QUERY text, or the
//!    text of COM_STMT_PREPARE, whose classification then serves every COM_STMT_EXECUTE):
//!    `let c = cache.classify(sql)`; `c.digest()` keys per-query statistics.
//! 2. `let d = route(&c, &session, &policy)` with the session's state *before* the statement.
//!    [`Target::Pinned`] means the backend the session used last (it holds the transaction,
//!    locks or diagnostics; the primary when there is none). [`Decision::max_lag`] and
//!    [`Decision::min_gtid`] bound the choice of replica, [`Decision::hash_key`] steers hash
//!    balancing. Before running on a pooled connection, bring it in line with
//!    [`SessionState::variables`] (see [`SessionVariables::diff`]) and [`SessionState::schema`].
//! 3. When the backend answers: `session.apply_statement(&c)` (on success; calling it on failure
//!    errs towards the primary), then `session.apply_server_status(..)` with the OK/EOF status
//!    flags and `apply_tracked_variable` / `apply_tracked_schema` for session-tracking entries.
//!    The status flags are the truth about transactions and autocommit.
//!
//! # What "fails closed" covers
//!
//! Only a statement that every reading agrees is a plain read may reach a replica. Text is read
//! the ways the server might read it: with and without backslash escapes, with `"…"` as a string
//! or an `ANSI_QUOTES` identifier, with and without the contents of versioned comments
//! (`/*!80000 …*/`); if the readings disagree, it is [`UnknownCause::Ambiguous`]. Reads must be
//! confirmed by sqlparser, must not call stored functions (unless the policy allows), and
//! must not touch the session's temporary tables, user variables, locks or open transaction.
//! Limits: text over [`classify::MAX_PARSE_LEN`] bytes or 256 statements is unknown; hints and
//! rules can move plain reads only.
//!
//! # Layout
//!
//! - `lexer` (private): tokens, comments, strings, executable comments, hint comments.
//! - [`digest`]: normalised statement text and its 64-bit hash, for the cache and statistics.
//! - [`hints`]: `/* splitrail:… */` and MaxScale routing hints.
//! - [`kind`]: the vocabulary: [`Kind`], [`Effects`], [`SetItem`] ….
//! - [`classify`](mod@classify): text → [`Classification`] (lexer fast path, sqlparser slow path).
//! - [`cache`]: [`ClassifierCache`], a per-thread CLOCK cache keyed by digest.
//! - [`session`]: [`SessionState`], fed by statements and by server status/session tracking.
//! - [`policy`]: [`Policy`] and ordered query [`Rule`]s, as plain data.
//! - [`route`](mod@route): [`route()`] → [`Decision`] with a [`Target`] and a [`Reason`].
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod cache;
pub mod classify;
pub mod digest;
pub mod hints;
pub mod kind;
mod lexer;
pub mod policy;
pub mod route;
pub mod session;

pub use cache::{CacheStats, ClassifierCache, IdentityHasher};
pub use classify::{Analysis, Classification, classify, classify_bytes};
pub use digest::Digest;
pub use hints::{HintRoute, Hints};
pub use kind::{
    DdlKind, Effects, KillScope, KillTarget, Kind, ReadKind, Scope, SetItem, SetValue, TxStatement,
    UnknownCause, WriteKind, XaVerb,
};
pub use policy::{Pattern, Policy, ReadTarget, Rule, RuleAction};
pub use route::{Decision, Reason, Target, route};
pub use session::{ServerStatus, SessionState, SessionVariables};
