//! The sandbox's own webhook signing keys: RSA (PKCS#1 v1.5, SHA-256) for `x-wh-signature` and
//! Ed25519 for `x-ghl-signature`, both over the exact bytes sent, base64-encoded.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rsa::pkcs1v15::SigningKey as RsaSigningKey;
use rsa::pkcs8::{EncodePublicKey, LineEnding};
use rsa::signature::{SignatureEncoding, Signer};
use rsa::RsaPrivateKey;
use sha2::Sha256;

pub struct SigningKeys {
    rsa: RsaSigningKey<Sha256>,
    rsa_public_pem: String,
    ed25519: ed25519_dalek::SigningKey,
}

impl std::fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKeys([redacted])")
    }
}

impl SigningKeys {
    /// New random keys (RSA 2048, as HighLevel's).
    pub fn generate() -> anyhow::Result<Self> {
        let mut rng = rand::rngs::OsRng;
        let rsa = RsaPrivateKey::new(&mut rng, 2048)?;
        let rsa_public_pem = rsa.to_public_key().to_public_key_pem(LineEnding::LF)?;
        Ok(Self {
            rsa: RsaSigningKey::<Sha256>::new(rsa),
            rsa_public_pem,
            ed25519: ed25519_dalek::SigningKey::generate(&mut rng),
        })
    }

    /// The RSA public key, SPKI PEM (`-----BEGIN PUBLIC KEY-----`).
    pub fn rsa_public_pem(&self) -> &str {
        &self.rsa_public_pem
    }

    /// The Ed25519 public key as SPKI DER, base64: the form HighLevel publishes its key in.
    pub fn ed25519_public_spki_base64(&self) -> String {
        match self.ed25519.verifying_key().to_public_key_der() {
            Ok(der) => STANDARD.encode(der.as_bytes()),
            Err(_) => String::new(),
        }
    }

    pub fn sign_rsa(&self, payload: &[u8]) -> String {
        STANDARD.encode(self.rsa.sign(payload).to_bytes())
    }

    pub fn sign_ed25519(&self, payload: &[u8]) -> String {
        STANDARD.encode(self.ed25519.sign(payload).to_bytes())
    }
}
