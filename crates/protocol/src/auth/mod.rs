//! Authentication plugins, in both roles: the client role logs into a backend
//! ([`ClientAuth`]), the server role verifies a client (`verify_*` functions
//! and [`ServerSha2`]).
//!
//! All hashing and RSA is done with RustCrypto crates (`sha1`, `sha2`, `rsa`),
//! Ed25519 with `ed25519-dalek`.
//!
//! - [`native`] — `mysql_native_password`.
//! - [`caching_sha2`] — `caching_sha2_password`: fast path, and full
//!   authentication with a cleartext password over TLS or RSA-OAEP with the
//!   server's public key (requested with 0x02 when the client has none).
//! - [`ed25519`] — MariaDB's `client_ed25519`.
//! - [`ClientAuth`] — the client-role exchange driver.
//! - [`ServerSha2`] — the server-role exchange driver for `caching_sha2_password`.

pub mod caching_sha2;
mod client;
pub mod ed25519;
pub mod native;
mod server;

pub use client::{ClientAuth, ClientAuthStep};
pub use server::{ServerSha2, ServerSha2Step};

/// The RSA key types of the `rsa` crate, re-exported so callers need not
/// depend on it.
pub use rsa::{PrivateKey as RsaPrivateKey, PublicKey as RsaPublicKey};

use crate::error::{Error, Result};

/// The authentication plugins this crate knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthPlugin {
    /// `mysql_native_password`.
    MysqlNativePassword,
    /// `caching_sha2_password`.
    CachingSha2Password,
    /// `mysql_clear_password`: the password in clear (only over TLS).
    MysqlClearPassword,
    /// MariaDB's `client_ed25519`.
    ClientEd25519,
    /// Any other plugin name.
    Other(Vec<u8>),
}

impl AuthPlugin {
    /// The plugin for a name sent on the wire.
    pub fn from_name(name: &[u8]) -> Self {
        match name {
            b"mysql_native_password" | b"" => Self::MysqlNativePassword,
            b"caching_sha2_password" => Self::CachingSha2Password,
            b"mysql_clear_password" => Self::MysqlClearPassword,
            b"client_ed25519" => Self::ClientEd25519,
            other => Self::Other(other.to_vec()),
        }
    }

    /// The name sent on the wire.
    pub fn name(&self) -> &[u8] {
        match self {
            Self::MysqlNativePassword => b"mysql_native_password",
            Self::CachingSha2Password => b"caching_sha2_password",
            Self::MysqlClearPassword => b"mysql_clear_password",
            Self::ClientEd25519 => b"client_ed25519",
            Self::Other(n) => n,
        }
    }
}

/// A fresh 20-byte nonce for a handshake or AuthSwitchRequest, made of
/// printable ASCII without `$` as MySQL servers do (some clients treat the
/// nonce as a C string).
pub fn generate_nonce() -> Result<[u8; 20]> {
    let mut n = [0u8; 20];
    getrandom::fill(&mut n).map_err(|e| Error::Crypto {
        op: "random nonce",
        reason: e.to_string(),
    })?;
    for b in &mut n {
        // 0x21..=0x7E minus '$': 93 values.
        let v = 0x21 + (*b % 93);
        *b = if v >= b'$' { v + 1 } else { v };
    }
    Ok(n)
}

/// Which side of the hash input the nonce goes: native password hashes
/// `nonce ‖ stage2`, caching_sha2 hashes `stage2 ‖ nonce`.
#[derive(Clone, Copy)]
pub(crate) enum NonceSide {
    First,
    Last,
}

fn hash<D: sha2::Digest>(parts: &[&[u8]]) -> Vec<u8> {
    let mut h = D::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().to_vec()
}

fn salted<D: sha2::Digest>(stage2: &[u8], nonce: &[u8], side: NonceSide) -> Vec<u8> {
    match side {
        NonceSide::First => hash::<D>(&[nonce, stage2]),
        NonceSide::Last => hash::<D>(&[stage2, nonce]),
    }
}

/// The scramble both password plugins share: H(p) XOR H(nonce, H(H(p))).
/// An empty password gives an empty response.
pub(crate) fn scramble_with<D: sha2::Digest>(
    password: &[u8],
    nonce: &[u8],
    side: NonceSide,
) -> Vec<u8> {
    if password.is_empty() {
        return Vec::new();
    }
    let stage1 = hash::<D>(&[password]);
    let stage2 = hash::<D>(&[&stage1]);
    let mut out = salted::<D>(&stage2, nonce, side);
    xor_cycle(&mut out, &stage1);
    out
}

/// H(H(p)), what a server stores to verify [`scramble_with`]'s output.
pub(crate) fn stored_hash<D: sha2::Digest>(password: &[u8]) -> Vec<u8> {
    hash::<D>(&[&hash::<D>(&[password])])
}

/// Server role: recovers H(p) from a scramble and checks H(H(p)) == stored.
pub(crate) fn verify_with<D: sha2::Digest>(
    stored: &[u8],
    nonce: &[u8],
    response: &[u8],
    side: NonceSide,
) -> bool {
    if response.len() != stored.len() {
        return false;
    }
    let mut candidate = salted::<D>(stored, nonce, side);
    xor_cycle(&mut candidate, response);
    ct_eq(&hash::<D>(&[&candidate]), stored)
}

/// Compares two byte strings without an early exit.
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// XORs `data` with `key` repeated.
pub(crate) fn xor_cycle(data: &mut [u8], key: &[u8]) {
    if key.is_empty() {
        return;
    }
    for (d, k) in data.iter_mut().zip(key.iter().cycle()) {
        *d ^= k;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonce_is_printable_without_dollar() {
        let n = generate_nonce().unwrap();
        assert!(n.iter().all(|&b| (0x21..=0x7F).contains(&b) && b != b'$'));
    }
}
