//! The worker: claims due runs in batches, keeps their leases while it works (a heartbeat),
//! executes each through the interpreter with the store's recorder, and alone turns how the
//! walk ended into the run's outcome: done, skipped, waiting (a delay step, or the other
//! side's `Retry-After` or quota reset: not an attempt), retried after the one run
//! [`Backoff`], or dead-lettered once its attempts are spent.

use std::time::Duration;

use ghl_client::{Backoff, Wait};
use ghl_store::{ClaimedRun, RunId, RunOutcome, Store, Timestamp};
use tokio_util::sync::CancellationToken;

use crate::flow::OnError;
use crate::interpreter::{Ending, Interpreter, StoreRecorder};
use crate::metrics::EngineMetrics;
use crate::registry::Registry;
use crate::runner::{EngineError, CLAIM_BATCH, MAX_ATTEMPTS};

/// How long after a reset the other side said a waiting run comes back.
const WAIT_MARGIN: Duration = Duration::from_millis(250);

pub(crate) struct Worker {
    store: Store,
    /// How failed runs back off.
    backoff: Backoff,
    /// How long a claimed run stays this worker's without a heartbeat.
    lease: Duration,
}

/// What executing a run needs besides the worker: the flows, the interpreter, the metrics.
pub(crate) struct Execution<'a> {
    pub registry: &'a Registry,
    pub interpreter: Interpreter<'a>,
    pub metrics: &'a EngineMetrics,
}

impl Worker {
    pub fn new(store: Store, backoff: Backoff, lease: Duration) -> Self {
        Self { store, backoff, lease }
    }

    /// Claims up to [`CLAIM_BATCH`] due runs at once and executes them one after the other,
    /// renewing the leases of all it has not finished; once `shutdown` is cancelled it starts
    /// no more and gives the others back. `false` when none is due.
    pub async fn run_batch(
        &self,
        execution: &Execution<'_>,
        shutdown: &CancellationToken,
    ) -> Result<bool, EngineError> {
        // The claim's lease runs at least until then plus the lease; each heartbeat that
        // succeeds moves it on.
        let mut renewed = Timestamp::now();
        let batch = self.store.claim_batch(CLAIM_BATCH, self.lease).await?;
        if batch.is_empty() {
            return Ok(false);
        }
        let mut held: Vec<(RunId, i32)> =
            batch.iter().map(|run| (run.id.clone(), run.attempt)).collect();
        for run in &batch {
            if shutdown.is_cancelled() {
                let ids: Vec<RunId> = held.into_iter().map(|(id, _)| id).collect();
                self.store.release(&ids).await?;
                break;
            }
            match self.run_claimed(execution, run, &held, &mut renewed).await {
                // Another worker holds the run now: it is theirs to finish.
                Err(EngineError::Store(ghl_store::Error::ClaimLost(id))) => {
                    tracing::warn!(run = %id, "the run's claim ran out while it was executed; left to the worker that holds it now")
                }
                other => other?,
            }
            held.retain(|(id, _)| id != &run.id);
        }
        Ok(true)
    }

    /// Executes a claimed run and records how it ended, renewing the leases of `held` (the run
    /// and the rest of its batch) meanwhile.
    async fn run_claimed(
        &self,
        execution: &Execution<'_>,
        run: &ClaimedRun,
        held: &[(RunId, i32)],
        renewed: &mut Timestamp,
    ) -> Result<(), EngineError> {
        let claim = Claim::new(self.lease, *renewed);
        let outcome = {
            let executing = self.execute(execution, run, &claim);
            tokio::pin!(executing);
            let mut heartbeat = tokio::time::interval(self.lease / 3);
            heartbeat.tick().await;
            loop {
                tokio::select! {
                    outcome = &mut executing => break outcome,
                    _ = heartbeat.tick() => {
                        let renewed_at = Timestamp::now();
                        match self.store.extend_leases(held, self.lease).await {
                            Ok(still) => {
                                *renewed = renewed_at;
                                match still.contains(&run.id) {
                                    true => claim.renewed(renewed_at),
                                    false => claim.lost(),
                                }
                            }
                            Err(err) => tracing::warn!(run = %run.id, error = %err, "cannot renew the run's lease"),
                        }
                    }
                }
            }
        };
        let outcome = masked_outcome(execution, outcome);
        match &outcome {
            RunOutcome::Done => tracing::info!(run = %run.id, "run done"),
            RunOutcome::Skipped => tracing::info!(run = %run.id, "run skipped by a filter"),
            RunOutcome::WaitUntil { at, reason } => {
                let reason = reason.as_deref().unwrap_or("a delay step");
                tracing::info!(run = %run.id, until = %at, reason, "run waits")
            }
            RunOutcome::RetryAt { error, .. } => {
                tracing::warn!(run = %run.id, attempt = run.attempt, error = %error, "run will retry")
            }
            RunOutcome::Dead { error } => {
                tracing::error!(run = %run.id, error = %error, "run dead-lettered")
            }
        }
        execution.metrics.attempt(&outcome);
        self.store.finish(&run.id, run.attempt, &outcome).await?;
        Ok(())
    }

