//! A REST app's webhooks: each event an operation `causes` is sent to every registered
//! target, shaped as the manifest's `triggers.webhooks` reads it (event type, account and
//! record at their places) and signed per its scheme (Standard Webhooks: `webhook-id`
//! stable across the retries of one message, a fresh `webhook-timestamp` and signature per
//! attempt). A failed attempt (no answer, or not 2xx) is retried after a delay.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::bail;
use ghl_apps::place::ValueAt;
use ghl_apps::signatures::standard_webhooks;
use ghl_apps::signatures::SigningKey;
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
            Some(Signature::HmacSha256(_)) => {
                bail!("`{}`: the app sandbox cannot sign hmac_sha256 webhooks yet", manifest.app)
            }
        };
        let client = reqwest::Client::builder().timeout(config.timeout).build()?;
        let mut targets = Vec::new();
        for url in &config.urls {
            targets.push(Target { id: ids::new_id(rng), url: url.clone() });
        }
        Ok(Arc::new(Self {
            spec,
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

    /// The signing secret as `whsec_...`, when the app signs its webhooks.
    pub fn secret_text(&self) -> Option<String> {
        self.key.as_ref().map(standard_webhooks::format_secret)
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

    /// Sends `event_type` about `record` to every target, if the app has webhooks; `finish`
    /// gives the body the app's last touches (its quirks).
    pub fn emit(
        self: &Arc<Self>,
        event_type: &str,
        record: &Map<String, Value>,
        finish: impl FnOnce(&mut Value),
    ) {
        let Some(spec) = &self.spec else { return };
        let mut body = json!({});
        if let ValueAt::Body(pointer) = &spec.event_type {
            set(&mut body, pointer.as_str(), Value::String(event_type.to_owned()));
        }
        if let Some(ValueAt::Body(pointer)) = &spec.account {
            set(&mut body, pointer.as_str(), Value::String(self.account_id.clone()));
        }
        set(&mut body, spec.record.as_str(), Value::Object(record.clone()));
        if body.get("timestamp").is_none() {
            set(&mut body, "/timestamp", Value::String(crate::rest::now()));
        }
        finish(&mut body);
        let id = format!("msg_{}", ids::new_id(&mut *self.rng.lock()));
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
            if let Some(key) = &self.key {
                let now = chrono::Utc::now().timestamp();
                for (name, value) in standard_webhooks::headers(key, id, now, body) {
                    request = request.header(name, value);
                }
            } else {
                request = request.header(standard_webhooks::ID_HEADER, id);
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
