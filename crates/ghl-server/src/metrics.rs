//! `/metrics`: one `prometheus-client` registry holding the server's counters (webhooks by
//! outcome, runs by status: the queue depth) and the engine's, encoded as OpenMetrics text.

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use ghl_engine::metrics::OutcomeLabels;
use ghl_engine::Engine;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::error::ApiError;
use crate::state::AppState;

/// The server's metrics, with the engine's registered beside them.
pub(crate) struct Metrics {
    registry: Registry,
    webhooks: Family<OutcomeLabels, Counter>,
    runs: Family<StatusLabels, Gauge>,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    status: String,
}

/// What became of a webhook delivery.
#[derive(Debug, Clone, Copy)]
pub(crate) enum WebhookOutcome {
    Stored,
    Duplicate,
    /// Not JSON, or refused by its app's verifier.
    Rejected,
    /// The store could not take it in time: answered 429.
    Busy,
}

impl WebhookOutcome {
    fn as_str(self) -> &'static str {
        match self {
            Self::Stored => "stored",
            Self::Duplicate => "duplicate",
            Self::Rejected => "rejected",
            Self::Busy => "busy",
        }
    }
}

impl Metrics {
    pub(crate) fn new(engine: &Engine) -> Self {
        let mut registry = Registry::default();
        let webhooks = Family::<OutcomeLabels, Counter>::default();
        registry.register("ghl_webhooks", "Webhook deliveries by outcome", webhooks.clone());
        let runs = Family::<StatusLabels, Gauge>::default();
        registry.register("ghl_runs", "Runs by status (queued: the queue depth)", runs.clone());
        engine.metrics().register(&mut registry);
        Self { registry, webhooks, runs }
    }

    pub(crate) fn webhook(&self, outcome: WebhookOutcome) {
        self.webhooks.get_or_create(&OutcomeLabels { outcome: outcome.as_str().into() }).inc();
    }
}

/// The server's and the engine's metrics.
#[utoipa::path(get, path = "/metrics", tag = "service", responses(
    (status = 200, description = "the metrics", body = String, content_type = "application/openmetrics-text"),
))]
pub(crate) async fn metrics(State(state): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let counts = state.service.runs().counts().await?;
    let metrics = &state.metrics;
    // Every status a run can have, so a status nobody is in reads 0, not its last count.
    for &status in ghl_store::RunStatus::ALL {
        let count = counts.iter().find(|(counted, _)| *counted == status).map_or(0, |(_, n)| *n);
        metrics.runs.get_or_create(&StatusLabels { status: status.as_str().into() }).set(count);
    }
    state.engine.metrics().read_budgets(state.engine.connections());
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &metrics.registry)
        .map_err(ApiError::internal)?;
    let content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8";
    Ok(([("content-type", content_type)], text).into_response())
}
