//! The REST API under `/api`, one module per resource, behind the admin token (or a UI
//! session with its CSRF token); and the
//! service's own routes (`/`, `/healthz`, `/openapi.json`). Each handler's `#[utoipa::path]`
//! is its part of the OpenAPI document. Handlers call the use cases (`ghl_service::Service`),
//! never the store, and turn their errors into answers through `ApiError`'s one `From`.

pub mod catalog;
pub mod connections;
pub mod dashboard;
pub mod flows;
pub mod preview;
pub mod runs;
pub mod service;
pub mod templates;

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ghl_service::sessions::same_secret;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
use utoipa_axum::router::OpenApiRouter;

use crate::error::ApiError;
use crate::state::AppState;

/// The security scheme's name in the document.
const ADMIN: &str = "admin";

/// The resources, nested under `/api` by the caller, each route behind the admin token.
pub(crate) fn api(state: &Arc<AppState>) -> OpenApiRouter<Arc<AppState>> {
    let api = OpenApiRouter::new()
        .merge(runs::routes())
        .merge(flows::routes())
        .merge(connections::routes())
        .merge(catalog::routes())
        .merge(templates::routes())
        .merge(dashboard::routes())
        .merge(preview::routes());
    admin_only(api, state)
}

/// Puts every route of `api` behind the admin token, and says so in the document: each
/// operation needs the `admin` bearer and may answer 401.
fn admin_only(
    api: OpenApiRouter<Arc<AppState>>,
    state: &Arc<AppState>,
) -> OpenApiRouter<Arc<AppState>> {
    let mut api = api.layer(axum::middleware::from_fn_with_state(state.clone(), require_admin));
    let document = api.get_openapi_mut();
    let components = document.components.get_or_insert_with(Default::default);
    components.add_security_scheme(ADMIN, SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
    for item in document.paths.paths.values_mut() {
        let operations = [&mut item.get, &mut item.put, &mut item.post, &mut item.delete];
        for operation in operations.into_iter().flatten() {
            secure(operation);
        }
    }
    api
}

fn secure(operation: &mut Operation) {
    let requirement = SecurityRequirement::new(ADMIN, Vec::<String>::new());
    operation.security = Some(vec![requirement]);
    let error = ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build();
    let unauthorized = ResponseBuilder::new()
        .description("no or wrong admin token")
        .content("application/json", error)
        .build();
    operation.responses.responses.insert("401".into(), unauthorized.into());
}

/// The admin bearer token, or a UI session (its cookie; for a change, with its CSRF token in
/// `x-csrf-token`): what the UI's scripts call the API with.
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
    let admin = given.is_some_and(|given| same_secret(&state.admin_token, given));
    if !admin && crate::ui::api_session(&state, request.method(), request.headers()).await.is_none()
    {
        let message = "the API needs `Authorization: Bearer <admin token>` (or a UI session, \
                       with its CSRF token in `x-csrf-token` for a change)";
        return ApiError::Unauthorized(message.into()).into_response();
    }
    next.run(request).await
}
