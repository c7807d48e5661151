//! Runs: a claimed run executes its flow step by step; each step's input, request, response,
//! duration and error are recorded. A step that writes records its result as an effect in
//! the same transaction as the step, keyed by (run, step): a retried run finds it and does
//! not write again. After a crash between sending a create and recording it, the retry looks
//! the record up before creating (the client's recovery), so nothing is created twice.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ghl_client::Client;
use ghl_store::{ClaimedRun, IngestOutcome, NewEvent, RunOutcome, StepRecord, Store};
use parking_lot::Mutex;
use rand::Rng;
use serde_json::{json, Map, Value};
use tokio_util::sync::CancellationToken;

use crate::catalog::{body_fields, path_params, Action};
use crate::connections::{ConnectionError, Connections};
use crate::flow::{Flow, OnError, Step};

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
    #[error(transparent)]
    Store(#[from] ghl_store::Error),
}

pub struct Engine {
    store: Store,
    connections: Connections,
    /// Compiled flows by id and definition.
    flows: Mutex<HashMap<String, (String, Arc<Flow>)>>,
    /// The base of the retry backoff (tests shorten it).
    retry_base: Duration,
    lease: Duration,
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
    Failed { error: String, retryable: bool },
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
        })
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn connections(&self) -> &Connections {
        &self.connections
    }

    /// Checks a flow file (and that its connections exist) and stores it.
    pub async fn apply_flow(&self, text: &str) -> Result<String, EngineError> {
        let flow = Flow::parse(text)?;
        for name in flow.connections() {
            if self.store.connection_summary(name).await?.is_none() {
                return Err(EngineError::MissingConnection(name.to_owned()));
            }
        }
        Ok(self.store.put_flow(&flow.spec.name, text, true).await?)
    }

    /// Stores an event with one run per enabled flow it triggers, durably, once.
    pub async fn ingest(&self, event: &NewEvent) -> Result<IngestOutcome, EngineError> {
        let mut flow_ids = Vec::new();
        for record in self.store.flows().await? {
            if !record.enabled {
                continue;
            }
            let Ok(flow) = self.compiled(&record.id, &record.definition) else { continue };
            if flow.event() == Some(event.event_type.as_str()) {
                flow_ids.push(record.id);
            }
        }
        Ok(self.store.ingest(event, &flow_ids, None).await?)
    }

    fn compiled(&self, flow_id: &str, definition: &str) -> Result<Arc<Flow>, String> {
        if let Some((text, flow)) = self.flows.lock().get(flow_id) {
            if text == definition {
                return Ok(flow.clone());
            }
        }
        let flow = Arc::new(Flow::parse(definition).map_err(|err| err.to_string())?);
        self.flows.lock().insert(flow_id.to_owned(), (definition.to_owned(), flow.clone()));
        Ok(flow)
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
            RunOutcome::RetryAt { error, .. } => {
                tracing::warn!(run = %run.id, attempt = run.attempt, error = %error, "run will retry")
            }
            RunOutcome::Dead { error } => {
                tracing::error!(run = %run.id, error = %error, "run dead-lettered")
            }
        }
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
    /// sent, so later steps see real data).
    pub async fn test_flow(&self, flow: &Flow, trigger: Value, dry_run: bool) -> Vec<StepReport> {
        let mut context = json!({ "trigger": trigger, "steps": [], "now": now_iso() });
        let mut reports = Vec::new();
        if let Some(filter) = &flow.filter {
            if !filter.holds(&context).unwrap_or(false) {
                reports.push(StepReport {
                    name: "filter".into(),
                    status: "stopped: the flow's filter does not hold for this trigger".into(),
                    input: None,
                    request: None,
                    response: None,
                    error: None,
                });
                return reports;
            }
        }
        for step in &flow.steps {
            let mut report = StepReport {
                name: step.spec.name.clone(),
                status: "done".into(),
                input: None,
                request: None,
                response: None,
                error: None,
            };
            let output = if step
                .filter
                .as_ref()
                .is_some_and(|filter| !filter.holds(&context).unwrap_or(false))
            {
                report.status = "skipped".into();
                Value::Null
            } else {
                self.test_step(step, &context, dry_run, &mut report).await
            };
            let failed = report.error.is_some();
            reports.push(report);
            if failed && step.spec.on_error != OnError::Continue {
                break;
            }
            if let Some(steps) = context["steps"].as_array_mut() {
                steps.push(output);
            }
        }
        reports
    }

    async fn test_step(
        &self,
        step: &Step,
        context: &Value,
        dry_run: bool,
        report: &mut StepReport,
    ) -> Value {
        let input = match evaluate_input(step, context) {
            Ok(input) => input,
            Err(error) => {
                report.status = "failed".into();
                report.error = Some(error);
                return Value::Null;
            }
        };
        report.input = Some(input.clone());
        let Action::HighLevel(operation) = step.action else {
            report.response = Some(input.clone());
            return input;
        };
        let connection = step.spec.connection.clone().unwrap_or_default();
        let client = match self.connections.client(&connection).await {
            Ok(client) => client,
            Err(err) => {
                report.status = "failed".into();
                report.error = Some(err.to_string());
                return Value::Null;
            }
        };
        let (params, body) = split_input(operation, &client, input);
        report.request = Some(json!({ "operation": operation.id, "params": params, "body": body }));
        if dry_run && crate::catalog::action_entry(step.action).writes {
            report.status = "dry run: not sent".into();
            return Value::Null;
        }
        let borrowed: Vec<(&str, &str)> =
            params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        match client.call(operation.id, &borrowed, body.as_ref()).await {
            Ok(answer) => {
                report.response = Some(answer.clone());
                answer
            }
            Err(err) => {
                report.status = "failed".into();
                report.error = Some(err.to_string());
                Value::Null
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
            Err(err) => return self.retry(run, format!("store: {err}")),
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
            let output = match self.run_step(run, index, step, &context).await {
                Ok(StepResult::Output(output)) => output,
                Ok(StepResult::Failed { error, retryable }) => match step.spec.on_error {
                    OnError::Continue => Value::Null,
                    OnError::Retry if retryable => {
                        return self.retry(run, format!("step `{}`: {error}", step.spec.name))
                    }
                    _ => {
                        return RunOutcome::Dead {
                            error: format!("step `{}`: {error}", step.spec.name),
                        }
                    }
                },
                Err(err) => return self.retry(run, format!("store: {err}")),
            };
            if let Some(steps) = context["steps"].as_array_mut() {
                steps.push(output);
            }
        }
        RunOutcome::Done
    }

    fn retry(&self, run: &ClaimedRun, error: String) -> RunOutcome {
        if run.attempt >= MAX_ATTEMPTS {
            return RunOutcome::Dead { error: format!("{error} (after {} attempts)", run.attempt) };
        }
        let ceiling = self
            .retry_base
            .saturating_mul(2u32.saturating_pow(run.attempt as u32))
            .min(Duration::from_secs(600));
        let delay = ceiling.mul_f64(rand::thread_rng().gen_range(0.5..=1.0));
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
            // Applied on an earlier attempt: not again.
            record.status = "already_applied".into();
            record.response = Some(result.clone());
            self.store.record_step(&record, None).await?;
            return Ok(StepResult::Output(result));
        }
        if let Some(filter) = &step.filter {
            if !filter.holds(context).unwrap_or(false) {
                record.status = "skipped".into();
                self.store.record_step(&record, None).await?;
                return Ok(StepResult::Output(Value::Null));
            }
        }
        let input = match evaluate_input(step, context) {
            Ok(input) => input,
            Err(error) => return self.fail(record, started, error, false).await,
        };
        record.input = Some(input.clone());
        match step.action {
            Action::Log => {
                tracing::info!(run = %run.id, step = %step.spec.name, message = %input["message"], "flow log");
                record.response = Some(input.clone());
                record.duration_ms = started.elapsed().as_millis() as i64;
                self.store.record_step(&record, None).await?;
                Ok(StepResult::Output(input))
            }
            Action::HighLevel(operation) => {
                let connection = step.spec.connection.clone().unwrap_or_default();
                let client = match self.connections.client(&connection).await {
                    Ok(client) => client,
                    Err(err) => {
                        let retryable = matches!(err, ConnectionError::Store(_));
                        return self.fail(record, started, err.to_string(), retryable).await;
                    }
                };
                let writes = crate::catalog::action_entry(step.action).writes;
                // A write repeats the intent of its first attempt (its inputs may depend on
                // the time); the intent is recorded before it is sent.
                let earlier = match (writes, run.attempt > 1) {
                    (true, true) => self.store.first_request(&run.id, index as i32).await?,
                    _ => None,
                };
                let (params, body) = match earlier.as_ref().and_then(request_parts) {
                    Some(parts) => parts,
                    None => split_input(operation, &client, input),
                };
                record.request =
                    Some(json!({ "operation": operation.id, "params": params, "body": body }));
                if writes {
                    record.status = "sending".into();
                    self.store.record_step(&record, None).await?;
                    record.status = "done".into();
                }
                let borrowed: Vec<(&str, &str)> =
                    params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                // A create retried after a crash: find what the lost attempt created first.
                if run.attempt > 1 && Client::is_create(operation.id) {
                    let since = UNIX_EPOCH + Duration::from_millis(run.created_at.max(0) as u64);
                    let since =
                        since.checked_sub(Duration::from_secs(5)).unwrap_or(SystemTime::UNIX_EPOCH);
                    if let Ok(Some(found)) =
                        client.find_created(operation.id, &borrowed, body.as_ref(), since).await
                    {
                        record.status = "recovered".into();
                        return self
                            .succeed(record, started, found, writes.then_some(effect_key))
                            .await;
                    }
                }
                match client.call(operation.id, &borrowed, body.as_ref()).await {
                    Ok(answer) => {
                        self.succeed(record, started, answer, writes.then_some(effect_key)).await
                    }
                    Err(err) => {
                        if let ghl_client::Error::ReconnectNeeded { reason } = &err {
                            let _ =
                                self.connections.mark_reconnect_needed(&connection, reason).await;
                        }
                        let retryable = err.is_retryable();
                        self.fail(record, started, err.to_string(), retryable).await
                    }
                }
            }
        }
    }

    async fn succeed(
        &self,
        mut record: StepRecord,
        started: Instant,
        answer: Value,
        effect_key: Option<String>,
    ) -> Result<StepResult, ghl_store::Error> {
        record.response = Some(answer.clone());
        record.duration_ms = started.elapsed().as_millis() as i64;
        self.store.record_step(&record, effect_key.as_deref().map(|key| (key, &answer))).await?;
        Ok(StepResult::Output(answer))
    }

    async fn fail(
        &self,
        mut record: StepRecord,
        started: Instant,
        error: String,
        retryable: bool,
    ) -> Result<StepResult, ghl_store::Error> {
        record.status = "failed".into();
        record.error = Some(error.clone());
        record.duration_ms = started.elapsed().as_millis() as i64;
        self.store.record_step(&record, None).await?;
        Ok(StepResult::Failed { error, retryable })
    }
}

