//! Runs: a claimed run executes its flow step by step; each step's input, request, response,
//! duration and error are recorded. A step that writes records its result as an effect in
//! the same transaction as the step, keyed by (run, step): a retried run finds it and does
//! not write again. After a crash between sending a create and recording it, the retry looks
//! the record up before creating (the client's recovery), so nothing is created twice.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ghl_store::{ClaimedRun, FlowRecord, IngestOutcome, NewEvent, RunOutcome, StepRecord, Store};
use parking_lot::Mutex;
use rand::Rng;
use serde_json::{json, Map, Value};
use tokio_util::sync::CancellationToken;

use crate::catalog::{action_entry, Action};
use crate::connections::{ConnectionError, Connections};
use crate::flow::{Flow, OnError, Step};
use crate::metrics::EngineMetrics;
use crate::steps::{delay_until, split_input, HttpRequest, Request, StepError};

/// What makes two deliveries of a HighLevel event the same event. A contact is created once,
/// so a `ContactCreate` is keyed by the contact: its webhook and the reconciliation poll that
/// finds it when the webhook was lost make one event. Other events are keyed by `webhookId`.
pub fn event_key(event_type: &str, location_id: &str, payload: &Value, webhook_id: &str) -> String {
    match payload["id"].as_str() {
        Some(contact) if event_type == "ContactCreate" => {
            format!("highlevel:ContactCreate:{location_id}:{contact}")
        }
        _ => format!("highlevel:{webhook_id}"),
    }
}

/// Attempts of a run before it is dead-lettered.
pub const MAX_ATTEMPTS: i32 = 6;
/// How long a claimed run stays its worker's without a heartbeat; a worker that dies
/// (kill -9) gives its runs back after this. The worker renews it every third of it.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{0}")]
    Flow(#[from] crate::flow::FlowError),
    #[error(
        "flow uses connection `{0}`, which does not exist; add it with `ghl-connector connect`"
    )]
    MissingConnection(String),
    #[error(
        "flow uses connection `{connection}`, which was not granted {}; widen it with \
         `ghl-connector connect highlevel --name {connection} {}` (with the app's client id and \
         secret) and apply the flow again",
        scopes.join(", "),
        scopes.iter().map(|scope| format!("--scope {scope}")).collect::<Vec<_>>().join(" ")
    )]
    MissingScopes { connection: String, scopes: Vec<String> },
    #[error("no flow named `{0}`; `ghl-connector flows list` shows them")]
    UnknownFlow(String),
    #[error(transparent)]
    Store(#[from] ghl_store::Error),
}

/// A stored flow compiled, or why it cannot be.
type Compiled = Result<Arc<Flow>, String>;

