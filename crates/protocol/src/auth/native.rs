//! `mysql_native_password`: SHA1(password) XOR SHA1(nonce ‖ SHA1(SHA1(password))).

use sha1::Sha1;

use super::{NonceSide, scramble_with, stored_hash, verify_with};

/// Client role: the auth response for `password` and the server's 20-byte
/// nonce. An empty password gives an empty response.
pub fn scramble(password: &[u8], nonce: &[u8]) -> Vec<u8> {
    scramble_with::<Sha1>(password, nonce, NonceSide::First)
}

/// Server role: the hash a server stores for `password`, SHA1(SHA1(password))
/// (`mysql.user.authentication_string` is `*` and this in upper-case hex).
pub fn password_hash(password: &[u8]) -> [u8; 20] {
    let mut out = [0u8; 20];
    out.copy_from_slice(&stored_hash::<Sha1>(password));
    out
}

/// Server role: checks a client's auth response against the stored hash.
/// `stored` of `None` means the account has no password: only an empty
/// response passes.
pub fn verify(stored: Option<&[u8; 20]>, nonce: &[u8], response: &[u8]) -> bool {
    let Some(stored) = stored else {
        return response.is_empty();
    };
    verify_with::<Sha1>(stored, nonce, response, NonceSide::First)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_accepts_own_scramble_only() {
        let nonce = b"01234567890123456789";
        let r = scramble(b"secret", nonce);
        let stored = password_hash(b"secret");
        assert!(verify(Some(&stored), nonce, &r));
        assert!(!verify(Some(&stored), b"x1234567890123456789", &r));
        assert!(!verify(Some(&password_hash(b"other")), nonce, &r));
        assert!(verify(None, nonce, &scramble(b"", nonce)));
        assert!(!verify(Some(&stored), nonce, &r[..19]));
    }

    #[test]
    fn known_hash() {
        // SELECT PASSWORD('secret') = *14E65567ABDB5135D0CFD9A70B3032C179A49EE7
        let h = password_hash(b"secret");
        assert_eq!(
            h,
            [
                0x14, 0xE6, 0x55, 0x67, 0xAB, 0xDB, 0x51, 0x35, 0xD0, 0xCF, 0xD9, 0xA7, 0x0B, 0x30,
                0x32, 0xC1, 0x79, 0xA4, 0x9E, 0xE7
            ]
        );
    }
}
