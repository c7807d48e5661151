//! HighLevel's webhooks: a delivery is signed over its raw body with Ed25519 (`x-ghl-signature`)
//! or, when that header is absent, the legacy RSA-SHA256 (`x-wh-signature`), and is at most
//! [`MAX_AGE_SECS`] old. [`Webhooks`] is the [`Verifier`] the HighLevel app offers (the server
//! routes `/webhooks/highlevel` to it); it trusts the keys the app was built with (HighLevel's
//! published one by default) and those learned with connections (a sandbox's), re-read with
//! each heartbeat.

use std::sync::{Arc, LazyLock};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ghl_types::Remedy;
use parking_lot::RwLock;
use reqwest::header::HeaderMap;
use rsa::pkcs1v15::{Signature as RsaSignature, VerifyingKey as RsaVerifyingKey};
use rsa::pkcs8::DecodePublicKey;
use rsa::signature::Verifier as _;
use serde_json::Value;
use sha2::Sha256;

use crate::inbound::{Refusal, VerifiedEvent, Verifier};

/// HighLevel's published Ed25519 key (SPKI DER, base64).
pub const HIGHLEVEL_ED25519_KEY: &str =
    "MCowBQYDK2VwAyEAi2HR1srL4o18O8BRa7gVJY7G7bupbN3H9AwJrHCDiOg=";
/// How old a genuinely signed delivery may be. HighLevel retries a delivery answered 429 up to
/// 6 times about 10 minutes apart, with the original bytes and timestamp: about an hour, so
/// two hours keeps every retry with room to spare. Replays within it are refused by their
/// stored `webhookId` (kept for good), not by their age.
pub const MAX_AGE_SECS: i64 = 2 * 60 * 60;
/// How far in the future a timestamp may be (clock skew).
pub const MAX_SKEW_SECS: i64 = 5 * 60;

/// HighLevel's verifier: the configured keys, and those plus the learned ones.
pub struct Webhooks {
    configured: TrustedKeys,
    keys: RwLock<Arc<TrustedKeys>>,
}

impl Webhooks {
    /// Trusts `keys` (and, once renewed, the keys learned with connections).
    pub fn new(keys: TrustedKeys) -> Self {
        Self { keys: RwLock::new(Arc::new(keys.clone())), configured: keys }
    }
}

impl Default for Webhooks {
    /// Trusts HighLevel's published key (parsed once: every `Apps::builtin()` makes one).
    fn default() -> Self {
        static PUBLISHED: LazyLock<TrustedKeys> = LazyLock::new(|| {
            // It parses: a test holds it.
            TrustedKeys::new(Some(HIGHLEVEL_ED25519_KEY), None).unwrap_or_default()
        });
        Self::new(PUBLISHED.clone())
    }
}

