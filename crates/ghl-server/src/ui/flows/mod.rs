//! Flows (`/ui/flows`): the list (each flow's trigger, status, last run and dead runs, with
//! enable and disable), and the flow editor (`editor`), whose `form` holds a `draft`.

mod draft;
mod editor;
mod form;
mod sample_tree;

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use ghl_service::flows::FlowRecord;
use ghl_service::runs::{RunFilter, RunStatus, RunSummary};
use maud::{html, Markup};
use serde::Deserialize;

pub(crate) use editor::{edit, new_flow, post_editor, post_yaml};

use super::auth::{NoFields, Posted, SignedIn};
use super::{csrf_field, internal, page, see_other, Nav, Notice};
use crate::state::AppState;

/// How many dead runs of a flow the list counts (it says "N or more" past that).
const DEAD_COUNTED: i64 = 1000;

/// What the list says was just done, as the redirect after a form says it.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Done {
    installed: Option<String>,
    saved: Option<String>,
    enabled: Option<String>,
    disabled: Option<String>,
}

impl Done {
    fn notice(&self) -> Option<Notice> {
        let said = if let Some(flow) = &self.installed {
            format!("Installed the flow `{flow}`: it is enabled.")
        } else if let Some(flow) = &self.saved {
            format!("Saved the flow `{flow}`: it is enabled.")
        } else if let Some(flow) = &self.enabled {
            format!("Enabled `{flow}`: its trigger runs it.")
        } else if let Some(flow) = &self.disabled {
            format!("Disabled `{flow}`: its trigger does not run it until it is enabled.")
        } else {
            return None;
        };
        Some(Notice::Done(said))
    }
}

/// A flow's line in the list.
struct Listed {
    flow: FlowRecord,
    trigger: String,
    last_run: Option<RunSummary>,
    dead: usize,
}

/// `GET /ui/flows`.
pub(crate) async fn list(
    State(state): State<Arc<AppState>>,
    SignedIn(session): SignedIn,
    Query(done): Query<Done>,
) -> Response {
    let flows = match state.service.flows().list().await {
        Ok(flows) => flows,
        Err(err) => return internal(&err),
    };
    let mut listed = Vec::with_capacity(flows.len());
    for flow in flows {
        let runs = state.service.runs();
        let last = RunFilter {
            flow: Some(flow.name.clone()),
            status: None,
            limit: 1,
            ..RunFilter::default()
        };
        let dead = RunFilter { status: Some(RunStatus::Dead), limit: DEAD_COUNTED, ..last.clone() };
        let (last_run, dead) = match (runs.list(&last).await, runs.list(&dead).await) {
            (Ok(last), Ok(dead)) => (last.into_iter().next(), dead.len()),
            (Err(err), _) | (_, Err(err)) => return internal(&err),
        };
        let trigger = ghl_engine::flow::FlowSpec::read(&flow.definition)
            .map(|spec| draft::trigger_id(&spec.trigger))
            .unwrap_or_default();
        listed.push(Listed { flow, trigger, last_run, dead });
    }
    let body = html! {
        div.title-row {
            h1 { "Flows" }
            a.button #new-flow href="/ui/flows/new" { "New flow" }
        }
        @if let Some(notice) = done.notice() { (notice.render()) }
        @if listed.is_empty() {
            p { "No flows yet. Make one with " a href="/ui/flows/new" { "New flow" } ", install a "
                a href="/ui/templates" { "template" } ", or apply a flow file with "
                code { "ghl-connector flows apply" } "." }
        } @else {
            table.flows {
                thead { tr {
                    th scope="col" { "Flow" } th scope="col" { "Trigger" } th scope="col" { "Status" }
                    th scope="col" { "Last run" } th scope="col" { "Dead runs" } th scope="col" { "Actions" }
                } }
                tbody {
                    @for item in &listed { (row(&session, item)) }
                }
            }
        }
    };
    page("Flows", Some(&session), Nav::Flows, body).into_response()
}

fn row(session: &ghl_service::sessions::Session, item: &Listed) -> Markup {
    let Listed { flow, trigger, last_run, dead } = item;
    let name = &flow.name;
    let status = if flow.broken.is_some() { "broken" } else { flow.status.as_str() };
    let dead_runs = serde_urlencoded::to_string([("flow", name.as_str()), ("status", "dead")])
        .unwrap_or_default();
    let (toggle, toggle_label) =
        if flow.enabled { ("disable", "Disable") } else { ("enable", "Enable") };
    html! {
        tr #{ "flow-" (name) } {
            td { a href={ "/ui/flows/" (urlencoding(name)) "/edit" } { (name) } }
            td { code { (trigger) } }
            td {
                span.status class=(status) { (status) }
                @if let Some(reason) = flow.broken.as_ref().or(flow.paused_reason.as_ref()) {
                    p.hint { (reason) }
                }
            }
            td {
                @if let Some(run) = last_run {
                    a.status class=(run.status.as_str()) href={ "/ui/runs/" (run.id) } { (run.status.as_str()) }
                    " " time datetime=(run.created_at.to_rfc3339()) { (run.created_at.to_rfc3339()) }
                } @else { "never" }
            }
            td.num {
                @if *dead > 0 {
                    a href={ "/ui/runs?" (dead_runs) } { (dead) @if *dead as i64 >= DEAD_COUNTED { "+" } }
                } @else { "0" }
            }
            td.actions {
                a.button href={ "/ui/flows/" (urlencoding(name)) "/edit" } { "Edit" }
                form method="post" action={ "/ui/flows/" (urlencoding(name)) "/" (toggle) } {
                    (csrf_field(session))
                    button type="submit" aria-label={ (toggle_label) " " (name) } { (toggle_label) }
                }
            }
        }
    }
}

/// A flow's name as a part of an address.
pub(crate) fn urlencoding(name: &str) -> String {
    url::form_urlencoded::byte_serialize(name.as_bytes()).collect::<String>().replace('+', "%20")
}

/// `POST /ui/flows/{name}/enable`.
pub(crate) async fn enable(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    Posted { session, form: NoFields {} }: Posted<NoFields>,
) -> Response {
    set_enabled(&state, &session, &name, true).await
}

/// `POST /ui/flows/{name}/disable`.
pub(crate) async fn disable(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    Posted { session, form: NoFields {} }: Posted<NoFields>,
) -> Response {
    set_enabled(&state, &session, &name, false).await
}

/// Enables or disables a flow, then the list says so.
async fn set_enabled(
    state: &AppState,
    session: &ghl_service::sessions::Session,
    name: &str,
    enabled: bool,
) -> Response {
    let flows = state.service.flows();
    let (done, said) = match enabled {
        true => (flows.enable(name).await, "enabled"),
        false => (flows.disable(name).await, "disabled"),
    };
    match done {
        Ok(()) => see_other("/ui/flows", &[(said, name)]),
        Err(err) => refused(session, &err),
    }
}

/// A change to a flow the service refused, said in its words.
fn refused(session: &ghl_service::sessions::Session, err: &ghl_service::ServiceError) -> Response {
    let body = html! { h1 { "Flows" } (Notice::failed(err).render()) p { a href="/ui/flows" { "Back to the flows" } } };
    page("Flows", Some(session), Nav::Flows, body).into_response()
}
