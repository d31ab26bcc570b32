//! Both auth roles fed arbitrary peer packets: ClientAuth with what a
//! backend might send, ServerSha2 with what a client might send.
#![no_main]

use libfuzzer_sys::fuzz_target;
use splitrail_protocol::CapabilityFlags;
use splitrail_protocol::auth::{ClientAuth, ServerSha2, caching_sha2, native};
use splitrail_protocol::handshake::InitialHandshake;

fuzz_target!(|data: &[u8]| {
    let caps = CapabilityFlags::CLIENT_PROTOCOL_41;
    let mut nonce = [0u8; 20];
    for (n, d) in nonce.iter_mut().zip(data) {
        *n = *d;
    }
    let packets: Vec<&[u8]> = data.split(|b| *b == 0xAA).collect();
    let hs = InitialHandshake {
        server_version: b"x".to_vec(),
        connection_id: 0,
        auth_plugin_data: nonce.to_vec(),
        capabilities: caps,
        charset: 45,
        status: Default::default(),
        auth_plugin_name: packets.first().map(|p| p.to_vec()).unwrap_or_default(),
    };
    let mut client = ClientAuth::new(b"pw", data.first() == Some(&1));
    if client.start(&hs).is_ok() {
        for p in &packets {
            let _ = client.handle(p, caps);
        }
    }
    let mut server = ServerSha2::new(
        nonce,
        caching_sha2::password_hash(b"pw"),
        data.get(1) == Some(&1),
        None,
    );
    for p in &packets {
        let _ = server.handle(p);
        let _ = native::verify(Some(&native::password_hash(b"pw")), &nonce, p);
    }
});