#[async_trait::async_trait]
impl Verifier for Webhooks {
    fn verify(
        &self,
        body: &[u8],
        headers: &HeaderMap,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<VerifiedEvent, Refusal> {
        let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
        let signature = match (header("x-ghl-signature"), header("x-wh-signature")) {
            (Some(signature), _) => Some(Signature::Ed25519(signature)),
            (None, Some(signature)) => Some(Signature::Rsa(signature)),
            (None, None) => None,
        };
        let keys = self.keys.read().clone();
        let payload = check(body, signature, &keys, now.timestamp()).map_err(|rejection| {
            let refusal = Refusal::new(rejection.reason(&keys));
            match rejection {
                // A sender whose key is not trusted: a sandbox not connected yet, or a key
                // not configured.
                Rejection::BadSignature(_) => {
                    refusal.with_remedy(Remedy::TrustWebhookKey { app: super::ID.to_string() })
                }
                _ => refusal,
            }
        })?;
        let text = |name: &str| payload.get(name).and_then(Value::as_str).unwrap_or_default();
        let (event_type, location, webhook_id) =
            (text("type").to_owned(), text("locationId").to_owned(), text("webhookId"));
        let dedup_key = super::event_key(&event_type, &location, &payload, webhook_id);
        Ok(VerifiedEvent { event_type, dedup_key, account: Some(location), payload })
    }

    /// The configured keys plus those learned with connections (a sandbox's); a learned key
    /// that does not parse is logged and left out.
    async fn renew(&self, store: &ghl_store::Store) {
        let learned = match store.webhook_keys().await {
            Ok(learned) => learned,
            Err(err) => {
                tracing::warn!(error = %err, "cannot read the webhook keys learned with connections");
                return;
            }
        };
        let mut keys = self.configured.clone();
        for entry in &learned {
            if let Err(err) = keys.learn(entry) {
                tracing::warn!(connection = %entry.connection, error = %err, "unusable webhook key");
            }
        }
        *self.keys.write() = Arc::new(keys);
    }
}

/// A signature header's value, by scheme.
#[derive(Debug, Clone, Copy)]
pub enum Signature<'a> {
    /// `x-ghl-signature`.
    Ed25519(&'a str),
    /// `x-wh-signature` (legacy).
    Rsa(&'a str),
}

/// A key that cannot be trusted because it cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("the Ed25519 key ({origin}) is not base64")]
    NotBase64 { origin: String },
    #[error("the Ed25519 key ({origin}): {source}")]
    Ed25519 {
        origin: String,
        #[source]
        source: ed25519_dalek::pkcs8::spki::Error,
    },
    #[error("the RSA key ({origin}): {source}")]
    Rsa {
        origin: String,
        #[source]
        source: rsa::pkcs8::spki::Error,
    },
}

/// A key with what it is, for messages: `MCowBQYDK2VwAyEAi2HR1srL…CDiOg= (HighLevel's
/// published key)`.
#[derive(Clone)]
struct Labelled<K> {
    key: K,
    /// The public key shortened, or its fingerprint.
    name: String,
    /// Where it comes from.
    origin: String,
}

impl<K> Labelled<K> {
    fn label(&self) -> String {
        format!("{} ({})", self.name, self.origin)
    }
}

/// The keys webhooks are checked against: the configured ones (HighLevel's by default) and
/// those learned with connections (a sandbox's).
#[derive(Clone, Default)]
pub struct TrustedKeys {
    ed25519: Vec<Labelled<ed25519_dalek::VerifyingKey>>,
    rsa: Vec<Labelled<RsaVerifyingKey<Sha256>>>,
}

/// Which signature header failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Ed25519,
    Rsa,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Rejection {
    Unsigned,
    BadSignature(Scheme),
    NotJson,
    Stale,
}

impl Rejection {
    /// What went wrong, in words; a bad signature names the keys that were tried (public
    /// keys, shortened). What to do about it is the refusal's remedy, for the front end to say.
    pub fn reason(&self, keys: &TrustedKeys) -> String {
        match self {
            Self::Unsigned => "the webhook is not signed (no x-ghl-signature or x-wh-signature)".into(),
            Self::BadSignature(scheme) => {
                let (header, kind, labels) = match scheme {
                    Scheme::Ed25519 => ("x-ghl-signature", "Ed25519", keys.ed25519_labels()),
                    Scheme::Rsa => ("x-wh-signature", "RSA", keys.rsa_labels()),
                };
                let tried = if labels.is_empty() {
                    format!("no {kind} key is configured")
                } else {
                    format!("it does not verify with the {kind} key {}", labels.join(" or "))
                };
                format!("{header}: {tried}")
            }
            Self::NotJson => "the webhook body is not a JSON object with type, webhookId and timestamp".into(),
            Self::Stale => format!(
                "the webhook timestamp is more than {} hours old or more than {} minutes in the future",
                MAX_AGE_SECS / 3600,
                MAX_SKEW_SECS / 60
            ),
        }
    }
}

/// An Ed25519 key (SPKI, base64) shortened for messages: past the fixed SPKI header to a few
/// characters of the key itself, and its end, enough to tell keys apart.
fn shortened(spki_base64: &str) -> String {
    let chars: Vec<char> = spki_base64.trim().chars().collect();
    if chars.len() <= 32 {
        return chars.into_iter().collect();
    }
    let head: String = chars[..24].iter().collect();
    let tail: String = chars[chars.len() - 6..].iter().collect();
    format!("{head}…{tail}")
}

impl TrustedKeys {
    /// From an Ed25519 key (SPKI DER, base64, as HighLevel publishes it) and an RSA public
    /// key (PEM); either may be absent.
    pub fn new(ed25519_spki_base64: Option<&str>, rsa_pem: Option<&str>) -> Result<Self, KeyError> {
        let mut keys = Self::default();
        if let Some(text) = ed25519_spki_base64 {
            let origin = if text.trim() == HIGHLEVEL_ED25519_KEY {
                "HighLevel's published key"
            } else {
                "the configured key"
            };
            keys.add_ed25519(text, origin)?;
        }
        if let Some(pem) = rsa_pem {
            keys.add_rsa(pem, "the configured key")?;
        }
        Ok(keys)
    }

