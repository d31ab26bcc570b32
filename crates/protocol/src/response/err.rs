//! ERR and EOF packets.

use bytes::{BufMut, BytesMut};

use super::codes::ErrorCode;
use super::{EOF_HEADER, ERR_HEADER};
use crate::error::{Error, Result};
use crate::flags::{CapabilityFlags, StatusFlags};
use crate::wire::Reader;

/// The ERR packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrPacket {
    /// Error number, e.g. 1064.
    pub code: u16,
    /// Five-character SQLSTATE, when the 4.1 protocol is in use.
    pub sql_state: Option<[u8; 5]>,
    /// Human-readable message.
    pub message: Vec<u8>,
}

impl ErrPacket {
    /// An ERR for one of the known codes.
    pub fn new(code: ErrorCode, message: impl Into<Vec<u8>>) -> Self {
        let mut state = [b'H', b'Y', b'0', b'0', b'0'];
        if let Ok(s) = <[u8; 5]>::try_from(code.sql_state.as_bytes()) {
            state = s;
        }
        Self {
            code: code.code,
            sql_state: Some(state),
            message: message.into(),
        }
    }

    /// Decodes an ERR payload. A MariaDB progress report (code 0xFFFF) decodes
    /// too; check [`is_progress_report`] first where it matters.
    pub fn decode(payload: &[u8], caps: CapabilityFlags) -> Result<Self> {
        let mut r = Reader::new(payload);
        let h = r.u8()?;
        if h != ERR_HEADER {
            return Err(Error::UnexpectedHeader {
                what: "ERR packet",
                byte: h,
            });
        }
        let code = r.u16()?;
        let mut sql_state = None;
        if caps.contains(CapabilityFlags::CLIENT_PROTOCOL_41) && r.peek() == Some(b'#') {
            r.u8()?;
            let s = r.bytes(5)?;
            let mut state = [0u8; 5];
            state.copy_from_slice(s);
            sql_state = Some(state);
        }
        Ok(Self {
            code,
            sql_state,
            message: r.rest().to_vec(),
        })
    }

    /// Appends the payload to `dst`.
    pub fn encode(&self, caps: CapabilityFlags, dst: &mut BytesMut) {
        dst.put_u8(ERR_HEADER);
        dst.put_u16_le(self.code);
        if let (true, Some(s)) = (
            caps.contains(CapabilityFlags::CLIENT_PROTOCOL_41),
            self.sql_state,
        ) {
            dst.put_u8(b'#');
            dst.put_slice(&s);
        }
        dst.put_slice(&self.message);
    }
}

/// True for a MariaDB progress-report packet (an ERR with code 0xFFFF, sent
/// only to clients with MARIADB_CLIENT_PROGRESS); it does not end a response.
pub fn is_progress_report(payload: &[u8]) -> bool {
    payload.get(..3) == Some(&[0xFF, 0xFF, 0xFF])
}

/// The EOF packet (without CLIENT_DEPRECATE_EOF).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EofPacket {
    /// Number of warnings.
    pub warnings: u16,
    /// Server status.
    pub status: StatusFlags,
}

impl EofPacket {
    /// Decodes an EOF payload.
    pub fn decode(payload: &[u8], caps: CapabilityFlags) -> Result<Self> {
        let mut r = Reader::new(payload);
        let h = r.u8()?;
        if h != EOF_HEADER {
            return Err(Error::UnexpectedHeader {
                what: "EOF packet",
                byte: h,
            });
        }
        if !caps.contains(CapabilityFlags::CLIENT_PROTOCOL_41) {
            return Ok(Self::default());
        }
        Ok(Self {
            warnings: r.u16()?,
            status: StatusFlags::from_bits_retain(r.u16()?),
        })
    }

    /// Appends the payload to `dst`.
    pub fn encode(&self, caps: CapabilityFlags, dst: &mut BytesMut) {
        dst.put_u8(EOF_HEADER);
        if caps.contains(CapabilityFlags::CLIENT_PROTOCOL_41) {
            dst.put_u16_le(self.warnings);
            dst.put_u16_le(self.status.bits());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::code;
    use super::*;

    #[test]
    fn err_bytes() {
        let caps = CapabilityFlags::CLIENT_PROTOCOL_41;
        let e = ErrPacket::new(code::ER_ACCESS_DENIED_ERROR, "denied");
        let mut b = BytesMut::new();
        e.encode(caps, &mut b);
        assert_eq!(&b[..], b"\xff\x15\x04#28000denied");
        assert_eq!(ErrPacket::decode(&b, caps), Ok(e));
        assert!(!is_progress_report(&b));
    }
}
