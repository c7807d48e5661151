//! `/api/dashboard`: the dashboard's series over the last hour or day (runs finished per
//! bucket by outcome, webhook intake), the queue now and each rate budget as last seen.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::Json;
use ghl_service::dashboard::{DashboardSeries, Window as Span};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

pub(crate) fn routes() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::new().routes(routes!(dashboard))
}

/// How far back the series go.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Window {
    /// The last hour, in 60 buckets of 1 minute.
    #[default]
    Hour,
    /// The last day, in 48 buckets of 30 minutes.
    Day,
}

impl From<Window> for Span {
    fn from(window: Window) -> Self {
        match window {
            Window::Hour => Self::Hour,
            Window::Day => Self::Day,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DashboardQuery {
    /// `hour` (default) or `day`.
    pub(crate) window: Option<Window>,
}

/// One time bucket.
#[derive(Debug, Serialize, ToSchema)]
pub struct Bucket {
    /// Where the bucket starts, ms since the epoch; it ends `bucket_seconds` later.
    start: i64,
    /// Runs that ended done in it.
    done: i64,
    /// Runs a filter ended.
    skipped: i64,
    /// Runs dead-lettered.
    dead: i64,
    /// Webhook deliveries stored (a duplicate delivery is not counted).
    webhooks: i64,
    /// Other events stored: poll finds, schedule ticks, reconciliations, manual runs.
    other_events: i64,
    /// The most runs queued, waiting or running at once in it, as this server sampled them
    /// (every few seconds, kept a day in memory); null when no sample fell in it.
    queue_most: Option<i64>,
}

/// The queue now.
#[derive(Debug, Serialize, ToSchema)]
pub struct Queue {
    queued: i64,
    /// Paused on a delay, a rate limit or a spent quota.
    waiting: i64,
    running: i64,
    /// Queued or waiting runs whose time has come.
    due: i64,
    /// Dead-lettered runs.
    dead: i64,
}

/// What one rate budget (an app and one of its accounts: a HighLevel location) has left, as
/// this server's client last saw it (kept in memory; empty until a request was made).
#[derive(Debug, Serialize, ToSchema)]
pub struct RateBudget {
    /// Whose budget it is, as the API counts it: for HighLevel its marketplace app's client
    /// id, or `private-integration` for a private integration's token.
    app: String,
    /// The location (account) the budget is for.
    location: String,
    /// Requests the current window still allows.
    available: usize,
    /// Requests a window allows.
    burst: usize,
    daily_limit: Option<u64>,
    daily_remaining: Option<u64>,
    /// `daily_limit - daily_remaining`, when both are known.
    daily_used: Option<u64>,
    /// When an answer last told it anything, ms since the epoch.
    observed_at: Option<i64>,
    /// Per bucket, as sampled: the most of the burst used at once, and the daily quota used
    /// by the bucket's end (null where no sample said).
    history: Vec<BudgetBucket>,
}

/// A rate budget's use in one bucket.
#[derive(Debug, Serialize, ToSchema)]
pub struct BudgetBucket {
    burst_used_most: Option<usize>,
    daily_used: Option<u64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Dashboard {
    window: Window,
    /// Each bucket's length.
    bucket_seconds: u64,
    /// Oldest first; the last holds `now` and is still filling.
    buckets: Vec<Bucket>,
    queue: Queue,
    rate_budgets: Vec<RateBudget>,
    /// When this was read, ms since the epoch.
    now: i64,
}

impl Dashboard {
    fn new(window: Window, series: DashboardSeries) -> Self {
        let DashboardSeries { bucket_width, buckets, queue, rate_budgets, now, window: _ } = series;
        Self {
            window,
            bucket_seconds: bucket_width.as_secs(),
            buckets: buckets
                .into_iter()
                .map(|bucket| Bucket {
                    start: bucket.start.as_millis(),
                    done: bucket.done,
                    skipped: bucket.skipped,
                    dead: bucket.dead,
                    webhooks: bucket.webhooks,
                    other_events: bucket.other_events,
                    queue_most: bucket.queue_most,
                })
                .collect(),
            queue: Queue {
                queued: queue.queued,
                waiting: queue.waiting,
                running: queue.running,
                due: queue.due,
                dead: queue.dead,
            },
            rate_budgets: rate_budgets
                .into_iter()
                .map(|budget| RateBudget {
                    app: budget.app,
                    location: budget.location,
                    available: budget.available,
                    burst: budget.burst,
                    daily_limit: budget.daily_limit,
                    daily_remaining: budget.daily_remaining,
                    daily_used: budget.daily_used,
                    observed_at: budget.observed_at.map(|time| time.as_millis()),
                    history: budget
                        .history
                        .into_iter()
                        .map(|point| BudgetBucket {
                            burst_used_most: point.burst_used_most,
                            daily_used: point.daily_used,
                        })
                        .collect(),
                })
                .collect(),
            now: now.as_millis(),
        }
    }
}

/// The dashboard's series: runs finished and webhooks taken in per bucket (counted by the
/// database), the queue now, and each rate budget as last seen.
#[utoipa::path(get, path = "/dashboard", tag = "dashboard", params(DashboardQuery), responses(
    (status = 200, description = "the series", body = Dashboard),
    (status = 400, description = "a window that is not `hour` or `day`", body = ErrorBody),
))]
async fn dashboard(
    State(state): State<Arc<AppState>>,
    Query(query): Query<DashboardQuery>,
) -> Result<Json<Dashboard>, ApiError> {
    let window = query.window.unwrap_or_default();
    let series = state.service.dashboard().series(window.into()).await?;
    Ok(Json(Dashboard::new(window, series)))
}
