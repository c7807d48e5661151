//! Runs: a claimed run executes its flow step by step; each step's input, request, response,
//! duration and error are recorded. A step that writes records its result as an effect in
//! the same transaction as the step, keyed by (run, step): a retried run finds it and does
//! not write again. After a crash between sending a create and recording it, the retry looks
//! the record up before creating (the client's recovery), so nothing is created twice.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ghl_client::{Backoff, LocalBudget, RateBudget, Wait};
use ghl_store::{
    ClaimedRun, FlowRecord, FlowStatus, IngestOutcome, NewEvent, OwnWrite, RunOutcome, StepRecord,
    Store, Target,
};
use ghl_types::remedy::{Listing, Remedy};
use parking_lot::Mutex;
use serde_json::{json, Map, Value};
use tokio_util::sync::CancellationToken;

use crate::apps::{AppId, Apps, HTTP};
use crate::catalog::{path_params, Action};
use crate::connections::{ConnectionError, Connections};
use crate::flow::{Flow, OnError, OwnWrites, Step};
use crate::metrics::EngineMetrics;
use crate::steps::{delay_until, HttpRequest, Request, StepError};

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

/// What one step of a test run did (nothing is recorded).
#[derive(Debug, Clone, serde::Serialize)]
pub struct StepReport {
    pub name: String,
    pub status: String,
    pub input: Option<Value>,
    pub request: Option<Value>,
    pub response: Option<Value>,
    pub error: Option<String>,
    /// What to do about the error, for the front end to say.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remedy: Option<Remedy>,
}

/// What one step did.
enum StepResult {
    Output(Value),
    /// The run ends here, done (a filter step that does not hold).
    Stop,
    /// The run pauses until then (ms since the epoch).
    Wait(i64),
    Failed(StepError),
}

