//! The OK packet and its session-state-change block.

use bytes::{BufMut, BytesMut};

use super::{EOF_HEADER, OK_HEADER};
use crate::error::{Error, Result};
use crate::flags::{CapabilityFlags, StatusFlags};
use crate::wire::{Reader, WriteExt};

/// One entry of the session-state-change block (CLIENT_SESSION_TRACK).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionStateChange {
    /// A tracked system variable changed (type 0).
    SystemVariable {
        /// Variable name.
        name: Vec<u8>,
        /// New value.
        value: Vec<u8>,
    },
    /// The current schema changed (type 1).
    Schema(Vec<u8>),
    /// Some session state changed (type 2); true for "1".
    StateChange(bool),
    /// GTIDs of the transaction (type 3).
    Gtids {
        /// Encoding specification (0 = text).
        encoding: u8,
        /// The GTID set.
        gtids: Vec<u8>,
    },
    /// Transaction characteristics as SQL (type 4), e.g. `START TRANSACTION READ ONLY;`.
    TransactionCharacteristics(Vec<u8>),
    /// Transaction state (type 5), 8 characters such as `T_______`.
    TransactionState(Vec<u8>),
    /// A type this crate does not know.
    Unknown {
        /// The entry type.
        kind: u8,
        /// The entry data.
        data: Vec<u8>,
    },
}

impl SessionStateChange {
    /// Reads one entry: its type and length frame it, so an entry whose data this crate cannot
    /// read is kept as [`SessionStateChange::Unknown`] and the entries after it still count
    /// (a GTID in the same block must never be lost to a neighbour's odd layout).
    fn read(r: &mut Reader<'_>) -> Result<Self> {
        let kind = r.u8()?;
        let data = r.lenenc_bytes()?;
        Ok(Self::parse(kind, data).unwrap_or_else(|_| Self::Unknown {
            kind,
            data: data.to_vec(),
        }))
    }

    fn parse(kind: u8, data: &[u8]) -> Result<Self> {
        let mut d = Reader::new(data);
        Ok(match kind {
            0 => Self::SystemVariable {
                name: d.lenenc_bytes()?.to_vec(),
                value: d.lenenc_bytes()?.to_vec(),
            },
            1 => Self::Schema(d.lenenc_bytes()?.to_vec()),
            // Servers (MariaDB's and MySQL's `Session_state_change_tracker::store`) send the
            // flag as the entry's data itself, `02 01 '1'`, with no inner length; the
            // documented lenenc form (`02 02 01 '1'`) is read too.
            2 => Self::StateChange(match data {
                [flag] => *flag == b'1',
                _ => d.lenenc_bytes()? == b"1",
            }),
            3 => Self::Gtids {
                encoding: d.u8()?,
                gtids: d.lenenc_bytes()?.to_vec(),
            },
            4 => Self::TransactionCharacteristics(d.lenenc_bytes()?.to_vec()),
            5 => Self::TransactionState(d.lenenc_bytes()?.to_vec()),
            kind => Self::Unknown {
                kind,
                data: data.to_vec(),
            },
        })
    }

    fn write(&self, dst: &mut BytesMut) {
        let mut d = BytesMut::new();
        let kind = match self {
            Self::SystemVariable { name, value } => {
                d.put_lenenc_bytes(name);
                d.put_lenenc_bytes(value);
                0
            }
            Self::Schema(s) => {
                d.put_lenenc_bytes(s);
                1
            }
            Self::StateChange(b) => {
                d.put_u8(if *b { b'1' } else { b'0' });
                2
            }
            Self::Gtids { encoding, gtids } => {
                d.put_u8(*encoding);
                d.put_lenenc_bytes(gtids);
                3
            }
            Self::TransactionCharacteristics(s) => {
                d.put_lenenc_bytes(s);
                4
            }
            Self::TransactionState(s) => {
                d.put_lenenc_bytes(s);
                5
            }
            Self::Unknown { kind, data } => {
                d.put_slice(data);
                *kind
            }
        };
        dst.put_u8(kind);
        dst.put_lenenc_bytes(&d);
    }
}

