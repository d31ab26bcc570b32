//! Response decoders on arbitrary backend bytes: OK, ERR, EOF, column
//! definitions, prepare OK, LOCAL INFILE and both row formats.
#![no_main]

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use splitrail_protocol::CapabilityFlags;
use splitrail_protocol::prepared::StmtPrepareOk;
use splitrail_protocol::response::{
    BinaryRow, ColumnDefinition, EofPacket, ErrPacket, LocalInfileRequest, OkPacket, TextRow,
};
use splitrail_protocol::value::ColumnType;

fuzz_target!(|data: &[u8]| {
    if data.len() < 8 {
        return;
    }
    let (head, payload) = data.split_at(8);
    let mut c = [0u8; 8];
    c.copy_from_slice(head);
    let caps = CapabilityFlags::from_bits_retain(u64::from_le_bytes(c));
    if let Ok(ok) = OkPacket::decode(payload, caps) {
        let mut b = BytesMut::new();
        ok.encode(caps, &mut b);
        assert_eq!(OkPacket::decode(&b, caps).as_ref(), Ok(&ok));
    }
    let _ = ErrPacket::decode(payload, caps);
    let _ = EofPacket::decode(payload, caps);
    let _ = ColumnDefinition::decode(payload, caps);
    let _ = StmtPrepareOk::decode(payload);
    let _ = LocalInfileRequest::decode(payload);
    let _ = TextRow::new(Bytes::copy_from_slice(payload)).decode_all();
    let columns: Vec<ColumnDefinition> = head
        .iter()
        .map(|&t| ColumnDefinition {
            column_type: ColumnType::from_u8(t),
            ..ColumnDefinition::default()
        })
        .collect();
    let _ = BinaryRow::new(Bytes::copy_from_slice(payload)).decode_all(&columns);
});
