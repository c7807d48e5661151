//! The engine: flows compiled once per definition, intake (events into runs), the worker
//! (claimed runs executed, their outcome decided) and test runs. Both real runs and test runs
//! go through the one interpreter (`interpreter`), recorded by the store or into a report.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ghl_client::{Backoff, LocalBudget, RateBudget, Wait};
use ghl_store::{
    ClaimedRun, FlowRecord, FlowStatus, IngestOutcome, NewEvent, RunOutcome, Store, Target,
};
use ghl_types::remedy::{Listing, Remedy};
use parking_lot::Mutex;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::apps::{AppId, Apps, HTTP};
use crate::catalog::Action;
use crate::connections::Connections;
use crate::flow::{Flow, OnError, OwnWrites};
pub(crate) use crate::interpreter::iso;
pub use crate::interpreter::StepReport;
use crate::interpreter::{Ending, Interpreter, ReportRecorder, StoreRecorder};
use crate::metrics::EngineMetrics;

/// Runs of one flow for one record within a minute beyond which the flow is paused as a
/// runaway, by default.
pub const DEFAULT_RUNAWAY_LIMIT: u32 = 20;

/// Attempts of a run before it is dead-lettered (waits for a rate limit, a quota or a delay
/// step are not attempts).
pub const MAX_ATTEMPTS: i32 = 6;
/// The run-level backoff: from 2 s, doubling per attempt, at most 10 minutes.
pub const RUN_BACKOFF: Backoff = Backoff::new(Duration::from_secs(2), Duration::from_secs(600));
/// How long a claimed run stays its worker's without a heartbeat; a worker that dies
/// (kill -9) gives its runs back after this. The worker renews it every third of it.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);
/// Runs a worker claims at once: one claim is paid for several runs, and a worker that dies
/// holds back at most this many until their lease runs out.
pub const CLAIM_BATCH: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{0}")]
    Flow(#[from] crate::flow::FlowError),
    #[error("flow uses connection `{0}`, which does not exist; add it")]
    MissingConnection(String),
    #[error(
        "flow uses connection `{connection}`, which was not granted {}; widen its scopes and \
         apply the flow again",
        scopes.join(", ")
    )]
    MissingScopes { connection: String, app: String, scopes: Vec<String> },
    #[error("no flow named `{0}`")]
    UnknownFlow(String),
    #[error(
        "step `{step}` uses connection `{connection}`, a `{app}` connection; {action} steps \
         need a `{wanted}` connection"
    )]
    WrongConnection { step: String, connection: String, app: String, action: String, wanted: AppId },
    #[error(transparent)]
    Store(#[from] ghl_store::Error),
}

impl EngineError {
    /// What to do about it, for each front end to say its own way.
    pub fn remedy(&self) -> Option<Remedy> {
        match self {
            Self::MissingConnection(connection) => {
                Some(Remedy::Connect { app: None, connection: Some(connection.clone()) })
            }
            Self::MissingScopes { connection, app, scopes } => Some(Remedy::Reconnect {
                app: app.clone(),
                connection: connection.clone(),
                scopes: scopes.clone(),
                replay_dead_runs: false,
            }),
            Self::UnknownFlow(_) => Some(Remedy::Choose { from: Listing::Flows }),
            Self::WrongConnection { wanted, .. } => {
                Some(Remedy::Connect { app: Some(wanted.to_string()), connection: None })
            }
            Self::Flow(_) | Self::Store(_) => None,
        }
    }
}

/// A stored flow compiled, or why it cannot be.
type Compiled = Result<Arc<Flow>, String>;

/// How an engine is put together (`Engine::with_config`), beyond its store.
pub struct EngineConfig {
    /// The apps flows can use.
    pub apps: Apps,
    /// How failed runs back off (tests shorten it).
    pub backoff: Backoff,
    /// How long a claimed run stays its worker's without a heartbeat.
    pub lease: Duration,
    /// The rate budget every client of the engine spends; give one shared by several
    /// processes when they call the same accounts.
    pub budget: Arc<dyn RateBudget>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            apps: Apps::builtin(),
            backoff: RUN_BACKOFF,
            lease: DEFAULT_LEASE,
            budget: LocalBudget::new(),
        }
    }
}

