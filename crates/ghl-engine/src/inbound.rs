//! Incoming webhooks as a type state: a delivery is `Inbound<Unverified>` (an app's name, the
//! raw body and the headers) until [`Inbound::verify`] hands it to that app's [`Verifier`];
//! only the `Inbound<Verified>` that comes back, which carries the event (type, payload, the
//! app's dedup key), can be stored, by [`Engine::ingest_webhook`]. The verifiers themselves
//! (signature schemes, keys, freshness) are each app's: `App::verifier` offers it.

use ghl_types::Remedy;
use reqwest::header::HeaderMap;
use serde_json::Value;

use crate::runner::{Engine, EngineError};

/// A delivery whose authenticity nobody has checked yet.
pub struct Unverified {
    body: Vec<u8>,
    headers: HeaderMap,
}

/// A delivery its app's verifier accepted, with the event it carries. Made only by
/// [`Inbound::verify`].
pub struct Verified {
    event: VerifiedEvent,
}

/// A webhook for one app, in one of the two states.
pub struct Inbound<State> {
    app: String,
    state: State,
}

/// What a verifier reads out of a genuine delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedEvent {
    /// The app's name for what happened (`ContactCreate`): flows trigger on it.
    pub event_type: String,
    /// The delivery's JSON, as flows see it in `.trigger`.
    pub payload: Value,
    /// What makes two deliveries the same event, in the app's terms (a delivery id, or the
    /// record a create is about); a second delivery with the same key runs nothing.
    pub dedup_key: String,
    /// The account of the app the event belongs to (HighLevel: its `locationId`), if any.
    pub account: Option<String>,
}

/// Why a verifier refused a delivery, in words the sender's operator can act on (which header,
/// which keys were tried), and what to do about it where that is known, as data for the front
/// end to say.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct Refusal {
    pub reason: String,
    pub remedy: Option<Remedy>,
}

impl Refusal {
    pub fn new(reason: impl Into<String>) -> Self {
        Self { reason: reason.into(), remedy: None }
    }

    pub fn with_remedy(self, remedy: Remedy) -> Self {
        Self { remedy: Some(remedy), ..self }
    }
}

/// One app's check of its webhooks: the raw body and the headers in, the event out, or a
/// refusal with its reason. Implementations hold their keys or shared secrets; `renew` lets
/// them re-read what they learn from the store (keys learned with connections).
#[async_trait::async_trait]
pub trait Verifier: Send + Sync {
    /// Checks the delivery's authenticity (signature over the raw bytes, freshness) and reads
    /// its event; `now` is the time freshness is judged against.
    fn verify(
        &self,
        body: &[u8],
        headers: &HeaderMap,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<VerifiedEvent, Refusal>;

    /// Re-reads what the verifier learns from the store; called at start and with each
    /// heartbeat. Nothing by default.
    async fn renew(&self, _store: &ghl_store::Store) {}
}

impl Inbound<Unverified> {
    pub fn new(app: impl Into<String>, body: Vec<u8>, headers: HeaderMap) -> Self {
        Self { app: app.into(), state: Unverified { body, headers } }
    }

    /// The app's verifier judges the delivery; the verified value is the only way to it.
    pub fn verify(
        self,
        verifier: &dyn Verifier,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Inbound<Verified>, Refusal> {
        let event = verifier.verify(&self.state.body, &self.state.headers, now)?;
        Ok(Inbound { app: self.app, state: Verified { event } })
    }
}

impl<State> Inbound<State> {
    /// The app the delivery was sent to.
    pub fn app(&self) -> &str {
        &self.app
    }
}

impl Inbound<Verified> {
    pub fn event(&self) -> &VerifiedEvent {
        &self.state.event
    }
}

impl Engine {
    /// Lets each app's verifier re-read what it learns from the store (webhook keys learned
    /// with connections); `serve` calls it at start and with each heartbeat.
    pub async fn renew_verifiers(&self) {
        for verifier in self.apps().iter().filter_map(|app| app.verifier()) {
            verifier.renew(self.store()).await;
        }
    }

    /// Stores a verified webhook and enqueues the runs of the flows it triggers, in one
    /// transaction (see [`Engine::ingest`]); a second delivery of the same event runs nothing.
    pub async fn ingest_webhook(
        &self,
        webhook: Inbound<Verified>,
    ) -> Result<ghl_store::IngestOutcome, EngineError> {
        let Inbound { app, state: Verified { event } } = webhook;
        let event = ghl_store::NewEvent {
            dedup_key: event.dedup_key,
            source: app,
            event_type: event.event_type,
            location_id: event.account,
            payload: event.payload,
        };
        self.ingest(&event).await
    }
}