    /// Adds the keys learned with a connection.
    pub fn learn(&mut self, learned: &ghl_store::LearnedWebhookKeys) -> Result<(), KeyError> {
        let origin =
            format!("learned with connection `{}` from {}", learned.connection, learned.origin);
        if let Some(text) = &learned.ed25519 {
            self.add_ed25519(text, &origin)?;
        }
        if let Some(pem) = &learned.rsa_pem {
            self.add_rsa(pem, &origin)?;
        }
        Ok(())
    }

    fn add_ed25519(&mut self, spki_base64: &str, origin: &str) -> Result<(), KeyError> {
        let origin_of = || origin.to_owned();
        let der = STANDARD
            .decode(spki_base64.trim())
            .map_err(|_| KeyError::NotBase64 { origin: origin_of() })?;
        let key = ed25519_dalek::VerifyingKey::from_public_key_der(&der)
            .map_err(|source| KeyError::Ed25519 { origin: origin_of(), source })?;
        if !self.ed25519.iter().any(|known| known.key == key) {
            let name = shortened(spki_base64);
            self.ed25519.push(Labelled { key, name, origin: origin.to_owned() });
        }
        Ok(())
    }

    fn add_rsa(&mut self, pem: &str, origin: &str) -> Result<(), KeyError> {
        use rsa::pkcs8::EncodePublicKey;
        use sha2::Digest;
        let refused = |source| KeyError::Rsa { origin: origin.to_owned(), source };
        let public = rsa::RsaPublicKey::from_public_key_pem(pem.trim()).map_err(refused)?;
        let der = public.to_public_key_der().map_err(refused)?;
        let digest = Sha256::digest(der.as_bytes());
        let fingerprint: String = digest[..8].iter().map(|byte| format!("{byte:02x}")).collect();
        let name = format!("with SHA-256 fingerprint {fingerprint}…");
        if !self.rsa.iter().any(|known| known.name == name) {
            let key = RsaVerifyingKey::<Sha256>::new(public);
            self.rsa.push(Labelled { key, name, origin: origin.to_owned() });
        }
        Ok(())
    }

    fn ed25519_labels(&self) -> Vec<String> {
        self.ed25519.iter().map(Labelled::label).collect()
    }

    fn rsa_labels(&self) -> Vec<String> {
        self.rsa.iter().map(Labelled::label).collect()
    }
}

/// Checks the signature (Ed25519 if present, with no fallback; else RSA) against every key,
/// then the body (a JSON object with `type`, `webhookId` and `timestamp`) and its age: up to
/// [`MAX_AGE_SECS`] old, so HighLevel's retries pass. Answers the payload.
pub fn check(
    body: &[u8],
    signature: Option<Signature<'_>>,
    keys: &TrustedKeys,
    now_secs: i64,
) -> Result<Value, Rejection> {
    let decode = |text: &str, scheme| {
        STANDARD.decode(text.trim()).map_err(|_| Rejection::BadSignature(scheme))
    };
    match signature {
        Some(Signature::Ed25519(signature)) => {
            let bad = Rejection::BadSignature(Scheme::Ed25519);
            let bytes: [u8; 64] =
                decode(signature, Scheme::Ed25519)?.try_into().map_err(|_| bad)?;
            let signature = ed25519_dalek::Signature::from_bytes(&bytes);
            if !keys.ed25519.iter().any(|known| known.key.verify(body, &signature).is_ok()) {
                return Err(Rejection::BadSignature(Scheme::Ed25519));
            }
        }
        Some(Signature::Rsa(signature)) => {
            let signature = RsaSignature::try_from(decode(signature, Scheme::Rsa)?.as_slice())
                .map_err(|_| Rejection::BadSignature(Scheme::Rsa))?;
            if !keys.rsa.iter().any(|known| known.key.verify(body, &signature).is_ok()) {
                return Err(Rejection::BadSignature(Scheme::Rsa));
            }
        }
        None => return Err(Rejection::Unsigned),
    }
    let payload: Value = serde_json::from_slice(body).map_err(|_| Rejection::NotJson)?;
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
    let age = now_secs - sent.timestamp();
    if age > MAX_AGE_SECS || -age > MAX_SKEW_SECS {
        return Err(Rejection::Stale);
    }
    Ok(payload)
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::pkcs8::EncodePublicKey;
    use ed25519_dalek::Signer;

    use super::*;

    fn ed25519(signature: &str) -> Option<Signature<'_>> {
        Some(Signature::Ed25519(signature))
    }

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
        let keys = TrustedKeys::new(Some(&spki), None).expect("keys");
        let now = chrono::Utc::now();
        let (body, signature) = signed(&key, &now.to_rfc3339());
        let verified = check(&body, ed25519(&signature), &keys, now.timestamp()).ok();
        assert_eq!(verified.as_ref().and_then(|v| v["webhookId"].as_str()), Some("w-1"));

