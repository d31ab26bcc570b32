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

pub use cache::{CacheStats, ClassifierCache};
pub use classify::{Analysis, Classification, classify, classify_bytes};
pub use digest::Digest;
pub use hints::{HintRoute, Hints};
pub use kind::{
    DdlKind, Effects, Kind, ReadKind, Scope, SetItem, SetValue, TxStatement, UnknownCause,
    WriteKind, XaVerb,
};
pub use policy::{Pattern, Policy, ReadTarget, Rule, RuleAction};
pub use route::{Decision, Reason, Target, route};
pub use session::{ServerStatus, SessionState, SessionVariables};
