//! The dashboard's numbers: runs finished per time bucket by how they ended, webhook
//! deliveries taken in per bucket, the queue now, and what each rate budget has left as the
//! engine's client last saw it. The store counts the buckets (`GROUP BY`); this fills the
//! empty ones so a chart gets every bucket of the window.
//!
//! Levels (the queue, each rate budget's use) are not counts the store can make after the
//! fact: a serving process samples them (`Dashboard::sample`, on its heartbeat) and keeps a
//! day of samples in memory (`Levels`), which the series fold into buckets: the most queued
//! and the most of a budget used in each. A process that just started has no past levels.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use ghl_store::{Buckets, QueueDepth, RunStatus, Store, Timestamp};
use serde::Serialize;

use crate::ServiceError;

/// The dashboard use case (`Service::dashboard`).
pub struct Dashboard<'a> {
    pub(crate) store: &'a Store,
    pub(crate) engine: &'a ghl_engine::Engine,
    pub(crate) levels: &'a Levels,
}

/// How long sampled levels are kept: the longest window.
const LEVELS_KEPT: Duration = Duration::from_secs(24 * 3600);

/// The levels sampled in this process, oldest first.
#[derive(Debug, Default)]
pub(crate) struct Levels {
    samples: Mutex<VecDeque<Sample>>,
}

#[derive(Debug, Clone)]
struct Sample {
    at: Timestamp,
    /// Runs queued, waiting or running.
    queue: i64,
    budgets: Vec<RateBudget>,
}

/// How far back the series go, and in what steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Window {
    /// The last hour in 60 buckets of a minute.
    Hour,
    /// The last day in 48 buckets of 30 minutes.
    Day,
}

impl Window {
    pub fn bucket_width(self) -> Duration {
        match self {
            Self::Hour => Duration::from_secs(60),
            Self::Day => Duration::from_secs(30 * 60),
        }
    }

    pub fn bucket_count(self) -> usize {
        match self {
            Self::Hour => 60,
            Self::Day => 48,
        }
    }

    /// The window's buckets at `now`: aligned on multiples of their width since the epoch (so
    /// two reads a few seconds apart share their buckets), the last one holding `now` (it is
    /// still filling).
    pub fn buckets(self, now: Timestamp) -> Buckets {
        let width = self.bucket_width();
        let width_ms = i64::try_from(width.as_millis()).unwrap_or(i64::MAX);
        let current = now.as_millis().div_euclid(width_ms) * width_ms;
        let back = width_ms.saturating_mul(i64::try_from(self.bucket_count()).unwrap_or(0) - 1);
        Buckets {
            start: Timestamp::from_millis(current.saturating_sub(back)),
            width,
            count: self.bucket_count(),
        }
    }
}

/// One time bucket of the series.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Bucket {
    pub start: Timestamp,
    /// Runs that ended done in the bucket.
    pub done: i64,
    /// Runs a filter ended.
    pub skipped: i64,
    /// Runs dead-lettered.
    pub dead: i64,
    /// Webhook deliveries stored (events from an app; a duplicate delivery is not counted).
    pub webhooks: i64,
    /// Other events stored: poll finds, schedule ticks, reconciliations, manual runs.
    pub other_events: i64,
    /// The most runs queued, waiting or running at once in the bucket, as sampled; `None`
    /// when no sample fell in it.
    pub queue_most: Option<i64>,
}

/// What one rate budget (an app and one of its accounts: a HighLevel location) has left, as
/// the engine's client last saw it in this process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RateBudget {
    /// Whose budget it is, as the app's API counts it (HighLevel: the marketplace app's
    /// client id, or `private-integration`).
    pub app: String,
    pub location: String,
    /// Requests the current window still allows.
    pub available: usize,
    /// Requests a window allows.
    pub burst: usize,
    /// The daily quota, once an answer told it.
    pub daily_limit: Option<u64>,
    /// The daily quota left, once an answer told it.
    pub daily_remaining: Option<u64>,
    /// `daily_limit - daily_remaining`, when both are known.
    pub daily_used: Option<u64>,
    /// When an answer last told the budget anything.
    pub observed_at: Option<Timestamp>,
    /// Per bucket of the series (empty outside one): the most of the burst used at once,
    /// and the daily quota used by its end, as sampled.
    pub history: Vec<BudgetBucket>,
}

/// A rate budget's use in one bucket, as sampled (`None`: no sample in it said).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct BudgetBucket {
    pub burst_used_most: Option<usize>,
    pub daily_used: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DashboardSeries {
    pub window: Window,
    pub bucket_width: Duration,
    /// Oldest first; the last one holds `now`.
    pub buckets: Vec<Bucket>,
    /// The queue now.
    pub queue: QueueDepth,
    pub rate_budgets: Vec<RateBudget>,
    pub now: Timestamp,
}

