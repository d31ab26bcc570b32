//! Letting a client in: the Initial Handshake the proxy sends, the client's HandshakeResponse41,
//! and verifying its password with `mysql_native_password` or `caching_sha2_password` (switching
//! plugins when the client starts with another one).
use bytes::BytesMut;
use splitrail_protocol::auth::{AuthPlugin, ServerSha2, ServerSha2Step, caching_sha2, native};
use splitrail_protocol::handshake::{AuthSwitchRequest, HandshakeResponse, InitialHandshake};
use splitrail_protocol::response::{ErrPacket, OkPacket, code};
use splitrail_protocol::{CapabilityFlags, StatusFlags};

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
}

/// Runs the connection phase. `Ok(None)`: the client was refused (it got an ERR) or left.
pub async fn accept(
    io: &mut ClientIo,
    config: &Config,
    connection_id: u32,
    server_version: &str,
    peer: &str,
) -> Result<Option<Accepted>> {
    let nonce = splitrail_protocol::auth::generate_nonce().map_err(Error::ClientProtocol)?;
    let greeting = InitialHandshake {
        server_version: server_version.as_bytes().to_vec(),
        connection_id,
        auth_plugin_data: nonce.to_vec(),
        capabilities: OFFERED_CAPABILITIES,
        charset: SERVER_COLLATION,
        status: StatusFlags::SERVER_STATUS_AUTOCOMMIT,
        auth_plugin_name: AuthPlugin::MysqlNativePassword.name().to_vec(),
    };
    let mut payload = BytesMut::new();
    greeting.encode(&mut payload);
    io.reset_seq();
    io.send(&payload).await.map_err(Error::ClientIo)?;

    let Some(packet) = read(io).await? else {
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
    let Some(account) = config.users.iter().find(|u| u.user == user) else {
        refuse(io, code::ER_ACCESS_DENIED_ERROR, denied).await?;
        return Ok(None);
    };
    let password = account.password.expose().as_bytes().to_vec();
    let plugin = response
        .auth_plugin_name
        .as_deref()
        .map(AuthPlugin::from_name)
        .unwrap_or(AuthPlugin::MysqlNativePassword);
    let verified = match plugin {
        AuthPlugin::MysqlNativePassword => native::verify(
            Some(&native::password_hash(&password)),
            &nonce,
            &response.auth_response,
        ),
        AuthPlugin::CachingSha2Password => {
            let cached = caching_sha2::password_hash(&password);
            let mut sha2 = ServerSha2::new(nonce, cached, false, None);
            let mut data = response.auth_response.clone();
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
                            None => return Ok(None),
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
                return Ok(None);
            };
            native::verify(Some(&native::password_hash(&password)), &nonce, &reply)
        }
    };
    if !verified {
        refuse(io, code::ER_ACCESS_DENIED_ERROR, denied).await?;
        return Ok(None);
    }
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
    }))
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

async fn refuse(
    io: &mut ClientIo,
    code: splitrail_protocol::response::ErrorCode,
    message: String,
) -> Result<()> {
    let mut payload = BytesMut::new();
    ErrPacket::new(code, message).encode(CapabilityFlags::CLIENT_PROTOCOL_41, &mut payload);
    io.send(&payload).await.map_err(Error::ClientIo)
}
