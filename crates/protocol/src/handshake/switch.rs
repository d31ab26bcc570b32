//! AuthSwitchRequest and AuthMoreData: the server steering authentication.
//!
//! The client's replies (AuthSwitchResponse, a caching_sha2 public-key
//! request, an encrypted password) are bare payloads with no header, so they
//! need no type here.

use bytes::{BufMut, BytesMut};

use crate::error::{Error, Result};
use crate::wire::{Reader, WriteExt};

/// Header byte of an AuthSwitchRequest.
pub const AUTH_SWITCH_HEADER: u8 = 0xFE;
/// Header byte of an AuthMoreData packet.
pub const AUTH_MORE_DATA_HEADER: u8 = 0x01;

/// The server asks the client to authenticate again with another plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthSwitchRequest {
    /// Plugin to switch to, e.g. `mysql_native_password`.
    pub plugin_name: Vec<u8>,
    /// Plugin data (usually a new 20-byte nonce; MySQL and MariaDB append a NUL).
    pub plugin_data: Vec<u8>,
}

impl AuthSwitchRequest {
    /// Decodes an AuthSwitchRequest payload (first byte 0xFE).
    pub fn decode(payload: &[u8]) -> Result<Self> {
        let mut r = Reader::new(payload);
        let h = r.u8()?;
        if h != AUTH_SWITCH_HEADER {
            return Err(Error::UnexpectedHeader {
                what: "AuthSwitchRequest",
                byte: h,
            });
        }
        // A lone 0xFE is the pre-4.1 "old password" switch: no name, no data.
        let plugin_name = r.nul_bytes_or_rest().to_vec();
        let plugin_data = r.rest().to_vec();
        Ok(Self {
            plugin_name,
            plugin_data,
        })
    }

    /// The nonce without the trailing NUL servers add to the 20-byte nonce of
    /// the scramble plugins (`client_ed25519` sends 32 raw bytes: use
    /// `plugin_data` as is).
    pub fn nonce(&self) -> &[u8] {
        self.plugin_data
            .strip_suffix(b"\0")
            .unwrap_or(&self.plugin_data)
    }

    /// Appends the payload to `dst`.
    pub fn encode(&self, dst: &mut BytesMut) {
        dst.put_u8(AUTH_SWITCH_HEADER);
        dst.put_nul_bytes(&self.plugin_name);
        dst.put_slice(&self.plugin_data);
    }
}

/// Extra authentication data from the server (first byte 0x01), e.g.
/// caching_sha2's "fast auth succeeded" (0x03), "perform full authentication"
/// (0x04) or a PEM public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthMoreData {
    /// The data after the header byte.
    pub data: Vec<u8>,
}

impl AuthMoreData {
    /// Decodes an AuthMoreData payload.
    pub fn decode(payload: &[u8]) -> Result<Self> {
        match payload.split_first() {
            Some((&AUTH_MORE_DATA_HEADER, data)) => Ok(Self {
                data: data.to_vec(),
            }),
            Some((&byte, _)) => Err(Error::UnexpectedHeader {
                what: "AuthMoreData",
                byte,
            }),
            None => Err(Error::Truncated { need: 1, have: 0 }),
        }
    }

    /// Appends the payload to `dst`.
    pub fn encode(&self, dst: &mut BytesMut) {
        dst.put_u8(AUTH_MORE_DATA_HEADER);
        dst.put_slice(&self.data);
    }
}
