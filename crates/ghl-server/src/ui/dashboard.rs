//! The dashboard (`/ui`): how many connections (and how many need reconnecting), flows and
//! runs by status there are, dead runs first, each with a link to its page. Charts come later.

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use ghl_store::{ConnectionStatus, FlowStatus, RunStatus};
use maud::html;

use super::auth::SignedIn;
use super::{internal, page, Nav};
use crate::state::AppState;

/// The dashboard's content.
async fn body(state: &AppState) -> Result<maud::Markup, ghl_service::ServiceError> {
    let connections = state.service.connections().list().await?;
    let flows = state.service.flows().list().await?;
    let runs = state.service.runs().counts().await?;
    let reconnect =
        connections.iter().filter(|c| c.status == ConnectionStatus::ReconnectNeeded).count();
    let enabled = flows.iter().filter(|flow| flow.status == FlowStatus::Enabled).count();
    let dead = runs.iter().find(|(status, _)| *status == RunStatus::Dead).map_or(0, |(_, n)| *n);
    Ok(html! {
        h1 { "Dashboard" }
        ul.cards {
            li.card {
                a href="/ui/connections" {
                    span.count #count-connections { (connections.len()) }
                    span.what { "connections" }
                }
                @if reconnect > 0 {
                    span.warn { (reconnect) " need reconnecting" }
                }
            }
            li.card {
                a href="/ui/flows" {
                    span.count #count-flows { (flows.len()) }
                    span.what { "flows" }
                }
                span.detail { (enabled) " enabled" }
            }
            li class={ "card" @if dead > 0 { " alarm" } } {
                a href="/ui/runs?status=dead" {
                    span.count #count-dead { (dead) }
                    span.what { "dead runs" }
                }
            }
        }
        h2 { "Runs by status" }
        @if runs.is_empty() {
            p { "No runs yet." }
        } @else {
            table.narrow-table {
                thead { tr { th scope="col" { "Status" } th scope="col" { "Runs" } } }
                tbody {
                    @for (status, count) in &runs {
                        tr { td { (status) } td.num { (count) } }
                    }
                }
            }
        }
    })
}

/// `GET /ui`.
pub(crate) async fn show(
    State(state): State<Arc<AppState>>,
    SignedIn(session): SignedIn,
) -> Response {
    match body(&state).await {
        Ok(body) => page("Dashboard", Some(&session), Nav::Dashboard, body).into_response(),
        Err(err) => internal(&err),
    }
}
