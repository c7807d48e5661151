//! A REST app's webhooks: each event an operation `causes` is sent to every registered
//! target, shaped as the manifest's `triggers.webhooks` reads it (event type, account and
//! record at their places) and signed per its scheme (Standard Webhooks: `webhook-id`
//! stable across the retries of one message, a fresh `webhook-timestamp` and signature per
//! attempt; a shared-secret HMAC, or `t=...,v1=...`, signed afresh per attempt). A failed
//! attempt (no answer, or not 2xx) is retried after a delay.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use ghl_apps::place::ValueAt;
use ghl_apps::signatures::{shared_secret, standard_webhooks, timestamp_v1, SigningKey};
use ghl_apps::triggers::Signature;
use ghl_apps::Manifest;
use ghl_sandbox_kit::ids;
use parking_lot::Mutex;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use serde_json::{json, Map, Value};
use tokio_util::sync::CancellationToken;
use url::Url;

use crate::answer::set;
use crate::config::WebhookConfig;

#[derive(Debug, Clone, Serialize)]
pub struct Target {
    pub id: String,
    pub url: Url,
}

/// One event sent, for the admin API.
#[derive(Debug, Clone, Serialize)]
pub struct Sent {
    pub id: String,
    #[serde(rename = "type")]
    pub event_type: String,
    pub body: Value,
}

#[derive(Debug, Default)]
pub struct Counts {
    pub emitted: AtomicU64,
    pub attempts: AtomicU64,
    pub delivered: AtomicU64,
    pub retried: AtomicU64,
    pub failed: AtomicU64,
}

pub struct Webhooks {
    spec: Option<ghl_apps::triggers::Webhooks>,
    quirks: &'static dyn crate::quirks::Quirks,
    key: Option<SigningKey>,
    account_id: String,
    config: WebhookConfig,
    targets: Mutex<Vec<Target>>,
    sent: Mutex<Vec<Sent>>,
    pub counts: Counts,
    rng: Mutex<ChaCha8Rng>,
    client: reqwest::Client,
    shutdown: Mutex<CancellationToken>,
}

impl Webhooks {
    pub fn new(
        manifest: &Manifest,
        account_id: &str,
        config: &WebhookConfig,
        rng: &mut impl Rng,
    ) -> anyhow::Result<Arc<Self>> {
        let spec = manifest.triggers.webhooks.clone();
        let key = match spec.as_ref().map(|spec| &spec.signature) {
            Some(Signature::StandardWebhooks { .. }) => {
                let mut bytes = vec![0u8; 24];
                rng.fill_bytes(&mut bytes);
                Some(SigningKey::from_bytes(bytes))
            }
            Some(Signature::None) | None => None,
            // A shared secret is text; its bytes are the key.
            Some(Signature::HmacSha256(_) | Signature::TimestampV1 { .. }) => {
                Some(SigningKey::from_bytes(ids::new_secret(rng, "", 32).into_bytes()))
            }
        };
        let client = reqwest::Client::builder().timeout(config.timeout).build()?;
        let mut targets = Vec::new();
        for url in &config.urls {
            targets.push(Target { id: ids::new_id(rng), url: url.clone() });
        }
        Ok(Arc::new(Self {
            spec,
            quirks: crate::quirks::of(&manifest.app),
            key,
            account_id: account_id.to_owned(),
            config: config.clone(),
            targets: Mutex::new(targets),
            sent: Mutex::new(Vec::new()),
            counts: Counts::default(),
            rng: Mutex::new(ChaCha8Rng::seed_from_u64(rng.next_u64())),
            client,
            shutdown: Mutex::new(CancellationToken::new()),
        }))
    }

    /// Deliveries stop when `shutdown` is cancelled.
    pub fn run(&self, shutdown: CancellationToken) {
        *self.shutdown.lock() = shutdown;
    }

    /// The signing secret as a connection's `webhook_secret` holds it (`whsec_...` for
    /// Standard Webhooks), when the app signs its webhooks.
    pub fn secret_text(&self) -> Option<String> {
        let key = self.key.as_ref()?;
        match self.spec.as_ref().map(|spec| &spec.signature) {
            Some(Signature::StandardWebhooks { .. }) => Some(standard_webhooks::format_secret(key)),
            _ => Some(String::from_utf8_lossy(key.as_bytes()).into_owned()),
        }
    }

