//! The connector's HTTP side: `POST /webhooks/highlevel` (verified, stored durably before the
//! 2xx), the JSON REST API under `/api` (admin token), `/healthz`, `/metrics`, the workers
//! that execute runs and the loop that fires schedule and polling triggers. `serve` runs them all on a listener it is given until the
//! shutdown token is cancelled.

pub mod webhook_signature;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{FromRequest, Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use ghl_engine::metrics::OutcomeLabels;
use ghl_engine::Engine;
use ghl_store::{IngestOutcome, NewEvent, RunFilter};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::webhook_signature::{Inbound, WebhookKeys};

/// How often schedule and polling triggers are looked at.
const TRIGGER_PERIOD: Duration = Duration::from_secs(1);

pub struct ServerConfig {
    pub webhook_keys: WebhookKeys,
    /// Bearer token of the REST API.
    pub admin_token: String,
    /// Workers executing runs.
    pub workers: usize,
    /// How long an idle worker waits before looking for due runs again.
    pub worker_idle: Duration,
}

pub struct AppState {
    pub engine: Arc<Engine>,
    keys: WebhookKeys,
    admin_token: String,
    metrics: Metrics,
}

/// The server's metrics, with the engine's registered beside them.
struct Metrics {
    registry: Registry,
    webhooks: Family<OutcomeLabels, Counter>,
    runs: Family<StatusLabels, Gauge>,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    status: String,
}

/// Every status a run can have, so a status nobody is in reads 0, not its last count.
const RUN_STATUSES: [&str; 5] = ["queued", "running", "waiting", "done", "dead"];

impl Metrics {
    fn new(engine: &Engine) -> Self {
        let mut registry = Registry::default();
        let webhooks = Family::<OutcomeLabels, Counter>::default();
        registry.register("ghl_webhooks", "Webhook deliveries by outcome", webhooks.clone());
        let runs = Family::<StatusLabels, Gauge>::default();
        registry.register("ghl_runs", "Runs by status (queued: the queue depth)", runs.clone());
        engine.metrics().register(&mut registry);
        Self { registry, webhooks, runs }
    }

    fn webhook(&self, outcome: &str) {
        self.webhooks.get_or_create(&OutcomeLabels { outcome: outcome.into() }).inc();
    }
}

/// Serves until `shutdown`; in-flight requests finish, workers stop between runs.
pub async fn serve(
    engine: Arc<Engine>,
    config: ServerConfig,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let state = Arc::new(AppState {
        engine: engine.clone(),
        keys: config.webhook_keys,
        admin_token: config.admin_token,
        metrics: Metrics::new(&engine),
    });
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
    let server = axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown.clone().cancelled_owned());
    let result = server.await;
    for worker in workers {
        let _ = worker.await;
    }
    result
}

pub fn router(state: Arc<AppState>) -> Router {
    let api = Router::new()
        .route("/runs", get(list_runs))
        .route("/runs/{id}", get(show_run))
        .route("/runs/{id}/replay", post(replay_run))
        .route(
            "/flows",
            get(list_flows).post(apply_flow).layer(axum::extract::DefaultBodyLimit::max(
                ghl_engine::document_bounds::MAX_FLOW_BYTES,
            )),
        )
        .route("/flows/{name}", get(show_flow).delete(delete_flow))
        .route("/flows/{name}/enable", post(enable_flow))
        .route("/flows/{name}/disable", post(disable_flow))
        .route("/flows/{name}/test", post(test_flow))
        .route("/flows/{name}/run", post(run_flow))
        .route("/connections", get(list_connections))
        .route("/connections/{name}", delete(remove_connection))
        .route("/connections/{name}/test", post(test_connection))
        .route("/catalog", get(catalog))
        .layer(axum::middleware::from_fn_with_state(state.clone(), require_admin));
    Router::new()
        .route("/webhooks/highlevel", post(highlevel_webhook))
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
        .nest("/api", api)
        .with_state(state)
}

