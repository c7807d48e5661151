//! The dashboard (`/ui`): how many connections (and how many need reconnecting), flows and
//! dead runs there are, each with a link to its page; then, for the last hour or day, charts
//! of the runs that ended (by outcome) and of the events taken in, the queue, and each
//! HighLevel location's rate budget and daily quota. That live part is `GET
//! /ui/dashboard/live`, which the page's script fetches again every few seconds.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use ghl_service::dashboard::{Bucket, DashboardSeries};
use ghl_store::{ConnectionStatus, FlowStatus};
use maud::{html, Markup};

use super::auth::SignedIn;
use super::chart::{Measure, Series, StackedBars};
use super::{internal, page, Nav};
use crate::routes::dashboard::{DashboardQuery, Window};
use crate::state::AppState;

/// The dashboard's content.
async fn body(state: &AppState, window: Window) -> Result<Markup, ghl_service::ServiceError> {
    let connections = state.service.connections().list().await?;
    let flows = state.service.flows().list().await?;
    let series = state.service.dashboard().series(window.into()).await?;
    let reconnect =
        connections.iter().filter(|c| c.status == ConnectionStatus::ReconnectNeeded).count();
    let enabled = flows.iter().filter(|flow| flow.status == FlowStatus::Enabled).count();
    let dead = series.queue.dead;
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
        nav.window aria-label="Time window" {
            @for (choice, label) in [(Window::Hour, "Last hour"), (Window::Day, "Last day")] {
                @let href = format!("/ui?window={}", window_name(choice));
                @if choice == window {
                    a href=(href) aria-current="true" { (label) }
                } @else {
                    a href=(href) { (label) }
                }
            }
        }
        section #live data-live={ "/ui/dashboard/live?window=" (window_name(window)) } aria-live="polite" {
            (live(&series))
        }
    })
}

/// `GET /ui`.
pub(crate) async fn show(
    State(state): State<Arc<AppState>>,
    SignedIn(session): SignedIn,
    Query(query): Query<DashboardQuery>,
) -> Response {
    match body(&state, query.window.unwrap_or_default()).await {
        Ok(body) => page("Dashboard", Some(&session), Nav::Dashboard, body).into_response(),
        Err(err) => internal(&err),
    }
}

/// `GET /ui/dashboard/live`: the live part alone, for the page's script.
pub(crate) async fn live_part(
    State(state): State<Arc<AppState>>,
    SignedIn(_session): SignedIn,
    Query(query): Query<DashboardQuery>,
) -> Response {
    let window = query.window.unwrap_or_default();
    match state.service.dashboard().series(window.into()).await {
        Ok(series) => live(&series).into_response(),
        Err(err) => internal(&err),
    }
}

fn window_name(window: Window) -> &'static str {
    match window {
        Window::Hour => "hour",
        Window::Day => "day",
    }
}

/// The live part of the dashboard: the charts of the window, the queue and the rate budgets.
/// The page's script fetches it again every few seconds (`GET /ui/dashboard/live`).
fn live(series: &DashboardSeries) -> Markup {
    let buckets: Vec<String> = series
        .buckets
        .iter()
        .map(|bucket| bucket.start.to_datetime().format("%H:%M").to_string())
        .collect();
    let column = |pick: fn(&Bucket) -> i64| -> Vec<u64> {
        series.buckets.iter().map(|bucket| u64::try_from(pick(bucket)).unwrap_or(0)).collect()
    };
    let runs = StackedBars {
        title: "Runs ended",
        measure: Measure::Counts,
        buckets: buckets.clone(),
        series: vec![
            Series { name: "done", class: "ok", values: column(|b| b.done) },
            Series { name: "skipped", class: "muted", values: column(|b| b.skipped) },
            Series { name: "dead", class: "bad", values: column(|b| b.dead) },
        ],
    };
    let intake = StackedBars {
        title: "Events taken in",
        measure: Measure::Counts,
        buckets: buckets.clone(),
        series: vec![
            Series { name: "webhooks", class: "info", values: column(|b| b.webhooks) },
            Series { name: "other triggers", class: "muted", values: column(|b| b.other_events) },
        ],
    };
    let queue_most = column(|b| b.queue_most.unwrap_or(0));
    let budgets = series.rate_budgets.iter().map(|budget| {
        let used = budget.history.iter();
        let burst = used.clone().map(|p| p.burst_used_most.unwrap_or(0)).map(|u| u as u64);
        let title =
            format!("{} · {}: requests of the burst used at once", budget.app, budget.location);
        level_chart(&title, "burst used", &buckets, burst.collect())
    });
    let quotas =
        series.rate_budgets.iter().filter(|budget| budget.daily_limit.is_some()).map(|budget| {
            let used = budget.history.iter().map(|point| point.daily_used.unwrap_or(0)).collect();
            let title = format!("{} · {}: daily quota used", budget.app, budget.location);
            level_chart(&title, "daily quota used", &buckets, used)
        });
    let level_charts: Vec<Markup> = budgets.chain(quotas).collect();
    let queue = &series.queue;
    html! {
        div.charts {
            (runs.render())
            (intake.render())
            (level_chart("Queue (sampled every few seconds)", "queued, waiting or running", &buckets, queue_most))
            @for chart in &level_charts { (chart) }
        }
        h2 { "Queue" }
        ul.cards {
            li.card { span.count #queue-due { (queue.due) } span.what { "due now" } }
            li.card { span.count { (queue.queued) } span.what { "queued" } }
            li.card { span.count { (queue.waiting) } span.what { "waiting" } }
            li.card { span.count { (queue.running) } span.what { "running" } }
            li.card class=@if queue.dead > 0 { "alarm" } {
                a href="/ui/runs?status=dead" { span.count #queue-dead { (queue.dead) } span.what { "dead" } }
            }
        }
        h2 { "Rate budgets" }
        @if series.rate_budgets.is_empty() {
            p { "No request sent yet: each location's budget shows once the connector has used it." }
        } @else {
            table {
                thead { tr {
                    th scope="col" { "App" } th scope="col" { "Location" }
                    th scope="col" { "Burst left" } th scope="col" { "Daily quota used" }
                } }
                tbody {
                    @for budget in &series.rate_budgets {
                        tr {
                            td { (budget.app) }
                            td { (budget.location) }
                            td { meter min="0" max=(budget.burst) value=(budget.available) {} " " (budget.available) " / " (budget.burst) }
                            td {
                                @match (budget.daily_used, budget.daily_limit) {
                                    (Some(used), Some(limit)) => { meter min="0" max=(limit) value=(used) {} " " (used) " / " (limit) }
                                    _ => { "not reported yet" }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A chart of one level sampled over the window's buckets (its highest in each).
fn level_chart(title: &str, name: &str, buckets: &[String], values: Vec<u64>) -> Markup {
    let chart = StackedBars {
        title,
        measure: Measure::Levels,
        buckets: buckets.to_vec(),
        series: vec![Series { name, class: "info", values }],
    };
    chart.render()
}