impl StepResult {
    fn outcome(&self) -> &'static str {
        match self {
            Self::Output(_) => "done",
            Self::Stop => "stopped",
            Self::Wait(_) => "waiting",
            Self::Failed(_) => "failed",
        }
    }
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
        let mut context = json!({ "trigger": trigger, "steps": [], "now": now_iso() });
        let mut reports = Vec::new();
        let report = |name: &str, status: &str, error: Option<String>| StepReport {
            name: name.into(),
            status: status.into(),
            input: None,
            request: None,
            response: None,
            error,
            remedy: None,
        };
        match flow.filter.as_ref().map(|filter| filter.holds(&context)) {
            Some(Ok(false)) => {
                let status = "stopped: the flow's filter does not hold for this trigger";
                reports.push(report("filter", status, None));
                return reports;
            }
            Some(Err(error)) => {
                reports.push(report("filter", "failed", Some(error)));
                return reports;
            }
            _ => {}
        }
        for step in &flow.steps {
            let mut report = report(&step.spec.name, "done", None);
            let result = match step.filter.as_ref().map(|filter| filter.holds(&context)) {
                Some(Ok(false)) => {
                    report.status = "skipped".into();
                    StepResult::Output(Value::Null)
                }
                Some(Err(error)) => {
                    StepResult::Failed(StepError::fatal(format!("filter: {error}")))
                }
                _ => self.test_step(step, &context, dry_run, &mut report).await,
            };
            let output = match result {
                StepResult::Output(output) => output,
                StepResult::Stop => {
                    report.status = "stopped: the condition does not hold".into();
                    reports.push(report);
                    break;
                }
                StepResult::Wait(until) => {
                    report.status = format!("would wait until {}", iso(until));
                    json!({ "until": iso(until) })
                }
                StepResult::Failed(error) => {
                    report.status = "failed".into();
                    report.error = Some(error.message);
                    report.remedy = error.remedy;
                    reports.push(report);
                    if step.spec.on_error != OnError::Continue {
                        break;
                    }
                    push_output(&mut context, Value::Null);
                    continue;
                }
            };
            reports.push(report);
            push_output(&mut context, output);
        }
        let masker = self.connections.masker();
        for report in &mut reports {
            for field in [&mut report.input, &mut report.request, &mut report.response] {
                *field = field.as_ref().map(|value| masker.value(value));
            }
            report.error = report.error.as_deref().map(|error| masker.text(error));
        }
        reports
    }

    async fn test_step(
        &self,
        step: &Step,
        context: &Value,
        dry_run: bool,
        report: &mut StepReport,
    ) -> StepResult {
        let input = match evaluate_input(step, context) {
            Ok(input) => input,
            Err(error) => return StepResult::Failed(StepError::fatal(error)),
        };
        report.input = Some(input.clone());
        if let Some(result) = local_work(step, &input) {
            if let StepResult::Output(output) = &result {
                report.response = Some(output.clone());
            }
            return result;
        }
        let request = match self.prepare(step, input, None).await {
            Ok(request) => request,
            Err(error) => return StepResult::Failed(error),
        };
        report.request = Some(request.describe());
        if dry_run && step.entry.writes {
            report.status = "dry run: not sent".into();
            return StepResult::Output(Value::Null);
        }
        match request.send(&self.http).await {
            Ok(answer) => {
                report.response = Some(answer.clone());
                StepResult::Output(answer)
            }
            Err(error) => {
                self.note_reconnect(&error).await;
                StepResult::Failed(error)
            }
        }
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
        let mut context = json!({ "trigger": run.payload, "steps": [], "now": now_iso() });
        if let Some(filter) = &flow.filter {
            match filter.holds(&context) {
                Ok(true) => {}
                Ok(false) => return RunOutcome::Skipped,
                Err(error) => return RunOutcome::Dead { error: format!("flow filter: {error}") },
            }
        }
        for (index, step) in flow.steps.iter().enumerate() {
            let started = Instant::now();
            let result = self.run_step(run, index, step, &context).await;
            if let Ok(result) = &result {
                self.metrics.step(&step.spec.action, result.outcome(), started.elapsed());
            }
            let output = match result {
                Ok(StepResult::Output(output)) => output,
                Ok(StepResult::Stop) => return RunOutcome::Skipped,
                Ok(StepResult::Wait(at_ms)) => {
                    return RunOutcome::WaitUntil { at_ms, reason: None }
                }
                Ok(StepResult::Failed(error)) => {
                    let message = format!("step `{}`: {}", step.spec.name, error.message);
                    // Told to come back later: not the step's failure, whatever `on_error`.
                    if let Some(wait) = error.wait {
                        return self.wait(message, wait);
                    }
                    match step.spec.on_error {
                        OnError::Continue => Value::Null,
                        OnError::Retry if error.retryable => {
                            return self.retry(run, message, error.retry_after)
                        }
                        _ => return RunOutcome::Dead { error: message },
                    }
                }
                Err(err) => return self.retry(run, format!("store: {err}"), None),
            };
            push_output(&mut context, output);
        }
        RunOutcome::Done
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

    async fn run_step(
        &self,
        run: &ClaimedRun,
        index: usize,
        step: &Step,
        context: &Value,
    ) -> Result<StepResult, ghl_store::Error> {
        let started = Instant::now();
        let mut record = StepRecord {
            run_id: run.id.clone(),
            attempt: run.attempt,
            step_index: index as i32,
            name: step.spec.name.clone(),
            status: "done".into(),
            input: None,
            request: None,
            response: None,
            error: None,
            duration_ms: 0,
        };
        let effect_key = format!("{}:{index}", run.id);
        if let Some(result) = self.store.effect(&effect_key).await? {
            if let Some(until) = still_waiting(step, &result) {
                return Ok(StepResult::Wait(until));
            }
            // Applied on an earlier attempt: not again.
            record.status = "already_applied".into();
            return self.finish_step(record, started, result, None).await;
        }
        match step.filter.as_ref().map(|filter| filter.holds(context)) {
            Some(Ok(false)) => {
                record.status = "skipped".into();
                return self.finish_step(record, started, Value::Null, None).await;
            }
            Some(Err(error)) => {
                let error = StepError::fatal(format!("filter: {error}"));
                return self.fail(record, started, error).await;
            }
            _ => {}
        }
        let input = match evaluate_input(step, context) {
            Ok(input) => input,
            Err(error) => return self.fail(record, started, StepError::fatal(error)).await,
        };
        record.input = Some(input.clone());
        if step.action == Action::Log {
            let message = self.connections.masker().value(&input["message"]);
            tracing::info!(run = %run.id, step = %step.spec.name, message = %message, "flow log");
        }
        match local_work(step, &input) {
            Some(StepResult::Output(output)) => {
                self.finish_step(record, started, output, None).await
            }
            Some(StepResult::Wait(until)) => {
                // The time to wait until is an effect: a retry or resumption keeps it.
                let result = json!({ "until": iso(until) });
                record.status = "waiting".into();
                self.finish_step(record, started, result, Some(&effect_key)).await?;
                Ok(StepResult::Wait(until))
            }
            Some(StepResult::Stop) => {
                record.status = "stopped".into();
                self.finish_step(record, started, Value::Null, None).await?;
                Ok(StepResult::Stop)
            }
            Some(StepResult::Failed(error)) => self.fail(record, started, error).await,
            None => self.run_request(run, step, input, record, started, &effect_key).await,
        }
    }

    /// A step that sends a request: a write records its intent before it is sent and repeats
    /// it on retry; a create lost in a crash is looked up before it is sent again.
    async fn run_request(
        &self,
        run: &ClaimedRun,
        step: &Step,
        input: Value,
        mut record: StepRecord,
        started: Instant,
        effect_key: &str,
    ) -> Result<StepResult, ghl_store::Error> {
        let writes = step.entry.writes;
        let mut request = match self.prepare(step, input, Some(effect_key)).await {
            Ok(request) => request,
            Err(error) => return self.fail(record, started, error).await,
        };
        // An earlier attempt whose outcome is unknown is repeated as it was; after a
        // definitive refusal (or none) the request is the one evaluated now.
        let mut unknown_outcome = false;
        if writes && run.attempt > 1 {
            if let Some(earlier) = self.store.first_request(&run.id, record.step_index).await? {
                request = request.repeat(&earlier);
                unknown_outcome = true;
            }
        }
        record.request = Some(request.describe());
        let own = |answer: &Value| own_writes(&run.flow_id, effect_key, &request, answer);
        if writes {
            // What it is about to change, too: its echo may come before its answer.
            record.status = "sending".into();
            self.record(&record, None, &own(&Value::Null)).await?;
            record.status = "done".into();
        }
        if unknown_outcome {
            if let Some(found) = request.find_created(run.created_at).await {
                record.status = "recovered".into();
                let writes = own(&found);
                return self.finish_write(record, started, found, effect_key, &writes).await;
            }
        }
        match request.send(&self.http).await {
            Ok(answer) if writes => {
                let writes = own(&answer);
                self.finish_write(record, started, answer, effect_key, &writes).await
            }
            Ok(answer) => self.finish_step(record, started, answer, None).await,
            Err(error) => {
                self.note_reconnect(&error).await;
                if error.refused {
                    // Nothing changed, so no echo is coming.
                    self.store.forget_own_writes(effect_key).await?;
                }
                self.fail(record, started, error).await
            }
        }
    }

    /// A connection that needs re-authorising is marked so, for the CLI, the API and the
    /// runs to show.
    async fn note_reconnect(&self, error: &StepError) {
        if let Some(connection) = &error.reconnect {
            if let Err(err) =
                self.connections.mark_reconnect_needed(connection, &error.message).await
            {
                tracing::warn!(connection = %connection, error = %err, "cannot mark the connection");
            }
        }
    }

    /// The request a step sends. A write over plain HTTP carries `idempotency_key` (the
    /// step's effect key) unless the flow sets one, so servers that honour it apply it once.
    async fn prepare(
        &self,
        step: &Step,
        input: Value,
        idempotency_key: Option<&str>,
    ) -> Result<Request, StepError> {
        let Action::App(action) = &step.action else {
            let connection = match &step.spec.connection {
                Some(name) => Some(self.connections.http(name).await.map_err(|err| {
                    let retryable = matches!(err, ConnectionError::Store(_));
                    let remedy = err.remedy();
                    StepError { retryable, remedy, ..StepError::fatal(err.to_string()) }
                })?),
                None => None,
            };
            let mut request =
                HttpRequest::from_input(&input, connection.as_ref()).map_err(StepError::fatal)?;
            let has_key =
                request.headers.keys().any(|name| name.eq_ignore_ascii_case(IDEMPOTENCY_KEY));
            if let Some(key) = idempotency_key.filter(|_| request.writes() && !has_key) {
                request.headers.insert(IDEMPOTENCY_KEY.into(), key.into());
            }
            return Ok(Request::Http(request));
        };
        let app = self
            .apps
            .require(action.app.as_str())
            .map_err(|err| StepError::fatal(err.to_string()))?;
        let connection = step.spec.connection.clone().unwrap_or_default();
        let client = self.connections.client(&connection).await.map_err(|err| {
            let retryable = matches!(err, ConnectionError::Store(_));
            let remedy = err.remedy();
            StepError { retryable, remedy, ..StepError::fatal(err.to_string()) }
        })?;
        let operation = action.operation;
        let (params, body) = client.request(operation, input);
        Ok(Request::App { app: app.clone(), client, connection, operation, params, body })
    }

    /// Records a step that ended well (and the effect it applied, in the same transaction).
    async fn finish_step(
        &self,
        mut record: StepRecord,
        started: Instant,
        output: Value,
        effect_key: Option<&str>,
    ) -> Result<StepResult, ghl_store::Error> {
        record.response = Some(output.clone());
        record.duration_ms = started.elapsed().as_millis() as i64;
        self.record(&record, effect_key.map(|key| (key, &output)), &[]).await?;
        Ok(StepResult::Output(output))
    }

    /// Records a write that ended well, its effect, and what it changed (to recognise its
    /// echo), in one transaction.
    async fn finish_write(
        &self,
        mut record: StepRecord,
        started: Instant,
        output: Value,
        effect_key: &str,
        writes: &[OwnWrite],
    ) -> Result<StepResult, ghl_store::Error> {
        record.response = Some(output.clone());
        record.duration_ms = started.elapsed().as_millis() as i64;
        self.record(&record, Some((effect_key, &output)), writes).await?;
        Ok(StepResult::Output(output))
    }

    /// The one way a step reaches the store: every field masked first, the effect's result
    /// and what it changed too.
    async fn record(
        &self,
        record: &StepRecord,
        effect: Option<(&str, &Value)>,
        writes: &[OwnWrite],
    ) -> Result<(), ghl_store::Error> {
        let masker = self.connections.masker();
        let masked = StepRecord {
            input: record.input.as_ref().map(|value| masker.value(value)),
            request: record.request.as_ref().map(|value| masker.value(value)),
            response: record.response.as_ref().map(|value| masker.value(value)),
            error: record.error.as_deref().map(|error| masker.text(error)),
            ..record.clone()
        };
        let result = effect.map(|(key, result)| (key, masker.value(result)));
        let writes: Vec<OwnWrite> = writes
            .iter()
            .map(|write| OwnWrite { record: masker.value(&write.record), ..write.clone() })
            .collect();
        self.store
            .record_write(&masked, result.as_ref().map(|(key, result)| (*key, result)), &writes)
            .await
    }

    async fn fail(
        &self,
        mut record: StepRecord,
        started: Instant,
        error: StepError,
    ) -> Result<StepResult, ghl_store::Error> {
        record.status = if error.refused { ghl_store::REFUSED } else { "failed" }.into();
        record.error = Some(error.message.clone());
        record.duration_ms = started.elapsed().as_millis() as i64;
        self.record(&record, None, &[]).await?;
        Ok(StepResult::Failed(error))
    }
}