/// A JSON error that names the problem.
fn problem(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

async fn highlevel_webhook(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header =
        |name: &str| headers.get(name).and_then(|value| value.to_str().ok()).map(str::to_owned);
    let inbound = Inbound::new(body.to_vec(), header("x-ghl-signature"), header("x-wh-signature"));
    let verified = match inbound.verify(&state.keys, chrono::Utc::now().timestamp()) {
        Ok(verified) => verified,
        Err(rejection) => {
            state.metrics.webhook("rejected");
            tracing::warn!(reason = rejection.reason(), "webhook rejected");
            return problem(StatusCode::UNAUTHORIZED, rejection.reason());
        }
    };
    let event_type = verified.field("type").unwrap_or_default();
    let location = verified.field("locationId").unwrap_or_default();
    let webhook_id = verified.field("webhookId").unwrap_or_default();
    let event = NewEvent {
        dedup_key: ghl_engine::event_key(event_type, location, verified.payload(), webhook_id),
        source: "highlevel".into(),
        event_type: event_type.to_owned(),
        location_id: Some(location.to_owned()),
        payload: verified.payload().clone(),
    };
    match state.engine.ingest(&event).await {
        Ok(IngestOutcome::Stored { run_ids, .. }) => {
            state.metrics.webhook("stored");
            (StatusCode::OK, Json(json!({ "stored": true, "runs": run_ids.len() }))).into_response()
        }
        Ok(IngestOutcome::Duplicate) => {
            state.metrics.webhook("duplicate");
            (StatusCode::OK, Json(json!({ "stored": false, "duplicate": true }))).into_response()
        }
        // Not stored: 429 is the one answer HighLevel retries.
        Err(err) => {
            tracing::error!(error = %err, "webhook could not be stored; asking HighLevel to retry");
            problem(StatusCode::TOO_MANY_REQUESTS, "busy, retry later")
        }
    }
}

async fn require_admin(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    let given = request
        .headers()
        .get("authorization")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "));
    let expected = state.admin_token.as_bytes();
    let matches = given.is_some_and(|given| {
        given.len() == expected.len()
            && given.bytes().zip(expected).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    });
    if !matches {
        return problem(
            StatusCode::UNAUTHORIZED,
            "the API needs `Authorization: Bearer <admin token>`",
        );
    }
    next.run(request).await
}

#[derive(Debug, Deserialize)]
struct RunsQuery {
    status: Option<String>,
    limit: Option<i64>,
}

async fn list_runs(State(state): State<Arc<AppState>>, Query(query): Query<RunsQuery>) -> Response {
    let filter =
        RunFilter { status: query.status, limit: query.limit.unwrap_or(100).clamp(1, 1000) };
    match state.engine.store().runs(&filter).await {
        Ok(runs) => Json(json!({ "runs": runs })).into_response(),
        Err(err) => server_error(err),
    }
}

async fn show_run(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Response {
    let store = state.engine.store();
    match (store.run(&id).await, store.steps(&id).await) {
        (Ok(Some(run)), Ok(steps)) => Json(json!({ "run": run, "steps": steps })).into_response(),
        (Ok(None), _) => problem(StatusCode::NOT_FOUND, format!("no run {id}")),
        (Err(err), _) | (_, Err(err)) => server_error(err),
    }
}

async fn replay_run(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Response {
    match state.engine.store().replay(&id).await {
        Ok(true) => Json(json!({ "replayed": id })).into_response(),
        Ok(false) => problem(
            StatusCode::CONFLICT,
            format!("run {id} is not dead-lettered (or does not exist)"),
        ),
        Err(err) => server_error(err),
    }
}

async fn list_flows(State(state): State<Arc<AppState>>) -> Response {
    match state.engine.store().flows().await {
        Ok(flows) => Json(json!({ "flows": flows })).into_response(),
        Err(err) => server_error(err),
    }
}

/// Applies a flow file; it is parsed off the async runtime (`Engine::apply_flow`), and a body
/// over the flow size limit is refused before it is read whole.
async fn apply_flow(
    State(state): State<Arc<AppState>>,
    body: Result<String, axum::extract::rejection::StringRejection>,
) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            let limit = ghl_engine::document_bounds::MAX_FLOW_BYTES;
            let message = format!("the flow file is over {limit} bytes, the most a flow may be");
            return problem(StatusCode::PAYLOAD_TOO_LARGE, message);
        }
        Err(rejection) => {
            return problem(rejection.status(), format!("the body: {}", rejection.body_text()))
        }
    };
    match state.engine.apply_flow(&body).await {
        Ok(id) => (StatusCode::CREATED, Json(json!({ "id": id }))).into_response(),
        Err(ghl_engine::EngineError::Store(err)) => server_error(err),
        Err(err @ ghl_engine::EngineError::Flow(_)) => {
            problem(StatusCode::BAD_REQUEST, err.to_string())
        }
        Err(err) => problem(StatusCode::UNPROCESSABLE_ENTITY, err.to_string()),
    }
}

