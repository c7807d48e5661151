//! The HighLevel API routes (same paths as the spec) and the gate every request passes first:
//! injected faults, the `Version` header, the bearer token and its scopes, the rate limit.

mod appointments;
mod associations;
pub mod body;
mod contacts;

pub use contacts::custom_field_text;
mod notes;
mod search;
mod tasks;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;
use ghl_types::operations::Api;
use ghl_types::rate_limit as headers;
use ghl_types::Operation;

use crate::error::{ApiError, ApiResult};
use crate::faults::{DropConnection, Fault};
use crate::oauth::TokenProblem;
use crate::rate_limit::Budget;
use crate::Shared;

/// Who is calling: the location a token speaks for. Handlers see only this.
#[derive(Debug, Clone)]
pub struct Caller {
    pub location_id: String,
}

impl Caller {
    /// A `locationId` a request names must be the token's own.
    pub fn check_location(&self, location_id: &str) -> ApiResult<()> {
        if location_id == self.location_id {
            Ok(())
        } else {
            Err(ApiError::other_location())
        }
    }
}

/// The routes of apps/contacts.json and the appointment routes of apps/calendars.json.
pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/contacts/", get(contacts::list).post(contacts::create))
        .route("/contacts/search", post(search::search))
        .route("/contacts/search/duplicate", get(contacts::duplicate))
        .route("/contacts/upsert", post(contacts::upsert))
        .route("/contacts/business/{businessId}", get(contacts::by_business))
        .route("/contacts/bulk/tags/update/{type}", post(associations::bulk_tags))
        .route("/contacts/bulk/business", post(associations::bulk_business))
        .route(
            "/contacts/{contactId}",
            get(contacts::get_one).put(contacts::update).delete(contacts::delete),
        )
        .route("/contacts/{contactId}/tasks", get(tasks::list).post(tasks::create))
        .route(
            "/contacts/{contactId}/tasks/{taskId}",
            get(tasks::get_one).put(tasks::update).delete(tasks::delete),
        )
        .route("/contacts/{contactId}/tasks/{taskId}/completed", put(tasks::completed))
        .route("/contacts/{contactId}/appointments", get(appointments::of_contact))
        .route(
            "/contacts/{contactId}/tags",
            post(associations::add_tags).delete(associations::remove_tags),
        )
        .route("/contacts/{contactId}/notes", get(notes::list).post(notes::create))
        .route(
            "/contacts/{contactId}/notes/{id}",
            get(notes::get_one).put(notes::update).delete(notes::delete),
        )
        .route(
            "/contacts/{contactId}/followers",
            post(associations::add_followers).delete(associations::remove_followers),
        )
        .route(
            "/contacts/{contactId}/campaigns/removeAll",
            axum::routing::delete(associations::remove_all_campaigns),
        )
        .route(
            "/contacts/{contactId}/campaigns/{campaignId}",
            post(associations::add_campaign).delete(associations::remove_campaign),
        )
        .route(
            "/contacts/{contactId}/workflow/{workflowId}",
            post(associations::add_workflow).delete(associations::remove_workflow),
        )
        .route("/calendars/events/appointments", post(appointments::create))
        .route(
            "/calendars/events/appointments/{eventId}",
            get(appointments::get_one).put(appointments::edit),
        )
        .route("/calendars/events", get(appointments::list))
        .route("/calendars/events/{eventId}", axum::routing::delete(appointments::delete))
}

/// Versions accepted per API (NOTES.md: the SDK 3.x sends 2023-02-21 too).
fn accepts_version(api: Api, version: &str) -> bool {
    match api {
        Api::Contacts => matches!(version, "2021-07-28" | "2023-02-21"),
        Api::Calendars => matches!(version, "2021-04-15" | "2021-07-28" | "2023-02-21"),
    }
}

