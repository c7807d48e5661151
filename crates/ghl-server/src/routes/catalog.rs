//! `/api/catalog`: the actions and triggers flows can use.

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use ghl_engine::catalog::{ActionEntry, TriggerEntry};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

pub(crate) fn routes() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::new().routes(routes!(catalog))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Catalog {
    /// Each action: its name (`highlevel.create-contact`), summary, inputs and output.
    #[schema(value_type = Vec<Object>)]
    actions: Vec<ActionEntry>,
    /// Each trigger: its name (`highlevel.ContactCreate`), summary and output fields.
    #[schema(value_type = Vec<Object>)]
    triggers: Vec<TriggerEntry>,
}

/// Actions and triggers.
#[utoipa::path(get, path = "/catalog", tag = "catalog", responses(
    (status = 200, description = "the catalog", body = Catalog),
))]
async fn catalog(State(state): State<Arc<AppState>>) -> Json<Catalog> {
    let ghl_service::catalog::Catalog { actions, triggers } = state.service.catalog();
    Json(Catalog { actions, triggers })
}