impl Dashboard<'_> {
    /// The series over `window`, ending now.
    pub async fn series(&self, window: Window) -> Result<DashboardSeries, ServiceError> {
        let now = Timestamp::now();
        let buckets = window.buckets(now);
        let width = buckets.width;
        let mut series: Vec<Bucket> = (0..buckets.count)
            .map(|index| Bucket {
                start: buckets
                    .start
                    .saturating_add(width.saturating_mul(u32::try_from(index).unwrap_or(0))),
                done: 0,
                skipped: 0,
                dead: 0,
                webhooks: 0,
                other_events: 0,
                queue_most: None,
            })
            .collect();
        for count in self.store.finished_runs(&buckets).await? {
            let Some(bucket) = series.get_mut(count.bucket) else { continue };
            match count.status {
                RunStatus::Done => bucket.done += count.runs,
                RunStatus::Skipped => bucket.skipped += count.runs,
                RunStatus::Dead => bucket.dead += count.runs,
                RunStatus::Queued | RunStatus::Running | RunStatus::Waiting => {}
            }
        }
        let apps = self.engine.apps();
        for count in self.store.arrived_events(&buckets).await? {
            let Some(bucket) = series.get_mut(count.bucket) else { continue };
            // A webhook's event is stored under its app's id; the engine's own sources
            // (`poll`, `schedule`, `reconcile`, `manual`) are no app.
            if apps.get(&count.source).is_some() {
                bucket.webhooks += count.events;
            } else {
                bucket.other_events += count.events;
            }
        }
        let queue = self.store.queue_depth(now).await?;
        let mut rate_budgets = self.rate_budgets();
        self.fold_levels(&buckets, &mut series, &mut rate_budgets);
        Ok(DashboardSeries {
            window,
            bucket_width: width,
            buckets: series,
            queue,
            rate_budgets,
            now,
        })
    }

    /// Samples the levels now: the queue and each rate budget (a serving process calls it on
    /// its heartbeat). Samples older than a day are forgotten.
    pub async fn sample(&self) -> Result<(), ServiceError> {
        let now = Timestamp::now();
        let depth = self.store.queue_depth(now).await?;
        let sample = Sample {
            at: now,
            queue: depth.queued + depth.waiting + depth.running,
            budgets: self.rate_budgets(),
        };
        let mut samples = self.levels.samples.lock().unwrap_or_else(|held| held.into_inner());
        samples.push_back(sample);
        let oldest = now.saturating_sub(LEVELS_KEPT);
        while samples.front().is_some_and(|sample| sample.at < oldest) {
            samples.pop_front();
        }
        Ok(())
    }

    /// Puts the samples that fall in `buckets` into the series: the most queued in each, and
    /// for each budget the most of its burst used and the quota used by the bucket's end.
    fn fold_levels(&self, buckets: &Buckets, series: &mut [Bucket], budgets: &mut [RateBudget]) {
        for budget in budgets.iter_mut() {
            budget.history = vec![BudgetBucket::default(); series.len()];
        }
        let width = i64::try_from(buckets.width.as_millis()).unwrap_or(i64::MAX).max(1);
        let samples = self.levels.samples.lock().unwrap_or_else(|held| held.into_inner());
        for sample in samples.iter() {
            let offset = sample.at.as_millis() - buckets.start.as_millis();
            let Ok(index) = usize::try_from(offset.div_euclid(width)) else { continue };
            let Some(bucket) = series.get_mut(index) else { continue };
            bucket.queue_most = bucket.queue_most.max(Some(sample.queue));
            for level in &sample.budgets {
                let Some(budget) = budgets.iter_mut().find(|budget| {
                    (&budget.app, &budget.location) == (&level.app, &level.location)
                }) else {
                    continue;
                };
                let Some(point) = budget.history.get_mut(index) else { continue };
                let used = level.burst.saturating_sub(level.available);
                point.burst_used_most = point.burst_used_most.max(Some(used));
                point.daily_used = level.daily_used.or(point.daily_used);
            }
        }
    }

    /// Every rate budget the engine's client has spent from in this process, by app and
    /// location.
    pub fn rate_budgets(&self) -> Vec<RateBudget> {
        let mut budgets: Vec<RateBudget> = self
            .engine
            .connections()
            .budget_levels()
            .into_iter()
            .map(|level| RateBudget {
                daily_used: level
                    .daily_limit
                    .zip(level.daily_remaining)
                    .map(|(limit, left)| limit.saturating_sub(left)),
                app: level.key.app,
                location: level.key.location,
                available: level.available,
                burst: level.burst,
                daily_limit: level.daily_limit,
                daily_remaining: level.daily_remaining,
                observed_at: level.observed_at.map(timestamp),
                history: Vec::new(),
            })
            .collect();
        budgets.sort_by(|a, b| (&a.app, &a.location).cmp(&(&b.app, &b.location)));
        budgets
    }
}

fn timestamp(time: SystemTime) -> Timestamp {
    let ms = time
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |since| i64::try_from(since.as_millis()).unwrap_or(i64::MAX));
    Timestamp::from_millis(ms)
}
