//! `/api/flows`: list, apply (the flow file as the body, at most a flow's 64 KiB, parsed off
//! the async runtime), show, delete, enable and disable a flow; test it on a trigger record
//! (nothing recorded) or run it now (recorded like any run).

use std::sync::Arc;

use axum::extract::rejection::StringRejection;
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::StatusCode;
use axum::Json;
use ghl_engine::document_bounds::MAX_FLOW_BYTES;
use ghl_engine::StepReport;
use ghl_service::flows::{FlowRecord, FlowStatus, FlowToTest, RunNow, TestMode, TriggerRecord};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

pub(crate) fn routes() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::new()
        .routes(routes!(list_flows, apply_flow))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_FLOW_BYTES))
        .routes(routes!(show_flow, delete_flow))
        .routes(routes!(enable_flow))
        .routes(routes!(disable_flow))
        .routes(routes!(test_flow))
        .routes(routes!(run_flow))
}

/// Whether a flow's trigger runs it.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FlowState {
    Enabled,
    Disabled,
    /// The runaway detector held it (it ran one record too often); enable or apply it again.
    Paused,
}

impl From<FlowStatus> for FlowState {
    fn from(status: FlowStatus) -> Self {
        match status {
            FlowStatus::Enabled => Self::Enabled,
            FlowStatus::Disabled => Self::Disabled,
            FlowStatus::Paused => Self::Paused,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Flow {
    id: String,
    name: String,
    /// The flow file (YAML).
    definition: String,
    enabled: bool,
    status: FlowState,
    paused_reason: Option<String>,
    /// Why the flow cannot be loaded, when it cannot: it is skipped.
    broken: Option<String>,
}

impl From<FlowRecord> for Flow {
    fn from(flow: FlowRecord) -> Self {
        let FlowRecord { id, name, definition, enabled, status, paused_reason, broken } = flow;
        Self {
            id: id.into(),
            name,
            definition,
            enabled,
            status: status.into(),
            paused_reason,
            broken,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Flows {
    flows: Vec<Flow>,
}

/// List flows.
#[utoipa::path(get, path = "/flows", tag = "flows", responses(
    (status = 200, description = "the flows", body = Flows),
))]
async fn list_flows(State(state): State<Arc<AppState>>) -> Result<Json<Flows>, ApiError> {
    let flows = state.service.flows().list().await?;
    Ok(Json(Flows { flows: flows.into_iter().map(Flow::from).collect() }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Applied {
    id: String,
    /// E.g. a flow that can trigger itself.
    warnings: Vec<String>,
}

/// Apply a flow (its YAML file as the body); it is parsed off the async runtime, and a body
/// over the flow size limit is refused before it is read whole.
#[utoipa::path(post, path = "/flows", tag = "flows",
    request_body(content(
        (String = "text/yaml"),
        (String = "text/plain"),
    ), description = "the flow file"),
    responses(
        (status = 201, description = "applied, with warnings (a flow that can trigger itself)", body = Applied),
        (status = 400, description = "the flow is refused, with the line and the limit or rule at fault", body = ErrorBody),
        (status = 413, description = "the flow file is over the size a flow may be", body = ErrorBody),
        (status = 422, description = "a connection the flow names is missing, of another app, or lacks a scope", body = ErrorBody),
    ),
)]
async fn apply_flow(
    State(state): State<Arc<AppState>>,
    body: Result<String, StringRejection>,
) -> Result<(StatusCode, Json<Applied>), ApiError> {
    let body = match body {
        Ok(body) => body,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return Err(ApiError::TooLarge(format!(
                "the flow file is over {MAX_FLOW_BYTES} bytes, the most a flow may be"
            )));
        }
        Err(rejection) => {
            let message = format!("the body: {}", rejection.body_text());
            return Err(ApiError::Refused { status: rejection.status(), message });
        }
    };
    let ghl_service::flows::Applied { id, warnings } = state.service.flows().apply(&body).await?;
    Ok((StatusCode::CREATED, Json(Applied { id: id.into(), warnings })))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OneFlow {
    flow: Flow,
}

/// A flow, with its file.
#[utoipa::path(get, path = "/flows/{name}", tag = "flows",
    params(("name" = String, Path, description = "the flow's name")),
    responses(
        (status = 200, description = "the flow", body = OneFlow),
        (status = 404, description = "no such flow", body = ErrorBody),
    ),
)]
async fn show_flow(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Json<OneFlow>, ApiError> {
    let flow = state.service.flows().show(&name).await?;
    Ok(Json(OneFlow { flow: flow.into() }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Deleted {
    deleted: String,
}

/// Delete a flow.
#[utoipa::path(delete, path = "/flows/{name}", tag = "flows",
    params(("name" = String, Path, description = "the flow's name")),
    responses(
        (status = 200, description = "deleted", body = Deleted),
        (status = 404, description = "no such flow", body = ErrorBody),
    ),
)]
async fn delete_flow(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Json<Deleted>, ApiError> {
    state.service.flows().delete(&name).await?;
    Ok(Json(Deleted { deleted: name }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Switched {
    name: String,
    enabled: bool,
}

/// Enable a flow.
#[utoipa::path(post, path = "/flows/{name}/enable", tag = "flows",
    params(("name" = String, Path, description = "the flow's name")),
    responses(
        (status = 200, description = "done", body = Switched),
        (status = 404, description = "no such flow", body = ErrorBody),
    ),
)]
async fn enable_flow(
    state: State<Arc<AppState>>,
    name: Path<String>,
) -> Result<Json<Switched>, ApiError> {
    set_flow_enabled(state, name, true).await
}

/// Disable a flow.
#[utoipa::path(post, path = "/flows/{name}/disable", tag = "flows",
    params(("name" = String, Path, description = "the flow's name")),
    responses(
        (status = 200, description = "done", body = Switched),
        (status = 404, description = "no such flow", body = ErrorBody),
    ),
)]
async fn disable_flow(
    state: State<Arc<AppState>>,
    name: Path<String>,
) -> Result<Json<Switched>, ApiError> {
    set_flow_enabled(state, name, false).await
}

async fn set_flow_enabled(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    enabled: bool,
) -> Result<Json<Switched>, ApiError> {
    let flows = state.service.flows();
    match enabled {
        true => flows.enable(&name).await?,
        false => flows.disable(&name).await?,
    }
    Ok(Json(Switched { name, enabled }))
}

/// The body of a test or manual run: the record that plays the trigger.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TriggerBody {
    /// The record that plays the trigger (`.trigger`).
    trigger: Value,
    /// Test runs: show the writes, do not send them.
    #[serde(default)]
    dry_run: bool,
    /// Manual runs: the same key runs once.
    #[serde(default)]
    key: Option<String>,
}

/// A body that is not the JSON asked for is a 400 whose JSON names the problem.
impl<S: Send + Sync> FromRequest<S> for TriggerBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<Self>::from_request(request, state).await {
            Ok(Json(body)) => Ok(body),
            Err(rejection) => {
                Err(ApiError::Invalid(format!("the body: {}", rejection.body_text())))
            }
        }
    }
}

/// What one step of a test run did.
#[derive(Debug, Serialize, ToSchema)]
pub struct StepDone {
    name: String,
    status: String,
    input: Option<Value>,
    request: Option<Value>,
    response: Option<Value>,
    error: Option<String>,
    /// What to do about the error, as data, where it is known.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    remedy: Option<ghl_types::Remedy>,
}

impl From<StepReport> for StepDone {
    fn from(report: StepReport) -> Self {
        let StepReport { name, status, input, request, response, error, remedy } = report;
        Self { name, status, input, request, response, error, remedy }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TestReport {
    steps: Vec<StepDone>,
}

/// Test a flow on a trigger record: every step's input, request and response; nothing
/// recorded.
#[utoipa::path(post, path = "/flows/{name}/test", tag = "flows",
    params(("name" = String, Path, description = "the flow's name")),
    request_body = TriggerBody,
    responses(
        (status = 200, description = "what each step did", body = TestReport),
        (status = 400, description = "the body is not the JSON asked for", body = ErrorBody),
        (status = 404, description = "no such flow", body = ErrorBody),
        (status = 422, description = "the flow does not load", body = ErrorBody),
    ),
)]
async fn test_flow(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    body: TriggerBody,
) -> Result<Json<TestReport>, ApiError> {
    let mode = if body.dry_run { TestMode::DryRun } else { TestMode::Real };
    let (flow, trigger) = (FlowToTest::Applied(name), TriggerRecord::Given(body.trigger));
    let steps = state.service.flows().test(flow, trigger, mode).await?;
    Ok(Json(TestReport { steps: steps.into_iter().map(StepDone::from).collect() }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Queued {
    /// The runs queued.
    runs: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AlreadyRun {
    /// Always true: this key ran before, nothing more runs.
    duplicate: bool,
}

/// The answers of a manual run.
#[derive(Debug)]
pub enum RunAnswer {
    Queued(Queued),
    AlreadyRun(AlreadyRun),
}

impl axum::response::IntoResponse for RunAnswer {
    fn into_response(self) -> axum::response::Response {
        match self {
            Self::Queued(queued) => (StatusCode::ACCEPTED, Json(queued)).into_response(),
            Self::AlreadyRun(done) => Json(done).into_response(),
        }
    }
}

/// Run a flow now on a trigger record, recorded like any run.
#[utoipa::path(post, path = "/flows/{name}/run", tag = "flows",
    params(("name" = String, Path, description = "the flow's name")),
    request_body = TriggerBody,
    responses(
        (status = 202, description = "queued", body = Queued),
        (status = 200, description = "already run with this key", body = AlreadyRun),
        (status = 400, description = "the body is not the JSON asked for", body = ErrorBody),
        (status = 404, description = "no such flow", body = ErrorBody),
        (status = 422, description = "the flow cannot run", body = ErrorBody),
    ),
)]
async fn run_flow(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    body: TriggerBody,
) -> Result<RunAnswer, ApiError> {
    match state.service.flows().run_now(&name, body.trigger, body.key.as_deref()).await? {
        RunNow::Queued(runs) => {
            Ok(RunAnswer::Queued(Queued { runs: runs.into_iter().map(String::from).collect() }))
        }
        RunNow::AlreadyRun => Ok(RunAnswer::AlreadyRun(AlreadyRun { duplicate: true })),
    }
}
