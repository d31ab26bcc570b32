//! The server's Initial Handshake packet (protocol version 10).

use bytes::{BufMut, BytesMut};

use crate::error::{Error, Result};
use crate::flags::{CapabilityFlags, StatusFlags};
use crate::wire::{Reader, WriteExt};

/// Initial Handshake v10, sent by the server when a client connects.
///
/// MariaDB servers clear [`CapabilityFlags::CLIENT_MYSQL`] and put their
/// extended capabilities in the last 4 of the 10 reserved bytes; both variants
/// decode into this one type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitialHandshake {
    /// Server version string, e.g. `5.5.5-10.11.6-MariaDB` (the `5.5.5-`
    /// prefix is MariaDB's way of staying compatible with old clients).
    pub server_version: Vec<u8>,
    /// The server thread id, used by `KILL` and COM_PROCESS_KILL.
    pub connection_id: u32,
    /// The auth plugin data (the 20-byte nonce), without the trailing NUL.
    pub auth_plugin_data: Vec<u8>,
    /// Server capabilities, including MariaDB's extended bits.
    pub capabilities: CapabilityFlags,
    /// The server's default collation id (low byte).
    pub charset: u8,
    /// Server status at connect time.
    pub status: StatusFlags,
    /// The default auth plugin, e.g. `mysql_native_password`; empty when the
    /// server did not send one.
    pub auth_plugin_name: Vec<u8>,
}

impl InitialHandshake {
    /// Decodes the payload of an Initial Handshake packet.
    ///
    /// A server that refuses the connection sends an ERR packet (first byte
    /// 0xFF) instead; check for it before calling this.
    pub fn decode(payload: &[u8]) -> Result<Self> {
        let mut r = Reader::new(payload);
        let version = r.u8()?;
        if version != 10 {
            return Err(Error::UnsupportedProtocolVersion(version));
        }
        let server_version = r.nul_bytes("server version")?.to_vec();
        let connection_id = r.u32()?;
        let mut auth_plugin_data = r.bytes(8)?.to_vec();
        r.u8()?; // filler
        let cap_low = u32::from(r.u16()?);
        let mut hs = Self {
            server_version,
            connection_id,
            auth_plugin_data,
            capabilities: CapabilityFlags::from_bits_retain(u64::from(cap_low)),
            charset: 0,
            status: StatusFlags::empty(),
            auth_plugin_name: Vec::new(),
        };
        if r.is_empty() {
            return Ok(hs);
        }
        hs.charset = r.u8()?;
        hs.status = StatusFlags::from_bits_retain(r.u16()?);
        let cap_high = u32::from(r.u16()?) << 16;
        let data_len = usize::from(r.u8()?);
        r.bytes(6)?;
        let ext = r.u32()?;
        let mysql = cap_low | cap_high;
        let mariadb = if mysql & 1 == 0 { ext } else { 0 };
        hs.capabilities = CapabilityFlags::from_halves(mysql, mariadb);
        auth_plugin_data = std::mem::take(&mut hs.auth_plugin_data);
        if hs
            .capabilities
            .contains(CapabilityFlags::CLIENT_SECURE_CONNECTION)
        {
            let part2_len = data_len.saturating_sub(8).max(13);
            let part2 = r.bytes(part2_len.min(r.remaining()))?;
            let part2 = part2.strip_suffix(b"\0").unwrap_or(part2);
            auth_plugin_data.extend_from_slice(part2);
        }
        hs.auth_plugin_data = auth_plugin_data;
        if hs
            .capabilities
            .contains(CapabilityFlags::CLIENT_PLUGIN_AUTH)
        {
            hs.auth_plugin_name = r.nul_bytes_or_rest().to_vec();
        }
        Ok(hs)
    }

    /// Appends the payload to `dst`.
    pub fn encode(&self, dst: &mut BytesMut) {
        dst.put_u8(10);
        dst.put_nul_bytes(&self.server_version);
        dst.put_u32_le(self.connection_id);
        let data = &self.auth_plugin_data;
        let (part1, part2) = data.split_at(data.len().min(8));
        dst.put_slice(part1);
        dst.put_bytes(0, 8 - part1.len());
        dst.put_u8(0);
        let caps = self.capabilities;
        dst.put_u16_le(caps.mysql_bits() as u16);
        dst.put_u8(self.charset);
        dst.put_u16_le(self.status.bits());
        dst.put_u16_le((caps.mysql_bits() >> 16) as u16);
        if caps.contains(CapabilityFlags::CLIENT_PLUGIN_AUTH) {
            dst.put_u8((data.len() + 1).min(255) as u8);
        } else {
            dst.put_u8(0);
        }
        dst.put_bytes(0, 6);
        if caps.uses_mariadb_extensions() {
            dst.put_u32_le(caps.mariadb_bits());
        } else {
            dst.put_u32_le(0);
        }
        if caps.contains(CapabilityFlags::CLIENT_SECURE_CONNECTION) {
            dst.put_slice(part2);
            dst.put_bytes(0, 13usize.saturating_sub(part2.len()).max(1));
        }
        if caps.contains(CapabilityFlags::CLIENT_PLUGIN_AUTH) {
            dst.put_nul_bytes(&self.auth_plugin_name);
        }
    }
}
