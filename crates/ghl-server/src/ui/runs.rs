//! Runs (`/ui/runs`): the history filtered by flow, status and time, with new runs and status
//! changes arriving live (the page's script follows `/api/runs/stream` and fetches each
//! changed run's row from here, so a row is rendered in one place); a run's page shows every
//! attempt of every step as a timeline (input, request, answer, duration, error). A dead run
//! is replayed from its page; every dead run of a flow from the list filtered to it.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use chrono::NaiveDateTime;
use ghl_service::runs::{
    RunFilter, RunId, RunStatus, RunSummary, RunWithSteps, StepRecord, Timestamp,
};
use ghl_service::sessions::Session;
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::Value;

use super::auth::{NoFields, Posted, SignedIn};
use super::{csrf_field, internal, page, see_other, Nav, Notice};
use crate::state::AppState;

/// How many runs the list shows.
const LIST_LIMIT: i64 = 200;

/// The list's filter, as the form sends it (an empty choice is no filter).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Filter {
    #[serde(default)]
    flow: String,
    #[serde(default)]
    status: String,
    /// The runs that began from this time on (`2026-12-02T09:30`, UTC, as a
    /// `datetime-local` field sends it).
    #[serde(default)]
    from: String,
    /// The runs that began before this time.
    #[serde(default)]
    to: String,
    /// How many dead runs of the flow "Replay all" just queued again.
    #[serde(default)]
    replayed: Option<usize>,
}

impl Filter {
    fn status(&self) -> Option<RunStatus> {
        RunStatus::ALL.iter().copied().find(|status| status.as_str() == self.status)
    }

    fn flow(&self) -> Option<String> {
        Some(self.flow.clone()).filter(|flow| !flow.is_empty())
    }

    /// A time field's value (UTC, to the minute or the second); `Err` names the field when it
    /// is not a time.
    fn time(text: &str, field: &str) -> Result<Option<Timestamp>, String> {
        if text.trim().is_empty() {
            return Ok(None);
        }
        ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]
            .iter()
            .find_map(|format| NaiveDateTime::parse_from_str(text.trim(), format).ok())
            .map(|time| Some(Timestamp::from(time.and_utc())))
            .ok_or_else(|| format!("“{field}” is not a time: write it as 2026-12-02T09:30 (UTC)."))
    }

    /// The live stream's address, with the same filter.
    fn stream(&self) -> String {
        let flow = self.flow().map(|flow| ("flow", flow));
        let status = self.status().map(|status| ("status", status.as_str().to_owned()));
        let query: Vec<(&str, String)> = flow.into_iter().chain(status).collect();
        let query = serde_urlencoded::to_string(query).unwrap_or_default();
        format!("/api/runs/stream?{query}")
    }
}

/// `GET /ui/runs`.
pub(crate) async fn list(
    State(state): State<Arc<AppState>>,
    SignedIn(session): SignedIn,
    Query(filter): Query<Filter>,
) -> Response {
    let (from, to) = (Filter::time(&filter.from, "From"), Filter::time(&filter.to, "Before"));
    let refused: Vec<String> = [&from, &to].into_iter().filter_map(|t| t.clone().err()).collect();
    let runs_filter = RunFilter {
        status: filter.status(),
        flow: filter.flow(),
        created_from: from.unwrap_or_default(),
        created_before: to.unwrap_or_default(),
        limit: LIST_LIMIT,
    };
    // New runs began now: a list that ends earlier, or a time not understood, is not live.
    let live = filter.to.trim().is_empty() && refused.is_empty();
    let (runs, flows) =
        match (state.service.runs().list(&runs_filter).await, state.service.flows().list().await) {
            (Ok(runs), Ok(flows)) => (runs, flows),
            (Err(err), _) | (_, Err(err)) => return internal(&err),
        };
    let replay_all = filter.status() == Some(RunStatus::Dead) && filter.flow().is_some();
    let body = html! {
        h1 { "Runs" }
        @if let Some(count) = filter.replayed {
            (Notice::Done(format!("{count} dead runs of {} queued again.", filter.flow)).render())
        }
        form.filters method="get" action="/ui/runs" {
            label { "Flow "
                select name="flow" {
                    option value="" { "every flow" }
                    @for flow in &flows {
                        option value=(flow.name) selected[filter.flow == flow.name] { (flow.name) }
                    }
                }
            }
            label { "From (UTC) "
                input type="datetime-local" name="from" value=(filter.from);
            }
            label { "Before (UTC) "
                input type="datetime-local" name="to" value=(filter.to);
            }
            label { "Status "
                select name="status" {
                    option value="" { "any status" }
                    @for status in RunStatus::ALL.iter().copied() {
                        option value=(status.as_str()) selected[filter.status == status.as_str()] { (status.as_str()) }
                    }
                }
            }
            button type="submit" { "Show" }
        }
        @if replay_all && !runs.is_empty() {
            form method="post" action="/ui/runs/replay-dead" {
                (csrf_field(&session))
                input type="hidden" name="flow" value=(filter.flow);
                button type="submit" { "Replay every dead run of " (filter.flow) }
            }
        }
        @for reason in &refused {
            (Notice::Failed { error: reason.clone(), remedy: None }.render())
        }
        @if live {
            p.live #live-status role="status" { "Live: new runs appear as they happen." }
        } @else {
            p.live { "Not live: the list ends before now. Clear “Before” to follow new runs." }
        }
        table.runs {
            thead { tr {
                th scope="col" { "Started" } th scope="col" { "Flow" } th scope="col" { "Trigger" }
                th scope="col" { "Status" } th scope="col" { "Attempts" } th scope="col" { "Error" }
            } }
            tbody #runs data-stream=[live.then(|| filter.stream())] {
                @for run in &runs { (row(run)) }
            }
        }
        @if runs.is_empty() { p #no-runs { "No runs match." } }
    };
    page("Runs", Some(&session), Nav::Runs, body).into_response()
}

