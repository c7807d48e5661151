//! The sandbox's own webhook signing keys: RSA (PKCS#1 v1.5, SHA-256) for `x-wh-signature` and
//! Ed25519 for `x-ghl-signature`, both over the exact bytes sent, base64-encoded. The keys
//! derive from the sandbox's seed, so a restart with the same `--seed` keeps them.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use rsa::pkcs1v15::SigningKey as RsaSigningKey;
use rsa::pkcs8::{EncodePublicKey, LineEnding};
use rsa::signature::{SignatureEncoding, Signer};
use rsa::RsaPrivateKey;
use sha2::{Digest, Sha256};

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
        Self::from_rng(&mut rand::rngs::OsRng)
    }

    /// The keys of a seed: the same seed gives the same keys, another seed other keys.
    /// Generated once per seed and process (an RSA key takes a moment).
    pub fn for_seed(seed: u64) -> anyhow::Result<Arc<Self>> {
        static BY_SEED: OnceLock<parking_lot::Mutex<HashMap<u64, Arc<SigningKeys>>>> =
            OnceLock::new();
        let cache = BY_SEED.get_or_init(Default::default);
        if let Some(keys) = cache.lock().get(&seed) {
            return Ok(keys.clone());
        }
        // Generated outside the lock; two racing starts make the same keys anyway.
        let keys = Arc::new(Self::derive(seed)?);
        Ok(cache.lock().entry(seed).or_insert(keys).clone())
    }

    /// The keys of a seed, generated afresh (no cache).
    pub fn derive(seed: u64) -> anyhow::Result<Self> {
        Self::from_rng(&mut seeded_rng(seed))
    }

    fn from_rng(rng: &mut (impl rand::CryptoRng + rand::RngCore)) -> anyhow::Result<Self> {
        let rsa = RsaPrivateKey::new(rng, 2048)?;
        let rsa_public_pem = rsa.to_public_key().to_public_key_pem(LineEnding::LF)?;
        Ok(Self {
            rsa: RsaSigningKey::<Sha256>::new(rsa),
            rsa_public_pem,
            ed25519: ed25519_dalek::SigningKey::generate(rng),
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

/// A ChaCha20 generator keyed by the seed, apart from the data generator's stream.
fn seeded_rng(seed: u64) -> ChaCha20Rng {
    let mut hasher = Sha256::new();
    hasher.update(b"ghl-sandbox webhook signing keys");
    hasher.update(seed.to_le_bytes());
    ChaCha20Rng::from_seed(hasher.finalize().into())
}
