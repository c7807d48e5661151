//! `/api/preview`: a mapping (jq, or a text with `{{ }}`) evaluated on a sample, as the flow
//! editor shows a field's value while it is written; by the engine's one mapping evaluator.

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use ghl_service::samples::{Preview as Found, PreviewOn};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorBody};
use crate::routes::catalog::SampleSource;
use crate::state::AppState;

pub(crate) fn routes() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::new().routes(routes!(preview))
}

/// A mapping and what to evaluate it on: exactly one of `sample`, `trigger`, or `flow` with
/// `step`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewRequest {
    /// jq over `{trigger, steps, now}` (`.trigger.email`), or a text with `{{ }}` parts.
    expression: String,
    /// `.trigger` itself.
    #[schema(value_type = Option<Object>)]
    sample: Option<Value>,
    /// With `sample`: the earlier steps' outputs (`.steps`); none by default.
    #[schema(value_type = Option<Vec<Object>>)]
    steps: Option<Vec<Value>>,
    /// A catalog trigger's id: its sample is `.trigger`.
    trigger: Option<String>,
    /// A stored flow's name, with `step`: the sample of its trigger, and its earlier steps'
    /// outputs from its newest run that has them.
    flow: Option<String>,
    /// The name of a step of `flow`.
    step: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Preview {
    /// The expression's first value (null when it yields none).
    #[schema(value_type = Object)]
    value: Value,
    /// Where `.trigger` came from.
    source: SampleSource,
    /// The run whose step outputs were `.steps` (a step's preview), if one had them.
    steps_from_run: Option<String>,
}

/// Evaluate a mapping on a sample.
#[utoipa::path(post, path = "/preview", tag = "flows", request_body = PreviewRequest, responses(
    (status = 200, description = "the value", body = Preview),
    (status = 400, description = "the body is not JSON, or names not one of `sample`, `trigger`, or `flow` with `step`", body = ErrorBody),
    (status = 404, description = "no such trigger, flow or step", body = ErrorBody),
    (status = 422, description = "the expression is not valid jq, or failed on the sample: jaq's reason, with its column", body = ErrorBody),
))]
async fn preview(
    State(state): State<Arc<AppState>>,
    body: Result<Json<PreviewRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Preview>, ApiError> {
    let Json(request) = body
        .map_err(|rejection| ApiError::Invalid(format!("the body: {}", rejection.body_text())))?;
    let PreviewRequest { expression, sample, steps, trigger, flow, step } = request;
    let on = match (sample, trigger, flow, step) {
        (Some(trigger), None, None, None) => {
            PreviewOn::Sample { trigger, steps: steps.unwrap_or_default() }
        }
        (None, Some(trigger), None, None) if steps.is_none() => PreviewOn::Trigger(trigger),
        (None, None, Some(flow), Some(step)) if steps.is_none() => PreviewOn::Step { flow, step },
        (None, None, Some(_), None) => {
            return Err(ApiError::Invalid("`flow` needs `step`: the name of one of its steps".into()))
        }
        _ => {
            return Err(ApiError::Invalid(
                "give the expression with exactly one of `sample` (and optionally `steps`), `trigger`, or `flow` with `step`".into(),
            ))
        }
    };
    let Found { value, source, steps_from_run } =
        state.service.samples().preview(&expression, on).await?;
    Ok(Json(Preview {
        value,
        source: source.into(),
        steps_from_run: steps_from_run.map(Into::into),
    }))
}
