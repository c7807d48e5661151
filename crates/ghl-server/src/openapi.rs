//! The OpenAPI document, derived: its frame here (title, version, the error schema), every
//! path from its handler's `#[utoipa::path]` as the router is built (see `crate::router`),
//! the admin security from `routes::admin_only`. Served at `/openapi.json`.

use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "ghl-connector API",
        description = "Webhook ingress per app, and the admin REST API under /api (bearer admin token). Every client error is JSON `{\"error\": \"...\"}` naming the problem."
    ),
    components(schemas(crate::error::ErrorBody))
)]
pub(crate) struct Frame;
