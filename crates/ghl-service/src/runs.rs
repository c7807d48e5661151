//! Runs: the history with a typed filter, one run with its steps, how many runs are in each
//! status, the replay of a dead-lettered run or of every dead run of a flow, and whether a process is executing runs at all.

use ghl_store::Store;
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
        let filter =
            RunFilter { status: Some(RunStatus::Dead), flow: Some(flow.into()), limit: i64::MAX };
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