/// One run as a row of the list; `GET /ui/runs/{id}/row` answers it alone for the live list.
fn row(run: &RunSummary) -> Markup {
    let error = run.last_error.as_deref().unwrap_or("");
    html! {
        tr #{ "run-" (run.id) } data-status=(run.status.as_str()) {
            td { time datetime=(run.created_at.to_rfc3339()) { (run.created_at.to_rfc3339()) } }
            td { (run.flow_name.as_deref().unwrap_or("(deleted flow)")) }
            td { (run.trigger.as_deref().unwrap_or("")) }
            td { a.status class=(run.status.as_str()) href={ "/ui/runs/" (run.id) } { (run.status.as_str()) } }
            td.num { (run.attempts) }
            td.error title=(error) { (shorten(error, 120)) }
        }
    }
}

/// `GET /ui/runs/{id}/row`: the row the live list inserts or replaces.
pub(crate) async fn row_fragment(
    State(state): State<Arc<AppState>>,
    SignedIn(_session): SignedIn,
    Path(id): Path<String>,
) -> Response {
    match state.service.runs().show(&RunId::from(id)).await {
        Ok(found) => row(&found.run).into_response(),
        Err(err) => Notice::failed(&err).render().into_response(),
    }
}

/// What a run's page says above the run: that it was just replayed.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct RunShown {
    #[serde(default)]
    replayed: bool,
}

/// `GET /ui/runs/{id}`: the run and its timeline.
pub(crate) async fn show(
    State(state): State<Arc<AppState>>,
    SignedIn(session): SignedIn,
    Path(id): Path<String>,
    Query(shown): Query<RunShown>,
) -> Response {
    let RunWithSteps { run, steps } = match state.service.runs().show(&RunId::from(id)).await {
        Ok(found) => found,
        Err(err) => {
            let body = html! { h1 { "Run" } (Notice::failed(&err).render()) };
            return page("Run", Some(&session), Nav::Runs, body).into_response();
        }
    };
    let flow = run.flow_name.as_deref().unwrap_or("(deleted flow)");
    let body = html! {
        p { a href="/ui/runs" { "← All runs" } }
        h1 { "Run of " (flow) }
        @if shown.replayed {
            (Notice::Done("Queued again: it runs with the flow as it is now.".into()).render())
        }
        dl.facts {
            dt { "Status" } dd { span #run-status .status class=(run.status.as_str()) { (run.status.as_str()) } }
            dt { "Trigger" } dd { (run.trigger.as_deref().unwrap_or("")) }
            dt { "Started" } dd { (run.created_at.to_rfc3339()) }
            dt { "Last change" } dd { (run.updated_at.to_rfc3339()) }
            dt { "Attempts" } dd { (run.attempts) }
            dt { "Id" } dd { code { (run.id) } }
        }
        @if let Some(error) = &run.last_error { p.error role="alert" { (error) } }
        @if run.status == RunStatus::Dead {
            form method="post" action={ "/ui/runs/" (run.id) "/replay" } {
                (csrf_field(&session))
                button #replay type="submit" { "Replay this run" }
            }
        }
        h2 { "Steps" }
        @if steps.is_empty() { p { "No step has run yet." } }
        ol.timeline {
            @for step in &steps { (step_item(step)) }
        }
    };
    page("Run", Some(&session), Nav::Runs, body).into_response()
}

fn step_item(step: &StepRecord) -> Markup {
    let status = step.status.as_str();
    html! {
        li.step class=(status) {
            h3 { (step.name) " " span.status class=(status) { (status) } }
            p.meta { "attempt " (step.attempt) " · " (step.duration_ms) " ms" }
            @if let Some(error) = &step.error { p.error { (error) } }
            (json_block("Input", step.input.as_ref(), false))
            (json_block("Request", step.request.as_ref(), false))
            (json_block("Answer", step.response.as_ref(), false))
        }
    }
}

/// A JSON value folded under its name, open or not (secrets were masked when it was recorded).
pub(crate) fn json_block(name: &str, value: Option<&Value>, open: bool) -> Markup {
    let Some(value) = value else { return html! {} };
    let text = serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string());
    html! { details open[open] { summary { (name) } pre { code { (text) } } } }
}

/// `POST /ui/runs/{id}/replay`.
pub(crate) async fn replay(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    Posted { session, form: NoFields {} }: Posted<NoFields>,
) -> Response {
    let id = RunId::from(id);
    match state.service.runs().replay(&id).await {
        Ok(()) => see_other(&format!("/ui/runs/{id}"), &[("replayed", "true")]),
        Err(err) => replay_refused(&session, &err),
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct FlowField {
    flow: String,
}

/// `POST /ui/runs/replay-dead`: every dead run of one flow.
pub(crate) async fn replay_dead(
    State(state): State<Arc<AppState>>,
    Posted { session, form }: Posted<FlowField>,
) -> Response {
    match state.service.runs().replay_dead(&form.flow).await {
        Ok(count) => {
            let count = count.to_string();
            see_other("/ui/runs", &[("flow", &form.flow), ("replayed", &count)])
        }
        Err(err) => replay_refused(&session, &err),
    }
}

/// A replay the service refused, said in its words.
fn replay_refused(session: &Session, err: &ghl_service::ServiceError) -> Response {
    let body = html! { h1 { "Replay" } (Notice::failed(err).render()) };
    page("Replay", Some(session), Nav::Runs, body).into_response()
}

/// `text` cut to `limit` characters, with an ellipsis when cut.
fn shorten(text: &str, limit: usize) -> String {
    match text.char_indices().nth(limit) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}
