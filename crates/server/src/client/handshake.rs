//! Letting a client in: the Initial Handshake the proxy sends, the client's HandshakeResponse41,
//! and verifying its password with `mysql_native_password` or `caching_sha2_password` (switching
//! plugins when the client starts with another one). With `tls.client` configured, CLIENT_SSL is
//! offered and a client's SSLRequest upgrades the connection before its HandshakeResponse41.
use bytes::BytesMut;
use splitrail_protocol::auth::{AuthPlugin, ServerSha2, ServerSha2Step, caching_sha2, native};
use splitrail_protocol::handshake::{
    AuthSwitchRequest, HandshakeResponse, InitialHandshake, SslRequest,
};
use splitrail_protocol::response::{ErrPacket, OkPacket, code};
use splitrail_protocol::{CapabilityFlags, StatusFlags};
use tokio::io::AsyncReadExt;
use tokio_rustls::TlsAcceptor;

use super::{ClientIo, OFFERED_CAPABILITIES};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::io::ReadError;

/// utf8mb4_general_ci, announced as the server's default collation.
const SERVER_COLLATION: u8 = 45;

/// A client that proved who it is.
#[derive(Debug, Clone)]
pub struct Accepted {
    /// The user name.
    pub user: String,
    /// Its password from the configuration, used to log into the backends as the same user.
    pub password: Vec<u8>,
    /// Negotiated capabilities.
    pub caps: CapabilityFlags,
    /// The schema asked for at connect time.
    pub schema: Option<String>,
    /// The client's collation id.
    pub collation: u8,
    /// The nonce of the handshake: COM_CHANGE_USER scrambles with it again.
    pub nonce: [u8; 20],
}

/// The outcome of checking a password.
#[derive(Debug)]
pub enum Verdict {
    /// Right password; the account's password, to log into backends.
    Accepted(Vec<u8>),
    /// Unknown user or wrong password.
    Denied,
    /// The client left during the exchange.
    Gone,
}

/// Checks `user`'s first auth response (made by `plugin` over `nonce`), switching the client to
/// `mysql_native_password` when it used a plugin the proxy does not verify. On acceptance with
/// `caching_sha2_password`, the "fast auth succeeded" packet is queued (not flushed) ahead of
/// the OK the caller sends.
pub async fn authenticate(
    io: &mut ClientIo,
    config: &Config,
    nonce: &[u8; 20],
    user: &str,
    plugin: Option<&[u8]>,
    auth_response: &[u8],
) -> Result<Verdict> {
    let Some(account) = config.users.iter().find(|u| u.user == user) else {
        return Ok(Verdict::Denied);
    };
    let password = account.password.expose().as_bytes().to_vec();
    let plugin = plugin
        .map(AuthPlugin::from_name)
        .unwrap_or(AuthPlugin::MysqlNativePassword);
    let verified = match plugin {
        AuthPlugin::MysqlNativePassword => native::verify(
            Some(&native::password_hash(&password)),
            nonce,
            auth_response,
        ),
        AuthPlugin::CachingSha2Password => {
            let cached = caching_sha2::password_hash(&password);
            // Over TLS, full authentication may send the password in clear text.
            let mut sha2 = ServerSha2::new(*nonce, cached, io.stream.is_tls(), None);
            let mut data = auth_response.to_vec();
            loop {
                match sha2.handle(&data).map_err(Error::ClientProtocol)? {
                    ServerSha2Step::Accept => break true,
                    ServerSha2Step::Reject => break false,
                    ServerSha2Step::SendThenAccept(more) => {
                        io.queue(&more).map_err(Error::ClientProtocol)?;
                        break true;
                    }
                    ServerSha2Step::Send(more) => {
                        io.send(&more).await.map_err(Error::ClientIo)?;
                        match read(io).await? {
                            Some(p) => data = p.to_vec(),
                            None => return Ok(Verdict::Gone),
                        }
                    }
                }
            }
        }
        _ => {
            // Another plugin (ed25519, dialog, …): ask for mysql_native_password instead.
            let switch = AuthSwitchRequest {
                plugin_name: AuthPlugin::MysqlNativePassword.name().to_vec(),
                plugin_data: [&nonce[..], b"\0"].concat(),
            };
            let mut payload = BytesMut::new();
            switch.encode(&mut payload);
            io.send(&payload).await.map_err(Error::ClientIo)?;
            let Some(reply) = read(io).await? else {
                return Ok(Verdict::Gone);
            };
            native::verify(Some(&native::password_hash(&password)), nonce, &reply)
        }
    };
    Ok(if verified {
        Verdict::Accepted(password)
    } else {
        Verdict::Denied
    })
}

/// Sends the server greeting: version, connection id, nonce, capabilities (TLS when offered).
async fn greet(
    io: &mut ClientIo,
    offer_tls: bool,
    connection_id: u32,
    server_version: &str,
    nonce: &[u8],
) -> Result<()> {
    let greeting = InitialHandshake {
        server_version: server_version.as_bytes().to_vec(),
        connection_id,
        auth_plugin_data: nonce.to_vec(),
        capabilities: if offer_tls {
            OFFERED_CAPABILITIES | CapabilityFlags::CLIENT_SSL
        } else {
            OFFERED_CAPABILITIES
        },
        charset: SERVER_COLLATION,
        status: StatusFlags::SERVER_STATUS_AUTOCOMMIT,
        auth_plugin_name: AuthPlugin::MysqlNativePassword.name().to_vec(),
    };
    let mut payload = BytesMut::new();
    greeting.encode(&mut payload);
    io.reset_seq();
    io.send(&payload).await.map_err(Error::ClientIo)?;
    Ok(())
}

