//! Webhook authenticity: an incoming webhook is `Inbound<Unverified>` until `verify` checks
//! its signature against the raw body (Ed25519 `x-ghl-signature`, or, when that header is
//! absent, the legacy RSA-SHA256 `x-wh-signature`) and its freshness; only an
//! `Inbound<Verified>` can be stored.

use std::marker::PhantomData;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rsa::pkcs1v15::{Signature as RsaSignature, VerifyingKey as RsaVerifyingKey};
use rsa::pkcs8::DecodePublicKey;
use rsa::signature::Verifier;
use serde_json::Value;
use sha2::Sha256;

/// HighLevel's published Ed25519 key (SPKI DER, base64).
pub const HIGHLEVEL_ED25519_KEY: &str =
    "MCowBQYDK2VwAyEAi2HR1srL4o18O8BRa7gVJY7G7bupbN3H9AwJrHCDiOg=";
/// Events older than this are replays (HighLevel's advice: about five minutes).
pub const MAX_AGE_SECS: i64 = 300;

pub struct Unverified;
pub struct Verified;

/// A webhook as received.
pub struct Inbound<State> {
    pub body: Vec<u8>,
    ed25519_signature: Option<String>,
    rsa_signature: Option<String>,
    payload: Option<Value>,
    state: PhantomData<State>,
}

/// The keys webhooks are checked against.
pub struct WebhookKeys {
    ed25519: Option<ed25519_dalek::VerifyingKey>,
    rsa: Option<RsaVerifyingKey<Sha256>>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Rejection {
    Unsigned,
    BadSignature,
    NotJson,
    Stale,
}

impl Rejection {
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Unsigned => "the webhook is not signed",
            Self::BadSignature => "the webhook signature does not verify",
            Self::NotJson => "the webhook body is not a JSON object with type, locationId, webhookId and timestamp",
            Self::Stale => "the webhook timestamp is too old or in the future (replay)",
        }
    }
}

impl WebhookKeys {
    /// From an Ed25519 key (SPKI DER, base64, as HighLevel publishes it) and an RSA public
    /// key (PEM); either may be absent.
    pub fn new(ed25519_spki_base64: Option<&str>, rsa_pem: Option<&str>) -> Result<Self, String> {
        let ed25519 = ed25519_spki_base64
            .map(|text| {
                let der = STANDARD
                    .decode(text.trim())
                    .map_err(|_| "the Ed25519 key is not base64".to_owned())?;
                ed25519_dalek::VerifyingKey::from_public_key_der(&der)
                    .map_err(|err| format!("the Ed25519 key: {err}"))
            })
            .transpose()?;
        let rsa = rsa_pem
            .map(|pem| {
                rsa::RsaPublicKey::from_public_key_pem(pem.trim())
                    .map(RsaVerifyingKey::<Sha256>::new)
                    .map_err(|err| format!("the RSA key: {err}"))
            })
            .transpose()?;
        Ok(Self { ed25519, rsa })
    }
}

impl Inbound<Unverified> {
    pub fn new(
        body: Vec<u8>,
        ed25519_signature: Option<String>,
        rsa_signature: Option<String>,
    ) -> Self {
        Self { body, ed25519_signature, rsa_signature, payload: None, state: PhantomData }
    }

