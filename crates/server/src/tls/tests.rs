//! Loading certificates and keys, the SSLRequest upgrade, and the idle-connection check.
use std::path::PathBuf;

use splitrail_testbed::certs::TestCa;

use super::*;
use std::path::Path;

use tokio::net::TcpStream;

use crate::config::{BackendTls, BackendTlsMode, ClientTls, TlsConfig};

fn client(cert: &Path, key: &Path) -> TlsConfig {
    TlsConfig {
        client: Some(ClientTls {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
        }),
        backend: BackendTls::default(),
    }
}

fn backend(mode: BackendTlsMode, ca: Option<PathBuf>) -> TlsConfig {
    TlsConfig {
        client: None,
        backend: BackendTls { mode, ca },
    }
}

/// The one problem of a failed load: (key, message).
fn only_problem(config: &TlsConfig) -> (String, String) {
    let errors = Tls::load(config).expect_err("loading should fail").errors;
    assert_eq!(errors.len(), 1, "{errors:?}");
    (errors[0].path.clone(), errors[0].message.clone())
}

#[test]
fn loads_good_files() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(dir.path(), "ca").unwrap();
    let proxy = ca.issue("proxy", &["localhost", "127.0.0.1"]).unwrap();
    let tls = Tls::load(&client(&proxy.cert, &proxy.key)).unwrap();
    assert!(tls.acceptor.is_some());
    assert_eq!(tls.backend.mode(), BackendTlsMode::Preferred);
    assert_eq!(tls.backend.wants_tls(true), Ok(true));
    assert_eq!(tls.backend.wants_tls(false), Ok(false));
    for mode in [BackendTlsMode::VerifyCa, BackendTlsMode::VerifyIdentity] {
        let tls = Tls::load(&backend(mode, Some(ca.ca.clone()))).unwrap();
        assert_eq!(tls.backend.wants_tls(true), Ok(true));
        let refused = tls.backend.wants_tls(false).unwrap_err();
        assert!(refused.contains("does not offer TLS"), "{refused}");
    }
    let disabled = Tls::load(&backend(BackendTlsMode::Disabled, None)).unwrap();
    assert!(disabled.acceptor.is_none());
    assert_eq!(disabled.backend.wants_tls(true), Ok(false));
}

#[test]
fn bad_files_are_errors_naming_their_key() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(dir.path(), "ca").unwrap();
    let proxy = ca.issue("proxy", &["localhost"]).unwrap();
    let other = ca.issue("other", &["localhost"]).unwrap();
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a certificate\n").unwrap();
    let missing = dir.path().join("missing.pem");

    let (key, message) = only_problem(&client(&garbage, &proxy.key));
    assert_eq!(key, "tls.client.cert");
    assert!(message.contains("garbage.pem") && message.contains("no PEM certificate"));

    let (key, message) = only_problem(&client(&missing, &proxy.key));
    assert_eq!(key, "tls.client.cert");
    assert!(message.contains("missing.pem: cannot read"), "{message}");

    // A certificate where the key should be.
    let (key, message) = only_problem(&client(&proxy.cert, &proxy.cert));
    assert_eq!(key, "tls.client.key");
    assert!(message.contains("no PEM private key"), "{message}");

    // The key of another certificate.
    let (key, message) = only_problem(&client(&proxy.cert, &other.key));
    assert_eq!(key, "tls.client.key");
    assert!(
        message.contains("cannot be used with tls.client.cert"),
        "{message}"
    );

    let (key, message) = only_problem(&backend(BackendTlsMode::VerifyCa, Some(garbage)));
    assert_eq!(key, "tls.backend.ca");
    assert!(message.contains("no PEM certificate"), "{message}");

    // Every problem at once.
    let mut both = client(&missing, &missing);
    both.backend = BackendTls {
        mode: BackendTlsMode::VerifyIdentity,
        ca: Some(missing.clone()),
    };
    let errors = Tls::load(&both).unwrap_err();
    assert!(errors.has("tls.client.cert"));
    assert!(errors.has("tls.client.key"));
    assert!(errors.has("tls.backend.ca"));
}

