//! Secrets at rest: XChaCha20-Poly1305 under a 32-byte master key, a random nonce per value,
//! and the row's id as associated data, so a ciphertext cannot be moved to another row.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

use crate::error::{Error, Result};

const NONCE_LEN: usize = 24;

/// The master key. Its `Debug` never shows it.
#[derive(Clone)]
pub struct MasterKey([u8; 32]);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey([redacted])")
    }
}

impl MasterKey {
    pub fn generate() -> Self {
        Self(XChaCha20Poly1305::generate_key(&mut OsRng).into())
    }

    /// From its base64 text (as `ghl-connector init` writes it).
    pub fn from_base64(text: &str) -> Result<Self> {
        let bytes = STANDARD
            .decode(text.trim())
            .map_err(|_| Error::Key("the master key is not base64".into()))?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| {
            Error::Key("the master key must be 32 bytes (44 base64 characters)".into())
        })?;
        Ok(Self(key))
    }

    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }
}

#[derive(Clone)]
pub struct Cipher(XChaCha20Poly1305);

impl Cipher {
    pub fn new(key: &MasterKey) -> Self {
        Self(XChaCha20Poly1305::new(&key.0.into()))
    }

    /// `nonce || ciphertext`, bound to `row_id`.
    pub fn seal(&self, row_id: &str, plaintext: &[u8]) -> Result<Vec<u8>> {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let sealed = self
            .0
            .encrypt(&nonce, Payload { msg: plaintext, aad: row_id.as_bytes() })
            .map_err(|_| Error::Key("encryption failed".into()))?;
        Ok([nonce.as_slice(), &sealed].concat())
    }

    pub fn open(&self, row_id: &str, sealed: &[u8]) -> Result<Vec<u8>> {
        if sealed.len() < NONCE_LEN {
            return Err(Error::Key(format!("secret of {row_id} is damaged")));
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        self.0
            .decrypt(XNonce::from_slice(nonce), Payload { msg: ciphertext, aad: row_id.as_bytes() })
            .map_err(|_| {
                Error::Key(format!("cannot decrypt the secret of {row_id}: wrong master key?"))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_only_with_the_key_and_row_they_were_sealed_for() {
        let key = MasterKey::generate();
        let cipher = Cipher::new(&key);
        let sealed = cipher.seal("conn-1", b"refresh-token").expect("seal");
        assert!(!sealed.windows(7).any(|w| w == b"refresh"), "no plaintext in the ciphertext");
        assert_eq!(cipher.open("conn-1", &sealed).expect("open"), b"refresh-token");
        assert!(cipher.open("conn-2", &sealed).is_err(), "bound to its row");
        assert!(
            Cipher::new(&MasterKey::generate()).open("conn-1", &sealed).is_err(),
            "bound to its key"
        );
        let again = MasterKey::from_base64(&key.to_base64()).expect("round trip");
        assert_eq!(Cipher::new(&again).open("conn-1", &sealed).expect("open"), b"refresh-token");
        assert!(MasterKey::from_base64("c2hvcnQ=").is_err());
        assert_eq!(format!("{key:?}"), "MasterKey([redacted])");
    }
}