/// The middleware in front of every API route.
pub async fn gate(
    State(shared): State<Arc<Shared>>,
    path: MatchedPath,
    mut request: Request,
    next: Next,
) -> Response {
    let Some(operation) = body::find_operation(request.method().as_str(), path.as_str()) else {
        return next.run(request).await;
    };
    let rule = shared.faults.rule(operation.id);
    if rule.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(rule.latency_ms)).await;
    }
    let response = match shared.faults.draw_before(&rule) {
        Some(fault) => fault_response(&shared, operation, fault, rule.retry_after_secs),
        None => match admit(&shared, operation, request.headers()) {
            Err((error, budget)) => with_budget(error.into_response(), budget),
            Ok((caller, budget)) => {
                request.extensions_mut().insert(caller);
                let response = next.run(request).await;
                with_budget(response, Some(budget))
            }
        },
    };
    let response = match shared.faults.draw_after(&rule) {
        Some(Fault::Slow(delay)) => {
            shared.world.lock().stats.fault(Fault::Slow(delay).name());
            tokio::time::sleep(delay).await;
            response
        }
        Some(fault) => fault_response(&shared, operation, fault, rule.retry_after_secs),
        None => response,
    };
    let status = if response.extensions().get::<DropConnection>().is_some() {
        0
    } else {
        response.status().as_u16()
    };
    shared.world.lock().stats.request(operation.id, status);
    response
}

/// Version, token, scope and rate limit, in that order.
fn admit(
    shared: &Shared,
    operation: &Operation,
    headers: &HeaderMap,
) -> Result<(Caller, Budget), (ApiError, Option<Budget>)> {
    let version = headers.get("version").and_then(|value| value.to_str().ok());
    match version {
        None => return Err((ApiError::bad_request("Version header was not found"), None)),
        Some(version) if !accepts_version(operation.api, version) => {
            return Err((
                ApiError::bad_request(format!("Version {version} is not supported")),
                None,
            ))
        }
        Some(_) => {}
    }
    let token = headers
        .get("authorization")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer ")))
        .map(str::trim)
        .ok_or((ApiError::invalid_token(), None))?;
    // Checked under the lock; only the two ids leave it (not the grant's scope set).
    let (app_id, location_id) = {
        let world = shared.world.lock();
        let grant = match world.grants.check(token) {
            Ok(grant) => grant,
            Err(TokenProblem::Unknown) => return Err((ApiError::invalid_token(), None)),
            Err(TokenProblem::Expired) => {
                return Err((ApiError::unauthorized("Invalid JWT"), None))
            }
        };
        if !grant.scopes.contains(operation.scope) {
            return Err((ApiError::missing_scope(), None));
        }
        (grant.app_id.clone(), grant.location_id.clone())
    };
    match shared.rate_limiter.acquire(&app_id, &location_id) {
        Ok(budget) => Ok((Caller { location_id }, budget)),
        Err(over) => {
            shared.world.lock().stats.rate_limited += 1;
            let secs = over.retry_after.as_secs_f64().ceil().max(1.0) as u64;
            Err((ApiError::too_many_requests(secs), Some(over.budget)))
        }
    }
}

fn with_budget(mut response: Response, budget: Option<Budget>) -> Response {
    if let Some(budget) = budget {
        let values = [
            (headers::HEADER_LIMIT_DAILY, u64::from(budget.limits.daily)),
            (headers::HEADER_DAILY_REMAINING, u64::from(budget.daily_remaining)),
            (headers::HEADER_INTERVAL_MILLISECONDS, budget.limits.interval_ms),
            (headers::HEADER_MAX, u64::from(budget.limits.burst)),
            (headers::HEADER_REMAINING, u64::from(budget.remaining)),
        ];
        for (name, value) in values {
            response.headers_mut().insert(name, HeaderValue::from(value));
        }
    }
    response
}

/// The answer an injected fault gives. A 502 comes as a proxy's HTML page, as in the wild.
pub fn fault_response(
    shared: &Shared,
    operation: &Operation,
    fault: Fault,
    retry_after: u64,
) -> Response {
    shared.world.lock().stats.fault(fault.name());
    tracing::debug!(operation = operation.id, fault = fault.name(), "fault injected");
    match fault {
        Fault::Reset | Fault::ResetAfter => {
            let mut response = StatusCode::INTERNAL_SERVER_ERROR.into_response();
            response.extensions_mut().insert(DropConnection);
            response
        }
        Fault::TooManyRequests => ApiError::too_many_requests(retry_after).into_response(),
        Fault::InternalError => {
            ApiError::with_status(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error").into_response()
        }
        Fault::BadGateway => (
            StatusCode::BAD_GATEWAY,
            Html("<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>"),
        )
            .into_response(),
        Fault::Unavailable => {
            ApiError::with_status(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable").into_response()
        }
        Fault::Slow(_) => StatusCode::OK.into_response(),
    }
}