pub struct Engine {
    store: Store,
    apps: Apps,
    connections: Connections,
    /// Flows compiled (or refused) by id and definition.
    flows: Mutex<HashMap<String, (String, Compiled)>>,
    /// How failed runs back off.
    backoff: Backoff,
    lease: Duration,
    /// For `http.request` steps.
    http: reqwest::Client,
    metrics: EngineMetrics,
    /// Runs of one flow for one record within a minute beyond which the flow is paused.
    runaway_limit: AtomicU32,
}

/// A flow as `apply_flow` stored it, and what the author should know about it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Applied {
    pub id: String,
    /// The flow can trigger itself, and so on.
    pub warnings: Vec<String>,
}

impl Engine {
    pub fn new(store: Store) -> Arc<Self> {
        Self::with_config(store, EngineConfig::default())
    }

    pub fn with_retry_base(store: Store, retry_base: Duration) -> Arc<Self> {
        Self::with_lease(store, retry_base, DEFAULT_LEASE)
    }

    /// An engine whose runs back off from `retry_base` and whose claims last `lease`.
    pub fn with_lease(store: Store, retry_base: Duration, lease: Duration) -> Arc<Self> {
        let backoff = Backoff::new(retry_base, RUN_BACKOFF.max);
        Self::with_config(store, EngineConfig { backoff, lease, ..EngineConfig::default() })
    }

    /// An engine on `store`, set up as `config` says (its apps, budget, backoff and lease).
    pub fn with_config(store: Store, config: EngineConfig) -> Arc<Self> {
        let EngineConfig { apps, backoff, lease, budget } = config;
        Arc::new(Self {
            connections: Connections::new(store.clone(), apps.clone(), budget),
            apps,
            store,
            flows: Mutex::new(HashMap::new()),
            backoff,
            lease,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .user_agent(concat!("ghl-connector/", env!("CARGO_PKG_VERSION")))
                .build()
                .unwrap_or_default(),
            metrics: EngineMetrics::default(),
            runaway_limit: AtomicU32::new(DEFAULT_RUNAWAY_LIMIT),
        })
    }

    /// Sets how many runs of one flow for one record a minute make it a runaway (paused).
    pub fn set_runaway_limit(&self, runs_per_minute: u32) {
        self.runaway_limit.store(runs_per_minute.max(1), Ordering::Relaxed);
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn connections(&self) -> &Connections {
        &self.connections
    }

    /// The apps flows can use.
    pub fn apps(&self) -> &Apps {
        &self.apps
    }

    pub fn metrics(&self) -> &EngineMetrics {
        &self.metrics
    }

    /// Checks a flow file (that its connections exist, are of the app its steps need and were
    /// granted the scopes they need) and stores it, enabled (lifting a runaway pause); warns
    /// when the flow can trigger itself. It is parsed off the async runtime.
    pub async fn apply_flow(&self, text: &str) -> Result<Applied, EngineError> {
        let flow = Flow::parse_off_runtime_with(text.to_owned(), self.apps.clone()).await?;
        for step in &flow.steps {
            let Some(name) = step.spec.connection.as_deref() else { continue };
            let Some(connection) = self.store.connection_summary(name).await? else {
                return Err(EngineError::MissingConnection(name.to_owned()));
            };
            let wanted = match &step.action {
                Action::App(operation) => operation.app.clone(),
                _ => HTTP,
            };
            if connection.app != wanted.as_str() {
                return Err(EngineError::WrongConnection {
                    step: step.spec.name.clone(),
                    connection: name.to_owned(),
                    app: connection.app,
                    action: step.spec.action.clone(),
                    wanted,
                });
            }
        }
        let needed = flow.scopes();
        for name in flow.connections() {
            let Some(connection) = self.store.connection_summary(name).await? else {
                return Err(EngineError::MissingConnection(name.to_owned()));
            };
            // A private token's scopes are chosen in the app, out of sight.
            if connection.auth_kind != "oauth" {
                continue;
            }
            let granted: Vec<&str> = connection.scopes.split_whitespace().collect();
            let missing: Vec<String> = needed
                .get(name)
                .into_iter()
                .flatten()
                .filter(|scope| !granted.contains(scope))
                .map(|scope| (*scope).to_owned())
                .collect();
            if !missing.is_empty() {
                return Err(EngineError::MissingScopes {
                    connection: name.into(),
                    app: connection.app,
                    scopes: missing,
                });
            }
        }
        let id = self.store.put_flow(&flow.spec.name, text, true).await?;
        let limit = self.runaway_limit.load(Ordering::Relaxed);
        Ok(Applied { id, warnings: flow.self_trigger_warnings(limit) })
    }

    /// The scopes the stored flows need from a connection: what `connect` asks for, so a
    /// connection is widened only as far as its flows write.
    pub async fn scopes_needed(&self, connection: &str) -> Result<Vec<&'static str>, EngineError> {
        let mut scopes = Vec::new();
        for record in self.store.flows().await? {
            let Ok(flow) = self.compiled(&record.id, &record.definition) else { continue };
            scopes.extend(flow.scopes().remove(connection).into_iter().flatten());
        }
        scopes.sort_unstable();
        scopes.dedup();
        Ok(scopes)
    }

