//! The Standard Webhooks scheme (specs/partners/standard-webhooks/ in the repository): the signed content is
//! `{webhook-id}.{webhook-timestamp}.{raw body}`, the signature `v1,` + base64 of its
//! HMAC-SHA256 under the secret (`whsec_` + base64 of the key bytes). The
//! `webhook-signature` header may hold several space-separated signatures (secret
//! rotation); versions other than `v1` are skipped. Written here on `hmac`/`sha2`/`base64`
//! rather than on the `standardwebhooks` crate, which verifies against the wall clock only
//! (no tolerance boundary can be tested, nor a delivery held in a queue checked at its
//! arrival time), signs UTF-8 bodies only, and accepts an empty key; the tests hold this
//! module to the published vectors and to that crate's signatures.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::{check_window, SigningKey, VerifyError};

pub const ID_HEADER: &str = "webhook-id";
pub const TIMESTAMP_HEADER: &str = "webhook-timestamp";
pub const SIGNATURE_HEADER: &str = "webhook-signature";
/// The reference libraries' tolerance (the spec names none).
pub const DEFAULT_TOLERANCE_SECS: u64 = 300;

const SECRET_PREFIX: &str = "whsec_";
const VERSION: &str = "v1";

/// Why a `whsec_` secret cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("the webhook secret is empty; it is `whsec_` followed by base64")]
    Empty,
    #[error("the webhook secret is not base64 after `whsec_` ({0})")]
    NotBase64(String),
}

/// Parses a secret as senders give it: `whsec_` + base64, or the base64 alone.
pub fn parse_secret(text: &str) -> Result<SigningKey, SecretError> {
    let encoded = text.trim().strip_prefix(SECRET_PREFIX).unwrap_or(text.trim());
    if encoded.is_empty() {
        return Err(SecretError::Empty);
    }
    let key = STANDARD.decode(encoded).map_err(|err| SecretError::NotBase64(err.to_string()))?;
    if key.is_empty() {
        return Err(SecretError::Empty);
    }
    Ok(SigningKey::from_bytes(key))
}

/// The secret as `whsec_...`, to show once to the user who sets up the receiving end.
pub fn format_secret(key: &SigningKey) -> String {
    format!("{SECRET_PREFIX}{}", STANDARD.encode(key.as_bytes()))
}

fn mac(key: &SigningKey, id: &str, timestamp: &str, body: &[u8]) -> Hmac<Sha256> {
    // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
    let mut mac = match Hmac::<Sha256>::new_from_slice(key.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC accepts keys of any length"),
    };
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The `webhook-signature` value for a message: `v1,<base64>`. The id is the sender's own
/// (stable across retries of one message) and holds no `.`.
pub fn sign(key: &SigningKey, id: &str, timestamp: i64, body: &[u8]) -> String {
    let tag = mac(key, id, &timestamp.to_string(), body).finalize().into_bytes();
    format!("{VERSION},{}", STANDARD.encode(tag))
}

/// The three headers of a signed message.
pub fn headers(
    key: &SigningKey,
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> [(&'static str, String); 3] {
    [
        (ID_HEADER, id.to_owned()),
        (TIMESTAMP_HEADER, timestamp.to_string()),
        (SIGNATURE_HEADER, sign(key, id, timestamp, body)),
    ]
}

/// The Standard Webhooks headers of a delivery, as received.
#[derive(Debug, Clone, Copy, Default)]
pub struct Delivery<'a> {
    pub id: Option<&'a str>,
    pub timestamp: Option<&'a str>,
    pub signature: Option<&'a str>,
    pub body: &'a [u8],
}

/// Verifies a delivery at Unix time `now`: its timestamp within `tolerance_secs`, and one of
/// its `v1` signatures made with one of `keys` (several while a secret is rotated).
pub fn verify(
    keys: &[SigningKey],
    delivery: &Delivery<'_>,
    now: i64,
    tolerance_secs: u64,
) -> Result<(), VerifyError> {
    let missing = |name: &str| VerifyError::MissingHeader(name.to_owned());
    let id = delivery.id.ok_or_else(|| missing(ID_HEADER))?;
    let timestamp = delivery.timestamp.ok_or_else(|| missing(TIMESTAMP_HEADER))?;
    let signatures = delivery.signature.ok_or_else(|| missing(SIGNATURE_HEADER))?;
    let signed_at: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| VerifyError::BadTimestamp { header: TIMESTAMP_HEADER.into() })?;
    check_window(signed_at, now, tolerance_secs)?;
    let candidates: Vec<Vec<u8>> = signatures
        .split(' ')
        .filter_map(|entry| entry.split_once(','))
        .filter(|(version, _)| *version == VERSION)
        .filter_map(|(_, encoded)| STANDARD.decode(encoded).ok())
        .collect();
    let matched = keys.iter().any(|key| {
        let mac = mac(key, id, timestamp, delivery.body);
        candidates.iter().any(|candidate| mac.clone().verify_slice(candidate).is_ok())
    });
    if matched {
        Ok(())
    } else {
        Err(VerifyError::NoMatch)
    }
}