/// A request's path and query parameters, and its body.
type RequestParts = (Vec<(String, String)>, Option<Value>);

/// The parameters and body of a recorded request.
fn request_parts(request: &Value) -> Option<RequestParts> {
    let params = request.get("params")?.as_array()?;
    let params = params
        .iter()
        .filter_map(|pair| {
            Some((pair.get(0)?.as_str()?.to_owned(), pair.get(1)?.as_str()?.to_owned()))
        })
        .collect();
    let body = request.get("body").filter(|body| !body.is_null()).cloned();
    Some((params, body))
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

/// Path and query fields become parameters, the rest the body; `locationId` comes from the
/// connection where the operation takes it and the flow does not set it.
fn split_input(operation: &ghl_types::Operation, client: &Client, input: Value) -> RequestParts {
    let Value::Object(mut fields) = input else { return (Vec::new(), None) };
    let mut params = Vec::new();
    let text = |value: Value| match value {
        Value::String(text) => text,
        other => other.to_string(),
    };
    for name in
        path_params(operation).iter().map(String::as_str).chain(operation.query.iter().copied())
    {
        if let Some(value) = fields.remove(name) {
            params.push((name.to_owned(), text(value)));
        } else if name == "locationId" {
            params.push((name.to_owned(), client.location_id().to_owned()));
        }
    }
    let (body_fields, _) = body_fields(operation);
    if body_fields.is_empty() && fields.is_empty() {
        return (params, operation.request_schema.map(|_| json!({})));
    }
    if operation.body_has_location && !fields.contains_key("locationId") {
        fields.insert("locationId".into(), client.location_id().into());
    }
    (params, Some(Value::Object(fields)))
}

fn now_iso() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
