//! `/api/catalog`: the actions and triggers flows can use, and a trigger's sample (its last
//! real event, else its example) for the flow editor.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::Json;
use ghl_engine::catalog::{ActionEntry, TriggerEntry};
use ghl_service::samples::{SampleSource as Source, TriggerSample};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

pub(crate) fn routes() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::new().routes(routes!(catalog)).routes(routes!(trigger_sample))
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

/// Where a sample came from.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SampleSource {
    /// The last event of the trigger the connector stored.
    LastEvent,
    /// The trigger's example: its app's documented one, else its catalog fields, each null.
    Example,
    /// Given with the request.
    Given,
}

impl From<Source> for SampleSource {
    fn from(source: Source) -> Self {
        match source {
            Source::LastEvent => Self::LastEvent,
            Source::Example => Self::Example,
            Source::Given => Self::Given,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Sample {
    /// The trigger's id, as the catalog gives it.
    trigger: String,
    source: SampleSource,
    /// What a run of the trigger sees as `.trigger`.
    #[schema(value_type = Object)]
    payload: Value,
    /// The event's id, for a `last_event`.
    event_id: Option<String>,
    /// When the event arrived, ms since the epoch, for a `last_event`.
    received_at: Option<i64>,
}

/// A trigger's sample: the last event of it stored, else its example.
#[utoipa::path(get, path = "/catalog/triggers/{id}/sample", tag = "catalog",
    params(("id" = String, Path, description = "the trigger's id (`highlevel.ContactCreate`, `poll: your-app.contacts`), URL-encoded")),
    responses(
        (status = 200, description = "the sample", body = Sample),
        (status = 404, description = "no such trigger", body = ErrorBody),
    ),
)]
async fn trigger_sample(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<Sample>, ApiError> {
    let TriggerSample { trigger, source, payload, event_id, received_at } =
        state.service.samples().trigger(&id).await?;
    Ok(Json(Sample {
        trigger,
        source: source.into(),
        payload,
        event_id: event_id.map(Into::into),
        received_at: received_at.map(|time| time.as_millis()),
    }))
}
