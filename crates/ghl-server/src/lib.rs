//! The connector's HTTP side: `POST /webhooks/{app}` (each app's verifier; only a verified
//! webhook is stored, durably before the 2xx), the JSON REST API under `/api` (admin token, or
//! a UI session with its CSRF token), the web UI under `/ui` (server-rendered pages), `/healthz`, `/metrics`, the OpenAPI document derived from the handlers, the workers that
//! execute runs, the loop that fires schedule and polling triggers, and the process's
//! heartbeat in the store. `serve` runs them all on a listener it is given until the shutdown
//! token is cancelled.

pub mod error;
pub mod ingress;
mod metrics;
mod openapi;
mod routes;
mod state;
mod ui;

use std::future::IntoFuture;
use std::sync::Arc;
use std::time::Duration;

use axum::{Extension, Router};
use ghl_service::Service;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use crate::error::ApiError;
pub use crate::ingress::INGEST_TIMEOUT;
pub use crate::state::AppState;

/// How often schedule and polling triggers are looked at.
const TRIGGER_PERIOD: Duration = Duration::from_secs(1);

pub struct ServerConfig {
    /// Bearer token of the REST API.
    pub admin_token: String,
    /// Workers executing runs.
    pub workers: usize,
    /// How long an idle worker waits before looking for due runs again.
    pub worker_idle: Duration,
}

/// Serves `service` until `shutdown`: its engine's workers and triggers, each of its apps'
/// webhooks at `/webhooks/{app}` (checked by the app's verifier) and the REST API; in-flight
/// requests finish, workers stop between runs.
pub async fn serve(
    service: Service,
    config: ServerConfig,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let engine = service.engine().clone();
    let state = Arc::new(AppState::new(service, config.admin_token, shutdown.clone()));
    // Reads only (a busy store does not hold them): the verifiers know the connections' keys
    // before the first webhook.
    engine.renew_verifiers().await;
    // Serving starts before anything writes: a store held busy at start delays the workers,
    // never an answer (ingress says 429 within `INGEST_TIMEOUT`).
    let server = tokio::spawn(
        axum::serve(listener, router(state.clone()))
            .with_graceful_shutdown(shutdown.clone().cancelled_owned())
            .into_future(),
    );
    // The first heartbeat before any work: a run this process executes was queued while
    // `flows run` could see a server.
    let process = ghl_store::new_id();
    state.heartbeat(&process).await;
    // A flow that cannot be loaded is marked broken and skipped; it never stops the start.
    match engine.load_flows().await {
        Ok(0) => {}
        Ok(broken) => tracing::warn!(broken, "flows cannot be loaded; `flows list` says why"),
        Err(err) => tracing::error!(error = %err, "cannot read the flows at start"),
    }
    let mut workers: Vec<_> = (0..config.workers)
        .map(|_| tokio::spawn(engine.clone().work(shutdown.clone(), config.worker_idle)))
        .collect();
    workers
        .push(tokio::spawn(engine.clone().fire_triggers_until(shutdown.clone(), TRIGGER_PERIOD)));
    workers.push(tokio::spawn(state.clone().heartbeat_until(process, shutdown.clone())));
    let result = server.await.unwrap_or_else(|err| Err(std::io::Error::other(err)));
    result
}

/// The routes and their document, derived together from the handlers.
fn parts(state: &Arc<AppState>) -> (Router<Arc<AppState>>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(openapi::Frame::openapi())
        .routes(routes!(ingress::webhook))
        .routes(routes!(metrics::metrics))
        .merge(routes::service::routes())
        .nest("/api", routes::api(state))
        .split_for_parts()
}

pub fn router(state: Arc<AppState>) -> Router {
    let (router, document) = parts(&state);
    let document = serde_json::to_value(&document).unwrap_or_else(|err| {
        tracing::error!(error = %err, "cannot encode the OpenAPI document");
        serde_json::Value::Null
    });
    router
        .merge(ui::routes())
        .fallback(error::no_route)
        .layer(Extension(routes::service::Document(Arc::new(document))))
        .layer(axum::middleware::from_fn(error::json_client_errors))
        .with_state(state)
}
