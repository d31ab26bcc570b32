//! Command::decode (and COM_STMT_EXECUTE parameter decoding) on arbitrary
//! client bytes; the first 9 bytes choose capabilities and a parameter count.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use splitrail_protocol::prepared::ParamType;
use splitrail_protocol::value::ColumnType;
use splitrail_protocol::{CapabilityFlags, Command};

fuzz_target!(|data: &[u8]| {
    if data.len() < 9 {
        return;
    }
    let (head, payload) = data.split_at(9);
    let mut c = [0u8; 8];
    c.copy_from_slice(&head[..8]);
    let caps = CapabilityFlags::from_bits_retain(u64::from_le_bytes(c));
    let n = usize::from(head[8]);
    if let Ok(cmd) = Command::decode(payload, caps) {
        if let Command::StmtExecute(e) = &cmd {
            let prev = vec![
                ParamType {
                    ty: ColumnType::from_u8(head[0]),
                    unsigned: false
                };
                n / 2
            ];
            let _ = e.params(n, &prev, caps);
        }
        let mut b = BytesMut::new();
        cmd.encode(caps, &mut b);
        let _ = Command::decode(&b, caps);
    }
});
