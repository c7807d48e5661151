//! Webhook intake: `POST /webhooks/{app}` hands the raw body and headers to the verifier the
//! engine's app of that name offers (`App::verifier`); only the verified value it yields
//! reaches the store (`Engine::ingest_webhook`). A refusal's remedy is said here, in words for
//! the sender's operator. The 200 goes out after the event and
//! its runs are committed; a 429 (the one status HighLevel retries) when they cannot be within
//! [`INGEST_TIMEOUT`]. An ingest cut short may still commit; the retry is then a duplicate
//! (200, no second run).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::Json;
use ghl_engine::inbound::{Inbound, Refusal};
use ghl_store::IngestOutcome;
use ghl_types::Remedy;
use serde::Serialize;

use crate::error::ApiError;
use crate::metrics::WebhookOutcome;
use crate::state::AppState;

/// How long ingress waits for the store before answering 429: HighLevel gives up on a slow
/// answer, and retries only a 429. An ingest cut short may still commit; the retry is then a
/// duplicate, answered 200 without a second run.
pub const INGEST_TIMEOUT: Duration = Duration::from_secs(2);

/// What ingress answers a delivery it took.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Delivery {
    /// Whether this delivery stored a new event (false: a duplicate).
    stored: bool,
    /// The runs the event queued.
    #[serde(skip_serializing_if = "Option::is_none")]
    runs: Option<usize>,
    /// A delivery of an event already stored: nothing more runs.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    duplicate: bool,
}

/// A webhook from an app, signed as that app signs them (HighLevel: `x-ghl-signature` Ed25519,
/// or `x-wh-signature` RSA; JSON; at most 2 hours old).
#[utoipa::path(post, path = "/webhooks/{app}", tag = "ingress",
    params(("app" = String, Path, description = "the app that sends it (`highlevel`)")),
    request_body(content = Object, description = "the app's event, as it sends it (HighLevel: `type`, `webhookId`, `timestamp`, `locationId`, ...)", content_type = "application/json"),
    responses(
        (status = 200, description = "stored, or a duplicate", body = Delivery),
        (status = 401, description = "unsigned, forged, or too old", body = crate::error::ErrorBody),
        (status = 404, description = "no app of that name receives webhooks here", body = crate::error::ErrorBody),
        (status = 415, description = "not application/json", body = crate::error::ErrorBody),
        (status = 429, description = "the store is busy: retry", body = crate::error::ErrorBody),
    ),
)]
pub(crate) async fn webhook(
    State(state): State<Arc<AppState>>,
    Path(app): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Delivery>, ApiError> {
    let apps = state.engine.apps();
    let Some(verifier) = apps.get(&app).and_then(|known| known.verifier()) else {
        let known: Vec<String> = apps
            .iter()
            .filter(|known| known.verifier().is_some())
            .map(|known| known.id().to_string())
            .collect();
        return Err(ApiError::NotFound(format!(
            "no app `{app}` receives webhooks here (apps: {})",
            if known.is_empty() { "none".into() } else { known.join(", ") }
        )));
    };
    if !is_json(&headers) {
        state.metrics.webhook(WebhookOutcome::Rejected);
        let given = headers.get("content-type").and_then(|value| value.to_str().ok());
        let given = given.unwrap_or("none");
        tracing::warn!(app = %app, content_type = %given, "webhook rejected: not JSON");
        return Err(ApiError::UnsupportedMediaType(format!(
            "a webhook is `Content-Type: application/json`, not {given}"
        )));
    }
    let inbound = Inbound::new(app, body.to_vec(), headers);
    let verified = match inbound.verify(verifier.as_ref(), chrono::Utc::now()) {
        Ok(verified) => verified,
        Err(refusal) => {
            state.metrics.webhook(WebhookOutcome::Rejected);
            let reason = say(&refusal);
            tracing::warn!(%reason, "webhook rejected");
            return Err(ApiError::WebhookRefused { reason, remedy: refusal.remedy });
        }
    };
    let event = verified.event().dedup_key.clone();
    match tokio::time::timeout(INGEST_TIMEOUT, state.engine.ingest_webhook(verified)).await {
        Ok(Ok(IngestOutcome::Stored { run_ids, .. })) => {
            state.metrics.webhook(WebhookOutcome::Stored);
            Ok(Json(Delivery { stored: true, runs: Some(run_ids.len()), duplicate: false }))
        }
        Ok(Ok(IngestOutcome::Duplicate)) => {
            state.metrics.webhook(WebhookOutcome::Duplicate);
            Ok(Json(Delivery { stored: false, runs: None, duplicate: true }))
        }
        // Not stored: 429 is the one answer HighLevel retries.
        Ok(Err(err)) => {
            state.metrics.webhook(WebhookOutcome::Busy);
            tracing::error!(error = %err, event, "webhook could not be stored; asking the sender to retry");
            Err(busy())
        }
        Err(_) => {
            state.metrics.webhook(WebhookOutcome::Busy);
            tracing::error!(
                event,
                waited_ms = INGEST_TIMEOUT.as_millis() as u64,
                "the store did not take the webhook in time; asking the sender to retry"
            );
            Err(busy())
        }
    }
}

/// A refusal in words: its reason, and what to do where the verifier knows.
fn say(refusal: &Refusal) -> String {
    match &refusal.remedy {
        Some(Remedy::TrustWebhookKey { app }) => format!(
            "{}. Is the sender a test double of {app} (a sandbox)? Connect it by its base URL, \
             so its webhook keys are learned, or configure its public key as a trusted webhook \
             key",
            refusal.reason
        ),
        _ => refusal.reason.clone(),
    }
}

fn busy() -> ApiError {
    ApiError::Busy("the store is busy; retry later".into())
}

/// `application/json`, with or without parameters (`; charset=utf-8`).
pub(crate) fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
}
