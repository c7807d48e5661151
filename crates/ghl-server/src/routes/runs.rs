//! `/api/runs`: runs newest first, one run with every step, the replay of a dead-lettered
//! run, and the live stream of runs as they are created and change status (server-sent
//! events, read from the store, so runs another process executes are seen too). The answer types here are the API's (the store's records converted field by field, so
//! a new column is a decision here, not a silent change of the API).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::Json;
use futures_util::{Stream, StreamExt};
use ghl_service::runs::{
    RunFilter, RunId, RunStatus, RunSummary, RunWatch, RunWithSteps as Found, StepRecord,
    StepStatus, Timestamp,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

pub(crate) fn routes() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::new()
        .routes(routes!(list_runs))
        .routes(routes!(stream_runs))
        .routes(routes!(show_run))
        .routes(routes!(replay_run))
}

/// Where a run is.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    Queued,
    Running,
    Waiting,
    Done,
    /// A filter ended it before it did anything more.
    Skipped,
    /// Dead-lettered: `POST /api/runs/{id}/replay` queues it again.
    Dead,
}

impl From<RunStatus> for RunState {
    fn from(status: RunStatus) -> Self {
        match status {
            RunStatus::Queued => Self::Queued,
            RunStatus::Running => Self::Running,
            RunStatus::Waiting => Self::Waiting,
            RunStatus::Done => Self::Done,
            RunStatus::Skipped => Self::Skipped,
            RunStatus::Dead => Self::Dead,
        }
    }
}

