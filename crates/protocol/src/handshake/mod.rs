//! The connection phase: every packet exchanged before the first command.
//!
//! - [`InitialHandshake`]: the server's greeting (Initial Handshake v10, MySQL
//!   and MariaDB variants).
//! - [`SslRequest`] and [`HandshakeResponse`]: the client's answer
//!   (HandshakeResponse41 with database, plugin name and connect attributes).
//! - [`AuthSwitchRequest`], [`AuthMoreData`]: the server asking for another
//!   plugin or sending plugin data; the client's replies are raw payloads.
//! - [`ChangeUser`]: COM_CHANGE_USER, which restarts authentication.
//!
//! The scrambles themselves are computed in [`crate::auth`].

mod change_user;
mod initial;
mod response;
mod switch;

/// Header bytes of the auth packets (0xFE switch, 0x01 more data).
pub mod switch_headers {
    pub use super::switch::{AUTH_MORE_DATA_HEADER, AUTH_SWITCH_HEADER};
}

pub use change_user::ChangeUser;
pub use initial::InitialHandshake;
pub use response::{ConnectAttrs, HandshakeResponse, SslRequest};
pub use switch::{AuthMoreData, AuthSwitchRequest};

use crate::error::Result;
use crate::wire::{Reader, WriteExt};
use bytes::BytesMut;

/// Reads a connect-attributes block (lenenc total length, then lenenc key/value pairs).
pub(crate) fn read_attrs<'a>(r: &mut Reader<'a>) -> Result<Vec<(&'a [u8], &'a [u8])>> {
    let block = r.lenenc_bytes()?;
    let mut r = Reader::new(block);
    let mut attrs = Vec::new();
    while !r.is_empty() {
        let k = r.lenenc_bytes()?;
        let v = r.lenenc_bytes()?;
        attrs.push((k, v));
    }
    Ok(attrs)
}

/// Writes a connect-attributes block.
pub(crate) fn write_attrs<'a>(
    dst: &mut BytesMut,
    attrs: impl Iterator<Item = (&'a [u8], &'a [u8])> + Clone,
) {
    let mut block = BytesMut::new();
    for (k, v) in attrs {
        block.put_lenenc_bytes(k);
        block.put_lenenc_bytes(v);
    }
    dst.put_lenenc_bytes(&block);
}
