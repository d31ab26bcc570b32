//! Server role for `caching_sha2_password`: verifying a client that logs in.
//!
//! `mysql_native_password` needs one check, [`super::native::verify`]; this
//! module drives the multi-step caching_sha2 exchange.

use rsa::PrivateKey;

use super::caching_sha2::{
    self, FAST_AUTH_SUCCESS, PERFORM_FULL_AUTHENTICATION, REQUEST_PUBLIC_KEY,
};
use crate::error::Result;
use crate::handshake::switch_headers::AUTH_MORE_DATA_HEADER;

/// What the server does after a client packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerSha2Step {
    /// Send this payload (an AuthMoreData) and read the client's next packet.
    Send(Vec<u8>),
    /// Send this payload ("fast auth succeeded"), then an OK: the client is in.
    SendThenAccept(Vec<u8>),
    /// The client proved the password: send OK.
    Accept,
    /// Wrong password, or a full authentication that cannot be done safely
    /// (no TLS and no RSA key): send ER_ACCESS_DENIED_ERROR.
    Reject,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Scramble,
    Password,
    Finished,
}

/// Verifies one client with `caching_sha2_password`.
#[derive(Debug)]
pub struct ServerSha2<'k> {
    nonce: [u8; 20],
    /// SHA256(SHA256(password)) of the account ([`caching_sha2::password_hash`]).
    cached: [u8; 32],
    /// True when the client connection is on TLS (cleartext passwords allowed).
    tls: bool,
    key: Option<&'k PrivateKey>,
    phase: Phase,
}

impl<'k> ServerSha2<'k> {
    /// Starts verification for the nonce sent in the handshake (or
    /// AuthSwitchRequest).
    pub fn new(nonce: [u8; 20], cached: [u8; 32], tls: bool, key: Option<&'k PrivateKey>) -> Self {
        Self {
            nonce,
            cached,
            tls,
            key,
            phase: Phase::Scramble,
        }
    }

    /// Handles one client payload: first the auth response, then whatever
    /// full authentication brings.
    pub fn handle(&mut self, payload: &[u8]) -> Result<ServerSha2Step> {
        match self.phase {
            Phase::Scramble => {
                let ok = if payload.is_empty() {
                    caching_sha2::verify_password(&self.cached, b"")
                } else {
                    caching_sha2::verify_fast(&self.cached, &self.nonce, payload)
                };
                if ok {
                    self.phase = Phase::Finished;
                    return Ok(ServerSha2Step::SendThenAccept(vec![
                        AUTH_MORE_DATA_HEADER,
                        FAST_AUTH_SUCCESS,
                    ]));
                }
                self.phase = Phase::Password;
                Ok(ServerSha2Step::Send(vec![
                    AUTH_MORE_DATA_HEADER,
                    PERFORM_FULL_AUTHENTICATION,
                ]))
            }
            Phase::Password if payload == [REQUEST_PUBLIC_KEY] && !self.tls => match self.key {
                Some(key) => {
                    let mut out = vec![AUTH_MORE_DATA_HEADER];
                    out.extend_from_slice(caching_sha2::public_key_pem(key)?.as_bytes());
                    Ok(ServerSha2Step::Send(out))
                }
                None => Ok(self.finish(false)),
            },
            Phase::Password => {
                let password = if self.tls {
                    payload.strip_suffix(b"\0").unwrap_or(payload).to_vec()
                } else if let Some(key) = self.key {
                    match caching_sha2::decrypt_password(payload, &self.nonce, key) {
                        Ok(p) => p,
                        Err(_) => return Ok(self.finish(false)),
                    }
                } else {
                    return Ok(self.finish(false));
                };
                let ok = caching_sha2::verify_password(&self.cached, &password);
                Ok(self.finish(ok))
            }
            Phase::Finished => Ok(ServerSha2Step::Reject),
        }
    }

    fn finish(&mut self, ok: bool) -> ServerSha2Step {
        self.phase = Phase::Finished;
        if ok {
            ServerSha2Step::Accept
        } else {
            ServerSha2Step::Reject
        }
    }
}