/// The OK packet (header 0x00, or 0xFE when it ends a result set under
/// CLIENT_DEPRECATE_EOF).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OkPacket {
    /// Rows changed (or found, with CLIENT_FOUND_ROWS).
    pub affected_rows: u64,
    /// `LAST_INSERT_ID()` after the statement.
    pub last_insert_id: u64,
    /// Server status after the statement.
    pub status: StatusFlags,
    /// Number of warnings.
    pub warnings: u16,
    /// Human-readable info, e.g. `Rows matched: 1  Changed: 1  Warnings: 0`.
    pub info: Vec<u8>,
    /// Session state changes, when CLIENT_SESSION_TRACK is on and
    /// SERVER_SESSION_STATE_CHANGED is set.
    pub session_state: Vec<SessionStateChange>,
}

impl OkPacket {
    /// Decodes an OK payload (header 0x00 or 0xFE).
    pub fn decode(payload: &[u8], caps: CapabilityFlags) -> Result<Self> {
        let mut r = Reader::new(payload);
        let h = r.u8()?;
        if h != OK_HEADER && h != EOF_HEADER {
            return Err(Error::UnexpectedHeader {
                what: "OK packet",
                byte: h,
            });
        }
        let mut ok = Self {
            affected_rows: r.lenenc_int()?,
            last_insert_id: r.lenenc_int()?,
            ..Self::default()
        };
        if caps.contains(CapabilityFlags::CLIENT_PROTOCOL_41) {
            ok.status = StatusFlags::from_bits_retain(r.u16()?);
            ok.warnings = r.u16()?;
        } else if caps.contains(CapabilityFlags::CLIENT_TRANSACTIONS) {
            ok.status = StatusFlags::from_bits_retain(r.u16()?);
        }
        if !caps.contains(CapabilityFlags::CLIENT_SESSION_TRACK) {
            // Servers send the info as a length-encoded string here too (MySQL's and MariaDB's
            // `net_send_ok` store it with `net_store_data`), and clients read it so; a bare
            // string without the length is taken as it is.
            let rest = r.rest();
            ok.info = match Reader::new(rest).lenenc_bytes() {
                Ok(info) if !rest.is_empty() => info.to_vec(),
                _ => rest.to_vec(),
            };
            return Ok(ok);
        }
        if r.is_empty() {
            return Ok(ok);
        }
        ok.info = r.lenenc_bytes()?.to_vec();
        if ok
            .status
            .contains(StatusFlags::SERVER_SESSION_STATE_CHANGED)
            && !r.is_empty()
        {
            let block = r.lenenc_bytes()?;
            let mut b = Reader::new(block);
            while !b.is_empty() {
                ok.session_state.push(SessionStateChange::read(&mut b)?);
            }
        }
        Ok(ok)
    }

    /// Appends an OK payload with header 0x00.
    pub fn encode(&self, caps: CapabilityFlags, dst: &mut BytesMut) {
        self.encode_with_header(OK_HEADER, caps, dst);
    }

    /// Appends an OK payload with header 0xFE, as it ends a result set under
    /// CLIENT_DEPRECATE_EOF.
    pub fn encode_as_eof(&self, caps: CapabilityFlags, dst: &mut BytesMut) {
        self.encode_with_header(EOF_HEADER, caps, dst);
    }