    /// Stores an event with one run per enabled flow it triggers, durably, once. An event
    /// that echoes a flow's own write does not run that flow (unless it says
    /// `on_own_writes: run`), and a flow that runs one record too often is paused.
    pub async fn ingest(&self, event: &NewEvent) -> Result<IngestOutcome, EngineError> {
        // A webhook's source is its app.
        let targets = self.flows_on(&event.source, &event.event_type).await?;
        let outcome = self.store.ingest_for(event, &targets, None).await?;
        if let IngestOutcome::Stored { echoes, paused, .. } = &outcome {
            for flow in echoes {
                tracing::debug!(flow = %flow, event = %event.dedup_key, "the echo of the flow's own write: not run");
            }
            self.metrics.echoes(echoes.len());
            for pause in paused {
                tracing::warn!(flow = %pause.flow_id, reason = %pause.reason, "flow paused");
                self.metrics.runaway();
            }
        }
        Ok(outcome)
    }

    /// The enabled flows an app's event triggers, with their guards.
    pub(crate) async fn flows_on(
        &self,
        app: &str,
        event_type: &str,
    ) -> Result<Vec<Target>, EngineError> {
        let limit = self.runaway_limit.load(Ordering::Relaxed);
        let mut targets = Vec::new();
        for (record, flow) in self.enabled_flows().await? {
            if flow.app_event().is_some_and(|(on, event)| *on == *app && event == event_type) {
                targets.push(Target {
                    flow_id: record.id,
                    skip_own_echoes: flow.on_own_writes == OwnWrites::Skip,
                    runs_per_minute_limit: Some(limit),
                });
            }
        }
        Ok(targets)
    }

    /// The enabled flows, compiled (a broken or paused flow is left out).
    pub(crate) async fn enabled_flows(&self) -> Result<Vec<(FlowRecord, Arc<Flow>)>, EngineError> {
        let mut flows = Vec::new();
        for record in self.store.flows().await? {
            if record.status != FlowStatus::Enabled {
                continue;
            }
            if let Some(flow) = self.load(&record).await {
                flows.push((record, flow));
            }
        }
        Ok(flows)
    }

    /// Loads every stored flow (at start): a flow that cannot be loaded is marked broken, with
    /// the reason, and skipped, never a reason not to start. Answers how many are broken.
    pub async fn load_flows(&self) -> Result<usize, EngineError> {
        let mut broken = 0;
        for record in self.store.flows().await? {
            if self.load(&record).await.is_none() {
                broken += 1;
            }
        }
        Ok(broken)
    }

    /// A stored flow compiled, or `None` when it is broken: then it is marked so in the store
    /// (`flows list`, `flows show` and the API show why) and skipped.
    async fn load(&self, record: &FlowRecord) -> Option<Arc<Flow>> {
        let compiled = self.compiled(&record.id, &record.definition);
        let broken = compiled.as_ref().err();
        if record.broken.as_ref() != broken {
            if let Some(reason) = broken {
                tracing::warn!(flow = %record.name, reason = %reason, "flow cannot be loaded; skipped");
            }
            if let Err(err) =
                self.store.set_flow_broken(&record.id, broken.map(String::as_str)).await
            {
                tracing::warn!(flow = %record.name, error = %err, "cannot mark the flow broken");
            }
        }
        compiled.ok()
    }

