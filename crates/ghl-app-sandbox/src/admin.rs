//! The admin API under `/_sandbox/`, apart from the app's paths: what the sandbox is and
//! its credentials, request and effect counts, faults and rate-limit windows changed at run
//! time, webhook targets and the events sent, the records a REST app holds, and what was
//! posted to a messaging hook (and hooks that refuse), what a signed-webhook receiver was
//! delivered (and receivers that refuse); an OAuth app's grants counted, its access tokens
//! expired or every token revoked.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use ghl_sandbox_kit::{FaultConfig, Window};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::messaging::{self, Flavor};
use crate::{Kind, Shared};

pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/info", get(info))
        .route("/stats", get(stats))
        .route("/reset-stats", post(reset_stats))
        .route("/faults", get(get_faults).put(put_faults))
        .route("/rate-limits", get(get_limits).put(put_limits))
        .route("/webhook-targets", get(targets).post(add_target))
        .route("/webhook-targets/{id}", delete(remove_target))
        .route("/webhooks", get(sent))
        .route("/records/{*resource}", get(records))
        .route("/activity", post(activity))
        .route("/posts", get(posts))
        .route("/hooks", get(hooks).post(add_hook))
        .route("/hooks/{id}", put(set_hook))
        .route("/deliveries", get(deliveries))
        .route("/receivers", get(receivers))
        .route("/receivers/{id}", put(set_receiver))
        .route("/oauth", get(oauth_counts))
        .route("/oauth/expire-tokens", post(expire_tokens))
        .route("/oauth/revoke-tokens", post(revoke_tokens))
}

/// The app's OAuth server, or the answer that it has none.
fn oauth(shared: &Shared) -> Result<&crate::oauth::OAuthServer, Box<Response>> {
    let server = shared.rest.as_ref().and_then(|rest| rest.oauth.as_ref());
    server.ok_or_else(|| {
        Box::new(bad_request(format!("`{}` does not use OAuth", shared.manifest.app)))
    })
}

/// What the OAuth server issued and refused.
async fn oauth_counts(State(shared): State<Arc<Shared>>) -> Response {
    match oauth(&shared) {
        Ok(server) => Json(server.counts_json()).into_response(),
        Err(refused) => *refused,
    }
}

/// Every access token expires now: the next call is refused until a refresh.
async fn expire_tokens(State(shared): State<Arc<Shared>>) -> Response {
    match oauth(&shared) {
        Ok(server) => Json(json!({ "expired": server.expire_access_tokens() })).into_response(),
        Err(refused) => *refused,
    }
}

/// The user revokes the app: every access and refresh token stops working.
async fn revoke_tokens(State(shared): State<Arc<Shared>>) -> Response {
    match oauth(&shared) {
        Ok(server) => Json(json!({ "revoked": server.revoke() })).into_response(),
        Err(refused) => *refused,
    }
}

fn bad_request(message: String) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({ "error": message }))).into_response()
}

async fn info(State(shared): State<Arc<Shared>>) -> Json<crate::AppInfo> {
    Json(crate::info(&shared))
}

async fn stats(State(shared): State<Arc<Shared>>) -> Json<Value> {
    let stats = shared.stats.lock().clone();
    let counts = &shared.webhooks.counts;
    let load = |counter: &std::sync::atomic::AtomicU64| counter.load(Ordering::Relaxed);
    Json(json!({
        "requests": stats.requests,
        "effects": stats.effects,
        "rateLimited": stats.rate_limited,
        "faults": stats.faults,
        "webhooks": {
            "emitted": load(&counts.emitted),
            "attempts": load(&counts.attempts),
            "delivered": load(&counts.delivered),
            "retried": load(&counts.retried),
            "failed": load(&counts.failed),
        },
    }))
}

async fn reset_stats(State(shared): State<Arc<Shared>>) -> StatusCode {
    *shared.stats.lock() = Default::default();
    shared.webhooks.clear_log();
    if let Some(hooks) = &shared.messaging {
        hooks.clear_posts();
    }
    if let Some(receivers) = &shared.receivers {
        receivers.clear_deliveries();
    }
    StatusCode::NO_CONTENT
}

async fn get_faults(State(shared): State<Arc<Shared>>) -> Json<FaultConfig> {
    Json(shared.faults.config())
}

async fn put_faults(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let config: FaultConfig = match serde_json::from_slice(&body) {
        Ok(config) => config,
        Err(err) => return bad_request(format!("invalid fault configuration: {err}")),
    };
    if let Err(reason) = config.validate() {
        return bad_request(reason.to_string());
    }
    shared.faults.set(config.clone());
    Json(config).into_response()
}

async fn get_limits(State(shared): State<Arc<Shared>>) -> Json<Vec<Window>> {
    Json(shared.windows.windows())
}

/// `[{"requests": 1, "per_ms": 1000}, ...]`; `[]` lifts every limit.
async fn put_limits(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let windows: Vec<Window> = match serde_json::from_slice(&body) {
        Ok(windows) => windows,
        Err(err) => {
            return bad_request(format!("expected [{{\"requests\": N, \"per_ms\": MS}}]: {err}"))
        }
    };
    if windows.iter().any(|window| window.requests == 0 || window.per_ms == 0) {
        return bad_request("requests and per_ms must be positive".into());
    }
    shared.windows.set(windows.clone());
    Json(windows).into_response()
}