/// Logs in over TLS as a client would: SSLRequest, TLS handshake, then a
/// `caching_sha2_password` response that fails fast authentication, so the proxy asks for
/// full authentication, which over TLS takes the password in clear text.
async fn sha2_full_auth_over_tls(password: &[u8]) -> Option<String> {
    use splitrail_protocol::CapabilityFlags as Caps;
    use splitrail_protocol::handshake::{HandshakeResponse, InitialHandshake, SslRequest};

    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(dir.path(), "ca").unwrap();
    let proxy = ca.issue("proxy", &["127.0.0.1"]).unwrap();
    let server_tls = Tls::load(&client(&proxy.cert, &proxy.key)).unwrap();
    let client_tls = Tls::load(&backend(
        BackendTlsMode::VerifyIdentity,
        Some(ca.ca.clone()),
    ))
    .unwrap()
    .backend;
    let config = crate::config::Config::from_yaml_str(
        "users: [{ user: app, password: app }]\n\
         servers: [{ address: 127.0.0.1:1, role: primary }]\n",
    )
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut io = crate::client::ClientIo::new(ClientStream::Plain(tcp), 1 << 20, 1024);
        let acceptor = server_tls.acceptor.as_ref();
        let accepted =
            crate::client::handshake::accept(&mut io, &config, acceptor, 7, "11.0.0", "peer")
                .await
                .unwrap();
        assert!(io.stream.is_tls());
        accepted.map(|a| a.user)
    });

    let tcp = TcpStream::connect(address).await.unwrap();
    let mut io = crate::io::PacketIo::new(BackendStream::Plain(tcp), 1 << 20, 1024);
    let greeting = io.read_packet().await.unwrap().unwrap().payload;
    let greeting = InitialHandshake::decode(&greeting).unwrap();
    assert!(greeting.capabilities.contains(Caps::CLIENT_SSL));
    let caps = Caps::CLIENT_PROTOCOL_41
        | Caps::CLIENT_LONG_PASSWORD
        | Caps::CLIENT_SECURE_CONNECTION
        | Caps::CLIENT_PLUGIN_AUTH
        | Caps::CLIENT_SSL;
    let mut payload = bytes::BytesMut::new();
    SslRequest {
        capabilities: caps,
        max_packet_size: 1 << 20,
        charset: 45,
    }
    .encode(&mut payload);
    io.send(&payload).await.unwrap();
    io.stream.upgrade(&client_tls, "127.0.0.1").await.unwrap();
    let mut payload = bytes::BytesMut::new();
    HandshakeResponse {
        capabilities: caps,
        max_packet_size: 1 << 20,
        charset: 45,
        username: b"app".to_vec(),
        auth_response: vec![0; 32], // not the scramble: fast authentication fails
        database: None,
        auth_plugin_name: Some(b"caching_sha2_password".to_vec()),
        connect_attrs: None,
    }
    .encode(&mut payload);
    io.send(&payload).await.unwrap();
    let more = io.read_packet().await.unwrap().unwrap().payload;
    assert_eq!(&more[..], [0x01, 0x04], "perform full authentication");
    io.send(&[password, b"\0"].concat()).await.unwrap();
    let verdict = io.read_packet().await.unwrap().unwrap().payload;
    let user = server.await.unwrap();
    assert_eq!(verdict[0] == 0x00, user.is_some(), "{verdict:?}");
    user
}

#[tokio::test]
async fn sha2_full_authentication_takes_a_clear_text_password_over_tls() {
    assert_eq!(
        sha2_full_auth_over_tls(b"app").await.as_deref(),
        Some("app")
    );
    assert_eq!(sha2_full_auth_over_tls(b"wrong").await, None);
}

/// A TLS connection over loopback: the proxy's end towards a client, and a backend end.
async fn tls_pair() -> (ClientStream, BackendStream) {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(dir.path(), "ca").unwrap();
    let proxy = ca.issue("proxy", &["127.0.0.1"]).unwrap();
    let server_tls = Tls::load(&client(&proxy.cert, &proxy.key)).unwrap();
    let acceptor = server_tls.acceptor.unwrap();
    let client_tls = Tls::load(&backend(
        BackendTlsMode::VerifyIdentity,
        Some(ca.ca.clone()),
    ))
    .unwrap()
    .backend;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (server, client) = tokio::join!(
        async {
            let tcp = listener.accept().await.unwrap().0;
            tcp.set_nodelay(true).unwrap();
            // Small socket buffers: a write often finds the socket full.
            socket2::SockRef::from(&tcp)
                .set_send_buffer_size(4096)
                .unwrap();
            let mut stream = ClientStream::Plain(tcp);
            stream.upgrade(&acceptor).await.unwrap();
            stream
        },
        async {
            let tcp = TcpStream::connect(address).await.unwrap();
            tcp.set_nodelay(true).unwrap();
            let mut stream = BackendStream::Plain(tcp);
            stream.upgrade(&client_tls, "127.0.0.1").await.unwrap();
            stream
        }
    );
    (server, client)
}

#[tokio::test]
async fn a_write_out_reaches_the_peer_whole() {
    use tokio::io::AsyncReadExt;
    let (mut server, mut client) = tls_pair().await;
    assert!(server.is_tls() && client.is_tls());
    let big = vec![7u8; 1 << 20];
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    let writer = tokio::spawn(async move {
        crate::io::write_out(&mut server, &big).await.unwrap();
        // Nothing more is written: what rustls kept back would never be sent.
        let _ = done_rx.await;
        server
    });
    // A slow reader keeps the socket full, so the writer's last write finds it full too.
    let read_all = async {
        let mut received = 0;
        let mut chunk = vec![0u8; 64 << 10];
        while received < 1 << 20 {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            let n = client.read(&mut chunk).await.unwrap();
            assert!(n > 0 && chunk[..n].iter().all(|&b| b == 7));
            received += n;
        }
    };
    let read = tokio::time::timeout(std::time::Duration::from_secs(60), read_all).await;
    assert!(read.is_ok(), "the end of the write never came");
    let _ = done_tx.send(());
    let mut server = writer.await.unwrap();

    // The idle check polls with a no-op waker; reading afterwards still wakes up.
    assert!(!client.closed_while_idle());
    crate::io::write_out(&mut server, b"ping").await.unwrap();
    let mut ping = [0u8; 4];
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        client.read_exact(&mut ping),
    );
    assert!(matches!(read.await, Ok(Ok(4))) && &ping == b"ping");
    // A peer that went away is noticed.
    drop(server);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !client.closed_while_idle() {
        assert!(std::time::Instant::now() < deadline, "close not noticed");
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

#[test]
fn host_of_an_address() {
    assert_eq!(host_of("127.0.0.1:3306"), "127.0.0.1");
    assert_eq!(host_of("db.example:3306"), "db.example");
    assert_eq!(host_of("[::1]:3306"), "::1");
    assert_eq!(host_of("db.example"), "db.example");
}
