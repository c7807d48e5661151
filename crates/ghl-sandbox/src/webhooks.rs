//! Webhook events: every change is emitted as HighLevel's documented event, signed with both
//! schemes over the exact bytes sent, and delivered to the targets of the moment like HighLevel
//! delivers: the same bytes retried only when the receiver answers 429, sometimes twice.

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ghl_types::webhook::{HEADER_GHL_SIGNATURE, HEADER_WH_SIGNATURE};
use ghl_types::EventType;
use parking_lot::Mutex;
use rand::Rng;
use serde::Serialize;
use serde_json::{Map, Value};
use tokio::sync::{mpsc, Semaphore};
use tokio_util::sync::CancellationToken;
use url::Url;

use crate::clock::now_iso;
use crate::config::WebhookConfig;
use crate::signing::SigningKeys;

/// Events kept for inspection through the admin API.
const LOG_CAPACITY: usize = 10_000;
/// Deliveries in flight at once.
const MAX_IN_FLIGHT: usize = 256;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EmittedEvent {
    pub webhook_id: String,
    /// Whether a receiver acknowledged it (2xx), as of the moment it is listed.
    pub delivered: bool,
    #[serde(rename = "type")]
    pub event_type: EventType,
    pub location_id: String,
    pub payload: Value,
}

#[derive(Debug, Default, Serialize)]
pub struct DeliveryCounts {
    pub emitted: AtomicU64,
    pub attempts: AtomicU64,
    pub delivered: AtomicU64,
    pub failed: AtomicU64,
    pub retried: AtomicU64,
    pub duplicated: AtomicU64,
}

/// A URL events are POSTed to, with the id the admin API names it by.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WebhookTarget {
    pub id: String,
    pub url: Url,
}

/// Why a URL cannot be a webhook target.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("url is not a valid URL: {0}")]
    Invalid(#[from] url::ParseError),
    #[error("url must be an http or https URL with a host, got {0}")]
    NotHttp(String),
}

/// The webhook targets, changed at run time through the admin API.
#[derive(Default)]
struct Targets {
    list: Vec<Arc<WebhookTarget>>,
    added: u64,
}

impl Targets {
    fn contains(&self, id: &str) -> bool {
        self.list.iter().any(|target| target.id == id)
    }
}

pub struct Webhooks {
    sender: mpsc::UnboundedSender<Queued>,
    log: Mutex<VecDeque<EmittedEvent>>,
    targets: Arc<Mutex<Targets>>,
    /// webhookIds some receiver acknowledged.
    acknowledged: Arc<Mutex<HashSet<String>>>,
    pub counts: Arc<DeliveryCounts>,
}

/// An event on its way out, with the targets that existed when it was emitted.
struct Queued {
    event: EmittedEvent,
    targets: Vec<Arc<WebhookTarget>>,
}

impl Webhooks {
    /// Starts the delivery task with the configured URLs as the first targets; it stops when
    /// `shutdown` is cancelled.
    pub fn start(
        config: WebhookConfig,
        keys: Arc<SigningKeys>,
        shutdown: CancellationToken,
    ) -> Arc<Self> {
        let (sender, receiver) = mpsc::unbounded_channel();
        let counts = Arc::new(DeliveryCounts::default());
        let acknowledged = Arc::new(Mutex::new(HashSet::new()));
        let targets = Arc::new(Mutex::new(Targets::default()));
        let urls = config.urls.clone();
        let deliverer = Deliverer {
            acknowledged: acknowledged.clone(),
            targets: targets.clone(),
            config: Arc::new(config),
            keys,
            counts: counts.clone(),
            http: reqwest::Client::new(),
            in_flight: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
        };
        tokio::spawn(deliverer.run(receiver, shutdown));
        let webhooks = Arc::new(Self {
            sender,
            log: Mutex::new(VecDeque::new()),
            targets,
            acknowledged,
            counts,
        });
        for url in urls {
            webhooks.add_target_url(url);
        }
        webhooks
    }