    fn encode_with_header(&self, header: u8, caps: CapabilityFlags, dst: &mut BytesMut) {
        dst.put_u8(header);
        dst.put_lenenc_int(self.affected_rows);
        dst.put_lenenc_int(self.last_insert_id);
        if caps.contains(CapabilityFlags::CLIENT_PROTOCOL_41) {
            dst.put_u16_le(self.status.bits());
            dst.put_u16_le(self.warnings);
        } else if caps.contains(CapabilityFlags::CLIENT_TRANSACTIONS) {
            dst.put_u16_le(self.status.bits());
        }
        if !caps.contains(CapabilityFlags::CLIENT_SESSION_TRACK) {
            // Length-encoded, as servers write it and clients (libmysqlclient, mysql_common)
            // parse it; a bare string makes them drop the whole OK (affected rows included).
            if !self.info.is_empty() {
                dst.put_lenenc_bytes(&self.info);
            }
            return;
        }
        dst.put_lenenc_bytes(&self.info);
        if self
            .status
            .contains(StatusFlags::SERVER_SESSION_STATE_CHANGED)
        {
            let mut block = BytesMut::new();
            for c in &self.session_state {
                c.write(&mut block);
            }
            dst.put_lenenc_bytes(&block);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ok_with_schema_change() {
        let caps = CapabilityFlags::CLIENT_PROTOCOL_41 | CapabilityFlags::CLIENT_SESSION_TRACK;
        // OK, 0 rows, id 0, status AUTOCOMMIT|STATE_CHANGED, 0 warnings, no
        // info, block: schema "test".
        let p = b"\x00\x00\x00\x02\x40\x00\x00\x00\x07\x01\x05\x04test";
        let ok = OkPacket::decode(p, caps).unwrap();
        assert_eq!(
            ok.session_state,
            [SessionStateChange::Schema(b"test".to_vec())]
        );
        let mut b = BytesMut::new();
        ok.encode(caps, &mut b);
        assert_eq!(&b[..], p);
    }

    #[test]
    fn state_change_flag_as_servers_send_it() {
        // MariaDB 10.11's OK after an INSERT on a connection whose schema had changed: status
        // AUTOCOMMIT|STATE_CHANGED, block: last_gtid = 0-1-20, schema "app", state change "1"
        // (type 2, length 1, the flag itself). Misread, the whole OK was lost, and with it the
        // write's GTID.
        let caps = CapabilityFlags::CLIENT_PROTOCOL_41 | CapabilityFlags::CLIENT_SESSION_TRACK;
        let p: &[u8] = b"\x00\x01\x00\x02\x40\x00\x00\x00\x1c\
            \x00\x11\x09last_gtid\x060-1-20\x01\x04\x03app\x02\x011";
        let ok = OkPacket::decode(p, caps).unwrap();
        assert_eq!(
            ok.session_state,
            [
                SessionStateChange::SystemVariable {
                    name: b"last_gtid".to_vec(),
                    value: b"0-1-20".to_vec(),
                },
                SessionStateChange::Schema(b"app".to_vec()),
                SessionStateChange::StateChange(true),
            ]
        );
        let mut b = BytesMut::new();
        ok.encode(caps, &mut b);
        assert_eq!(&b[..], p);
        // The documented form, with an inner length, is read too.
        let documented = b"\x00\x00\x00\x02\x40\x00\x00\x00\x04\x02\x02\x011";
        let ok = OkPacket::decode(documented, caps).unwrap();
        assert_eq!(ok.session_state, [SessionStateChange::StateChange(true)]);
    }

    #[test]
    fn an_entry_of_another_layout_does_not_hide_its_neighbours() {
        // A schema entry whose inner length overruns its frame, then a tracked variable.
        let caps = CapabilityFlags::CLIENT_PROTOCOL_41 | CapabilityFlags::CLIENT_SESSION_TRACK;
        let p = b"\x00\x00\x00\x02\x40\x00\x00\x00\x16\x01\x02\x09a\
            \x00\x10\x09last_gtid\x050-1-7";
        let ok = OkPacket::decode(p, caps).unwrap();
        assert_eq!(
            ok.session_state,
            [
                SessionStateChange::Unknown {
                    kind: 1,
                    data: b"\x09a".to_vec(),
                },
                SessionStateChange::SystemVariable {
                    name: b"last_gtid".to_vec(),
                    value: b"0-1-7".to_vec(),
                },
            ]
        );
    }

    #[test]
    fn info_is_length_encoded_without_session_track() {
        // What MariaDB sends after LOAD DATA to a client without CLIENT_SESSION_TRACK.
        let caps = CapabilityFlags::CLIENT_PROTOCOL_41;
        let p = b"\x00\x03\x00\x02\x00\x00\x00\x0aRecords: 3";
        let ok = OkPacket::decode(p, caps).unwrap();
        assert_eq!((ok.affected_rows, &ok.info[..]), (3, &b"Records: 3"[..]));
        let mut b = BytesMut::new();
        ok.encode(caps, &mut b);
        assert_eq!(&b[..], p);
        // A bare string is still read whole.
        let bare = b"\x00\x01\x00\x02\x00\x00\x00Rows matched: 1";
        let ok = OkPacket::decode(bare, caps).unwrap();
        assert_eq!(&ok.info[..], b"Rows matched: 1");
    }
}
