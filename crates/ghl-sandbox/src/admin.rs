//! The admin API under `/_sandbox/`, apart from HighLevel's paths: inspect and reset state,
//! count requests and effects, add locations, change faults and limits at run time, revoke or
//! expire tokens, and act as a person inside HighLevel (`/_sandbox/as-user/...`): the same
//! operations as the API, without token, rate limit or faults, still emitting webhooks.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::{Path, Query, Request, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, delete, get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use tower::ServiceExt;

use crate::api::Caller;
use crate::config::{FaultConfig, RateLimits};
use crate::error::{ApiError, ApiResult};
use crate::Shared;

pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/info", get(info))
        .route("/stats", get(stats))
        .route("/reset-stats", post(reset_stats))
        .route("/faults", get(get_faults).put(put_faults))
        .route("/rate-limits", get(get_limits).put(put_limits))
        .route("/rate-limits/new-day", post(new_day))
        .route("/webhooks", get(webhooks).post(add_webhook_target))
        .route("/webhook-targets", get(webhook_targets).post(add_webhook_target))
        .route("/webhook-targets/{id}", delete(remove_webhook_target))
        .route("/locations", post(add_location))
        .route("/locations/{locationId}", get(location))
        .route("/locations/{locationId}/settings", put(location_settings))
        .route("/locations/{locationId}/contacts/{contactId}", get(contact))
        .route("/locations/{locationId}/revoke-tokens", post(revoke_tokens))
        .route("/locations/{locationId}/expire-tokens", post(expire_tokens))
        .route("/as-user/{locationId}/{*path}", any(as_user))
}

async fn info(State(shared): State<Arc<Shared>>) -> Json<crate::SandboxInfo> {
    Json(crate::info(&shared))
}

async fn stats(State(shared): State<Arc<Shared>>) -> Json<Value> {
    let world = shared.world.lock();
    let counts = &shared.webhooks.counts;
    let load = |counter: &std::sync::atomic::AtomicU64| counter.load(Ordering::Relaxed);
    Json(json!({
        "requests": world.stats.requests,
        "effects": world.stats.effects,
        "rateLimited": world.stats.rate_limited,
        "faults": world.stats.faults,
        "tokensIssued": world.grants.issued,
        "webhooks": {
            "emitted": load(&counts.emitted),
            "attempts": load(&counts.attempts),
            "delivered": load(&counts.delivered),
            "failed": load(&counts.failed),
            "retried": load(&counts.retried),
            "duplicated": load(&counts.duplicated),
        },
    }))
}

async fn reset_stats(State(shared): State<Arc<Shared>>) -> StatusCode {
    shared.world.lock().stats = Default::default();
    shared.webhooks.clear_log();
    StatusCode::NO_CONTENT
}

async fn get_faults(State(shared): State<Arc<Shared>>) -> Json<FaultConfig> {
    Json(shared.faults.config())
}

async fn put_faults(
    State(shared): State<Arc<Shared>>,
    body: axum::body::Bytes,
) -> ApiResult<Json<FaultConfig>> {
    let config: FaultConfig = serde_json::from_slice(&body)
        .map_err(|err| ApiError::bad_request(format!("invalid fault configuration: {err}")))?;
    config.validate().map_err(|err| ApiError::bad_request(err.to_string()))?;
    shared.faults.set(config.clone());
    Ok(Json(config))
}

async fn get_limits(State(shared): State<Arc<Shared>>) -> Json<RateLimits> {
    Json(shared.rate_limiter.limits())
}

async fn put_limits(
    State(shared): State<Arc<Shared>>,
    body: axum::body::Bytes,
) -> ApiResult<Json<RateLimits>> {
    let limits: RateLimits = serde_json::from_slice(&body)
        .map_err(|err| ApiError::bad_request(format!("invalid rate limits: {err}")))?;
    if limits.burst == 0 || limits.interval_ms == 0 || limits.daily == 0 {
        return Err(ApiError::bad_request("burst, interval_ms and daily must be positive"));
    }
    shared.rate_limiter.set_limits(limits);
    Ok(Json(limits))
}

/// Ends the quota day now: every daily count starts again from zero.
async fn new_day(State(shared): State<Arc<Shared>>) -> Json<RateLimits> {
    shared.rate_limiter.new_day();
    Json(shared.rate_limiter.limits())
}

#[derive(Debug, Deserialize)]
struct WebhooksQuery {
    #[serde(rename = "type")]
    event_type: Option<String>,
    limit: Option<usize>,
}