    /// Adds a target (an `http` or `https` URL); events emitted from now on are sent to it.
    /// A URL that is already a target is not added twice: its target is returned, `false`.
    pub fn add_target(&self, url: &str) -> Result<(WebhookTarget, bool), TargetError> {
        let url = Url::parse(url)?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(TargetError::NotHttp(url.to_string()));
        }
        Ok(self.add_target_url(url))
    }

    fn add_target_url(&self, url: Url) -> (WebhookTarget, bool) {
        let mut targets = self.targets.lock();
        if let Some(existing) = targets.list.iter().find(|target| target.url == url) {
            return (existing.as_ref().clone(), false);
        }
        targets.added += 1;
        let target = WebhookTarget { id: format!("target-{}", targets.added), url };
        targets.list.push(Arc::new(target.clone()));
        (target, true)
    }

    pub fn targets(&self) -> Vec<WebhookTarget> {
        self.targets.lock().list.iter().map(|target| target.as_ref().clone()).collect()
    }

    /// Removes a target: nothing more is sent to it, retries included. False if unknown.
    pub fn remove_target(&self, id: &str) -> bool {
        let mut targets = self.targets.lock();
        let before = targets.list.len();
        targets.list.retain(|target| target.id != id);
        targets.list.len() != before
    }

    /// Emits an event for a record. Appointment events wrap the record in `appointment`;
    /// the others are flat, as HighLevel sends them.
    pub fn emit(&self, event_type: EventType, location_id: &str, record: Value) {
        let webhook_id = uuid_v4();
        let mut payload = Map::new();
        payload.insert("type".into(), event_type.as_str().into());
        payload.insert("locationId".into(), location_id.into());
        match (event_type, record) {
            (
                EventType::AppointmentCreate
                | EventType::AppointmentUpdate
                | EventType::AppointmentDelete,
                record,
            ) => {
                payload.insert("appointment".into(), record);
            }
            (_, Value::Object(fields)) => {
                for (key, value) in fields {
                    payload.entry(key).or_insert(value);
                }
            }
            (_, _) => {}
        }
        payload.insert("timestamp".into(), now_iso().into());
        payload.insert("webhookId".into(), webhook_id.clone().into());
        let event = EmittedEvent {
            webhook_id,
            delivered: false,
            event_type,
            location_id: location_id.to_owned(),
            payload: Value::Object(payload),
        };
        self.counts.emitted.fetch_add(1, Ordering::Relaxed);
        {
            let mut log = self.log.lock();
            if log.len() == LOG_CAPACITY {
                log.pop_front();
            }
            log.push_back(event.clone());
        }
        let targets = self.targets.lock().list.clone();
        // The receiver lives as long as the sandbox; after shutdown events are just dropped.
        let _ = self.sender.send(Queued { event, targets });
    }

    /// The most recent events, oldest first, optionally of one type.
    pub fn recent(&self, event_type: Option<&str>, limit: usize) -> Vec<EmittedEvent> {
        let log = self.log.lock();
        let matching: Vec<_> = log
            .iter()
            .filter(|event| event_type.is_none_or(|wanted| event.event_type.as_str() == wanted))
            .cloned()
            .collect();
        let skip = matching.len().saturating_sub(limit);
        let acknowledged = self.acknowledged.lock();
        matching
            .into_iter()
            .skip(skip)
            .map(|mut event| {
                event.delivered = acknowledged.contains(&event.webhook_id);
                event
            })
            .collect()
    }

    pub fn clear_log(&self) {
        self.log.lock().clear();
    }
}

#[derive(Clone)]
struct Deliverer {
    acknowledged: Arc<Mutex<HashSet<String>>>,
    targets: Arc<Mutex<Targets>>,
    config: Arc<WebhookConfig>,
    keys: Arc<SigningKeys>,
    counts: Arc<DeliveryCounts>,
    http: reqwest::Client,
    /// Bounds the requests in flight; a delivery waiting for its retry holds none.
    in_flight: Arc<Semaphore>,
}

