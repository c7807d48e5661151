//! The engine's Prometheus metrics: how long steps take, how runs end, retries, triggers
//! fired, and (read when scraped) what is left of each rate budget. `serve` registers them
//! next to its own and encodes them at `/metrics`.

use std::time::Duration;

use ghl_store::RunOutcome;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::connections::Connections;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StepLabels {
    /// `highlevel.create-task`, `util.delay`.
    pub action: String,
    /// `done`, `failed`, `waiting`, `stopped`.
    pub outcome: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BudgetLabels {
    pub app: String,
    pub location: String,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

fn step_histogram() -> Histogram {
    // 1 ms to about 33 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

#[derive(Clone)]
pub struct EngineMetrics {
    step_seconds: Histograms<StepLabels>,
    runs_finished: Family<OutcomeLabels, Counter>,
    triggers_fired: Counter,
    own_write_echoes: Counter,
    runaway_pauses: Counter,
    budget_available: Family<BudgetLabels, Gauge>,
    budget_daily_remaining: Family<BudgetLabels, Gauge>,
}

impl Default for EngineMetrics {
    fn default() -> Self {
        Self {
            step_seconds: Family::new_with_constructor(step_histogram),
            runs_finished: Family::default(),
            triggers_fired: Counter::default(),
            own_write_echoes: Counter::default(),
            runaway_pauses: Counter::default(),
            budget_available: Family::default(),
            budget_daily_remaining: Family::default(),
        }
    }
}

impl EngineMetrics {
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "ghl_step_duration_seconds",
            "How long steps took, by action and outcome",
            self.step_seconds.clone(),
        );
        registry.register(
            "ghl_run_attempts",
            "Run attempts by how they ended (retry: a retry was scheduled)",
            self.runs_finished.clone(),
        );
        registry.register(
            "ghl_trigger_runs",
            "Runs enqueued by schedule and polling triggers",
            self.triggers_fired.clone(),
        );
        registry.register(
            "ghl_own_write_echoes",
            "Events not run because they echo the flow's own write",
            self.own_write_echoes.clone(),
        );
        registry.register(
            "ghl_runaway_pauses",
            "Flows paused by the runaway detector (one record run too often in a minute)",
            self.runaway_pauses.clone(),
        );
        registry.register(
            "ghl_rate_budget_available",
            "Requests the current HighLevel rate-limit window still allows",
            self.budget_available.clone(),
        );
        registry.register(
            "ghl_rate_budget_daily_remaining",
            "HighLevel's daily request quota left, as last reported",
            self.budget_daily_remaining.clone(),
        );
    }

    pub(crate) fn step(&self, action: &str, outcome: &str, took: Duration) {
        let labels = StepLabels { action: action.into(), outcome: outcome.into() };
        self.step_seconds.get_or_create(&labels).observe(took.as_secs_f64());
    }

    pub(crate) fn attempt(&self, outcome: &RunOutcome) {
        let outcome = match outcome {
            RunOutcome::Done => "done",
            RunOutcome::Skipped => "skipped",
            RunOutcome::RetryAt { .. } => "retry",
            RunOutcome::WaitUntil { .. } => "waiting",
            RunOutcome::Dead { .. } => "dead",
        };
        self.runs_finished.get_or_create(&OutcomeLabels { outcome: outcome.into() }).inc();
    }

    pub(crate) fn echoes(&self, events: usize) {
        self.own_write_echoes.inc_by(events as u64);
    }

    pub(crate) fn runaway(&self) {
        self.runaway_pauses.inc();
    }

    pub(crate) fn triggered(&self, runs: usize) {
        self.triggers_fired.inc_by(runs as u64);
    }

    /// Reads the rate budgets into their gauges (call before encoding).
    pub fn read_budgets(&self, connections: &Connections) {
        for level in connections.budget_levels() {
            let labels =
                BudgetLabels { app: level.key.app.clone(), location: level.key.location.clone() };
            self.budget_available.get_or_create(&labels).set(level.available as i64);
            if let Some(daily) = level.daily_remaining {
                self.budget_daily_remaining.get_or_create(&labels).set(daily as i64);
            }
        }
    }
}