    /// Runs a flow on demand (its trigger whatever it is) with `trigger` as `.trigger`. A
    /// `key` makes the request idempotent: asked twice with one key, it runs once.
    pub async fn run_now(
        &self,
        flow_name: &str,
        trigger: Value,
        key: Option<&str>,
    ) -> Result<IngestOutcome, EngineError> {
        let Some(flow) = self.store.flow(flow_name).await? else {
            return Err(EngineError::UnknownFlow(flow_name.to_owned()));
        };
        let event = NewEvent {
            dedup_key: format!(
                "manual:{}:{}",
                flow.id,
                key.map_or_else(ghl_store::new_id, str::to_owned)
            ),
            source: "manual".into(),
            event_type: "manual".into(),
            location_id: None,
            payload: trigger,
        };
        Ok(self.store.ingest(&event, &[flow.id], None).await?)
    }

    /// A stored flow compiled once per definition; a refusal is kept too, so a broken flow is
    /// not parsed again on every event.
    pub(crate) fn compiled(&self, flow_id: &str, definition: &str) -> Compiled {
        if let Some((text, flow)) = self.flows.lock().get(flow_id) {
            if text == definition {
                return flow.clone();
            }
        }
        let flow =
            Flow::parse_with(definition, &self.apps).map(Arc::new).map_err(|err| err.to_string());
        self.flows.lock().insert(flow_id.to_owned(), (definition.to_owned(), flow.clone()));
        flow
    }

    /// Claims a batch of due runs and executes them; `false` when none is due.
    pub async fn run_next(&self) -> Result<bool, EngineError> {
        self.run_batch(&CancellationToken::new()).await
    }

    /// Claims up to [`CLAIM_BATCH`] due runs at once and executes them one after the other,
    /// renewing the leases of all it has not finished; once `shutdown` is cancelled it starts
    /// no more and gives the others back. `false` when none is due.
    async fn run_batch(&self, shutdown: &CancellationToken) -> Result<bool, EngineError> {
        let batch = self.store.claim_batch(CLAIM_BATCH, self.lease).await?;
        if batch.is_empty() {
            return Ok(false);
        }
        let mut held: Vec<String> = batch.iter().map(|run| run.id.clone()).collect();
        for run in &batch {
            if shutdown.is_cancelled() {
                self.store.release(&held).await?;
                break;
            }
            self.run_claimed(run, &held).await?;
            held.retain(|id| id != &run.id);
        }
        Ok(true)
    }

    /// Executes a claimed run and records how it ended, renewing the leases of `held` (the run
    /// and the rest of its batch) meanwhile.
    async fn run_claimed(&self, run: &ClaimedRun, held: &[String]) -> Result<(), EngineError> {
        let outcome = {
            let execution = self.execute(run);
            tokio::pin!(execution);
            let mut heartbeat = tokio::time::interval(self.lease / 3);
            heartbeat.tick().await;
            loop {
                tokio::select! {
                    outcome = &mut execution => break outcome,
                    _ = heartbeat.tick() => {
                        if let Err(err) = self.store.extend_leases(held, self.lease).await {
                            tracing::warn!(run = %run.id, error = %err, "cannot renew the run's lease");
                        }
                    }
                }
            }
        };
        let outcome = self.masked_outcome(outcome);
        match &outcome {
            RunOutcome::Done => tracing::info!(run = %run.id, "run done"),
            RunOutcome::Skipped => tracing::info!(run = %run.id, "run skipped by a filter"),
            RunOutcome::WaitUntil { at_ms, reason } => {
                let reason = reason.as_deref().unwrap_or("a delay step");
                tracing::info!(run = %run.id, until = %iso(*at_ms), reason, "run waits")
            }
            RunOutcome::RetryAt { error, .. } => {
                tracing::warn!(run = %run.id, attempt = run.attempt, error = %error, "run will retry")
            }
            RunOutcome::Dead { error } => {
                tracing::error!(run = %run.id, error = %error, "run dead-lettered")
            }
        }
        self.metrics.attempt(&outcome);
        self.store.finish(&run.id, &outcome).await?;
        Ok(())
    }

