//! The client's answer to the handshake: SSLRequest and HandshakeResponse41.

use bytes::{BufMut, BytesMut};

use super::{read_attrs, write_attrs};
use crate::error::{Error, Result};
use crate::flags::CapabilityFlags;
use crate::wire::{Reader, WriteExt};

/// Connection attributes (`_client_name`, `program_name`, …) as key/value pairs.
pub type ConnectAttrs = Vec<(Vec<u8>, Vec<u8>)>;

/// Length of an SSLRequest payload, and of the fixed prefix of every
/// HandshakeResponse41.
pub const SSL_REQUEST_LEN: usize = 32;

/// The 32-byte SSLRequest a client sends before starting TLS; it is the fixed
/// prefix of a HandshakeResponse41.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SslRequest {
    /// Client capabilities; always includes `CLIENT_SSL`.
    pub capabilities: CapabilityFlags,
    /// Largest packet the client wants to send.
    pub max_packet_size: u32,
    /// The client's collation id.
    pub charset: u8,
}

impl SslRequest {
    /// Reads the fixed 32-byte prefix shared with HandshakeResponse41.
    fn read(r: &mut Reader<'_>) -> Result<Self> {
        let mysql = r.u32()?;
        if mysql & CapabilityFlags::CLIENT_PROTOCOL_41.mysql_bits() == 0 {
            return Err(Error::InvalidValue {
                what: "client capabilities without CLIENT_PROTOCOL_41",
                value: u64::from(mysql),
            });
        }
        let max_packet_size = r.u32()?;
        let charset = r.u8()?;
        r.bytes(19)?;
        let ext = r.u32()?;
        let mariadb = if mysql & 1 == 0 { ext } else { 0 };
        Ok(Self {
            capabilities: CapabilityFlags::from_halves(mysql, mariadb),
            max_packet_size,
            charset,
        })
    }

    /// True when `payload` is an SSLRequest rather than a full HandshakeResponse41.
    pub fn is_ssl_request(payload: &[u8]) -> bool {
        // CLIENT_SSL is bit 11: bit 3 of the second byte.
        payload.len() == SSL_REQUEST_LEN && payload.get(1).is_some_and(|b| b & 0x08 != 0)
    }

    /// Decodes an SSLRequest payload.
    pub fn decode(payload: &[u8]) -> Result<Self> {
        let mut r = Reader::new(payload);
        let req = Self::read(&mut r)?;
        if !r.is_empty() {
            return Err(Error::TrailingBytes {
                what: "SSLRequest",
                len: r.remaining(),
            });
        }
        Ok(req)
    }

    /// Appends the payload to `dst`.
    pub fn encode(&self, dst: &mut BytesMut) {
        let caps = self.capabilities;
        dst.put_u32_le(caps.mysql_bits());
        dst.put_u32_le(self.max_packet_size);
        dst.put_u8(self.charset);
        dst.put_bytes(0, 19);
        if caps.uses_mariadb_extensions() {
            dst.put_u32_le(caps.mariadb_bits());
        } else {
            dst.put_u32_le(0);
        }
    }
}

/// HandshakeResponse41: who the client is and its first auth response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeResponse {
    /// Client capabilities (including MariaDB extended bits when the client
    /// clears `CLIENT_MYSQL`).
    pub capabilities: CapabilityFlags,
    /// Largest packet the client wants to send.
    pub max_packet_size: u32,
    /// The client's collation id (low byte).
    pub charset: u8,
    /// User name.
    pub username: Vec<u8>,
    /// The auth plugin's response to the server's nonce (e.g. the 20-byte
    /// native-password scramble).
    pub auth_response: Vec<u8>,
    /// Initial database, when `CLIENT_CONNECT_WITH_DB` is set and one was given.
    pub database: Option<Vec<u8>>,
    /// The plugin that produced `auth_response`, when `CLIENT_PLUGIN_AUTH` is set.
    pub auth_plugin_name: Option<Vec<u8>>,
    /// Connection attributes, when `CLIENT_CONNECT_ATTRS` is set and a block was sent.
    pub connect_attrs: Option<ConnectAttrs>,
}

impl HandshakeResponse {
    /// Decodes a HandshakeResponse41 payload (the pre-4.1 format is refused).
    pub fn decode(payload: &[u8]) -> Result<Self> {
        let mut r = Reader::new(payload);
        let head = SslRequest::read(&mut r)?;
        let caps = head.capabilities;
        let username = r.nul_bytes("user name")?.to_vec();
        let auth_response =
            if caps.contains(CapabilityFlags::CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA) {
                r.lenenc_bytes()?
            } else if caps.contains(CapabilityFlags::CLIENT_SECURE_CONNECTION) {
                let n = usize::from(r.u8()?);
                r.bytes(n)?
            } else {
                r.nul_bytes("auth response")?
            }
            .to_vec();
        let mut database = None;
        if caps.contains(CapabilityFlags::CLIENT_CONNECT_WITH_DB) && !r.is_empty() {
            database = Some(r.nul_bytes_or_rest().to_vec());
        }
        let mut auth_plugin_name = None;
        if caps.contains(CapabilityFlags::CLIENT_PLUGIN_AUTH) && !r.is_empty() {
            auth_plugin_name = Some(r.nul_bytes_or_rest().to_vec());
        }
        let mut connect_attrs = None;
        if caps.contains(CapabilityFlags::CLIENT_CONNECT_ATTRS) && !r.is_empty() {
            let attrs = read_attrs(&mut r)?;
            connect_attrs = Some(
                attrs
                    .into_iter()
                    .map(|(k, v)| (k.to_vec(), v.to_vec()))
                    .collect(),
            );
        }
        // MySQL 8 may append a zstd compression level; anything else is ignored
        // for compatibility with clients that add fields.
        Ok(Self {
            capabilities: caps,
            max_packet_size: head.max_packet_size,
            charset: head.charset,
            username,
            auth_response,
            database,
            auth_plugin_name,
            connect_attrs,
        })
    }

    /// Appends the payload to `dst`.
    pub fn encode(&self, dst: &mut BytesMut) {
        let caps = self.capabilities;
        SslRequest {
            capabilities: caps,
            max_packet_size: self.max_packet_size,
            charset: self.charset,
        }
        .encode(dst);
        dst.put_nul_bytes(&self.username);
        if caps.contains(CapabilityFlags::CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA) {
            dst.put_lenenc_bytes(&self.auth_response);
        } else if caps.contains(CapabilityFlags::CLIENT_SECURE_CONNECTION) {
            let n = self.auth_response.len().min(255);
            dst.put_u8(n as u8);
            dst.put_slice(self.auth_response.get(..n).unwrap_or_default());
        } else {
            dst.put_nul_bytes(&self.auth_response);
        }
        if caps.contains(CapabilityFlags::CLIENT_CONNECT_WITH_DB) {
            dst.put_nul_bytes(self.database.as_deref().unwrap_or_default());
        }
        if caps.contains(CapabilityFlags::CLIENT_PLUGIN_AUTH) {
            dst.put_nul_bytes(self.auth_plugin_name.as_deref().unwrap_or_default());
        }
        match &self.connect_attrs {
            Some(attrs) if caps.contains(CapabilityFlags::CLIENT_CONNECT_ATTRS) => {
                write_attrs(dst, attrs.iter().map(|(k, v)| (&k[..], &v[..])));
            }
            _ => {}
        }
    }
}
