//! MariaDB's `client_ed25519`: the client signs the server's 32-byte nonce
//! with Ed25519, using SHA-512(password) as the expanded secret key (standard
//! Ed25519 hashes a 32-byte seed instead; that is the only difference). The
//! server stores the matching public key, base64 without padding.
//!
//! Signing goes through `ed25519-dalek`'s hazmat API because the secret is
//! not a 32-byte seed; everything else is the crate's ordinary Ed25519.

use ed25519_dalek::hazmat::{ExpandedSecretKey, raw_sign};
use ed25519_dalek::{Signature, VerifyingKey};
use sha2::{Digest, Sha512};

fn expanded(password: &[u8]) -> ExpandedSecretKey {
    let az: [u8; 64] = Sha512::digest(password).into();
    ExpandedSecretKey::from_bytes(&az)
}

/// Client role: the 64-byte auth response for `password` and the nonce
/// from the AuthSwitchRequest.
pub fn sign(password: &[u8], nonce: &[u8]) -> Vec<u8> {
    let esk = expanded(password);
    let public = VerifyingKey::from(&esk);
    raw_sign::<Sha512>(&esk, nonce, &public).to_bytes().to_vec()
}

/// Server role: the public key a server stores for `password`.
pub fn public_key(password: &[u8]) -> [u8; 32] {
    VerifyingKey::from(&expanded(password)).to_bytes()
}

/// Server role: checks a client's signature against the stored public key.
pub fn verify(public_key: &[u8; 32], nonce: &[u8], response: &[u8]) -> bool {
    let Ok(key) = VerifyingKey::from_bytes(public_key) else {
        return false;
    };
    let Ok(sig) = Signature::from_slice(response) else {
        return false;
    };
    key.verify_strict(nonce, &sig).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_verify() {
        let nonce = [7u8; 32];
        let sig = sign(b"pw", &nonce);
        assert_eq!(sig.len(), 64);
        assert!(verify(&public_key(b"pw"), &nonce, &sig));
        assert!(!verify(&public_key(b"px"), &nonce, &sig));
        assert!(!verify(&public_key(b"pw"), &nonce, &sig[1..]));
    }
}
