//! The receiving end of a `signed_webhook` app (the outgoing webhook, `webhook.send`): a URL
//! that takes signed messages as a user's own endpoint would. Each delivery's Standard
//! Webhooks signature is verified with the receiver's `whsec_` secret (a wrong or stale one
//! is refused with 401 and the reason), every delivery is recorded with its `webhook-id`
//! (`GET /_sandbox/deliveries`), and a message is counted as an effect once per `webhook-id`,
//! as a receiver that deduplicates by it would. A receiver can be told to refuse with a
//! status (`PUT /_sandbox/receivers/{id}`, a removed endpoint's 410); faults and latency come
//! from the gate like every sandbox's.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use ghl_apps::signatures::standard_webhooks::{self, Delivery as Signed};
use ghl_apps::signatures::SigningKey;
use ghl_sandbox_kit::ids;
use parking_lot::Mutex;
use rand::Rng;
use serde::Serialize;
use serde_json::Value;

use crate::{answer, gate, Shared};

/// The operation name faults are configured under (the manifest's only operation).
pub const OPERATION: &str = "send";

/// One receiving URL and its secret.
#[derive(Debug, Clone, Serialize)]
pub struct Receiver {
    pub id: String,
    #[serde(skip)]
    key: SigningKey,
    /// The status every delivery is refused with (410 for a removed endpoint), if any.
    pub refuse: Option<u16>,
}

/// One delivery that passed the signature check.
#[derive(Debug, Clone, Serialize)]
pub struct Delivery {
    pub receiver: String,
    pub webhook_id: String,
    pub timestamp: i64,
    /// The `webhook-signature` header as received (for checks with another verifier).
    pub signature: String,
    /// The raw body as received.
    pub raw: String,
    pub body: Value,
    /// A repeat of a `webhook-id` seen before (a retry): not counted as a new message.
    pub repeat: bool,
    pub at: String,
}

pub struct Receivers {
    receivers: Mutex<Vec<Receiver>>,
    deliveries: Mutex<Vec<Delivery>>,
}

impl Receivers {
    /// One receiver with a fresh secret.
    pub fn new(rng: &mut impl Rng) -> Self {
        let mut key = vec![0u8; 24];
        rng.fill_bytes(&mut key);
        let receiver =
            Receiver { id: ids::new_id(rng), key: SigningKey::from_bytes(key), refuse: None };
        Self { receivers: Mutex::new(vec![receiver]), deliveries: Mutex::new(Vec::new()) }
    }

    /// The first receiver's URL and `whsec_` secret: the credentials a connection gives.
    pub fn credentials(&self, address: &str) -> Option<(String, String)> {
        let receivers = self.receivers.lock();
        let receiver = receivers.first()?;
        Some((url(address, receiver), standard_webhooks::format_secret(&receiver.key)))
    }

    pub fn receivers(&self) -> Vec<Receiver> {
        self.receivers.lock().clone()
    }

    /// Sets the status a receiver refuses with; `false` when there is no such receiver.
    pub fn set_refuse(&self, id: &str, refuse: Option<u16>) -> bool {
        let mut receivers = self.receivers.lock();
        match receivers.iter_mut().find(|receiver| receiver.id == id) {
            Some(receiver) => {
                receiver.refuse = refuse;
                true
            }
            None => false,
        }
    }

    pub fn deliveries(&self) -> Vec<Delivery> {
        self.deliveries.lock().clone()
    }

    pub fn clear_deliveries(&self) {
        self.deliveries.lock().clear();
    }

    fn find(&self, id: &str) -> Option<Receiver> {
        self.receivers.lock().iter().find(|receiver| receiver.id == id).cloned()
    }

    /// Records a delivery; `true` when its `webhook-id` is new.
    fn record(&self, mut delivery: Delivery) -> bool {
        let mut deliveries = self.deliveries.lock();
        delivery.repeat = deliveries.iter().any(|seen| {
            seen.receiver == delivery.receiver && seen.webhook_id == delivery.webhook_id
        });
        let new = !delivery.repeat;
        deliveries.push(delivery);
        new
    }
}

/// A receiver's URL, the credential.
pub fn url(address: &str, receiver: &Receiver) -> String {
    format!("{address}/receive/{}", receiver.id)
}

pub fn routes() -> Router<Arc<Shared>> {
    Router::new().route("/receive/{id}", post(receive))
}

fn unix_now() -> i64 {
    let seconds = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    i64::try_from(seconds).unwrap_or(i64::MAX)
}

async fn receive(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    gate::guarded(&shared, OPERATION, async {
        let Some(receivers) = &shared.receivers else {
            return StatusCode::NOT_FOUND.into_response();
        };
        let Some(receiver) = receivers.find(&id) else {
            return answer::text(StatusCode::NOT_FOUND, "no such receiver");
        };
        if let Err(refused) = gate::admit(&shared, &receiver.id) {
            return *refused;
        }
        if let Some(status) = receiver.refuse {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::GONE);
            return answer::text(status, "this endpoint no longer accepts messages");
        }
        let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
        let signed = Signed {
            id: header(standard_webhooks::ID_HEADER),
            timestamp: header(standard_webhooks::TIMESTAMP_HEADER),
            signature: header(standard_webhooks::SIGNATURE_HEADER),
            body: &body,
        };
        let now = unix_now();
        let tolerance = standard_webhooks::DEFAULT_TOLERANCE_SECS;
        if let Err(reason) =
            standard_webhooks::verify(std::slice::from_ref(&receiver.key), &signed, now, tolerance)
        {
            return answer::text(StatusCode::UNAUTHORIZED, format!("signature refused: {reason}"));
        }
        let Ok(message) = serde_json::from_slice::<Value>(&body) else {
            return answer::text(StatusCode::BAD_REQUEST, "the body is not JSON");
        };
        let delivery = Delivery {
            receiver: receiver.id.clone(),
            webhook_id: signed.id.unwrap_or_default().to_owned(),
            timestamp: signed.timestamp.and_then(|t| t.trim().parse().ok()).unwrap_or_default(),
            signature: signed.signature.unwrap_or_default().to_owned(),
            raw: String::from_utf8_lossy(&body).into_owned(),
            body: message,
            repeat: false,
            at: crate::rest::now(),
        };
        if receivers.record(delivery) {
            shared.stats.lock().effect("message.received");
        }
        StatusCode::NO_CONTENT.into_response()
    })
    .await
}