    /// Checks the signature (Ed25519 if present, with no fallback; else RSA) and freshness.
    pub fn verify(self, keys: &WebhookKeys, now_secs: i64) -> Result<Inbound<Verified>, Rejection> {
        let decode = |text: &str| STANDARD.decode(text.trim()).map_err(|_| Rejection::BadSignature);
        match (&self.ed25519_signature, &self.rsa_signature) {
            (Some(signature), _) => {
                let key = keys.ed25519.as_ref().ok_or(Rejection::BadSignature)?;
                let bytes: [u8; 64] =
                    decode(signature)?.try_into().map_err(|_| Rejection::BadSignature)?;
                key.verify(&self.body, &ed25519_dalek::Signature::from_bytes(&bytes))
                    .map_err(|_| Rejection::BadSignature)?;
            }
            (None, Some(signature)) => {
                let key = keys.rsa.as_ref().ok_or(Rejection::BadSignature)?;
                let signature = RsaSignature::try_from(decode(signature)?.as_slice())
                    .map_err(|_| Rejection::BadSignature)?;
                key.verify(&self.body, &signature).map_err(|_| Rejection::BadSignature)?;
            }
            (None, None) => return Err(Rejection::Unsigned),
        }
        let payload: Value = serde_json::from_slice(&self.body).map_err(|_| Rejection::NotJson)?;
        for field in ["type", "webhookId"] {
            if !payload.get(field).is_some_and(Value::is_string) {
                return Err(Rejection::NotJson);
            }
        }
        let sent = payload
            .get("timestamp")
            .and_then(Value::as_str)
            .and_then(|text| chrono::DateTime::parse_from_rfc3339(text).ok())
            .ok_or(Rejection::NotJson)?;
        if (now_secs - sent.timestamp()).abs() > MAX_AGE_SECS {
            return Err(Rejection::Stale);
        }
        Ok(Inbound {
            body: self.body,
            ed25519_signature: self.ed25519_signature,
            rsa_signature: self.rsa_signature,
            payload: Some(payload),
            state: PhantomData,
        })
    }
}

impl Inbound<Verified> {
    pub fn payload(&self) -> &Value {
        self.payload.as_ref().unwrap_or(&Value::Null)
    }

    pub fn field(&self, name: &str) -> Option<&str> {
        self.payload().get(name).and_then(Value::as_str)
    }
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::pkcs8::EncodePublicKey;
    use ed25519_dalek::Signer;

    use super::*;

    fn signed(key: &ed25519_dalek::SigningKey, timestamp: &str) -> (Vec<u8>, String) {
        let body = serde_json::to_vec(&serde_json::json!({
            "type": "ContactCreate", "locationId": "l", "id": "c", "webhookId": "w-1", "timestamp": timestamp,
        }))
        .expect("json");
        let signature = STANDARD.encode(key.sign(&body).to_bytes());
        (body, signature)
    }

    #[test]
    fn genuine_fresh_webhooks_pass_and_stale_or_tampered_ones_do_not() {
        let key = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
        let spki =
            STANDARD.encode(key.verifying_key().to_public_key_der().expect("der").as_bytes());
        let keys = WebhookKeys::new(Some(&spki), None).expect("keys");
        let now = chrono::Utc::now();
        let (body, signature) = signed(&key, &now.to_rfc3339());
        let verified = Inbound::new(body.clone(), Some(signature.clone()), None)
            .verify(&keys, now.timestamp())
            .ok();
        assert_eq!(verified.as_ref().and_then(|v| v.field("webhookId")), Some("w-1"));

        let (old, old_signature) =
            signed(&key, &(now - chrono::Duration::minutes(10)).to_rfc3339());
        let stale =
            Inbound::new(old, Some(old_signature), None).verify(&keys, now.timestamp()).err();
        assert_eq!(stale, Some(Rejection::Stale), "a replay of an old delivery");

        let mut tampered = body.clone();
        tampered[5] ^= 1;
        let forged = Inbound::new(tampered, Some(signature.clone()), None)
            .verify(&keys, now.timestamp())
            .err();
        assert_eq!(forged, Some(Rejection::BadSignature));
        // With x-ghl-signature present there is no fallback to the RSA header.
        let no_fallback = Inbound::new(body, Some("AAAA".into()), Some(signature))
            .verify(&keys, now.timestamp())
            .err();
        assert_eq!(no_fallback, Some(Rejection::BadSignature));
        assert!(
            WebhookKeys::new(Some(HIGHLEVEL_ED25519_KEY), None).is_ok(),
            "HighLevel's published key parses"
        );
    }
}
