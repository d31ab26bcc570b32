//! Authentication in both roles, run against each other, plus an
//! interoperability check against OpenSSL's RSA-OAEP (what MySQL servers and
//! clients use for caching_sha2_password).
//!
//! `data/test_rsa_key.pem` is a throwaway 2048-bit key made for these tests
//! with `openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048`.

use splitrail_protocol::auth::{
    AuthPlugin, ClientAuth, ClientAuthStep, RsaPrivateKey, ServerSha2, ServerSha2Step, caching_sha2,
};
use splitrail_protocol::handshake::{AuthSwitchRequest, InitialHandshake};
use splitrail_protocol::{CapabilityFlags, StatusFlags};

const NONCE: [u8; 20] = *b"abcdefghij0123456789";

fn data(name: &str) -> String {
    std::fs::read_to_string(format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn key() -> RsaPrivateKey {
    caching_sha2::parse_private_key(&data("test_rsa_key.pem")).unwrap()
}

fn handshake(plugin: &[u8]) -> InitialHandshake {
    InitialHandshake {
        server_version: b"8.0.36".to_vec(),
        connection_id: 1,
        auth_plugin_data: NONCE.to_vec(),
        capabilities: CapabilityFlags::CLIENT_PROTOCOL_41 | CapabilityFlags::CLIENT_PLUGIN_AUTH,
        charset: 45,
        status: StatusFlags::SERVER_STATUS_AUTOCOMMIT,
        auth_plugin_name: plugin.to_vec(),
    }
}

/// Runs a client and a server against each other; true when the server accepts.
fn login(client_pw: &[u8], server_pw: &[u8], tls: bool, server_key: bool) -> bool {
    let caps = CapabilityFlags::CLIENT_PROTOCOL_41;
    let key = key();
    let mut client = ClientAuth::new(client_pw, tls);
    let (plugin, first) = client.start(&handshake(b"caching_sha2_password")).unwrap();
    assert_eq!(plugin, AuthPlugin::CachingSha2Password);
    let mut server = ServerSha2::new(
        NONCE,
        caching_sha2::password_hash(server_pw),
        tls,
        server_key.then_some(&key),
    );
    let mut to_server = first;
    for _ in 0..5 {
        match server.handle(&to_server).unwrap() {
            ServerSha2Step::Accept => return true,
            ServerSha2Step::Reject => return false,
            ServerSha2Step::SendThenAccept(p) => {
                assert_eq!(client.handle(&p, caps).unwrap(), ClientAuthStep::Wait);
                assert_eq!(
                    client.handle(b"\x00\x00\x00", caps).unwrap(),
                    ClientAuthStep::Done
                );
                return true;
            }
            ServerSha2Step::Send(p) => match client.handle(&p, caps).unwrap() {
                ClientAuthStep::Send(reply) => to_server = reply,
                other => panic!("client did not reply: {other:?}"),
            },
        }
    }
    panic!("exchange did not finish");
}

#[test]
fn caching_sha2_fast_path() {
    assert!(login(b"pw", b"pw", false, false));
}

#[test]
fn caching_sha2_wrong_password_is_rejected_over_tls() {
    // The fast path fails when the client's scramble does not match (here:
    // wrong password), so the server asks for the password: over TLS, in clear.
    assert!(!login(b"wrong", b"pw", true, false));
}

#[test]
fn caching_sha2_full_auth_with_public_key_request() {
    let key = key();
    let caps = CapabilityFlags::CLIENT_PROTOCOL_41;
    let cached = caching_sha2::password_hash(b"pw");
    let mut server = ServerSha2::new(NONCE, cached, false, Some(&key));
    let mut client = ClientAuth::new(b"pw", false);
    client.start(&handshake(b"caching_sha2_password")).unwrap();
    // Force full authentication by sending a scramble made for another nonce.
    let stale = caching_sha2::scramble(b"pw", b"zzzzzzzzzzzzzzzzzzzz");
    let ServerSha2Step::Send(full) = server.handle(&stale).unwrap() else {
        panic!("expected full auth request")
    };
    assert_eq!(full, [0x01, 0x04]);
    let ClientAuthStep::Send(req) = client.handle(&full, caps).unwrap() else {
        panic!()
    };
    assert_eq!(req, [caching_sha2::REQUEST_PUBLIC_KEY]);
    let ServerSha2Step::Send(pem) = server.handle(&req).unwrap() else {
        panic!()
    };
    assert!(pem[1..].starts_with(b"-----BEGIN PUBLIC KEY-----"));
    let ClientAuthStep::Send(encrypted) = client.handle(&pem, caps).unwrap() else {
        panic!()
    };
    assert_eq!(encrypted.len(), 256);
    assert_eq!(server.handle(&encrypted).unwrap(), ServerSha2Step::Accept);
}

#[test]
fn caching_sha2_full_auth_refused_without_tls_or_key() {
    assert!(!login(b"wrong", b"pw", false, false));
    assert!(!login(b"wrong", b"pw", false, true));
}

#[test]
fn tls_cleartext_full_auth_accepts_right_password() {
    let cached = caching_sha2::password_hash(b"pw");
    let mut server = ServerSha2::new(NONCE, cached, true, None);
    assert!(matches!(
        server.handle(b"not a scramble").unwrap(),
        ServerSha2Step::Send(_)
    ));
    assert_eq!(server.handle(b"pw\0").unwrap(), ServerSha2Step::Accept);
}

#[test]
fn decrypts_what_openssl_encrypted() {
    let text = data("openssl_oaep_ciphertext.txt");
    let hex = text.lines().find(|l| !l.starts_with('#')).unwrap().trim();
    let ct: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    let pw = caching_sha2::decrypt_password(&ct, &NONCE, &key()).unwrap();
    assert_eq!(pw, b"secret");
    // And what we encrypt, the private key holder recovers.
    let public = caching_sha2::parse_public_key(data("test_rsa_pub.pem").as_bytes()).unwrap();
    let ours = caching_sha2::encrypt_password(b"secret", &NONCE, &public).unwrap();
    assert_eq!(
        caching_sha2::decrypt_password(&ours, &NONCE, &key()).unwrap(),
        b"secret"
    );
    assert!(caching_sha2::decrypt_password(&ours[1..], &NONCE, &key()).is_err());
}

#[test]
fn client_switches_plugins() {
    let caps = CapabilityFlags::CLIENT_PROTOCOL_41;
    let mut client = ClientAuth::new(b"pw", false);
    let (plugin, _) = client.start(&handshake(b"caching_sha2_password")).unwrap();
    assert_eq!(plugin, AuthPlugin::CachingSha2Password);
    let mut b = bytes::BytesMut::new();
    AuthSwitchRequest {
        plugin_name: b"mysql_native_password".to_vec(),
        plugin_data: [&NONCE[..], b"\0"].concat(),
    }
    .encode(&mut b);
    let ClientAuthStep::Send(r) = client.handle(&b, caps).unwrap() else {
        panic!()
    };
    assert_eq!(r, splitrail_protocol::auth::native::scramble(b"pw", &NONCE));
    assert!(matches!(
        client.handle(b"\xff\x15\x04#28000denied", caps).unwrap(),
        ClientAuthStep::Failed(e) if e.code == 1045
    ));
    let unknown = AuthSwitchRequest {
        plugin_name: b"auth_gssapi_client".to_vec(),
        plugin_data: Vec::new(),
    };
    let mut b = bytes::BytesMut::new();
    unknown.encode(&mut b);
    assert!(client.handle(&b, caps).is_err());
}
