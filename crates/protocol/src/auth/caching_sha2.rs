//! `caching_sha2_password`.
//!
//! Fast path: the client sends SHA256(p) XOR SHA256(SHA256(SHA256(p)) ‖ nonce);
//! a server that has SHA256(SHA256(p)) cached checks it and answers
//! AuthMoreData 0x03 then OK. Otherwise it answers AuthMoreData 0x04 ("perform
//! full authentication") and the client sends the password: in clear over
//! TLS, or XORed with the nonce and encrypted with RSA-OAEP (SHA-1, MGF1-SHA-1,
//! as OpenSSL's `RSA_PKCS1_OAEP_PADDING`) under the server's public key, which
//! it can request by sending 0x02.

use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePublicKey};
use rsa::{PrivateKey, PublicKey};
use sha1::Sha1;
use sha2::Sha256;

use super::{NonceSide, ct_eq, scramble_with, stored_hash, verify_with, xor_cycle};
use crate::error::{Error, Result};

/// The client asks for the server's public key.
pub const REQUEST_PUBLIC_KEY: u8 = 0x02;
/// AuthMoreData data: the fast path succeeded; an OK follows.
pub const FAST_AUTH_SUCCESS: u8 = 0x03;
/// AuthMoreData data: the server needs the password (full authentication).
pub const PERFORM_FULL_AUTHENTICATION: u8 = 0x04;

/// Client role: the fast-path auth response. An empty password gives an
/// empty response.
pub fn scramble(password: &[u8], nonce: &[u8]) -> Vec<u8> {
    scramble_with::<Sha256>(password, nonce, NonceSide::Last)
}

/// Server role: the fast-auth cache entry for `password`, SHA256(SHA256(password)).
pub fn password_hash(password: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(&stored_hash::<Sha256>(password));
    out
}

/// Server role: checks a fast-path response against the cache entry.
pub fn verify_fast(cached: &[u8; 32], nonce: &[u8], response: &[u8]) -> bool {
    verify_with::<Sha256>(cached, nonce, response, NonceSide::Last)
}

/// Server role: checks a password received in full authentication against
/// the cache entry (so a server needs only SHA256(SHA256(p)) for both paths).
pub fn verify_password(cached: &[u8; 32], password: &[u8]) -> bool {
    ct_eq(&password_hash(password), cached)
}

/// Client role over TLS: the password as sent in clear (NUL-terminated).
pub fn cleartext_password(password: &[u8]) -> Vec<u8> {
    let mut v = password.to_vec();
    v.push(0);
    v
}

/// Parses a PEM (`BEGIN PUBLIC KEY`) public key, as the server sends it.
pub fn parse_public_key(pem: &[u8]) -> Result<PublicKey> {
    let crypto = |e: &dyn std::fmt::Display| Error::Crypto {
        op: "parse RSA public key",
        reason: e.to_string(),
    };
    let text = std::str::from_utf8(pem).map_err(|e| crypto(&e))?;
    let text = text.trim_end_matches('\0').trim();
    PublicKey::from_public_key_pem(text).map_err(|e| crypto(&e))
}

/// Parses a PKCS#8 PEM (`BEGIN PRIVATE KEY`) private key for the server role.
pub fn parse_private_key(pem: &str) -> Result<PrivateKey> {
    PrivateKey::from_pkcs8_pem(pem).map_err(|e| Error::Crypto {
        op: "parse RSA private key",
        reason: e.to_string(),
    })
}

/// Server role: the PEM public key sent in answer to [`REQUEST_PUBLIC_KEY`].
pub fn public_key_pem(key: &PrivateKey) -> Result<String> {
    key.to_public_key()
        .to_public_key_pem(rsa::pkcs8::LineEnding::LF)
        .map_err(|e| Error::Crypto {
            op: "encode RSA public key",
            reason: e.to_string(),
        })
}

/// Client role without TLS: the password XORed with the nonce and encrypted
/// with RSA-OAEP under the server's public key.
pub fn encrypt_password(password: &[u8], nonce: &[u8], key: &PublicKey) -> Result<Vec<u8>> {
    let mut buf = cleartext_password(password);
    xor_cycle(&mut buf, nonce);
    key.oaep_encrypt::<Sha1>(&buf).map_err(|e| Error::Crypto {
        op: "RSA-OAEP encrypt",
        reason: e.to_string(),
    })
}

/// Server role: recovers the password from [`encrypt_password`]'s output.
pub fn decrypt_password(ciphertext: &[u8], nonce: &[u8], key: &PrivateKey) -> Result<Vec<u8>> {
    let mut buf = key
        .oaep_decrypt::<Sha1>(ciphertext)
        .map_err(|e| Error::Crypto {
            op: "RSA-OAEP decrypt",
            reason: e.to_string(),
        })?;
    xor_cycle(&mut buf, nonce);
    if buf.last() == Some(&0) {
        buf.pop();
    }
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_path_round_trip() {
        let nonce = b"abcdefghijabcdefghij";
        let r = scramble(b"pw", nonce);
        let cached = password_hash(b"pw");
        assert!(verify_fast(&cached, nonce, &r));
        assert!(!verify_fast(&password_hash(b"px"), nonce, &r));
        assert!(!verify_fast(&cached, nonce, &r[1..]));
        assert!(verify_password(&cached, b"pw"));
        assert_eq!(cleartext_password(b"pw"), b"pw\0");
    }

    #[test]
    fn garbage_keys_are_errors() {
        assert!(parse_public_key(b"not a key").is_err());
        assert!(parse_private_key("nope").is_err());
    }
}
