//! The service's own routes: `/` (what answers here), `/healthz` and `/openapi.json` (the
//! document derived from the handlers' annotations).

use std::sync::Arc;

use axum::{Extension, Json};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

pub(crate) fn routes() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::new().routes(routes!(index)).routes(routes!(healthz)).routes(routes!(openapi))
}

/// What answers at this address, and where its parts are.
#[derive(Debug, Serialize, ToSchema)]
pub struct Index {
    name: &'static str,
    version: &'static str,
    links: Links,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Links {
    api: &'static str,
    openapi: &'static str,
    healthz: &'static str,
    metrics: &'static str,
}

/// What answers at this address.
#[utoipa::path(get, path = "/", tag = "service", responses(
    (status = 200, description = "the service and its parts", body = Index),
))]
async fn index() -> Json<Index> {
    let links =
        Links { api: "/api", openapi: "/openapi.json", healthz: "/healthz", metrics: "/metrics" };
    Json(Index { name: "ghl-connector", version: env!("CARGO_PKG_VERSION"), links })
}

/// Liveness.
#[utoipa::path(get, path = "/healthz", tag = "service", responses(
    (status = 200, description = "ok", body = String, content_type = "text/plain"),
))]
async fn healthz() -> &'static str {
    "ok"
}

/// The document, as JSON (given to the router once derived).
#[derive(Clone)]
pub(crate) struct Document(pub(crate) Arc<Value>);

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "service", responses(
    (status = 200, description = "the OpenAPI document", body = Object),
))]
async fn openapi(Extension(Document(document)): Extension<Document>) -> Json<Value> {
    Json(document.as_ref().clone())
}
