//! A manifest app's incoming webhooks (`/webhooks/<app>`): the `Verifier` built from its
//! `triggers.webhooks`. A delivery's signature is checked per the manifest's scheme
//! (Standard Webhooks, a shared-secret HMAC or `t=...,v1=...`, in `ghl_apps::signatures`) with the
//! `webhook_secret` of each of the app's connections (several connections, or a secret being
//! rotated under a new connection, are several keys tried in turn); its event type, account,
//! dedup id and record are read at the manifest's places (a body pointer or a header). The
//! secrets are read from the store at `renew` (start and every heartbeat), never printed.

use std::sync::Arc;

use ghl_apps::place::ValueAt;
use ghl_apps::signatures::{shared_secret, standard_webhooks, timestamp_v1, SigningKey};
use ghl_apps::triggers::{Signature, Webhooks};
use parking_lot::RwLock;
use reqwest::header::HeaderMap;
use serde_json::Value;

use super::AppId;
use crate::connections::AuthSecret;
use crate::inbound::{Refusal, VerifiedEvent, Verifier};

/// The credential holding a connection's webhook signing secret.
pub const WEBHOOK_SECRET: &str = "webhook_secret";

/// How a manifest app keys its events: `<app>:<delivery id>`, or, for an event a poll
/// reconciles, `<app>:<event>:<account>:<record id>` (its webhook and the poll that finds its
/// record are one event).
#[derive(Debug, Clone)]
pub struct EventKeys {
    pub app: AppId,
    /// (event, the record's id field) of each event a poll reconciles.
    pub reconciled: Vec<(String, String)>,
}

impl EventKeys {
    pub fn key(&self, event: &str, account: &str, record: &Value, delivery_id: &str) -> String {
        let field = self.reconciled.iter().find(|(known, _)| known == event).map(|(_, id)| id);
        let id = field.and_then(|field| text(&record[field.as_str()]));
        match id {
            Some(id) => format!("{}:{event}:{account}:{id}", self.app),
            None => format!("{}:{delivery_id}", self.app),
        }
    }
}

/// A JSON string as it is, a number as written.
fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) if !text.is_empty() => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

/// The check of one manifest app's webhooks.
pub struct ManifestVerifier {
    webhooks: Webhooks,
    keys: EventKeys,
    /// The `webhook_secret`s of the app's connections, as of the last `renew`.
    secrets: RwLock<Vec<SigningKey>>,
}

impl ManifestVerifier {
    pub fn new(webhooks: Webhooks, keys: EventKeys) -> Self {
        Self { webhooks, keys, secrets: RwLock::new(Vec::new()) }
    }

    /// Trusts these secrets (as `webhook_secret` values are written) besides none: for tests
    /// and for a composition that holds them itself.
    pub fn trust(&self, secrets: &[&str]) {
        let keys = secrets.iter().filter_map(|secret| self.signing_key(secret)).collect();
        *self.secrets.write() = keys;
    }

    /// A secret as the scheme reads it: Standard Webhooks' `whsec_<base64>`, or the bytes of
    /// a shared secret.
    fn signing_key(&self, secret: &str) -> Option<SigningKey> {
        match self.webhooks.signature {
            Signature::StandardWebhooks { .. } => standard_webhooks::parse_secret(secret).ok(),
            Signature::HmacSha256(_) | Signature::TimestampV1 { .. } | Signature::None => {
                Some(SigningKey::from_bytes(secret.as_bytes().to_vec()))
            }
        }
    }

    fn check_signature(&self, body: &[u8], headers: &HeaderMap, now: i64) -> Result<(), Refusal> {
        let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
        let keys = self.secrets.read();
        let app = &self.keys.app;
        if keys.is_empty() && !matches!(self.webhooks.signature, Signature::None) {
            return Err(Refusal::new(format!(
                "no {app} connection holds a `{WEBHOOK_SECRET}`, so no delivery can be verified; \
                 connect {app} with its webhook signing secret"
            )));
        }
        let checked = match &self.webhooks.signature {
            Signature::None => Ok(()),
            Signature::StandardWebhooks { tolerance_secs } => {
                let delivery = standard_webhooks::Delivery {
                    id: header("webhook-id"),
                    timestamp: header("webhook-timestamp"),
                    signature: header("webhook-signature"),
                    body,
                };
                standard_webhooks::verify(&keys, &delivery, now, *tolerance_secs)
            }
            Signature::HmacSha256(scheme) => {
                let signature = header(&scheme.header);
                let timestamp = scheme.timestamp_header.as_deref().and_then(header);
                // Each connection's secret in turn: the first that matches.
                let mut outcome = Err(ghl_apps::signatures::VerifyError::NoMatch);
                for key in keys.iter() {
                    outcome = shared_secret::verify(key, scheme, signature, timestamp, body, now);
                    if outcome.is_ok() {
                        break;
                    }
                }
                outcome
            }
            Signature::TimestampV1 { header: name, tolerance_secs } => {
                timestamp_v1::verify(&keys, name, header(name), body, now, *tolerance_secs)
            }
        };
        checked.map_err(|err| Refusal::new(format!("{app} webhook refused: {err}")))
    }