async fn webhooks(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<WebhooksQuery>,
) -> Json<Value> {
    let events = shared.webhooks.recent(query.event_type.as_deref(), query.limit.unwrap_or(1000));
    Json(json!({ "events": events }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewTarget {
    url: String,
}

/// `POST /webhook-targets` (or `POST /webhooks`) `{"url": ...}`: 201 with the new target, 200
/// with the existing one when the URL already is a target.
async fn add_webhook_target(
    State(shared): State<Arc<Shared>>,
    body: axum::body::Bytes,
) -> ApiResult<impl IntoResponse> {
    let request: NewTarget = serde_json::from_slice(&body).map_err(|err| {
        ApiError::bad_request(format!("expected {{\"url\": \"http://...\"}}: {err}"))
    })?;
    let (target, added) = shared
        .webhooks
        .add_target(&request.url)
        .map_err(|err| ApiError::bad_request(err.to_string()))?;
    let status = if added { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(target)))
}

async fn webhook_targets(State(shared): State<Arc<Shared>>) -> Json<Value> {
    Json(json!({ "targets": shared.webhooks.targets() }))
}

async fn remove_webhook_target(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    if shared.webhooks.remove_target(&id) {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::with_status(StatusCode::NOT_FOUND, format!("no webhook target {id}")))
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct NewLocation {
    name: Option<String>,
    contacts: Option<usize>,
    allow_duplicates: Option<bool>,
}

async fn add_location(
    State(shared): State<Arc<Shared>>,
    body: axum::body::Bytes,
) -> ApiResult<impl IntoResponse> {
    let request: NewLocation = if body.is_empty() {
        NewLocation::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|err| ApiError::bad_request(format!("invalid location: {err}")))?
    };
    let mut world = shared.world.lock();
    let name =
        request.name.unwrap_or_else(|| format!("Sandbox Location {}", world.locations.len() + 1));
    let id = crate::seed::add_location(
        &mut world,
        &name,
        request.contacts.unwrap_or(0),
        request.allow_duplicates.unwrap_or(shared.config.allow_duplicates),
    );
    let location = world.locations.get(&id).map(location_json).unwrap_or_default();
    Ok((StatusCode::CREATED, Json(location)))
}

fn location_json(location: &crate::world::Location) -> Value {
    json!({
        "location_id": location.id,
        "company_id": location.company_id,
        "name": location.name,
        "private_integration_token": location.private_integration_token,
        "allowDuplicates": location.allow_duplicates,
        "contacts": location.contact_count(),
        "appointments": location.appointments.len(),
        "tasks": location.contacts().map(|c| c.tasks.len()).sum::<usize>(),
        "notes": location.contacts().map(|c| c.notes.len()).sum::<usize>(),
        "users": location.users,
        "calendars": location.calendars,
        "campaigns": location.campaigns,
        "workflows": location.workflows,
        "customFields": location.custom_fields,
    })
}

async fn location(
    State(shared): State<Arc<Shared>>,
    Path(location_id): Path<String>,
) -> ApiResult<Json<Value>> {
    let world = shared.world.lock();
    let location = world
        .locations
        .get(&location_id)
        .ok_or_else(|| ApiError::not_found("Location", &location_id))?;
    Ok(Json(location_json(location)))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Settings {
    allow_duplicates: bool,
}

async fn location_settings(
    State(shared): State<Arc<Shared>>,
    Path(location_id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Json<Value>> {
    let settings: Settings = serde_json::from_slice(&body)
        .map_err(|err| ApiError::bad_request(format!("invalid settings: {err}")))?;
    let mut world = shared.world.lock();
    let location = world
        .location_mut(&location_id)
        .ok_or_else(|| ApiError::not_found("Location", &location_id))?;
    location.allow_duplicates = settings.allow_duplicates;
    Ok(Json(json!({ "allowDuplicates": location.allow_duplicates })))
}

/// The whole stored contact: the record and what hangs off it.
async fn contact(
    State(shared): State<Arc<Shared>>,
    Path((location_id, contact_id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let world = shared.world.lock();
    let stored = world
        .locations
        .get(&location_id)
        .and_then(|location| location.contact(&contact_id))
        .ok_or_else(|| ApiError::not_found("Contact", &contact_id))?;
    Ok(Json(json!({
        "contact": stored.contact,
        "tasks": stored.tasks,
        "notes": stored.notes,
        "appointmentIds": stored.appointment_ids,
        "campaigns": stored.campaigns,
        "workflows": stored.workflows,
        "unlisted": stored.unlisted,
    })))
}

async fn revoke_tokens(
    State(shared): State<Arc<Shared>>,
    Path(location_id): Path<String>,
) -> Json<Value> {
    let revoked = shared.world.lock().grants.revoke_location(&location_id);
    Json(json!({ "revoked": revoked }))
}

async fn expire_tokens(
    State(shared): State<Arc<Shared>>,
    Path(location_id): Path<String>,
) -> Json<Value> {
    let expired = shared.world.lock().grants.expire_location(&location_id);
    Json(json!({ "expired": expired }))
}

/// `/_sandbox/as-user/{locationId}/contacts/...`: a change made by a person in HighLevel.
async fn as_user(
    State(shared): State<Arc<Shared>>,
    Path((location_id, path)): Path<(String, String)>,
    request: Request,
) -> Response {
    if !shared.world.lock().locations.contains_key(&location_id) {
        return ApiError::not_found("Location", &location_id).into_response();
    }
    let query = request.uri().query().map(|q| format!("?{q}")).unwrap_or_default();
    let Ok(uri) = format!("/{path}{query}").parse::<Uri>() else {
        return ApiError::bad_request("invalid path").into_response();
    };
    // A new request, without this route's path parameters in its extensions: the API's
    // routes extract their own.
    let (parts, body) = request.into_parts();
    let mut request = Request::new(body);
    *request.method_mut() = parts.method;
    *request.headers_mut() = parts.headers;
    *request.uri_mut() = uri;
    request.extensions_mut().insert(Caller { location_id });
    let api = crate::api::routes().with_state(shared);
    match api.oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}