impl Deliverer {
    async fn run(self, mut receiver: mpsc::UnboundedReceiver<Queued>, shutdown: CancellationToken) {
        loop {
            let Queued { event, targets } = tokio::select! {
                _ = shutdown.cancelled() => return,
                queued = receiver.recv() => match queued {
                    Some(queued) => queued,
                    None => return,
                },
            };
            if targets.is_empty() {
                continue;
            }
            // Compact JSON, signed once, exactly as sent: raw-body and re-serialising verifiers
            // agree, and every retry and duplicate carries the same bytes and signatures.
            let body = match serde_json::to_vec(&event.payload) {
                Ok(body) => bytes::Bytes::from(body),
                Err(_) => continue,
            };
            let signed = Signed {
                webhook_id: event.webhook_id.clone(),
                rsa: self.keys.sign_rsa(&body),
                ed25519: self.keys.sign_ed25519(&body),
                body,
            };
            let twice = rand::thread_rng().gen_bool(self.config.duplicate_share.clamp(0.0, 1.0));
            for target in targets {
                for copy in 0..if twice { 2 } else { 1 } {
                    if copy == 1 {
                        self.counts.duplicated.fetch_add(1, Ordering::Relaxed);
                    }
                    let deliverer = self.clone();
                    let (target, signed) = (target.clone(), signed.clone());
                    let shutdown = shutdown.clone();
                    tokio::spawn(async move {
                        tokio::select! {
                            _ = shutdown.cancelled() => {}
                            _ = deliverer.deliver(&target, &signed) => {}
                        }
                    });
                }
            }
        }
    }

    /// HighLevel's rule: a 2xx is delivered; a 429 is retried after the retry delay (with
    /// jitter) until the attempts run out; anything else is final (unless configured to retry
    /// any failure). A removed target gets no more attempts.
    async fn deliver(&self, target: &WebhookTarget, signed: &Signed) {
        let attempts = self.config.max_attempts.max(1);
        for attempt in 1..=attempts {
            let Ok(permit) = self.in_flight.acquire().await else { return };
            self.counts.attempts.fetch_add(1, Ordering::Relaxed);
            let answer = self
                .http
                .post(target.url.clone())
                .timeout(self.config.timeout)
                .header("content-type", "application/json")
                .header(HEADER_WH_SIGNATURE, &signed.rsa)
                .header(HEADER_GHL_SIGNATURE, &signed.ed25519)
                .body(signed.body.clone())
                .send()
                .await;
            drop(permit);
            let retry = match &answer {
                Ok(response) if response.status().is_success() => {
                    self.counts.delivered.fetch_add(1, Ordering::Relaxed);
                    self.acknowledged.lock().insert(signed.webhook_id.clone());
                    return;
                }
                Ok(response) if response.status() == reqwest::StatusCode::TOO_MANY_REQUESTS => true,
                _ => self.config.retry_on_any_failure,
            };
            if !retry || attempt == attempts {
                break;
            }
            self.counts.retried.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(jittered(self.config.retry_delay)).await;
            if !self.targets.lock().contains(&target.id) {
                return;
            }
        }
        self.counts.failed.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(url = %target.url, "webhook delivery failed for good");
    }
}

#[derive(Clone)]
struct Signed {
    webhook_id: String,
    body: bytes::Bytes,
    rsa: String,
    ed25519: String,
}

/// The delay, give or take a fifth.
fn jittered(delay: Duration) -> Duration {
    let factor = rand::thread_rng().gen_range(0.8..1.2);
    delay.mul_f64(factor)
}

fn uuid_v4() -> String {
    let mut bytes: [u8; 16] = rand::thread_rng().gen();
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
}
