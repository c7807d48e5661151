//! The connector's HTTP side: `POST /webhooks/highlevel` (verified, stored durably before the
//! 2xx), the JSON REST API under `/api` (admin token), `/healthz`, `/metrics`, the workers
//! that execute runs, the loop that fires schedule and polling triggers, and the process's
//! heartbeat in the store. `serve` runs them all on a listener it is given until the shutdown
//! token is cancelled.

mod openapi;
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
/// How long ingress waits for the store before answering 429: HighLevel gives up on a slow
/// answer, and retries only a 429. An ingest cut short may still commit; the retry is then a
/// duplicate, answered 200 without a second run.
pub const INGEST_TIMEOUT: Duration = Duration::from_secs(2);

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
    /// The keys given at start (HighLevel's by default).
    configured_keys: WebhookKeys,
    /// Those and the keys learned with connections, renewed with each heartbeat.
    keys: tokio::sync::RwLock<Arc<WebhookKeys>>,
    admin_token: String,
    metrics: Metrics,
    /// When this process started serving (ms since the epoch).
    started_at: i64,
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
        keys: tokio::sync::RwLock::new(Arc::new(config.webhook_keys.clone())),
        configured_keys: config.webhook_keys,
        admin_token: config.admin_token,
        metrics: Metrics::new(&engine),
        started_at: ghl_store::now_ms(),
    });
    state.learn_webhook_keys().await;
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
    let server = axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown.clone().cancelled_owned());
    let result = server.await;
    for worker in workers {
        let _ = worker.await;
    }
    result
}

impl AppState {
    /// Says in the store that this process serves it (so `flows run` knows a run will be
    /// executed) and renews the learned webhook keys, every `HEARTBEAT_PERIOD` until shutdown;
    /// then says it is gone.
    async fn heartbeat_until(self: Arc<Self>, process: String, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(ghl_store::HEARTBEAT_PERIOD) => {}
            }
            self.heartbeat(&process).await;
            self.learn_webhook_keys().await;
        }
        if let Err(err) = self.engine.store().worker_gone(&process).await {
            tracing::warn!(error = %err, "cannot remove the heartbeat");
        }
    }

    async fn heartbeat(&self, process: &str) {
        let beat = ghl_store::WorkerBeat {
            id: process,
            pid: std::process::id(),
            started_at: self.started_at,
        };
        if let Err(err) = self.engine.store().heartbeat(&beat).await {
            tracing::warn!(error = %err, "cannot record the heartbeat");
        }
    }

    /// The configured keys plus those learned with connections (a sandbox's); a learned key
    /// that does not parse is logged and left out.
    async fn learn_webhook_keys(&self) {
        let learned = match self.engine.store().webhook_keys().await {
            Ok(learned) => learned,
            Err(err) => {
                tracing::warn!(error = %err, "cannot read the webhook keys learned with connections");
                return;
            }
        };
        let mut keys = self.configured_keys.clone();
        for entry in &learned {
            if let Err(err) = keys.learn(entry) {
                tracing::warn!(connection = %entry.connection, error = %err, "unusable webhook key");
            }
        }
        *self.keys.write().await = Arc::new(keys);
    }
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
        .route("/", get(index))
        .route("/webhooks/highlevel", post(highlevel_webhook))
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
        .nest("/api", api)
        .fallback(no_route)
        .layer(axum::middleware::from_fn(json_client_errors))
        .with_state(state)
}

async fn no_route(request: Request) -> Response {
    problem(
        StatusCode::NOT_FOUND,
        format!("no route {} {} (see /openapi.json)", request.method(), request.uri().path()),
    )
}

/// Every client error is JSON naming the problem, whoever produced it: a handler, an extractor
/// (a bad query string, a body that is not UTF-8) or the router (a wrong method).
async fn json_client_errors(request: Request, next: Next) -> Response {
    let (method, path) = (request.method().clone(), request.uri().path().to_owned());
    let response = next.run(request).await;
    let status = response.status();
    if !status.is_client_error() || is_json(response.headers()) {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 64 * 1024)
        .await
        .map(|bytes| String::from_utf8_lossy(&bytes).trim().to_owned())
        .unwrap_or_default();
    let message = match (status, text.is_empty()) {
        (StatusCode::METHOD_NOT_ALLOWED, _) => {
            let allowed = parts.headers.get(axum::http::header::ALLOW);
            let allowed = allowed.and_then(|value| value.to_str().ok()).unwrap_or("none");
            format!("{method} is not allowed on {path} (allowed: {allowed})")
        }
        (_, false) => text,
        (_, true) => {
            format!("{method} {path}: {}", status.canonical_reason().unwrap_or("refused"))
        }
    };
    let mut answer = problem(status, message);
    for name in [axum::http::header::ALLOW, axum::http::header::RETRY_AFTER] {
        if let Some(value) = parts.headers.get(&name) {
            answer.headers_mut().insert(name, value.clone());
        }
    }
    answer
}

/// `GET /`: what answers at this address, and where its parts are.
async fn index() -> Json<Value> {
    let links = json!({ "api": "/api", "openapi": "/openapi.json", "healthz": "/healthz", "metrics": "/metrics" });
    Json(json!({ "name": "ghl-connector", "version": env!("CARGO_PKG_VERSION"), "links": links }))
}