const IDEMPOTENCY_KEY: &str = "Idempotency-Key";

/// How long after a reset the other side said a waiting run comes back.
const WAIT_MARGIN: Duration = Duration::from_millis(250);

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// What a step that sends nothing does; `None` for steps that send a request.
fn local_work(step: &Step, input: &Value) -> Option<StepResult> {
    Some(match &step.action {
        Action::Log => StepResult::Output(input.clone()),
        Action::Filter if input["condition"] == Value::Bool(true) => {
            StepResult::Output(input.clone())
        }
        Action::Filter => StepResult::Stop,
        Action::Delay => {
            let now = ghl_store::now_ms();
            match delay_until(input, now) {
                Ok(until) if until > now => StepResult::Wait(until),
                Ok(until) => StepResult::Output(json!({ "until": iso(until) })),
                Err(error) => StepResult::Failed(StepError::fatal(error)),
            }
        }
        Action::App(_) | Action::Http => return None,
    })
}

/// The time a delay step still waits until, if it has not come yet.
fn still_waiting(step: &Step, result: &Value) -> Option<i64> {
    if step.action != Action::Delay {
        return None;
    }
    let until = chrono::DateTime::parse_from_rfc3339(result["until"].as_str()?).ok()?;
    Some(until.timestamp_millis()).filter(|until| *until > ghl_store::now_ms())
}