    /// The signature headers of one attempt at `now`.
    fn signature_headers(&self, id: &str, now: i64, body: &[u8]) -> Vec<(String, String)> {
        let (Some(key), Some(spec)) = (&self.key, &self.spec) else {
            return vec![(standard_webhooks::ID_HEADER.to_owned(), id.to_owned())];
        };
        match &spec.signature {
            Signature::StandardWebhooks { .. } | Signature::None => {
                standard_webhooks::headers(key, id, now, body)
                    .into_iter()
                    .map(|(name, value)| (name.to_owned(), value))
                    .collect()
            }
            Signature::HmacSha256(scheme) => {
                let mut headers = vec![(
                    scheme.header.clone(),
                    shared_secret::sign(key, scheme, Some(now), body),
                )];
                headers.extend(
                    scheme.timestamp_header.iter().map(|name| (name.clone(), now.to_string())),
                );
                headers
            }
            Signature::TimestampV1 { header, .. } => {
                vec![(header.clone(), timestamp_v1::sign(key, now, body))]
            }
        }
    }

    pub fn targets(&self) -> Vec<Target> {
        self.targets.lock().clone()
    }

    /// Adds a target; the existing one when the URL already is one (`false`).
    pub fn add_target(&self, url: Url) -> (Target, bool) {
        let mut targets = self.targets.lock();
        if let Some(existing) = targets.iter().find(|target| target.url == url) {
            return (existing.clone(), false);
        }
        let target = Target { id: ids::new_id(&mut *self.rng.lock()), url };
        targets.push(target.clone());
        (target, true)
    }

    pub fn remove_target(&self, id: &str) -> bool {
        let mut targets = self.targets.lock();
        let before = targets.len();
        targets.retain(|target| target.id != id);
        targets.len() != before
    }

    pub fn sent(&self) -> Vec<Sent> {
        self.sent.lock().clone()
    }

    pub fn clear_log(&self) {
        self.sent.lock().clear();
    }

    /// Sends `event_type` about `record` to every target, if the app has webhooks, in the
    /// app's envelope (its quirks).
    pub fn emit(self: &Arc<Self>, event_type: &str, record: &Map<String, Value>) {
        let Some(spec) = &self.spec else { return };
        let mut body = json!({});
        // The record first: an event type may be inside it (Qonto's `/data/event`).
        set(&mut body, spec.record.as_str(), Value::Object(record.clone()));
        for (place, value) in spec.event_type.split(event_type).unwrap_or_default() {
            if let ValueAt::Body(pointer) = place {
                set(&mut body, pointer.as_str(), Value::String(value.to_owned()));
            }
        }
        if let Some(ValueAt::Body(pointer)) = &spec.account {
            set(&mut body, pointer.as_str(), Value::String(self.account_id.clone()));
        }
        let id = self.quirks.delivery_id(&mut self.rng.lock());
        if let [ValueAt::Body(pointer)] = spec.dedup_id.places() {
            set(&mut body, pointer.as_str(), Value::String(id.clone()));
        }
        self.quirks.webhook(&mut body, &self.account_id);
        // A time unless the app's envelope dates itself (Qonto's `created_at`, Qobrix's
        // `event_time`).
        let dated = ["timestamp", "created_at", "event_time"].iter().any(|k| body.get(k).is_some());
        if !dated {
            set(&mut body, "/timestamp", Value::String(crate::rest::now()));
        }
        self.counts.emitted.fetch_add(1, Ordering::Relaxed);
        self.sent.lock().push(Sent {
            id: id.clone(),
            event_type: event_type.to_owned(),
            body: body.clone(),
        });
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        let shutdown = self.shutdown.lock().clone();
        for target in self.targets() {
            let webhooks = self.clone();
            let (id, bytes, shutdown) = (id.clone(), bytes.clone(), shutdown.clone());
            tokio::spawn(async move {
                tokio::select! {
                    _ = shutdown.cancelled() => {}
                    _ = webhooks.deliver(&target, &id, &bytes) => {}
                }
            });
        }
    }

    async fn deliver(&self, target: &Target, id: &str, body: &[u8]) {
        let attempts = self.config.max_attempts.max(1);
        for attempt in 1..=attempts {
            self.counts.attempts.fetch_add(1, Ordering::Relaxed);
            let mut request = self
                .client
                .post(target.url.clone())
                .header("content-type", "application/json")
                .body(body.to_vec());
            let now = chrono::Utc::now().timestamp();
            for (name, value) in self.signature_headers(id, now, body) {
                request = request.header(name, value);
            }
            match request.send().await {
                Ok(answer) if answer.status().is_success() => {
                    self.counts.delivered.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                Ok(answer) => {
                    tracing::debug!(target = %target.url, status = %answer.status(), "webhook refused")
                }
                Err(err) => tracing::debug!(target = %target.url, error = %err, "webhook failed"),
            }
            if attempt < attempts {
                self.counts.retried.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(self.config.retry_delay).await;
            }
        }
        self.counts.failed.fetch_add(1, Ordering::Relaxed);
    }
}
