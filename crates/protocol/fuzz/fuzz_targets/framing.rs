//! PacketCodec on arbitrary bytes: decode (with reassembly) and next_frame;
//! what decodes must re-encode to the same payloads.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use splitrail_protocol::PacketCodec;

fuzz_target!(|data: &[u8]| {
    let Some((&knobs, wire)) = data.split_first() else {
        return;
    };
    let mut codec = PacketCodec::new(1 << (8 + knobs % 20));
    codec.check_seq = knobs & 0x80 == 0;
    let mut buf = BytesMut::from(wire);
    let mut payloads = Vec::new();
    while let Ok(Some(p)) = codec.decode(&mut buf) {
        payloads.push(p.payload);
    }
    let mut out = BytesMut::new();
    let mut enc = PacketCodec::new(usize::MAX);
    for p in &payloads {
        enc.encode(p, &mut out).unwrap();
    }
    let mut dec = PacketCodec::new(usize::MAX);
    for p in &payloads {
        let got = dec.decode(&mut out).unwrap().unwrap();
        assert_eq!(&got.payload, p);
    }

    let mut codec = PacketCodec::new(1 << (8 + knobs % 20));
    let mut at = 0;
    while let Ok(Some(f)) = codec.next_frame(&wire[at..]) {
        at += f.wire_len();
    }
});