/// Reads the client's handshake response, upgrading to TLS first when the client sends an
/// SSLRequest and `tls` offers it. `None`: the client left.
async fn read_response(
    io: &mut ClientIo,
    tls: Option<&TlsAcceptor>,
) -> Result<Option<bytes::Bytes>> {
    Ok(match tls {
        Some(acceptor) => {
            let Some(first) = read_exactly_one(io).await? else {
                return Ok(None);
            };
            if SslRequest::is_ssl_request(&first) {
                SslRequest::decode(&first).map_err(Error::ClientProtocol)?;
                io.stream.upgrade(acceptor).await.map_err(Error::ClientIo)?;
                read(io).await?
            } else {
                Some(first)
            }
        }
        None => read(io).await?,
    })
}

/// Runs the connection phase; `tls` offers TLS to the client. `Ok(None)`: the client was refused
/// (it got an ERR) or left.
pub async fn accept(
    io: &mut ClientIo,
    config: &Config,
    tls: Option<&TlsAcceptor>,
    connection_id: u32,
    server_version: &str,
    peer: &str,
) -> Result<Option<Accepted>> {
    let nonce = splitrail_protocol::auth::generate_nonce().map_err(Error::ClientProtocol)?;
    greet(io, tls.is_some(), connection_id, server_version, &nonce).await?;
    let Some(packet) = read_response(io, tls).await? else {
        return Ok(None);
    };
    let response = match HandshakeResponse::decode(&packet) {
        Ok(r) if r.capabilities.contains(CapabilityFlags::CLIENT_PROTOCOL_41) => r,
        _ => {
            refuse(io, code::ER_HANDSHAKE_ERROR, "Bad handshake".into()).await?;
            return Ok(None);
        }
    };
    let caps = response.capabilities & OFFERED_CAPABILITIES;
    let user = String::from_utf8_lossy(&response.username).into_owned();
    let denied = format!(
        "Access denied for user '{user}'@'{peer}' (using password: {})",
        if response.auth_response.is_empty() {
            "NO"
        } else {
            "YES"
        }
    );
    let password = match authenticate(
        io,
        config,
        &nonce,
        &user,
        response.auth_plugin_name.as_deref(),
        &response.auth_response,
    )
    .await?
    {
        Verdict::Accepted(password) => password,
        Verdict::Gone => return Ok(None),
        Verdict::Denied => {
            refuse(io, code::ER_ACCESS_DENIED_ERROR, denied).await?;
            return Ok(None);
        }
    };
    send_ok(io, caps, StatusFlags::SERVER_STATUS_AUTOCOMMIT).await?;
    Ok(Some(Accepted {
        user,
        password,
        caps,
        schema: response
            .database
            .filter(|d| !d.is_empty())
            .map(|d| String::from_utf8_lossy(&d).into_owned()),
        collation: response.charset,
        nonce,
    }))
}

/// The largest first packet (SSLRequest or HandshakeResponse41) a client may send when TLS is
/// offered: a response with long connection attributes is a few KiB.
const MAX_FIRST_PACKET: usize = 1 << 20;

/// Reads the client's first packet without reading past it: after an SSLRequest the client
/// sends its TLS ClientHello at once, and those bytes must stay in the socket for the TLS
/// handshake. Costs two reads, once per connection, and only when TLS is offered.
async fn read_exactly_one(io: &mut ClientIo) -> Result<Option<bytes::Bytes>> {
    if io.rbuf.is_empty() {
        let mut header = [0u8; 4];
        match io.stream.read_exact(&mut header).await {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(Error::ClientIo(e)),
        }
        let len =
            usize::from(header[0]) | usize::from(header[1]) << 8 | usize::from(header[2]) << 16;
        if len > MAX_FIRST_PACKET {
            return Err(Error::ClientIo(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("a {len}-byte handshake response"),
            )));
        }
        io.rbuf.extend_from_slice(&header);
        io.rbuf.resize(4 + len, 0);
        io.stream
            .read_exact(&mut io.rbuf[4..])
            .await
            .map_err(Error::ClientIo)?;
    }
    read(io).await
}

async fn read(io: &mut ClientIo) -> Result<Option<bytes::Bytes>> {
    match io.read_packet().await {
        Ok(Some(p)) => Ok(Some(p.payload)),
        Ok(None) => Ok(None),
        Err(ReadError::Io(e)) => Err(Error::ClientIo(e)),
        Err(ReadError::Protocol(e)) => Err(Error::ClientProtocol(e)),
    }
}

/// Sends an OK with `status` and no other information.
pub async fn send_ok(io: &mut ClientIo, caps: CapabilityFlags, status: StatusFlags) -> Result<()> {
    let ok = OkPacket {
        status,
        ..OkPacket::default()
    };
    let mut payload = BytesMut::new();
    ok.encode(caps, &mut payload);
    io.queue(&payload).map_err(Error::ClientProtocol)?;
    io.flush().await.map_err(Error::ClientIo)
}

pub async fn refuse(
    io: &mut ClientIo,
    code: splitrail_protocol::response::ErrorCode,
    message: String,
) -> Result<()> {
    let mut payload = BytesMut::new();
    ErrPacket::new(code, message).encode(CapabilityFlags::CLIENT_PROTOCOL_41, &mut payload);
    io.send(&payload).await.map_err(Error::ClientIo)
}