/// A JSON error that names the problem.
fn problem(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

/// A JSON error that names the problem and, as data, what to do about it (`remedy`).
fn problem_with_remedy(
    status: StatusCode,
    message: impl Into<String>,
    remedy: Option<ghl_types::Remedy>,
) -> Response {
    let mut body = json!({ "error": message.into() });
    if let Some(remedy) = remedy {
        body["remedy"] = json!(remedy);
    }
    (status, Json(body)).into_response()
}

async fn highlevel_webhook(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header =
        |name: &str| headers.get(name).and_then(|value| value.to_str().ok()).map(str::to_owned);
    if !is_json(&headers) {
        state.metrics.webhook("rejected");
        let given = header("content-type").unwrap_or_else(|| "none".into());
        tracing::warn!(content_type = %given, "webhook rejected: not JSON");
        return problem(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("a webhook is `Content-Type: application/json`, not {given}"),
        );
    }
    let inbound = Inbound::new(body.to_vec(), header("x-ghl-signature"), header("x-wh-signature"));
    let keys = state.keys.read().await.clone();
    let verified = match inbound.verify(&keys, chrono::Utc::now().timestamp()) {
        Ok(verified) => verified,
        Err(rejection) => {
            state.metrics.webhook("rejected");
            let reason = rejection.reason(&keys);
            tracing::warn!(reason = %reason, "webhook rejected");
            return problem(StatusCode::UNAUTHORIZED, reason);
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
    match tokio::time::timeout(INGEST_TIMEOUT, state.engine.ingest(&event)).await {
        Ok(Ok(IngestOutcome::Stored { run_ids, .. })) => {
            state.metrics.webhook("stored");
            (StatusCode::OK, Json(json!({ "stored": true, "runs": run_ids.len() }))).into_response()
        }
        Ok(Ok(IngestOutcome::Duplicate)) => {
            state.metrics.webhook("duplicate");
            (StatusCode::OK, Json(json!({ "stored": false, "duplicate": true }))).into_response()
        }
        // Not stored: 429 is the one answer HighLevel retries.
        Ok(Err(err)) => {
            state.metrics.webhook("busy");
            tracing::error!(error = %err, webhook_id, "webhook could not be stored; asking HighLevel to retry");
            problem(StatusCode::TOO_MANY_REQUESTS, "the store is busy; retry later")
        }
        Err(_) => {
            state.metrics.webhook("busy");
            tracing::error!(
                webhook_id,
                waited_ms = INGEST_TIMEOUT.as_millis() as u64,
                "the store did not take the webhook in time; asking HighLevel to retry"
            );
            problem(StatusCode::TOO_MANY_REQUESTS, "the store is busy; retry later")
        }
    }
}

/// `application/json`, with or without parameters (`; charset=utf-8`).
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
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
    status: Option<ghl_store::RunStatus>,
    flow: Option<String>,
    limit: Option<i64>,
}

async fn list_runs(State(state): State<Arc<AppState>>, Query(query): Query<RunsQuery>) -> Response {
    let filter = RunFilter {
        status: query.status,
        flow: query.flow,
        limit: query.limit.unwrap_or(100).clamp(1, 1000),
    };
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
        Ok(applied) => (StatusCode::CREATED, Json(json!(applied))).into_response(),
        Err(ghl_engine::EngineError::Store(err)) => server_error(err),
        Err(err @ ghl_engine::EngineError::Flow(_)) => {
            problem(StatusCode::BAD_REQUEST, err.to_string())
        }
        Err(err) => {
            problem_with_remedy(StatusCode::UNPROCESSABLE_ENTITY, err.to_string(), err.remedy())
        }
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
            let apps = state.engine.apps().clone();
            match ghl_engine::flow::Flow::parse_off_runtime_with(record.definition, apps).await {
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
        Err(err) => {
            problem_with_remedy(StatusCode::UNPROCESSABLE_ENTITY, err.to_string(), err.remedy())
        }
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
        Err(err) => {
            problem_with_remedy(StatusCode::UNPROCESSABLE_ENTITY, err.to_string(), err.remedy())
        }
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
            let mut answer = json!({ "name": name, "works": false, "error": err.to_string() });
            if let Some(remedy) = err.remedy() {
                answer["remedy"] = json!(remedy);
            }
            Json(answer).into_response()
        }
    }
}

async fn list_connections(State(state): State<Arc<AppState>>) -> Response {
    match state.engine.store().connections().await {
        Ok(connections) => Json(json!({ "connections": connections })).into_response(),
        Err(err) => server_error(err),
    }
}

async fn catalog(State(state): State<Arc<AppState>>) -> Json<Value> {
    let apps = state.engine.apps();
    Json(
        json!({ "actions": ghl_engine::catalog::actions(apps), "triggers": ghl_engine::catalog::triggers(apps) }),
    )
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let counts = match state.engine.store().run_counts().await {
        Ok(counts) => counts,
        Err(err) => return server_error(err),
    };
    let metrics = &state.metrics;
    // Every status a run can have, so a status nobody is in reads 0, not its last count.
    for status in ghl_store::RunStatus::ALL.map(ghl_store::RunStatus::as_str) {
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
    Json(openapi::document())
}

/// Server errors are opaque to the caller and logged in full.
fn server_error(err: ghl_store::Error) -> Response {
    tracing::error!(error = %err, "store error");
    problem(StatusCode::INTERNAL_SERVER_ERROR, "internal error; see the server log")
}
