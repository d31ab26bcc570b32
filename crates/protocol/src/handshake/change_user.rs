//! COM_CHANGE_USER: re-authenticate on an open connection and reset its state.

use bytes::{BufMut, BytesMut};

use super::{read_attrs, write_attrs};
use crate::error::{Error, Result};
use crate::flags::CapabilityFlags;
use crate::wire::{Reader, WriteExt};

/// Command byte of COM_CHANGE_USER.
pub const COM_CHANGE_USER: u8 = 0x11;

/// COM_CHANGE_USER, borrowing the command payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeUser<'a> {
    /// New user name.
    pub user: &'a [u8],
    /// Auth response computed with the nonce of the current connection.
    pub auth_response: &'a [u8],
    /// New default database (empty for none).
    pub database: &'a [u8],
    /// New collation id, when sent.
    pub charset: Option<u16>,
    /// Plugin that produced `auth_response`, when sent.
    pub auth_plugin_name: Option<&'a [u8]>,
    /// Connection attributes, when sent.
    pub connect_attrs: Option<Vec<(&'a [u8], &'a [u8])>>,
}

impl<'a> ChangeUser<'a> {
    /// Decodes the body of COM_CHANGE_USER (the payload after the 0x11 byte).
    pub fn decode_body(body: &'a [u8], caps: CapabilityFlags) -> Result<Self> {
        let mut r = Reader::new(body);
        let user = r.nul_bytes("user name")?;
        let auth_response = if caps.contains(CapabilityFlags::CLIENT_SECURE_CONNECTION) {
            let n = usize::from(r.u8()?);
            r.bytes(n)?
        } else {
            r.nul_bytes("auth response")?
        };
        let database = r.nul_bytes_or_rest();
        let mut cu = Self {
            user,
            auth_response,
            database,
            charset: None,
            auth_plugin_name: None,
            connect_attrs: None,
        };
        if r.is_empty() {
            return Ok(cu);
        }
        cu.charset = Some(r.u16()?);
        if caps.contains(CapabilityFlags::CLIENT_PLUGIN_AUTH) && !r.is_empty() {
            cu.auth_plugin_name = Some(r.nul_bytes_or_rest());
        }
        if caps.contains(CapabilityFlags::CLIENT_CONNECT_ATTRS) && !r.is_empty() {
            cu.connect_attrs = Some(read_attrs(&mut r)?);
        }
        Ok(cu)
    }

    /// Decodes a whole COM_CHANGE_USER payload.
    pub fn decode(payload: &'a [u8], caps: CapabilityFlags) -> Result<Self> {
        match payload.split_first() {
            Some((&COM_CHANGE_USER, body)) => Self::decode_body(body, caps),
            Some((&byte, _)) => Err(Error::UnexpectedHeader {
                what: "COM_CHANGE_USER",
                byte,
            }),
            None => Err(Error::Truncated { need: 1, have: 0 }),
        }
    }

    /// Appends the whole payload (with the command byte) to `dst`.
    pub fn encode(&self, caps: CapabilityFlags, dst: &mut BytesMut) {
        dst.put_u8(COM_CHANGE_USER);
        dst.put_nul_bytes(self.user);
        if caps.contains(CapabilityFlags::CLIENT_SECURE_CONNECTION) {
            let n = self.auth_response.len().min(255);
            dst.put_u8(n as u8);
            dst.put_slice(self.auth_response.get(..n).unwrap_or_default());
        } else {
            dst.put_nul_bytes(self.auth_response);
        }
        dst.put_nul_bytes(self.database);
        let Some(charset) = self.charset else {
            return;
        };
        dst.put_u16_le(charset);
        if caps.contains(CapabilityFlags::CLIENT_PLUGIN_AUTH) {
            dst.put_nul_bytes(self.auth_plugin_name.unwrap_or_default());
        }
        if let (true, Some(attrs)) = (
            caps.contains(CapabilityFlags::CLIENT_CONNECT_ATTRS),
            &self.connect_attrs,
        ) {
            write_attrs(dst, attrs.iter().copied());
        }
    }
}