    /// Walks the run's flow through the interpreter, recorded by the store, and decides the
    /// run's outcome from how the walk ended.
    async fn execute(
        &self,
        execution: &Execution<'_>,
        run: &ClaimedRun,
        claim: &Claim,
    ) -> RunOutcome {
        let flow = match self.store.flow_by_id(&run.flow_id).await {
            Ok(Some(record)) => match execution.registry.compiled(&record.id, &record.definition) {
                Ok(flow) => flow,
                Err(error) => {
                    return RunOutcome::Dead {
                        error: format!("the flow no longer compiles: {error}"),
                    }
                }
            },
            Ok(None) => return RunOutcome::Dead { error: "the flow was deleted".into() },
            Err(err) => return self.retry(run, format!("store: {err}"), None),
        };
        let interpreter = &execution.interpreter;
        let masker = interpreter.connections.masker();
        let mut recorder = StoreRecorder::new(&self.store, masker, execution.metrics, run, claim);
        match interpreter.run(&flow, &run.payload, &mut recorder).await {
            Ok(Ending::Done) => RunOutcome::Done,
            Ok(Ending::Filtered | Ending::Stopped) => RunOutcome::Skipped,
            Ok(Ending::Waiting(at)) => RunOutcome::WaitUntil { at, reason: None },
            Ok(Ending::FilterFailed(error)) => {
                RunOutcome::Dead { error: format!("flow filter: {error}") }
            }
            Ok(Ending::Failed { step, on_error, error }) => {
                let message = format!("step `{step}`: {}", error.message);
                // Told to come back later: not the step's failure, whatever `on_error`.
                if let Some(wait) = error.wait {
                    return wait_for(message, wait);
                }
                match on_error {
                    OnError::Retry if error.retryable => {
                        self.retry(run, message, error.retry_after)
                    }
                    _ => RunOutcome::Dead { error: message },
                }
            }
            Err(err) => self.retry(run, format!("store: {err}"), None),
        }
    }

    /// Tries again later after the run backoff (never sooner than the other side asked), or
    /// dead-letters the run when its attempts are spent. Waits are not attempts.
    fn retry(&self, run: &ClaimedRun, error: String, retry_after: Option<Wait>) -> RunOutcome {
        let attempts = run.attempt - run.waits;
        if attempts >= MAX_ATTEMPTS {
            return RunOutcome::Dead { error: format!("{error} (after {attempts} attempts)") };
        }
        let now = std::time::SystemTime::now();
        let asked = retry_after.map(|wait| wait.remaining(now));
        let delay = self.backoff.delay(attempts.max(1) as u32, asked);
        RunOutcome::RetryAt { at: Timestamp::from(now) + delay, error }
    }
}

/// How long this worker's claim on the run it executes is sure to last: until the lease it
/// last renewed runs out, less a heartbeat's interval. A write is sent only while it is, so a
/// worker whose heartbeats failed (a stalled process, a busy database) never sends a write
/// another worker may be sending too once it claims the run.
pub(crate) struct Claim {
    lease: Duration,
    /// Milliseconds since the epoch; 0 once another worker holds the run.
    until: std::sync::atomic::AtomicI64,
}

impl Claim {
    /// A claim whose lease was last set (or renewed) at `renewed`.
    fn new(lease: Duration, renewed: Timestamp) -> Self {
        let claim = Self { lease, until: Default::default() };
        claim.renewed(renewed);
        claim
    }

    fn renewed(&self, at: Timestamp) {
        let until = at + (self.lease - self.lease / 3);
        self.until.store(until.as_millis(), std::sync::atomic::Ordering::Relaxed);
    }

    fn lost(&self) {
        self.until.store(0, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether the run is still this worker's for sure.
    pub fn holds(&self) -> bool {
        Timestamp::now().as_millis() < self.until.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// Waits until the other side said to come back (a rate limit's `Retry-After`, a daily
/// quota's reset): the run is rescheduled then, and this claim is not counted as an attempt.
fn wait_for(error: String, wait: Wait) -> RunOutcome {
    let now = std::time::SystemTime::now();
    // A little after the reset, so the other side's clock has passed it too.
    let at = Timestamp::from(now) + (wait.remaining(now) + WAIT_MARGIN);
    RunOutcome::WaitUntil { at, reason: Some(error) }
}

/// A run's error as it may be recorded and shown.
fn masked_outcome(execution: &Execution<'_>, outcome: RunOutcome) -> RunOutcome {
    let masker = execution.interpreter.connections.masker();
    match outcome {
        RunOutcome::RetryAt { at, error } => RunOutcome::RetryAt { at, error: masker.text(&error) },
        RunOutcome::Dead { error } => RunOutcome::Dead { error: masker.text(&error) },
        RunOutcome::WaitUntil { at, reason } => {
            RunOutcome::WaitUntil { at, reason: reason.map(|reason| masker.text(&reason)) }
        }
        other => other,
    }
}
