//! The service's own routes: `/` (what answers here; a browser is sent to `/ui`), `/healthz` and `/openapi.json` (the
//! document derived from the handlers' annotations).

use std::sync::Arc;

use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Redirect, Response};
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
    ui: &'static str,
    openapi: &'static str,
    healthz: &'static str,
    metrics: &'static str,
}

/// What answers at this address (a browser asking for a page is sent to the web UI).
#[utoipa::path(get, path = "/", tag = "service", responses(
    (status = 200, description = "the service and its parts", body = Index),
))]
async fn index(headers: HeaderMap) -> Response {
    let accept = headers.get(header::ACCEPT).and_then(|value| value.to_str().ok());
    if accept.is_some_and(|accept| accept.trim_start().starts_with("text/html")) {
        return Redirect::to("/ui").into_response();
    }
    let links = Links {
        api: "/api",
        ui: "/ui",
        openapi: "/openapi.json",
        healthz: "/healthz",
        metrics: "/metrics",
    };
    Json(Index { name: "ghl-connector", version: env!("CARGO_PKG_VERSION"), links }).into_response()
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