    /// A run's error as it may be recorded and shown.
    fn masked_outcome(&self, outcome: RunOutcome) -> RunOutcome {
        let masker = self.connections.masker();
        match outcome {
            RunOutcome::RetryAt { at_ms, error } => {
                RunOutcome::RetryAt { at_ms, error: masker.text(&error) }
            }
            RunOutcome::Dead { error } => RunOutcome::Dead { error: masker.text(&error) },
            RunOutcome::WaitUntil { at_ms, reason } => {
                RunOutcome::WaitUntil { at_ms, reason: reason.map(|reason| masker.text(&reason)) }
            }
            other => other,
        }
    }

    /// Works the queue until `shutdown`; `idle` is how long to wait when nothing is due.
    pub async fn work(self: Arc<Self>, shutdown: CancellationToken, idle: Duration) {
        while !shutdown.is_cancelled() {
            match self.run_batch(&shutdown).await {
                Ok(true) => {}
                Ok(false) => {
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = tokio::time::sleep(idle) => {}
                    }
                }
                Err(err) => {
                    tracing::error!(error = %err, "worker cannot reach the store");
                    tokio::time::sleep(idle).await;
                }
            }
        }
    }

    /// The test feature: runs a flow step by step on a sample trigger against the real
    /// connections, recording nothing. With `dry_run`, writes are shown but not sent (reads are
    /// sent, so later steps see real data); delays are shown, not waited.
    pub async fn test_flow(&self, flow: &Flow, trigger: Value, dry_run: bool) -> Vec<StepReport> {
        let mut recorder = ReportRecorder::new(self.connections.masker(), dry_run);
        match self.interpreter().run(flow, &trigger, &mut recorder).await {
            Ok(_) => {}
            Err(never) => match never {},
        }
        recorder.into_reports()
    }

    /// The one interpreter, over this engine's apps, connections and HTTP client.
    fn interpreter(&self) -> Interpreter<'_> {
        Interpreter { apps: &self.apps, connections: &self.connections, http: &self.http }
    }

    async fn execute(&self, run: &ClaimedRun) -> RunOutcome {
        let flow = match self.store.flow_by_id(&run.flow_id).await {
            Ok(Some(record)) => match self.compiled(&record.id, &record.definition) {
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
        let mut recorder =
            StoreRecorder::new(&self.store, self.connections.masker(), &self.metrics, run);
        match self.interpreter().run(&flow, &run.payload, &mut recorder).await {
            Ok(Ending::Done) => RunOutcome::Done,
            Ok(Ending::Filtered | Ending::Stopped) => RunOutcome::Skipped,
            Ok(Ending::Waiting(at_ms)) => RunOutcome::WaitUntil { at_ms, reason: None },
            Ok(Ending::FilterFailed(error)) => {
                RunOutcome::Dead { error: format!("flow filter: {error}") }
            }
            Ok(Ending::Failed { step, on_error, error }) => {
                let message = format!("step `{step}`: {}", error.message);
                // Told to come back later: not the step's failure, whatever `on_error`.
                if let Some(wait) = error.wait {
                    return self.wait(message, wait);
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
        RunOutcome::RetryAt { at_ms: ghl_store::now_ms().saturating_add(millis(delay)), error }
    }

    /// Waits until the other side said to come back (a rate limit's `Retry-After`, a daily
    /// quota's reset): the run is rescheduled then, and this claim is not counted as an
    /// attempt.
    fn wait(&self, error: String, wait: Wait) -> RunOutcome {
        let now = std::time::SystemTime::now();
        // A little after the reset, so the other side's clock has passed it too.
        let at_ms = ghl_store::now_ms().saturating_add(millis(wait.remaining(now) + WAIT_MARGIN));
        RunOutcome::WaitUntil { at_ms, reason: Some(error) }
    }
}

/// How long after a reset the other side said a waiting run comes back.
const WAIT_MARGIN: Duration = Duration::from_millis(250);

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}