/// What an app write changed, for recognising its webhook echo: the record it wrote (as its
/// app finds it in the answer) once per event type it causes.
fn own_writes(flow_id: &str, effect_key: &str, request: &Request, answer: &Value) -> Vec<OwnWrite> {
    let Request::App { app, operation, params, .. } = request else { return Vec::new() };
    let events = app.events_caused(operation);
    if events.is_empty() {
        return Vec::new();
    }
    let record = app.written_record(answer);
    // The record's own id, else the most specific id in the path (`/contacts/{contactId}/tags`).
    let record_id = record["id"].as_str().map(str::to_owned).or_else(|| {
        let path = path_params(operation);
        path.iter().rev().find_map(|name| {
            params.iter().find(|(param, _)| param == name).map(|(_, value)| value.clone())
        })
    });
    let Some(record_id) = record_id else { return Vec::new() };
    events
        .iter()
        .map(|event| OwnWrite {
            effect_key: effect_key.to_owned(),
            flow_id: flow_id.to_owned(),
            record_id: record_id.clone(),
            event_type: (*event).to_owned(),
            record: record.clone(),
        })
        .collect()
}

fn push_output(context: &mut Value, output: Value) {
    if let Some(steps) = context["steps"].as_array_mut() {
        steps.push(output);
    }
}

fn evaluate_input(step: &Step, context: &Value) -> Result<Value, String> {
    let mut input = Map::new();
    for (field, mapping) in &step.input {
        input.insert(
            field.clone(),
            mapping.evaluate(context).map_err(|err| format!("{field}: {err}"))?,
        );
    }
    Ok(Value::Object(input))
}

fn now_iso() -> String {
    iso(ghl_store::now_ms())
}

/// Milliseconds since the epoch as an RFC 3339 date-time.
pub(crate) fn iso(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