impl From<RunState> for RunStatus {
    fn from(state: RunState) -> Self {
        match state {
            RunState::Queued => Self::Queued,
            RunState::Running => Self::Running,
            RunState::Waiting => Self::Waiting,
            RunState::Done => Self::Done,
            RunState::Skipped => Self::Skipped,
            RunState::Dead => Self::Dead,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Run {
    id: String,
    flow_id: String,
    /// The flow's name; null once the flow is deleted.
    flow_name: Option<String>,
    event_id: String,
    /// What started the run: the event's type (`ContactCreate`, `schedule`, `manual`, ...).
    trigger: Option<String>,
    status: RunState,
    attempts: i32,
    last_error: Option<String>,
    /// ms since the epoch.
    created_at: i64,
    /// ms since the epoch.
    updated_at: i64,
}

impl From<RunSummary> for Run {
    fn from(run: RunSummary) -> Self {
        let RunSummary {
            id,
            flow_id,
            flow_name,
            event_id,
            trigger,
            status,
            attempts,
            last_error,
            created_at,
            updated_at,
        } = run;
        let status = status.into();
        Self {
            id: id.into(),
            flow_id: flow_id.into(),
            flow_name,
            event_id: event_id.into(),
            trigger,
            status,
            attempts,
            last_error,
            created_at: created_at.as_millis(),
            updated_at: updated_at.as_millis(),
        }
    }
}

/// One attempt of one step, with what it was given, sent and answered (secrets masked).
#[derive(Debug, Serialize, ToSchema)]
pub struct Step {
    run_id: String,
    attempt: i32,
    step_index: i32,
    name: String,
    status: StepState,
    input: Option<Value>,
    request: Option<Value>,
    response: Option<Value>,
    error: Option<String>,
    duration_ms: i64,
}

impl From<StepRecord> for Step {
    fn from(step: StepRecord) -> Self {
        let StepRecord {
            run_id,
            attempt,
            step_index,
            name,
            status,
            input,
            request,
            response,
            error,
            duration_ms,
        } = step;
        Self {
            run_id: run_id.into(),
            attempt,
            step_index,
            name,
            status: status.into(),
            input,
            request,
            response,
            error,
            duration_ms,
        }
    }
}

/// What one attempt of a step did.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StepState {
    /// It ran.
    Done,
    /// Its filter did not hold: it did nothing.
    Skipped,
    /// A filter step whose condition does not hold: the flow ended there.
    Stopped,
    /// A delay, a rate limit or a spent quota: the run waits.
    Waiting,
    /// Its request was about to be sent when this was recorded.
    Sending,
    /// A create whose answer was lost, found again instead of repeated.
    Recovered,
    /// An earlier attempt applied it.
    AlreadyApplied,
    Failed,
    /// The other side refused it (a 4xx that changed nothing).
    Refused,
    /// A write whose outcome is unknown and that cannot be repeated safely: check the app,
    /// then replay the run to send it again.
    Unknown,
}

impl From<StepStatus> for StepState {
    fn from(status: StepStatus) -> Self {
        match status {
            StepStatus::Done => Self::Done,
            StepStatus::Skipped => Self::Skipped,
            StepStatus::Stopped => Self::Stopped,
            StepStatus::Waiting => Self::Waiting,
            StepStatus::Sending => Self::Sending,
            StepStatus::Recovered => Self::Recovered,
            StepStatus::AlreadyApplied => Self::AlreadyApplied,
            StepStatus::Failed => Self::Failed,
            StepStatus::Refused => Self::Refused,
            StepStatus::Unknown => Self::Unknown,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RunsQuery {
    /// Only runs in this state.
    status: Option<RunState>,
    /// Only runs of the flow of this name.
    flow: Option<String>,
    /// Only runs that began at or after this time (milliseconds since the epoch, as runs
    /// show their times).
    from: Option<i64>,
    /// Only runs that began before this time (milliseconds since the epoch).
    before: Option<i64>,
    /// At most this many (100 by default).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Runs {
    runs: Vec<Run>,
}

/// List runs, newest first.
#[utoipa::path(get, path = "/runs", tag = "runs", params(RunsQuery), responses(
    (status = 200, description = "the runs", body = Runs),
    (status = 400, description = "a bad query string", body = ErrorBody),
))]
async fn list_runs(
    State(state): State<Arc<AppState>>,
    Query(query): Query<RunsQuery>,
) -> Result<Json<Runs>, ApiError> {
    let filter = RunFilter {
        status: query.status.map(RunStatus::from),
        flow: query.flow,
        created_from: query.from.map(Timestamp::from_millis),
        created_before: query.before.map(Timestamp::from_millis),
        limit: query.limit.unwrap_or(100).clamp(1, 1000),
    };
    let runs = state.service.runs().list(&filter).await?;
    Ok(Json(Runs { runs: runs.into_iter().map(Run::from).collect() }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RunWithSteps {
    run: Run,
    steps: Vec<Step>,
}

/// A run with every step's input, request, response and error.
#[utoipa::path(get, path = "/runs/{id}", tag = "runs",
    params(("id" = String, Path, description = "the run's id")),
    responses(
        (status = 200, description = "the run", body = RunWithSteps),
        (status = 404, description = "no such run", body = ErrorBody),
    ),
)]
async fn show_run(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<RunWithSteps>, ApiError> {
    let Found { run, steps } = state.service.runs().show(&RunId::from(id)).await?;
    Ok(Json(RunWithSteps { run: run.into(), steps: steps.into_iter().map(Step::from).collect() }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Replayed {
    /// The run queued again.
    replayed: String,
}

/// Replay a dead-lettered run.
#[utoipa::path(post, path = "/runs/{id}/replay", tag = "runs",
    params(("id" = String, Path, description = "the run's id")),
    responses(
        (status = 200, description = "queued again", body = Replayed),
        (status = 409, description = "the run is not dead-lettered, or does not exist", body = ErrorBody),
    ),
)]
async fn replay_run(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<Replayed>, ApiError> {
    let id = RunId::from(id);
    state.service.runs().replay(&id).await?;
    Ok(Json(Replayed { replayed: id.into() }))
}

/// How often the stream reads the store for changed runs.
const STREAM_PERIOD: Duration = Duration::from_millis(300);
/// How often an idle stream sends a comment, so proxies and clients know it is alive.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StreamQuery {
    /// Only runs in this state (a run is sent when it enters it).
    status: Option<RunState>,
    /// Only runs of the flow of this name.
    flow: Option<String>,
}

/// Live runs: a server-sent event `run` (its data a run as `GET /api/runs` lists it, its id the
/// change's time in ms) each time a run is created or changes status, whichever process
/// changed it; a comment every 15 s keeps an idle stream open. The stream starts with the
/// runs changed in the last 12 s (so nothing falls between a list read and the stream); a
/// client reconnecting with `Last-Event-ID` resumes from that change. An `error` event says
/// the store could not be read (the stream goes on trying).
#[utoipa::path(get, path = "/runs/stream", tag = "runs", params(
    StreamQuery,
    ("Last-Event-ID" = Option<i64>, Header, description = "resume after the change of this id (ms since the epoch)"),
), responses(
    (status = 200, description = "`event: run` per change, its data a run", body = Run, content_type = "text/event-stream"),
    (status = 400, description = "a bad query string", body = ErrorBody),
))]
async fn stream_runs(
    State(state): State<Arc<AppState>>,
    Query(query): Query<StreamQuery>,
    headers: HeaderMap,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let filter = RunFilter {
        status: query.status.map(RunStatus::from),
        flow: query.flow,
        limit: 0,
        ..RunFilter::default()
    };
    let since = headers
        .get("last-event-id")
        .and_then(|value| value.to_str().ok())
        .and_then(|text| text.trim().parse::<i64>().ok())
        .map(Timestamp::from_millis);
    let watch = state.service.runs().watch(filter, since);
    let mut ticker = tokio::time::interval(STREAM_PERIOD);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let events = futures_util::stream::unfold(
        (watch, VecDeque::new(), ticker),
        |(mut watch, mut pending, mut ticker): (RunWatch, VecDeque<Event>, _)| async move {
            loop {
                if let Some(event) = pending.pop_front() {
                    return Some((Ok(event), (watch, pending, ticker)));
                }
                ticker.tick().await;
                match watch.changes().await {
                    Ok(runs) => pending.extend(runs.into_iter().map(run_event)),
                    Err(err) => {
                        tracing::warn!(error = %err, "the run stream cannot read the store");
                        let event = Event::default()
                            .event("error")
                            .data("the runs cannot be read from the store now; trying again");
                        pending.push_back(event);
                    }
                }
            }
        },
    );
    let events = events.take_until(state.shutdown.clone().cancelled_owned());
    Sse::new(events).keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
}

/// A run's change as an event: `run`, its id the change's time, its data the run.
fn run_event(run: RunSummary) -> Event {
    let id = run.updated_at.as_millis().to_string();
    let run = Run::from(run);
    let event = Event::default().event("run").id(id);
    match event.json_data(&run) {
        Ok(event) => event,
        Err(err) => {
            tracing::error!(error = %err, "cannot encode a run");
            Event::default().event("error").data("a run could not be encoded")
        }
    }
}
