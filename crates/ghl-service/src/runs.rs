//! Runs: the history with a typed filter, one run with its steps, how many runs are in each
//! status, the replay of a dead-lettered run or of every dead run of a flow, whether a process
//! is executing runs at all, and a watch over the runs' changes (the live run list).

use std::collections::HashMap;
use std::time::Duration;

use ghl_store::{RunChange, Store};
pub use ghl_store::{RunFilter, RunId, RunStatus, RunSummary, StepRecord, StepStatus, Timestamp};
use serde::Serialize;

use crate::ServiceError;

/// The run use cases (`Service::runs`).
pub struct Runs<'a> {
    pub(crate) store: &'a Store,
}

/// A run with every attempt of every step.
#[derive(Debug, Clone, Serialize)]
pub struct RunWithSteps {
    pub run: RunSummary,
    pub steps: Vec<StepRecord>,
}

impl Runs<'_> {
    /// Runs newest first, as `filter` says.
    pub async fn list(&self, filter: &RunFilter) -> Result<Vec<RunSummary>, ServiceError> {
        Ok(self.store.runs(filter).await?)
    }

    pub async fn show(&self, id: &RunId) -> Result<RunWithSteps, ServiceError> {
        let store = self.store;
        let run = store.run(id).await?.ok_or_else(|| ServiceError::NoRun(id.clone()))?;
        let steps = store.steps(id).await?;
        Ok(RunWithSteps { run, steps })
    }

    /// How many runs are in each status (those with none are left out): the queue's depth.
    pub async fn counts(&self) -> Result<Vec<(RunStatus, i64)>, ServiceError> {
        Ok(self.store.run_counts().await?)
    }

    /// Queues a dead-lettered run again, to run with the flow as it is now.
    pub async fn replay(&self, id: &RunId) -> Result<(), ServiceError> {
        match self.store.replay(id).await? {
            true => Ok(()),
            false => Err(ServiceError::NotReplayable(id.clone())),
        }
    }

    /// Queues every dead-lettered run of the flow named `flow` again; says how many.
    pub async fn replay_dead(&self, flow: &str) -> Result<usize, ServiceError> {
        if self.store.flow(flow).await?.is_none() {
            return Err(ServiceError::NoFlow(flow.into()));
        }
        let filter = RunFilter {
            status: Some(RunStatus::Dead),
            flow: Some(flow.into()),
            limit: i64::MAX,
            ..RunFilter::default()
        };
        let dead = self.store.runs(&filter).await?;
        let mut replayed = 0;
        for run in &dead {
            // A run another hand replayed meanwhile is no longer dead: not counted, not an error.
            if self.store.replay(&run.id).await? {
                replayed += 1;
            }
        }
        Ok(replayed)
    }

    /// Whether a live process (`serve`) executes the queued runs of this store.
    pub async fn executed(&self) -> Result<bool, ServiceError> {
        Ok(self.store.live_workers(ghl_store::HEARTBEAT_FRESH).await? > 0)
    }
}

/// How far back each look again reaches: a run's change is stamped when its write starts, and
/// a write can wait for the database (SQLite's busy timeout is 10 s) before it is seen, so a
/// change can appear after later ones were read.
pub const WATCH_LOOKBACK: Duration = Duration::from_secs(12);
/// Every this many reads, the watch reads the last `WATCH_LOOKBACK` again instead of only
/// what changed after its cursor.
const LOOK_AGAIN_EVERY: u32 = 8;
/// Runs read per query; more are read page by page.
const WATCH_PAGE: i64 = 500;

/// A watch over the runs of a store: each [`RunWatch::changes`] answers the runs created or
/// changed in status since the last, once each, whoever changed them (this process's
/// workers, another `serve` on the same PostgreSQL, `flows run` from the command line). It
/// reads the store; it holds no channel. A change is read by its `updated_at` (the marker
/// every status write sets) after a cursor, and the last `WATCH_LOOKBACK` is read again now
/// and then for changes whose write was seen late (each run's last change sent is kept, so
/// nothing is sent twice).
pub struct RunWatch {
    store: Store,
    filter: RunFilter,
    after: RunChange,
    /// Each recent run's last change sent: its time and status.
    sent: HashMap<RunId, (Timestamp, RunStatus)>,
    reads: u32,
}

impl Runs<'_> {
    /// A watch over the runs `filter` selects (its `limit` is not used), from the changes
    /// made at `since` on (`None`: from the last `WATCH_LOOKBACK`, so that a change between
    /// a list read and the watch's start is not lost).
    pub fn watch(&self, filter: RunFilter, since: Option<Timestamp>) -> RunWatch {
        let since = since.unwrap_or_else(|| Timestamp::now().saturating_sub(WATCH_LOOKBACK));
        RunWatch {
            store: self.store.clone(),
            filter,
            after: RunChange::at(since),
            sent: HashMap::new(),
            reads: 0,
        }
    }
}

impl RunWatch {
    /// The runs changed since the last call, in the order they changed.
    pub async fn changes(&mut self) -> Result<Vec<RunSummary>, ServiceError> {
        let look_again = self.reads.is_multiple_of(LOOK_AGAIN_EVERY);
        self.reads = self.reads.wrapping_add(1);
        let mut from = if look_again {
            RunChange::at(self.after.updated_at.saturating_sub(WATCH_LOOKBACK))
        } else {
            self.after.clone()
        };
        let mut changed = Vec::new();
        loop {
            let page = self.store.runs_changed_after(&from, &self.filter, WATCH_PAGE).await?;
            let full = i64::try_from(page.len()).unwrap_or(i64::MAX) >= WATCH_PAGE;
            for run in page {
                let change = RunChange::of(&run);
                from = change.clone();
                let mark = (run.updated_at, run.status);
                if self.sent.get(&run.id) == Some(&mark) {
                    continue;
                }
                if change > self.after {
                    self.after = change;
                }
                self.sent.insert(run.id.clone(), mark);
                changed.push(run);
            }
            if !full {
                break;
            }
        }
        let horizon = self.after.updated_at.saturating_sub(WATCH_LOOKBACK);
        self.sent.retain(|_, (time, _)| *time >= horizon);
        Ok(changed)
    }
}
