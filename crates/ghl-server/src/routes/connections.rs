//! `/api/connections`: list them (no secrets), remove one with its secrets, check one with a
//! harmless read.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::Json;
use ghl_service::connections::{Check, ConnectionSummary};
use ghl_types::Remedy;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

pub(crate) fn routes() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::new()
        .routes(routes!(list_connections))
        .routes(routes!(remove_connection))
        .routes(routes!(test_connection))
}

/// A connection to an app, without its secrets.
#[derive(Debug, Serialize, ToSchema)]
pub struct Connection {
    id: String,
    name: String,
    app: String,
    location_id: Option<String>,
    auth_kind: String,
    scopes: String,
    status: String,
    status_reason: Option<String>,
}

impl From<ConnectionSummary> for Connection {
    fn from(connection: ConnectionSummary) -> Self {
        let ConnectionSummary {
            id,
            name,
            app,
            location_id,
            auth_kind,
            scopes,
            status,
            status_reason,
        } = connection;
        Self {
            id: id.into(),
            name,
            app,
            location_id,
            auth_kind: auth_kind.as_str().to_owned(),
            scopes,
            status: status.as_str().to_owned(),
            status_reason,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Connections {
    connections: Vec<Connection>,
}

/// List connections (no secrets).
#[utoipa::path(get, path = "/connections", tag = "connections", responses(
    (status = 200, description = "the connections", body = Connections),
))]
async fn list_connections(
    State(state): State<Arc<AppState>>,
) -> Result<Json<Connections>, ApiError> {
    let connections = state.service.connections().list().await?;
    Ok(Json(Connections { connections: connections.into_iter().map(Connection::from).collect() }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Removed {
    removed: String,
}

/// Remove a connection and its secrets.
#[utoipa::path(delete, path = "/connections/{name}", tag = "connections",
    params(("name" = String, Path, description = "the connection's name")),
    responses(
        (status = 200, description = "removed", body = Removed),
        (status = 404, description = "no such connection", body = ErrorBody),
        (status = 422, description = "it cannot be removed", body = ErrorBody),
    ),
)]
async fn remove_connection(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Json<Removed>, ApiError> {
    state.service.connections().remove(&name).await?;
    Ok(Json(Removed { removed: name }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Checked {
    name: String,
    works: bool,
    /// Why it does not work, when it does not.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    /// What to do about it, as data, where it is known.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    remedy: Option<Remedy>,
}

/// Check a connection with a harmless read.
#[utoipa::path(post, path = "/connections/{name}/test", tag = "connections",
    params(("name" = String, Path, description = "the connection's name")),
    responses(
        (status = 200, description = "whether it works", body = Checked),
        (status = 404, description = "no such connection", body = ErrorBody),
    ),
)]
async fn test_connection(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Json<Checked>, ApiError> {
    match state.service.connections().test(&name).await? {
        Check::Works => Ok(Json(Checked { name, works: true, error: None, remedy: None })),
        Check::Fails(err) => {
            let (error, remedy) = (Some(err.to_string()), err.remedy());
            Ok(Json(Checked { name, works: false, error, remedy }))
        }
    }
}
