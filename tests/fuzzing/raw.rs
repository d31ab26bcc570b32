//! A raw MySQL client over a TCP socket for the session fuzzer: reads the proxy's Initial
//! Handshake, builds (valid) HandshakeResponse41 packets, logs in, writes arbitrary bytes and
//! reads everything the proxy answers until it closes.

use std::time::Duration;

use bytes::BytesMut;
use splitrail_protocol::CapabilityFlags;
use splitrail_protocol::auth::native;
use splitrail_protocol::handshake::{HandshakeResponse, InitialHandshake};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

use super::rng::Rng;
use super::streams::push_frame;

/// How a fuzzed connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// The proxy closed the connection (EOF or reset) after sending these bytes.
    Closed(Vec<u8>),
    /// Nothing more came and the connection stayed open past the deadline.
    Hung(usize),
}

/// Connects to the proxy and reads its Initial Handshake.
pub async fn greet(port: u16) -> Result<(TcpStream, InitialHandshake), String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let (_, payload) = read_packet(&mut stream).await?;
    let hs = InitialHandshake::decode(&payload).map_err(|e| format!("initial handshake: {e}"))?;
    Ok((stream, hs))
}

/// Capabilities of a well-behaved client: the basics plus a random choice of the optional ones.
pub fn client_caps(rng: &mut Rng, server: CapabilityFlags) -> CapabilityFlags {
    let mut caps = CapabilityFlags::CLIENT_PROTOCOL_41
        | CapabilityFlags::CLIENT_SECURE_CONNECTION
        | CapabilityFlags::CLIENT_PLUGIN_AUTH
        | CapabilityFlags::CLIENT_LONG_PASSWORD
        | CapabilityFlags::CLIENT_TRANSACTIONS
        | CapabilityFlags::CLIENT_MULTI_RESULTS
        | CapabilityFlags::CLIENT_PS_MULTI_RESULTS
        | CapabilityFlags::CLIENT_CONNECT_WITH_DB;
    for optional in [
        CapabilityFlags::CLIENT_LOCAL_FILES,
        CapabilityFlags::CLIENT_MULTI_STATEMENTS,
        CapabilityFlags::CLIENT_DEPRECATE_EOF,
        CapabilityFlags::CLIENT_SESSION_TRACK,
        CapabilityFlags::CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA,
        CapabilityFlags::CLIENT_CONNECT_ATTRS,
        CapabilityFlags::CLIENT_FOUND_ROWS,
    ] {
        if !rng.one_in(3) {
            caps |= optional;
        }
    }
    caps & server
}

/// The HandshakeResponse41 payload logging in as `user` / `password` into schema `app`.
pub fn response(
    hs: &InitialHandshake,
    caps: CapabilityFlags,
    user: &str,
    password: &str,
) -> Vec<u8> {
    let r = HandshakeResponse {
        capabilities: caps,
        max_packet_size: 1 << 24,
        charset: 45,
        username: user.as_bytes().to_vec(),
        auth_response: native::scramble(password.as_bytes(), &hs.auth_plugin_data),
        database: Some(b"app".to_vec()),
        auth_plugin_name: Some(b"mysql_native_password".to_vec()),
        connect_attrs: caps
            .contains(CapabilityFlags::CLIENT_CONNECT_ATTRS)
            .then(|| vec![(b"_client_name".to_vec(), b"session_fuzz".to_vec())]),
    };
    let mut b = BytesMut::new();
    r.encode(&mut b);
    b.to_vec()
}

/// Logs in as `app` with capabilities [`client_caps`] picks; the stream is then in the
/// command phase.
pub async fn login(
    port: u16,
    rng: &mut Rng,
) -> Result<(TcpStream, InitialHandshake, CapabilityFlags), String> {
    login_with(port, |server| client_caps(rng, server)).await
}

/// Logs in as `app` with the capabilities `choose` makes of the server's; the stream is then
/// in the command phase.
pub async fn login_with(
    port: u16,
    choose: impl FnOnce(CapabilityFlags) -> CapabilityFlags,
) -> Result<(TcpStream, InitialHandshake, CapabilityFlags), String> {
    let (mut stream, hs) = greet(port).await?;
    let caps = choose(hs.capabilities);
    let mut wire = Vec::new();
    push_frame(&mut wire, 1, &response(&hs, caps, "app", "app"));
    stream
        .write_all(&wire)
        .await
        .map_err(|e| format!("sending the handshake response: {e}"))?;
    let (_, answer) = read_packet(&mut stream).await?;
    match answer.first() {
        Some(0x00) => Ok((stream, hs, caps)),
        _ => Err(format!("login refused: {answer:02x?}")),
    }
}

/// Reads one packet (header and payload), with a 10 s deadline.
pub async fn read_packet(stream: &mut TcpStream) -> Result<(u8, Vec<u8>), String> {
    let read = async {
        let mut head = [0u8; 4];
        stream.read_exact(&mut head).await?;
        let n = usize::from(head[0]) | usize::from(head[1]) << 8 | usize::from(head[2]) << 16;
        let mut payload = vec![0u8; n];
        stream.read_exact(&mut payload).await?;
        Ok::<_, std::io::Error>((head[3], payload))
    };
    match timeout(Duration::from_secs(10), read).await {
        Ok(Ok(p)) => Ok(p),
        Ok(Err(e)) => Err(format!("reading a packet: {e}")),
        Err(_) => Err("no packet within 10 s".to_string()),
    }
}

/// Writes `chunks` one write each, closes the sending half (the client has nothing more to
/// say), and reads whatever comes until the proxy closes, or `deadline` passes without an end.
pub async fn send_and_drain(stream: &mut TcpStream, chunks: &[Vec<u8>], deadline: Duration) -> End {
    for c in chunks {
        // The proxy may close early (e.g. on a bad packet); the rest is then not sent.
        if stream.write_all(c).await.is_err() {
            break;
        }
    }
    let _ = stream.shutdown().await;
    let mut got = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let drain = async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    };
    let finished = timeout(deadline, drain).await.is_ok();
    if finished {
        End::Closed(got)
    } else {
        End::Hung(got.len())
    }
}