        // HighLevel retries ~10 minutes apart with the original timestamp: a retry passes.
        let (retry, retry_signature) =
            signed(&key, &(now - chrono::Duration::minutes(10)).to_rfc3339());
        let retried = check(&retry, ed25519(&retry_signature), &keys, now.timestamp());
        assert!(retried.is_ok(), "a retry 10 minutes later");
        let (old, old_signature) = signed(&key, &(now - chrono::Duration::hours(3)).to_rfc3339());
        let stale = check(&old, ed25519(&old_signature), &keys, now.timestamp()).err();
        assert_eq!(stale, Some(Rejection::Stale), "older than any retry");
        let (ahead, ahead_signature) =
            signed(&key, &(now + chrono::Duration::minutes(10)).to_rfc3339());
        let future = check(&ahead, ed25519(&ahead_signature), &keys, now.timestamp()).err();
        assert_eq!(future, Some(Rejection::Stale), "from the future");

        let mut tampered = body.clone();
        tampered[5] ^= 1;
        let forged = check(&tampered, ed25519(&signature), &keys, now.timestamp()).err();
        assert_eq!(forged, Some(Rejection::BadSignature(Scheme::Ed25519)));
        // With x-ghl-signature present there is no fallback to the RSA header.
        let verifier = Webhooks::new(keys.clone());
        let mut headers = HeaderMap::new();
        headers.insert("x-ghl-signature", "AAAA".parse().expect("header"));
        headers.insert("x-wh-signature", signature.parse().expect("header"));
        let no_fallback = verifier.verify(&body, &headers, now).expect_err("refused");
        assert!(no_fallback.reason.starts_with("x-ghl-signature"), "{no_fallback}");
        headers.insert("x-ghl-signature", signature.parse().expect("header"));
        let event = verifier.verify(&body, &headers, now).expect("verified");
        assert_eq!(event.event_type, "ContactCreate");
        assert_eq!(event.dedup_key, "highlevel:ContactCreate:l:c");
        assert_eq!(event.account.as_deref(), Some("l"));
        assert!(
            TrustedKeys::new(Some(HIGHLEVEL_ED25519_KEY), None).is_ok(),
            "HighLevel's published key parses"
        );
    }

    #[test]
    fn learned_keys_verify_too_and_a_refusal_names_every_key_tried() {
        let sandbox = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
        let spki =
            STANDARD.encode(sandbox.verifying_key().to_public_key_der().expect("der").as_bytes());
        let mut keys = TrustedKeys::new(Some(HIGHLEVEL_ED25519_KEY), None).expect("keys");
        let now = chrono::Utc::now();
        let (body, signature) = signed(&sandbox, &now.to_rfc3339());
        let refused = check(&body.clone(), ed25519(&signature), &keys, now.timestamp())
            .expect_err("not HighLevel's key");
        let reason = refused.reason(&keys);
        assert!(reason.starts_with("x-ghl-signature"), "{reason}");
        assert!(
            reason.contains("MCowBQYDK2VwAyEAi2HR1srL…CDiOg= (HighLevel's published key)"),
            "{reason}"
        );
        assert!(!reason.contains("ghl-connector"), "a library error names no command: {reason}");
        let verifier = Webhooks::new(keys.clone());
        let mut headers = HeaderMap::new();
        headers.insert("x-ghl-signature", signature.parse().expect("header"));
        let refusal = verifier.verify(&body, &headers, now).expect_err("not HighLevel's key");
        assert_eq!(refusal.remedy, Some(Remedy::TrustWebhookKey { app: "highlevel".into() }));

        let learned = ghl_store::LearnedWebhookKeys {
            connection: "sandbox".into(),
            origin: "http://127.0.0.1:9999/".into(),
            ed25519: Some(spki.clone()),
            rsa_pem: None,
        };
        keys.learn(&learned).expect("learn");
        keys.learn(&learned).expect("learning twice keeps one");
        assert_eq!(keys.ed25519_labels().len(), 2);
        let verified = check(&body, ed25519(&signature), &keys, now.timestamp());
        assert!(verified.is_ok(), "the learned key verifies");
        let (other, other_signature) =
            signed(&ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng), &now.to_rfc3339());
        let refused = check(&other, ed25519(&other_signature), &keys, now.timestamp())
            .expect_err("neither key");
        let reason = refused.reason(&keys);
        assert!(reason.contains(&format!("{}…", &spki[..24])), "{reason}");
        assert!(reason.contains("learned with connection `sandbox`"), "{reason}");
    }
}