async fn show_flow(State(state): State<Arc<AppState>>, Path(name): Path<String>) -> Response {
    match state.engine.store().flow(&name).await {
        Ok(Some(flow)) => Json(json!({ "flow": flow })).into_response(),
        Ok(None) => no_flow(&name),
        Err(err) => server_error(err),
    }
}

fn no_flow(name: &str) -> Response {
    problem(StatusCode::NOT_FOUND, format!("no flow named `{name}`"))
}

async fn delete_flow(State(state): State<Arc<AppState>>, Path(name): Path<String>) -> Response {
    match state.engine.store().delete_flow(&name).await {
        Ok(true) => Json(json!({ "deleted": name })).into_response(),
        Ok(false) => no_flow(&name),
        Err(err) => server_error(err),
    }
}

async fn enable_flow(state: State<Arc<AppState>>, name: Path<String>) -> Response {
    set_flow_enabled(state, name, true).await
}

async fn disable_flow(state: State<Arc<AppState>>, name: Path<String>) -> Response {
    set_flow_enabled(state, name, false).await
}

async fn set_flow_enabled(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    enabled: bool,
) -> Response {
    match state.engine.store().set_flow_enabled(&name, enabled).await {
        Ok(true) => Json(json!({ "name": name, "enabled": enabled })).into_response(),
        Ok(false) => no_flow(&name),
        Err(err) => server_error(err),
    }
}

/// The body of a test or manual run: the record that plays the trigger.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct TriggerBody {
    trigger: Value,
    /// Test runs: show the writes, do not send them.
    #[serde(default)]
    dry_run: bool,
    /// Manual runs: the same key runs once.
    #[serde(default)]
    key: Option<String>,
}

/// A body that is not the JSON asked for is a 400 whose JSON names the problem.
impl<S: Send + Sync> FromRequest<S> for TriggerBody {
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Response> {
        match Json::<Self>::from_request(request, state).await {
            Ok(Json(body)) => Ok(body),
            Err(rejection) => Err(problem(
                StatusCode::BAD_REQUEST,
                format!("the body: {}", rejection.body_text()),
            )),
        }
    }
}

/// The test feature: the flow step by step on the given trigger, nothing recorded.
async fn test_flow(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    body: TriggerBody,
) -> Response {
    let flow = match state.engine.store().flow(&name).await {
        Ok(Some(record)) => {
            match ghl_engine::flow::Flow::parse_off_runtime(record.definition).await {
                Ok(flow) => flow,
                Err(err) => return problem(StatusCode::UNPROCESSABLE_ENTITY, err.to_string()),
            }
        }
        Ok(None) => return no_flow(&name),
        Err(err) => return server_error(err),
    };
    let steps = state.engine.test_flow(&flow, body.trigger, body.dry_run).await;
    Json(json!({ "steps": steps })).into_response()
}

/// Runs a flow now, as its trigger would, recorded like any run.
async fn run_flow(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    body: TriggerBody,
) -> Response {
    match state.engine.run_now(&name, body.trigger, body.key.as_deref()).await {
        Ok(IngestOutcome::Stored { run_ids, .. }) => {
            (StatusCode::ACCEPTED, Json(json!({ "runs": run_ids }))).into_response()
        }
        Ok(IngestOutcome::Duplicate) => Json(json!({ "duplicate": true })).into_response(),
        Err(ghl_engine::EngineError::UnknownFlow(_)) => no_flow(&name),
        Err(ghl_engine::EngineError::Store(err)) => server_error(err),
        Err(err) => problem(StatusCode::UNPROCESSABLE_ENTITY, err.to_string()),
    }
}