    /// A value at a place of the delivery.
    fn at(place: &ValueAt, body: &Value, headers: &HeaderMap) -> Option<String> {
        match place {
            ValueAt::Body(pointer) => pointer.find(body).and_then(text),
            ValueAt::Header(name) => {
                headers.get(name).and_then(|value| value.to_str().ok()).map(str::to_owned)
            }
            ValueAt::Text => None,
        }
    }
}

#[async_trait::async_trait]
impl Verifier for ManifestVerifier {
    fn verify(
        &self,
        body: &[u8],
        headers: &HeaderMap,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<VerifiedEvent, Refusal> {
        self.check_signature(body, headers, now.timestamp())?;
        let app = &self.keys.app;
        let json: Value = serde_json::from_slice(body).map_err(|err| {
            Refusal::new(format!("{app} webhook refused: the body is not JSON ({err})"))
        })?;
        let webhooks = &self.webhooks;
        let event_type = webhooks.event_type.read(|place| Self::at(place, &json, headers));
        let event_type = event_type.ok_or_else(|| {
            Refusal::new(format!(
                "{app} webhook refused: no event type at {:?}",
                webhooks.event_type
            ))
        })?;
        let delivery = webhooks.dedup_id.read(|place| Self::at(place, &json, headers));
        let delivery = delivery.ok_or_else(|| {
            Refusal::new(format!(
                "{app} webhook refused: no delivery id at {:?}",
                webhooks.dedup_id.places()
            ))
        })?;
        let account = webhooks.account.as_ref().and_then(|place| Self::at(place, &json, headers));
        let record = webhooks.record.find(&json).cloned().unwrap_or(Value::Null);
        let dedup_key =
            self.keys.key(&event_type, account.as_deref().unwrap_or_default(), &record, &delivery);
        Ok(VerifiedEvent { event_type, payload: record, dedup_key, account })
    }

    /// The `webhook_secret` of every connection of the app.
    async fn renew(&self, store: &ghl_store::Store) {
        let app = self.keys.app.as_str();
        let connections = match store.connections().await {
            Ok(connections) => connections,
            Err(err) => {
                tracing::warn!(app, error = %err, "cannot read the connections' webhook secrets");
                return;
            }
        };
        let mut keys = Vec::new();
        for summary in connections.into_iter().filter(|summary| summary.app == app) {
            let Ok(Some(connection)) = store.connection(&summary.name).await else { continue };
            let Ok(secret) = AuthSecret::from_stored(connection.secret) else { continue };
            let value = match &secret {
                AuthSecret::Credentials { values, .. }
                | AuthSecret::ClientCredentials { values, .. } => values.get(WEBHOOK_SECRET),
                _ => None,
            };
            match value.and_then(|value| self.signing_key(value)) {
                Some(key) => keys.push(key),
                None if value.is_some() => tracing::warn!(
                    app,
                    connection = %summary.name,
                    "the connection's webhook secret is not one the app's scheme reads"
                ),
                None => {}
            }
        }
        *self.secrets.write() = keys;
    }
}

/// The verifier of `webhooks`, shared by every `App::verifier` call.
pub fn verifier(webhooks: &Webhooks, keys: EventKeys) -> Arc<ManifestVerifier> {
    Arc::new(ManifestVerifier::new(webhooks.clone(), keys))
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use reqwest::header::{HeaderName, HeaderValue};
    use serde_json::json;

    use super::*;
    use crate::apps::manifest::ManifestApp;
    use crate::apps::App;

    fn your_app() -> ManifestApp {
        let manifests = ghl_apps::builtin::manifests().expect("the shipped manifests load");
        let manifest = manifests.into_iter().find(|manifest| manifest.app == "your-app");
        ManifestApp::new(Arc::new(manifest.expect("shipped"))).expect("its id")
    }

    fn signed(secret: &str, id: &str, body: &[u8]) -> HeaderMap {
        let key = standard_webhooks::parse_secret(secret).expect("a whsec_ secret");
        let mut headers = HeaderMap::new();
        for (name, value) in standard_webhooks::headers(&key, id, Utc::now().timestamp(), body) {
            headers.insert(
                HeaderName::from_static(name),
                HeaderValue::from_str(&value).expect("a header value"),
            );
        }
        headers
    }

    #[test]
    fn a_signed_delivery_is_an_event_keyed_by_its_record_or_its_id_and_a_forged_one_is_refused() {
        let app = your_app();
        let verifier = app.verifier().expect("Your App signs its webhooks");
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        app.trust_webhook_secrets(&[secret]);
        let body = serde_json::to_vec(&json!({
            "type": "contact.created", "workspace_id": "ws-1", "data": { "id": "c-1", "name": "Ada" },
        }))
        .expect("json");
        let event =
            verifier.verify(&body, &signed(secret, "msg_1", &body), Utc::now()).expect("genuine");
        assert_eq!(event.event_type, "contact.created");
        assert_eq!(event.account.as_deref(), Some("ws-1"));
        assert_eq!(event.payload, json!({ "id": "c-1", "name": "Ada" }));
        assert_eq!(event.dedup_key, "your-app:contact.created:ws-1:c-1");
        let updated = serde_json::to_vec(&json!({
            "type": "contact.updated", "workspace_id": "ws-1", "data": { "id": "c-1" },
        }))
        .expect("json");
        let event = verifier
            .verify(&updated, &signed(secret, "msg_2", &updated), Utc::now())
            .expect("genuine");
        assert_eq!(event.dedup_key, "your-app:msg_2", "keyed by its webhook-id");

        let other = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
        let refused = verifier.verify(&body, &signed(other, "msg_3", &body), Utc::now());
        let reason = refused.expect_err("another secret's signature").reason;
        assert!(reason.contains("your-app"), "{reason}");
        assert!(!reason.contains(secret) && !reason.contains(other), "{reason}");
        // Rotation: two connections' secrets, either verifies.
        app.trust_webhook_secrets(&[secret, other]);
        verifier.verify(&body, &signed(other, "msg_4", &body), Utc::now()).expect("the new secret");
    }

    /// Qobrix's deliveries are unsigned and carry no id: accepted without a secret, keyed
    /// by context, record id and event time (a resent delivery is the same event, a later
    /// change another), a created lead by its record (its poll reconciles it).
    #[test]
    fn an_unsigned_qobrix_delivery_is_keyed_by_context_record_and_time() {
        let manifests = ghl_apps::builtin::manifests().expect("the shipped manifests load");
        let manifest = manifests.into_iter().find(|manifest| manifest.app == "qobrix");
        let app = ManifestApp::new(Arc::new(manifest.expect("shipped"))).expect("its id");
        let verifier = app.verifier().expect("Qobrix has webhooks");
        let delivery = |time: &str, status: &str| {
            serde_json::to_vec(&json!({
                "event_time": time, "context": "lead_status_changed",
                "data": { "id": "l-1", "ref": 7, "new_status": status, "old_status": "new" },
            }))
            .expect("json")
        };
        let first = delivery("2026-12-01T10:00:00+00:00", "viewing");
        let event = verifier.verify(&first, &HeaderMap::new(), Utc::now()).expect("unsigned");
        assert_eq!(event.event_type, "lead_status_changed");
        assert_eq!(event.payload["new_status"], "viewing");
        assert_eq!(event.dedup_key, "qobrix:lead_status_changed:l-1:2026-12-01T10:00:00+00:00");
        let resent = verifier.verify(&first, &HeaderMap::new(), Utc::now()).expect("unsigned");
        assert_eq!(resent.dedup_key, event.dedup_key, "a resent delivery is the same event");
        let later = delivery("2026-12-01T10:05:00+00:00", "offer");
        let later = verifier.verify(&later, &HeaderMap::new(), Utc::now()).expect("unsigned");
        assert_ne!(later.dedup_key, event.dedup_key, "a later change is another event");
        let no_time =
            serde_json::to_vec(&json!({"context": "project_changed", "data": {"id": "p"}}))
                .expect("json");
        let refused = verifier.verify(&no_time, &HeaderMap::new(), Utc::now());
        assert!(refused.expect_err("no event_time").reason.contains("delivery id"));
        let created = serde_json::to_vec(&json!({
            "event_time": "2026-12-01T10:00:00+00:00", "context": "lead_created",
            "data": { "id": "l-1", "ref": 7 },
        }))
        .expect("json");
        let created = verifier.verify(&created, &HeaderMap::new(), Utc::now()).expect("unsigned");
        assert_eq!(created.dedup_key, "qobrix:lead_created::l-1", "reconciled by its record");
    }
}
