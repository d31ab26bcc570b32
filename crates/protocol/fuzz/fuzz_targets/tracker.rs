//! ResponseTracker fed arbitrary packet sequences. Byte 0 is the command,
//! bytes 1-8 the capabilities; then each packet is a length byte and that
//! many bytes (a length of 0xFF marks a client LOCAL INFILE packet).
#![no_main]

use libfuzzer_sys::fuzz_target;
use splitrail_protocol::{CapabilityFlags, ResponseTracker};

fuzz_target!(|data: &[u8]| {
    if data.len() < 9 {
        return;
    }
    let mut c = [0u8; 8];
    c.copy_from_slice(&data[1..9]);
    let caps = CapabilityFlags::from_bits_retain(u64::from_le_bytes(c));
    let mut t = ResponseTracker::new(caps);
    t.start(data[0]);
    let mut rest = &data[9..];
    while let Some((&len, tail)) = rest.split_first() {
        let (client, len) = (len == 0xFF, usize::from(len & 0x7F));
        let (p, tail) = tail.split_at(len.min(tail.len()));
        rest = tail;
        let _ = if client {
            t.feed_client(p)
        } else if len % 2 == 0 {
            t.feed(p)
        } else {
            t.feed_frame(p)
        };
        if t.is_done() {
            t.start(p.first().copied().unwrap_or(3));
        }
    }
});