async fn remove_connection(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Response {
    use ghl_engine::connections::ConnectionError;
    match state.engine.connections().remove(&name).await {
        Ok(true) => Json(json!({ "removed": name })).into_response(),
        Ok(false) => problem(StatusCode::NOT_FOUND, format!("no connection named `{name}`")),
        Err(ConnectionError::Store(err)) => server_error(err),
        Err(err) => problem(StatusCode::UNPROCESSABLE_ENTITY, err.to_string()),
    }
}

/// A harmless read through the connection.
async fn test_connection(State(state): State<Arc<AppState>>, Path(name): Path<String>) -> Response {
    use ghl_engine::connections::ConnectionError;
    match state.engine.connections().check(&name).await {
        Ok(()) => Json(json!({ "name": name, "works": true })).into_response(),
        Err(ConnectionError::Missing(_)) => {
            problem(StatusCode::NOT_FOUND, format!("no connection named `{name}`"))
        }
        Err(ConnectionError::Store(err)) => server_error(err),
        Err(err) => {
            Json(json!({ "name": name, "works": false, "error": err.to_string() })).into_response()
        }
    }
}

async fn list_connections(State(state): State<Arc<AppState>>) -> Response {
    match state.engine.store().connections().await {
        Ok(connections) => Json(json!({ "connections": connections })).into_response(),
        Err(err) => server_error(err),
    }
}

async fn catalog() -> Json<Value> {
    Json(
        json!({ "actions": ghl_engine::catalog::actions(), "triggers": ghl_engine::catalog::triggers() }),
    )
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let counts = match state.engine.store().run_counts().await {
        Ok(counts) => counts,
        Err(err) => return server_error(err),
    };
    let metrics = &state.metrics;
    for status in RUN_STATUSES {
        let count = counts.iter().find(|(name, _)| name == status).map_or(0, |(_, n)| *n);
        metrics.runs.get_or_create(&StatusLabels { status: status.into() }).set(count);
    }
    state.engine.metrics().read_budgets(state.engine.connections());
    let mut text = String::new();
    if let Err(err) = prometheus_client::encoding::text::encode(&mut text, &metrics.registry) {
        tracing::error!(error = %err, "cannot encode the metrics");
        return problem(StatusCode::INTERNAL_SERVER_ERROR, "cannot encode the metrics");
    }
    ([("content-type", "application/openmetrics-text; version=1.0.0; charset=utf-8")], text)
        .into_response()
}

async fn openapi() -> Json<Value> {
    let op = |summary: &str| json!({ "summary": summary, "security": [{ "admin": [] }], "responses": { "200": { "description": "OK" } } });
    Json(json!({
        "openapi": "3.0.3",
        "info": { "title": "ghl-connector API", "version": env!("CARGO_PKG_VERSION") },
        "components": { "securitySchemes": { "admin": { "type": "http", "scheme": "bearer" } } },
        "paths": {
            "/webhooks/highlevel": { "post": { "summary": "HighLevel webhook ingress (signed)", "responses": { "200": { "description": "stored" }, "401": { "description": "unsigned, forged or replayed" }, "429": { "description": "busy, retry" } } } },
            "/api/runs": { "get": op("List runs (?status=, ?limit=)") },
            "/api/runs/{id}": { "get": op("A run with every step's input, request, response and error") },
            "/api/runs/{id}/replay": { "post": op("Replay a dead-lettered run") },
            "/api/flows": { "get": op("List flows"), "post": op("Apply a flow (YAML body)") },
            "/api/flows/{name}": { "get": op("A flow, with its file"), "delete": op("Delete a flow") },
            "/api/flows/{name}/enable": { "post": op("Enable a flow") },
            "/api/flows/{name}/disable": { "post": op("Disable a flow") },
            "/api/flows/{name}/test": { "post": op("Test a flow on {trigger, dryRun}: every step's input, request and response; nothing recorded") },
            "/api/flows/{name}/run": { "post": op("Run a flow now on {trigger, key}; 202 with its run") },
            "/api/connections": { "get": op("List connections (no secrets)") },
            "/api/connections/{name}": { "delete": op("Remove a connection and its secrets") },
            "/api/connections/{name}/test": { "post": op("Check a connection with a harmless read") },
            "/api/catalog": { "get": op("Actions and triggers") },
            "/healthz": { "get": { "summary": "Liveness", "responses": { "200": { "description": "ok" } } } },
            "/metrics": { "get": { "summary": "Prometheus metrics", "responses": { "200": { "description": "text" } } } },
        }
    }))
}

/// Server errors are opaque to the caller and logged in full.
fn server_error(err: ghl_store::Error) -> Response {
    tracing::error!(error = %err, "store error");
    problem(StatusCode::INTERNAL_SERVER_ERROR, "internal error; see the server log")
}
