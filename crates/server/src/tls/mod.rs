//! TLS on both sides: the stream types client and backend connections run on, loading the
//! configured certificates, keys and CA at start, and the certificate checks of each backend
//! mode.
//!
//! A connection starts in plain TCP; the MySQL protocol upgrades it after the server's greeting
//! (the client sends an SSLRequest, then the TLS handshake, then its HandshakeResponse41 over
//! TLS). [`ClientStream`] and [`BackendStream`] are an enum over the plain socket and the TLS
//! stream, so `PacketIo` and the relay are the same code for both and the plain path costs one
//! `match` per read or write — no allocation, no extra system call.
//!
//! rustls runs on the `ring` provider, given explicitly to every config (no process-wide
//! default is installed or relied on).
//!
//! # Layout
//! - `stream`: [`ClientStream`] and [`BackendStream`], the byte streams connections run on.
//! - `setup`: [`Tls`] and [`BackendTlsSetup`], loaded from `tls:` at start.
//! - `verify`: the backend certificate checks of each mode.
mod setup;
mod stream;
mod verify;

pub use setup::{BackendTlsSetup, Tls};
pub use stream::{BackendStream, ClientStream};
pub use verify::host_of;

#[cfg(test)]
mod tests;
