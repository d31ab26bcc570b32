//! Sans-IO MySQL / MariaDB client/server protocol codec for Splitrail.
//!
//! This crate turns bytes into typed packets and back, in both roles: as the
//! server Splitrail is to applications, and as the client it is to every
//! backend. It frames packets, decodes and builds the connection-phase
//! packets, computes and verifies auth scrambles, decodes commands, and tells
//! when a relayed response is complete.
//!
//! It is **not** a driver and never does I/O: no sockets, no runtime, no
//! clock. It never looks at SQL text either; classifying statements is the
//! router's job. Decoding untrusted bytes never panics: malformed input is an
//! [`Error`].
//!
//! ```
//! use bytes::BytesMut;
//! use splitrail_protocol::{CapabilityFlags, Command, PacketCodec, ResponseTracker, Step};
//!
//! let caps = CapabilityFlags::CLIENT_PROTOCOL_41 | CapabilityFlags::CLIENT_DEPRECATE_EOF;
//! let mut codec = PacketCodec::default();
//! let mut wire = BytesMut::from(&b"\x09\x00\x00\x00\x03SELECT 1"[..]);
//! let packet = codec.decode(&mut wire)?.expect("a whole packet");
//! let cmd = Command::decode(&packet.payload, caps)?;
//! assert!(matches!(cmd, Command::Query(ref q) if q.sql == b"SELECT 1"));
//!
//! // Relay the backend's answer, packet by packet, until it is complete.
//! let mut tracker = ResponseTracker::new(caps);
//! tracker.start(cmd.code());
//! let response: [&[u8]; 4] = [b"\x01", b"\x03def\x00\x00\x00\x011\x00\x0c\x3f\x00\x01\x00\x00\x00\x08\x81\x00\x00\x00\x00", b"\x011", b"\xfe\x00\x00\x02\x00\x00\x00"];
//! for p in &response[..3] {
//!     assert_eq!(tracker.feed(p)?, Step::More);
//! }
//! assert!(matches!(tracker.feed(response[3])?, Step::Done(_)));
//! # Ok::<(), splitrail_protocol::Error>(())
//! ```
//!
//! # Entry points
//!
//! - Framing: [`PacketCodec::decode`] / [`PacketCodec::encode`] /
//!   [`PacketCodec::encode_with`] for packets the proxy reads or writes
//!   itself; [`PacketCodec::next_frame`] for bytes it only relays.
//! - Server role (facing applications): build an
//!   [`handshake::InitialHandshake`] with [`auth::generate_nonce`], decode
//!   [`handshake::SslRequest`] / [`handshake::HandshakeResponse`], verify with
//!   [`auth::native::verify`], [`auth::ServerSha2`] or [`auth::ed25519::verify`],
//!   then [`Command::decode`] each command.
//! - Client role (facing backends): [`auth::ClientAuth`] answers the
//!   backend's handshake, switch requests and caching_sha2 exchanges.
//! - Relaying a response: [`ResponseTracker::start`] with the command byte,
//!   then [`ResponseTracker::feed_frame`] (or `feed`) per server packet until
//!   [`Step::Done`]; [`ResponseTracker::feed_client`] for LOCAL INFILE data.
//! - Answering itself: [`response::OkPacket`], [`response::ErrPacket::new`]
//!   with a [`response::code`] constant, [`response::TextResultSet`].
//!
//! # Layout
//!
//! - [`framing`] — 4-byte headers, sequence ids, 16 MiB split and join ([`PacketCodec`]).
//! - [`flags`] — capability and status flags.
//! - [`collation`] — collation ids, names and character sets.
//! - [`handshake`] — connection phase packets, including COM_CHANGE_USER.
//! - [`auth`] — `mysql_native_password` and `caching_sha2_password`, both roles.
//! - [`command`] — the typed, borrowing [`Command`] enum.
//! - [`prepared`] — COM_STMT_PREPARE OK and COM_STMT_EXECUTE parameters.
//! - [`response`] — OK, ERR, EOF, column definitions, rows, error codes, builders.
//! - [`tracker`] — the response framing state machine ([`ResponseTracker`]).
//! - [`value`] — column types and binary-protocol values.
//! - `error`: the crate's [`Error`].
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod auth;
pub mod collation;
pub mod command;
mod error;
pub mod flags;
pub mod framing;
pub mod handshake;
pub mod prepared;
pub mod response;
pub mod tracker;
pub mod value;
mod wire;

pub use command::Command;
pub use error::{Error, Result};
pub use flags::{CapabilityFlags, StatusFlags};
pub use framing::{Frame, Packet, PacketCodec};
pub use tracker::{Completion, End, Expect, ResponseTracker, Step};
