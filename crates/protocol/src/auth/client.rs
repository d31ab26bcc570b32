//! Client role: logging into a backend, whatever plugin it switches to.

use rsa::PublicKey;

use super::{AuthPlugin, caching_sha2, ed25519, native};
use crate::error::{Error, Result};
use crate::flags::CapabilityFlags;
use crate::handshake::{AuthSwitchRequest, InitialHandshake};
use crate::response::{ERR_HEADER, ErrPacket, OK_HEADER};

/// What the client does after a server packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientAuthStep {
    /// Send this payload (next sequence id) and read the next server packet.
    Send(Vec<u8>),
    /// Read the next server packet (e.g. after "fast auth succeeded").
    Wait,
    /// Logged in: the server sent OK.
    Done,
    /// The server refused.
    Failed(ErrPacket),
}

/// Drives the client side of authentication.
///
/// Call [`ClientAuth::start`] with the server's handshake to get the plugin
/// name and auth response for the HandshakeResponse41, then feed every
/// following server packet to [`ClientAuth::handle`].
#[derive(Debug, Clone)]
pub struct ClientAuth {
    password: Vec<u8>,
    /// True when the connection is already on TLS, so full authentication
    /// may send the password in clear.
    tls: bool,
    plugin: AuthPlugin,
    nonce: Vec<u8>,
    /// The server's RSA key, configured or received after a request.
    server_key: Option<PublicKey>,
}

impl ClientAuth {
    /// Logs in with `password`; `tls` tells whether the connection is encrypted.
    pub fn new(password: &[u8], tls: bool) -> Self {
        Self {
            password: password.to_vec(),
            tls,
            plugin: AuthPlugin::MysqlNativePassword,
            nonce: Vec::new(),
            server_key: None,
        }
    }

    /// Uses a known server public key instead of requesting it.
    pub fn with_server_key(mut self, key: PublicKey) -> Self {
        self.server_key = Some(key);
        self
    }

    /// The plugin currently in use.
    pub fn plugin(&self) -> &AuthPlugin {
        &self.plugin
    }

    /// Returns the plugin and the auth response for the HandshakeResponse41.
    /// An unknown default plugin falls back to `mysql_native_password` (the
    /// server will then switch).
    pub fn start(&mut self, handshake: &InitialHandshake) -> Result<(AuthPlugin, Vec<u8>)> {
        self.nonce = handshake.auth_plugin_data.clone();
        self.plugin = match AuthPlugin::from_name(&handshake.auth_plugin_name) {
            AuthPlugin::Other(_) => AuthPlugin::MysqlNativePassword,
            p => p,
        };
        let resp = self.response()?;
        Ok((self.plugin.clone(), resp))
    }

    fn response(&self) -> Result<Vec<u8>> {
        Ok(match &self.plugin {
            AuthPlugin::MysqlNativePassword => native::scramble(&self.password, &self.nonce),
            AuthPlugin::CachingSha2Password => caching_sha2::scramble(&self.password, &self.nonce),
            AuthPlugin::MysqlClearPassword => caching_sha2::cleartext_password(&self.password),
            AuthPlugin::ClientEd25519 => ed25519::sign(&self.password, &self.nonce),
            AuthPlugin::Other(name) => {
                return Err(Error::UnsupportedAuthPlugin {
                    name: String::from_utf8_lossy(name).into_owned(),
                });
            }
        })
    }

    /// Handles one server packet of the authentication exchange.
    pub fn handle(&mut self, payload: &[u8], caps: CapabilityFlags) -> Result<ClientAuthStep> {
        match payload.first() {
            Some(&OK_HEADER) => Ok(ClientAuthStep::Done),
            Some(&ERR_HEADER) => Ok(ClientAuthStep::Failed(ErrPacket::decode(payload, caps)?)),
            Some(0xFE) => {
                let req = AuthSwitchRequest::decode(payload)?;
                self.plugin = AuthPlugin::from_name(&req.plugin_name);
                // client_ed25519's nonce is 32 raw bytes that may end in 0x00;
                // the scramble plugins' 20-byte nonce comes with a NUL added.
                self.nonce = if self.plugin == AuthPlugin::ClientEd25519 {
                    req.plugin_data
                } else {
                    req.nonce().to_vec()
                };
                Ok(ClientAuthStep::Send(self.response()?))
            }
            Some(0x01) if self.plugin == AuthPlugin::CachingSha2Password => {
                self.more_data(payload.get(1..).unwrap_or_default())
            }
            other => Err(Error::UnexpectedPacket {
                state: "authenticating",
                byte: other.copied().unwrap_or(0),
            }),
        }
    }

    fn more_data(&mut self, data: &[u8]) -> Result<ClientAuthStep> {
        match data {
            [caching_sha2::FAST_AUTH_SUCCESS] => Ok(ClientAuthStep::Wait),
            [caching_sha2::PERFORM_FULL_AUTHENTICATION] => {
                if self.tls {
                    return Ok(ClientAuthStep::Send(caching_sha2::cleartext_password(
                        &self.password,
                    )));
                }
                match &self.server_key {
                    Some(key) => Ok(ClientAuthStep::Send(caching_sha2::encrypt_password(
                        &self.password,
                        &self.nonce,
                        key,
                    )?)),
                    None => Ok(ClientAuthStep::Send(vec![caching_sha2::REQUEST_PUBLIC_KEY])),
                }
            }
            pem => {
                let key = caching_sha2::parse_public_key(pem)?;
                let enc = caching_sha2::encrypt_password(&self.password, &self.nonce, &key)?;
                self.server_key = Some(key);
                Ok(ClientAuthStep::Send(enc))
            }
        }
    }
}