pub struct Engine {
    store: Store,
    connections: Connections,
    /// Flows compiled (or refused) by id and definition.
    flows: Mutex<HashMap<String, (String, Compiled)>>,
    /// The base of the retry backoff (tests shorten it).
    retry_base: Duration,
    lease: Duration,
    /// For `http.request` steps.
    http: reqwest::Client,
    metrics: EngineMetrics,
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
        Self::with_retry_base(store, Duration::from_secs(2))
    }

    pub fn with_retry_base(store: Store, retry_base: Duration) -> Arc<Self> {
        Self::with_lease(store, retry_base, DEFAULT_LEASE)
    }

    /// An engine whose runs back off from `retry_base` and whose claims last `lease`.
    pub fn with_lease(store: Store, retry_base: Duration, lease: Duration) -> Arc<Self> {
        Arc::new(Self {
            connections: Connections::new(store.clone()),
            store,
            flows: Mutex::new(HashMap::new()),
            retry_base,
            lease,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .user_agent(concat!("ghl-connector/", env!("CARGO_PKG_VERSION")))
                .build()
                .unwrap_or_default(),
            metrics: EngineMetrics::default(),
        })
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn connections(&self) -> &Connections {
        &self.connections
    }

    pub fn metrics(&self) -> &EngineMetrics {
        &self.metrics
    }

    /// Checks a flow file (that its connections exist and were granted the scopes its steps
    /// need) and stores it. It is parsed off the async runtime.
    pub async fn apply_flow(&self, text: &str) -> Result<String, EngineError> {
        let flow = Flow::parse_off_runtime(text.to_owned()).await?;
        let needed = flow.scopes();
        for name in flow.connections() {
            let Some(connection) = self.store.connection_summary(name).await? else {
                return Err(EngineError::MissingConnection(name.to_owned()));
            };
            // A private integration token's scopes are chosen in HighLevel, out of sight.
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
                    scopes: missing,
                });
            }
        }
        Ok(self.store.put_flow(&flow.spec.name, text, true).await?)
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

    /// Stores an event with one run per enabled flow it triggers, durably, once.
    pub async fn ingest(&self, event: &NewEvent) -> Result<IngestOutcome, EngineError> {
        let flow_ids = self.flows_on(&event.event_type).await?;
        Ok(self.store.ingest(event, &flow_ids, None).await?)
    }

    /// The enabled flows a HighLevel event type triggers.
    pub(crate) async fn flows_on(&self, event_type: &str) -> Result<Vec<String>, EngineError> {
        let mut flow_ids = Vec::new();
        for (record, flow) in self.enabled_flows().await? {
            if flow.event() == Some(event_type) {
                flow_ids.push(record.id);
            }
        }
        Ok(flow_ids)
    }

    /// The enabled flows, compiled (a broken flow is left out).
    pub(crate) async fn enabled_flows(&self) -> Result<Vec<(FlowRecord, Arc<Flow>)>, EngineError> {
        let mut flows = Vec::new();
        for record in self.store.flows().await? {
            if !record.enabled {
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
        let flow = Flow::parse(definition).map(Arc::new).map_err(|err| err.to_string());
        self.flows.lock().insert(flow_id.to_owned(), (definition.to_owned(), flow.clone()));
        flow
    }

    /// Claims and executes one due run; `false` when none is due.
    pub async fn run_next(&self) -> Result<bool, EngineError> {
        let Some(run) = self.store.claim(self.lease).await? else { return Ok(false) };
        let outcome = {
            let execution = self.execute(&run);
            tokio::pin!(execution);
            let mut heartbeat = tokio::time::interval(self.lease / 3);
            heartbeat.tick().await;
            loop {
                tokio::select! {
                    outcome = &mut execution => break outcome,
                    _ = heartbeat.tick() => {
                        if let Err(err) = self.store.extend_lease(&run.id, self.lease).await {
                            tracing::warn!(run = %run.id, error = %err, "cannot renew the run's lease");
                        }
                    }
                }
            }
        };
        match &outcome {
            RunOutcome::Done => tracing::info!(run = %run.id, "run done"),
            RunOutcome::WaitUntil { at_ms } => {
                tracing::info!(run = %run.id, until = %iso(*at_ms), "run waits")
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
        Ok(true)
    }

    /// Works the queue until `shutdown`; `idle` is how long to wait when nothing is due.
    pub async fn work(self: Arc<Self>, shutdown: CancellationToken, idle: Duration) {
        while !shutdown.is_cancelled() {
            match self.run_next().await {
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
        if dry_run && action_entry(step.action).writes {
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
                Ok(false) => return RunOutcome::Done,
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
                Ok(StepResult::Stop) => return RunOutcome::Done,
                Ok(StepResult::Wait(at_ms)) => return RunOutcome::WaitUntil { at_ms },
                Ok(StepResult::Failed(error)) => {
                    let message = format!("step `{}`: {}", step.spec.name, error.message);
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

    /// Tries again later with exponential backoff and jitter (never sooner than the other
    /// side asked), or dead-letters the run when its attempts are spent. Waits on delay steps
    /// are not attempts.
    fn retry(&self, run: &ClaimedRun, error: String, retry_after: Option<Duration>) -> RunOutcome {
        let attempts = run.attempt - run.waits;
        if attempts >= MAX_ATTEMPTS {
            return RunOutcome::Dead { error: format!("{error} (after {attempts} attempts)") };
        }
        let ceiling = self
            .retry_base
            .saturating_mul(2u32.saturating_pow(attempts.max(1) as u32))
            .min(Duration::from_secs(600));
        let delay = ceiling.mul_f64(rand::thread_rng().gen_range(0.5..=1.0));
        let delay = delay.max(retry_after.unwrap_or_default());
        RunOutcome::RetryAt { at_ms: ghl_store::now_ms() + delay.as_millis() as i64, error }
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
            tracing::info!(run = %run.id, step = %step.spec.name, message = %input["message"], "flow log");
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
        let writes = action_entry(step.action).writes;
        let mut request = match self.prepare(step, input, Some(effect_key)).await {
            Ok(request) => request,
            Err(error) => return self.fail(record, started, error).await,
        };
        if writes && run.attempt > 1 {
            if let Some(earlier) = self.store.first_request(&run.id, record.step_index).await? {
                request = request.repeat(&earlier);
            }
        }
        record.request = Some(request.describe());
        if writes {
            record.status = "sending".into();
            self.store.record_step(&record, None).await?;
            record.status = "done".into();
        }
        if run.attempt > 1 {
            if let Some(found) = request.find_created(run.created_at).await {
                record.status = "recovered".into();
                return self.finish_step(record, started, found, Some(effect_key)).await;
            }
        }
        match request.send(&self.http).await {
            Ok(answer) => {
                let effect = writes.then_some(effect_key);
                self.finish_step(record, started, answer, effect).await
            }
            Err(error) => {
                self.note_reconnect(&error).await;
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
        let Action::HighLevel(operation) = step.action else {
            let mut request = HttpRequest::from_input(&input).map_err(StepError::fatal)?;
            let has_key =
                request.headers.keys().any(|name| name.eq_ignore_ascii_case(IDEMPOTENCY_KEY));
            if let Some(key) = idempotency_key.filter(|_| request.writes() && !has_key) {
                request.headers.insert(IDEMPOTENCY_KEY.into(), key.into());
            }
            return Ok(Request::Http(request));
        };
        let connection = step.spec.connection.clone().unwrap_or_default();
        let client = self.connections.client(&connection).await.map_err(|err| {
            let retryable = matches!(err, ConnectionError::Store(_));
            StepError { retryable, ..StepError::fatal(err.to_string()) }
        })?;
        let (params, body) = split_input(operation, &client, input);
        Ok(Request::HighLevel { client, connection, operation, params, body })
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
        self.store.record_step(&record, effect_key.map(|key| (key, &output))).await?;
        Ok(StepResult::Output(output))
    }

    async fn fail(
        &self,
        mut record: StepRecord,
        started: Instant,
        error: StepError,
    ) -> Result<StepResult, ghl_store::Error> {
        record.status = "failed".into();
        record.error = Some(error.message.clone());
        record.duration_ms = started.elapsed().as_millis() as i64;
        self.store.record_step(&record, None).await?;
        Ok(StepResult::Failed(error))
    }
}

const IDEMPOTENCY_KEY: &str = "Idempotency-Key";

/// What a step that sends nothing does; `None` for steps that send a request.
fn local_work(step: &Step, input: &Value) -> Option<StepResult> {
    Some(match step.action {
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
        Action::HighLevel(_) | Action::Http => return None,
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