async fn targets(State(shared): State<Arc<Shared>>) -> Json<Value> {
    Json(json!({ "targets": shared.webhooks.targets() }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewTarget {
    url: url::Url,
}

/// `{"url": ...}`: 201 with the new target, 200 with the existing one.
async fn add_target(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let request: NewTarget = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(err) => return bad_request(format!("expected {{\"url\": \"http://...\"}}: {err}")),
    };
    let (target, added) = shared.webhooks.add_target(request.url);
    let status = if added { StatusCode::CREATED } else { StatusCode::OK };
    (status, Json(target)).into_response()
}

async fn remove_target(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> StatusCode {
    if shared.webhooks.remove_target(&id) {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::NOT_FOUND
    }
}

async fn sent(State(shared): State<Arc<Shared>>) -> Json<Value> {
    Json(json!({ "events": shared.webhooks.sent() }))
}

/// `POST /_sandbox/activity`: the app changes records on its side, not through its API (a
/// card payment makes a transaction), sending their webhooks; what it did.
async fn activity(State(shared): State<Arc<Shared>>) -> Response {
    Json(shared.quirks.activity(&shared)).into_response()
}

/// `GET /_sandbox/records/contacts`: every record of the resource, in creation order.
async fn records(State(shared): State<Arc<Shared>>, Path(resource): Path<String>) -> Response {
    match &shared.rest {
        Some(rest) => {
            Json(json!({ "records": rest.records(&format!("/{resource}")) })).into_response()
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn posts(State(shared): State<Arc<Shared>>) -> Response {
    match &shared.messaging {
        Some(hooks) => Json(json!({ "posts": hooks.posts() })).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn hooks(State(shared): State<Arc<Shared>>) -> Response {
    let Some(hooks) = &shared.messaging else { return StatusCode::NOT_FOUND.into_response() };
    let listed: Vec<Value> = hooks
        .hooks()
        .iter()
        .map(|hook| json!({ "id": hook.id, "flavor": hook.flavor, "refuse": hook.refuse, "url": messaging::url(&shared.address, hook) }))
        .collect();
    Json(json!({ "hooks": listed })).into_response()
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewHook {
    flavor: Option<Flavor>,
    refuse: Option<String>,
}

/// `{"flavor": "slack" | "workflows" | "legacy", "refuse": "channel_is_archived"}`, both
/// optional: a new hook and its URL.
async fn add_hook(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let Some(hooks) = &shared.messaging else { return StatusCode::NOT_FOUND.into_response() };
    let request: NewHook = if body.is_empty() {
        NewHook::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(request) => request,
            Err(err) => return bad_request(format!("invalid hook: {err}")),
        }
    };
    let default = if shared.kind == Kind::Slack { Flavor::Slack } else { Flavor::Workflows };
    let flavor = request.flavor.unwrap_or(default);
    if (flavor == Flavor::Slack) != (shared.kind == Kind::Slack) {
        return bad_request(format!("this sandbox has no {flavor:?} hooks"));
    }
    let hook = hooks.add(flavor, request.refuse, &mut *shared.rng.lock());
    let url = messaging::url(&shared.address, &hook);
    (
        StatusCode::CREATED,
        Json(json!({ "id": hook.id, "flavor": hook.flavor, "refuse": hook.refuse, "url": url })),
    )
        .into_response()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HookState {
    refuse: Option<String>,
}

/// `{"refuse": "channel_is_archived"}` or `{"refuse": null}`.
async fn set_hook(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let Some(hooks) = &shared.messaging else { return StatusCode::NOT_FOUND.into_response() };
    let state: HookState = match serde_json::from_slice(&body) {
        Ok(state) => state,
        Err(err) => return bad_request(format!("expected {{\"refuse\": CODE or null}}: {err}")),
    };
    if hooks.set_refuse(&id, state.refuse) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        StatusCode::NOT_FOUND.into_response()
    }
}

/// What the signed-webhook receiver was delivered, repeats of a `webhook-id` marked.
async fn deliveries(State(shared): State<Arc<Shared>>) -> Response {
    match &shared.receivers {
        Some(receivers) => Json(json!({ "deliveries": receivers.deliveries() })).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn receivers(State(shared): State<Arc<Shared>>) -> Response {
    match &shared.receivers {
        Some(receivers) => Json(json!({ "receivers": receivers.receivers() })).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReceiverState {
    refuse: Option<u16>,
}

/// `{"refuse": 410}` or `{"refuse": null}`.
async fn set_receiver(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let Some(receivers) = &shared.receivers else { return StatusCode::NOT_FOUND.into_response() };
    let state: ReceiverState = match serde_json::from_slice(&body) {
        Ok(state) => state,
        Err(err) => return bad_request(format!("expected {{\"refuse\": STATUS or null}}: {err}")),
    };
    if state.refuse.is_some_and(|status| !(400..600).contains(&status)) {
        return bad_request("refuse with an error status (400 to 599)".into());
    }
    if receivers.set_refuse(&id, state.refuse) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        StatusCode::NOT_FOUND.into_response()
    }
}
