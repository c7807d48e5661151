//! `/api/templates`: the seed use cases as flows ready to install.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use ghl_service::templates::Template;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

pub(crate) fn routes() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::new().routes(routes!(list)).routes(routes!(show)).routes(routes!(install))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Templates {
    /// Each template: `template` (its name), `title`, `description`, `connections` (each
    /// slot's app and what it is for) and `flow`.
    #[schema(value_type = Vec<Object>)]
    templates: &'static [Template],
}

/// The templates.
#[utoipa::path(get, path = "/templates", tag = "templates", responses(
    (status = 200, description = "every template", body = Templates),
))]
async fn list(State(state): State<Arc<AppState>>) -> Json<Templates> {
    Json(Templates { templates: state.service.templates().list() })
}

/// A template.
#[utoipa::path(get, path = "/templates/{name}", tag = "templates",
    params(("name" = String, Path, description = "the template's name")),
    responses(
        (status = 200, description = "the template", body = Object),
        (status = 404, description = "no template of that name", body = ErrorBody),
    ),
)]
async fn show(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Json<&'static Template>, ApiError> {
    Ok(Json(state.service.templates().show(&name)?))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Install {
    /// The connection for each slot (`{"slack": "team-channel"}`); a slot not given takes
    /// the connection named as the slot, or the only connection of its app.
    #[serde(default)]
    connections: BTreeMap<String, String>,
    /// The flow's name (default: the template's flow name).
    #[serde(default)]
    flow: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Installed {
    /// The flow's name.
    flow: String,
    /// The connection that fills each slot.
    connections: BTreeMap<String, String>,
    /// E.g. a flow that can trigger itself.
    warnings: Vec<String>,
}

/// Install a template as a flow: the same checks as applying a flow file.
#[utoipa::path(post, path = "/templates/{name}/install", tag = "templates",
    params(("name" = String, Path, description = "the template's name")),
    request_body(content = Install, description = "the connections for its slots, and the flow's name"),
    responses(
        (status = 201, description = "installed", body = Installed),
        (status = 400, description = "the body is not an install request", body = ErrorBody),
        (status = 404, description = "no template of that name", body = ErrorBody),
        (status = 422, description = "a slot has no connection, or one of another app", body = ErrorBody),
    ),
)]
async fn install(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    body: Result<Json<Install>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<Installed>), ApiError> {
    let Json(request) = body.map_err(|rejection| ApiError::Invalid(rejection.body_text()))?;
    let templates = state.service.templates();
    let installed = templates.install(&name, &request.connections, request.flow.as_deref()).await?;
    let warnings = installed.applied.warnings;
    Ok((
        StatusCode::CREATED,
        Json(Installed { flow: installed.flow, connections: installed.connections, warnings }),
    ))
}
