//! The one interpreter of a flow: its filter, then step by step the step's filter, its input,
//! its local work or its request, `on_error`, and its output into the context of the steps
//! after it. Real runs and test runs are the same walk through a flow; they differ only in
//! their [`Recorder`]: the store's (`store`) records every step, its effect and its own
//! writes, and picks up what an earlier attempt applied; the report's (`report`) collects
//! what each step did for the author to see. The interpreter decides nothing about retries:
//! it says how the walk ended ([`Ending`]) and the worker turns that into the run's outcome.

mod report;
mod store;

use std::time::{Duration, Instant};

use ghl_store::{StepStatus, Timestamp};
use serde_json::{json, Map, Value};

use crate::apps::Apps;
use crate::catalog::Action;
use crate::connections::{ConnectionError, Connections};
use crate::flow::{Flow, OnError, Step};
use crate::jq::JqError;
use crate::steps::{delay_until, HttpRequest, Request, StepError};

pub(crate) use report::ReportRecorder;
pub use report::StepReport;
pub(crate) use store::StoreRecorder;

/// How a walk through a flow ended.
pub(crate) enum Ending {
    /// Every step ran (or was skipped by its filter).
    Done,
    /// The flow's filter does not hold for this trigger.
    Filtered,
    /// The flow's filter cannot be evaluated.
    FilterFailed(String),
    /// A filter step's condition does not hold: the flow ends here.
    Stopped,
    /// A delay step: the flow pauses until then.
    Waiting(Timestamp),
    /// A step failed and the flow does not go past it: its `on_error` is not `continue`, or
    /// the other side said to come back later (never a step's own failure).
    Failed { step: String, on_error: OnError, error: StepError },
}

/// What one step did.
pub(crate) enum StepResult {
    Output(Value),
    /// The flow ends here (a filter step that does not hold).
    Stop,
    /// The flow pauses until then.
    Wait(Timestamp),
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

/// What a step did so far, as a recorder keeps it (unmasked: each recorder masks).
pub(crate) struct Trace {
    pub index: usize,
    pub name: String,
    pub status: StepStatus,
    pub input: Option<Value>,
    pub request: Option<Value>,
    /// What the step answered, as shown (a step skipped or withheld shows none).
    pub response: Option<Value>,
    pub started: Instant,
}

impl Trace {
    fn new(index: usize, step: &Step) -> Self {
        Self {
            index,
            name: step.spec.name.clone(),
            status: StepStatus::Done,
            input: None,
            request: None,
            response: None,
            started: Instant::now(),
        }
    }
}

/// Whether a step's request is sent.
pub(crate) enum Sending {
    /// Send it now.
    Now,
    /// Not sent: it was answered already (a create an earlier attempt made, found again).
    Answered(Value),
    /// Not sent, and nothing comes of it (a dry run's write).
    Withheld,
    /// Not sent, and the step fails so: an earlier attempt's outcome is unknown and sending
    /// it again could make a twin (held), or the budget it had to reserve refused it.
    Failed(StepError),
}

/// A delay step's wait.
pub(crate) enum Delay {
    /// The flow pauses until then.
    Wait,
    /// The flow goes on at once with this output (a test run shows the wait, not waits it).
    Continue(Value),
}

/// Where a walk through a flow leaves its traces. A new kind of run (a replay that shows
/// differences, a run recorded elsewhere) is a new recorder; the interpreter stays as it is.
/// Every method gets the step's trace as it stands and records it as the recorder keeps
/// things (the store's recorder masks what it writes; the report's what it shows).
pub(crate) trait Recorder {
    type Error;

    /// What logs call the run.
    fn run_label(&self) -> &str;

    /// The flow's filter does not hold (`None`) or cannot be evaluated (the error).
    fn flow_filtered(&mut self, _error: Option<&str>) {}

    /// What an earlier attempt of the run already applied for this step, if anything
    /// (recorded as such): the step is not executed again.
    async fn applied(
        &mut self,
        _step: &Step,
        _trace: &mut Trace,
    ) -> Result<Option<StepResult>, Self::Error> {
        Ok(None)
    }

    /// The key of a write's intent, the same on every attempt of the step (across retries
    /// and restarts): sent as a plain HTTP write's `Idempotency-Key` and handed to an app's
    /// client (`CallOptions::intent`).
    fn idempotency_key(&self, _index: usize) -> Option<String> {
        None
    }

    /// The step ended well with `output` (a local step, or one skipped by its filter).
    async fn done(&mut self, trace: &Trace, output: &Value) -> Result<(), Self::Error>;

    /// A delay step waits until `until`.
    async fn delay(&mut self, trace: &mut Trace, until: Timestamp) -> Result<Delay, Self::Error>;

    /// A filter step's condition does not hold.
    async fn stopped(&mut self, trace: &mut Trace) -> Result<(), Self::Error>;

    /// The step failed.
    async fn failed(&mut self, trace: &mut Trace, error: &StepError) -> Result<(), Self::Error>;

    /// The step's request is ready: the request to send (the recorder may repeat an
    /// earlier attempt's instead) and whether it is sent; the recorder sets what the trace
    /// shows of it.
    async fn before_send(
        &mut self,
        trace: &mut Trace,
        step: &Step,
        request: Request,
    ) -> Result<(Request, Sending), Self::Error>;

    /// The step's request was answered (or found answered).
    async fn answered(
        &mut self,
        trace: &Trace,
        step: &Step,
        request: &Request,
        answer: &Value,
    ) -> Result<(), Self::Error>;

    /// The step's request failed (the interpreter has marked a connection that needs
    /// re-authorising).
    async fn send_failed(
        &mut self,
        trace: &mut Trace,
        error: &StepError,
    ) -> Result<(), Self::Error> {
        self.failed(trace, error).await
    }

    /// A step took `took` and ended so (`done`, `stopped`, `waiting`, `failed`).
    fn measured(&self, _action: &str, _outcome: &str, _took: Duration) {}
}

/// What the interpreter works with: the apps, the connections and the HTTP client of
/// `http.request` steps.
pub(crate) struct Interpreter<'a> {
    pub apps: &'a Apps,
    pub connections: &'a Connections,
    pub http: &'a reqwest::Client,
}

impl Interpreter<'_> {
    /// Walks `flow` on `trigger`, leaving its traces in `recorder`.
    pub async fn run<R: Recorder>(
        &self,
        flow: &Flow,
        trigger: &Value,
        recorder: &mut R,
    ) -> Result<Ending, R::Error> {
        let now = Timestamp::now().to_rfc3339();
        let mut context = json!({ "trigger": trigger, "steps": [], "now": now });
        if let Some(filter) = &flow.filter {
            match filter.holds(&context) {
                Ok(true) => {}
                Ok(false) => {
                    recorder.flow_filtered(None);
                    return Ok(Ending::Filtered);
                }
                Err(error) => {
                    let error = error.to_string();
                    recorder.flow_filtered(Some(&error));
                    return Ok(Ending::FilterFailed(error));
                }
            }
        }
        for (index, step) in flow.steps.iter().enumerate() {
            let started = Instant::now();
            let result = self.step(index, step, &context, recorder).await?;
            recorder.measured(&step.spec.action, result.outcome(), started.elapsed());
            let output = match result {
                StepResult::Output(output) => output,
                StepResult::Stop => return Ok(Ending::Stopped),
                StepResult::Wait(until) => return Ok(Ending::Waiting(until)),
                // Told to come back later: not the step's failure, whatever `on_error`.
                StepResult::Failed(error)
                    if error.wait.is_none() && step.spec.on_error == OnError::Continue =>
                {
                    Value::Null
                }
                StepResult::Failed(error) => {
                    return Ok(Ending::Failed {
                        step: step.spec.name.clone(),
                        on_error: step.spec.on_error,
                        error,
                    })
                }
            };
            push_output(&mut context, output);
        }
        Ok(Ending::Done)
    }

    async fn step<R: Recorder>(
        &self,
        index: usize,
        step: &Step,
        context: &Value,
        recorder: &mut R,
    ) -> Result<StepResult, R::Error> {
        let mut trace = Trace::new(index, step);
        if let Some(result) = recorder.applied(step, &mut trace).await? {
            return Ok(result);
        }
        match step.filter.as_ref().map(|filter| filter.holds(context)) {
            Some(Ok(false)) => {
                trace.status = StepStatus::Skipped;
                recorder.done(&trace, &Value::Null).await?;
                return Ok(StepResult::Output(Value::Null));
            }
            Some(Err(error)) => {
                let error = StepError::fatal(format!("filter: {error}"));
                return fail(recorder, &mut trace, error).await;
            }
            _ => {}
        }
        let input = match evaluate_input(step, context) {
            Ok(input) => input,
            Err(error) => {
                return fail(recorder, &mut trace, StepError::fatal(error.to_string())).await
            }
        };
        trace.input = Some(input.clone());
        if step.action == Action::Log {
            let message = self.connections.masker().value(&input["message"]);
            let run = recorder.run_label();
            tracing::info!(run = %run, step = %step.spec.name, message = %message, "flow log");
        }
        match local_work(step, &input) {
            Some(StepResult::Output(output)) => {
                trace.response = Some(output.clone());
                recorder.done(&trace, &output).await?;
                Ok(StepResult::Output(output))
            }
            Some(StepResult::Wait(until)) => match recorder.delay(&mut trace, until).await? {
                Delay::Wait => Ok(StepResult::Wait(until)),
                Delay::Continue(output) => Ok(StepResult::Output(output)),
            },
            Some(StepResult::Stop) => {
                recorder.stopped(&mut trace).await?;
                Ok(StepResult::Stop)
            }
            Some(StepResult::Failed(error)) => fail(recorder, &mut trace, error).await,
            None => self.request(step, input, trace, recorder).await,
        }
    }

    /// A step that sends a request.
    async fn request<R: Recorder>(
        &self,
        step: &Step,
        input: Value,
        mut trace: Trace,
        recorder: &mut R,
    ) -> Result<StepResult, R::Error> {
        let key = recorder.idempotency_key(trace.index);
        let request = match self.prepare(step, input, key.as_deref()).await {
            Ok(request) => request,
            Err(error) => return fail(recorder, &mut trace, error).await,
        };
        let (request, sending) = recorder.before_send(&mut trace, step, request).await?;
        let answer = match sending {
            Sending::Withheld => {
                recorder.done(&trace, &Value::Null).await?;
                return Ok(StepResult::Output(Value::Null));
            }
            Sending::Answered(found) => found,
            Sending::Failed(error) => {
                recorder.send_failed(&mut trace, &error).await?;
                return Ok(StepResult::Failed(error));
            }
            Sending::Now => match request.send(self.http).await {
                Ok(answer) => answer,
                Err(error) => {
                    self.note_reconnect(&error).await;
                    recorder.send_failed(&mut trace, &error).await?;
                    return Ok(StepResult::Failed(error));
                }
            },
        };
        trace.response = Some(answer.clone());
        recorder.answered(&trace, step, &request, &answer).await?;
        Ok(StepResult::Output(answer))
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

    /// The request a step sends. A write over plain HTTP carries `idempotency_key` unless
    /// the flow sets one, so servers that honour it apply it once; an app's write hands it to
    /// the app's client as its intent (`CallOptions::intent`).
    async fn prepare(
        &self,
        step: &Step,
        input: Value,
        idempotency_key: Option<&str>,
    ) -> Result<Request, StepError> {
        let Action::App(action) = &step.action else {
            let connection = match &step.spec.connection {
                Some(name) => Some(self.connections.http(name).await.map_err(connection_error)?),
                None => None,
            };
            let mut request = HttpRequest::from_input(&input, connection.as_ref())
                .map_err(|err| StepError::fatal(err.to_string()))?;
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
        let client = self.connections.client(&connection).await.map_err(connection_error)?;
        let operation = action.operation.clone();
        let (params, body) = client.request(&operation, input);
        let intent = idempotency_key.filter(|_| operation.writes).map(str::to_owned);
        let app = app.clone();
        Ok(Request::App {
            app,
            client,
            connection,
            operation,
            params,
            body,
            intent,
            reserved: false,
        })
    }
}

const IDEMPOTENCY_KEY: &str = "Idempotency-Key";

/// A connection that cannot be used: retried only when the store could not be reached.
fn connection_error(err: ConnectionError) -> StepError {
    let retryable = matches!(err, ConnectionError::Store(_));
    let remedy = err.remedy();
    StepError { retryable, remedy, ..StepError::fatal(err.to_string()) }
}

async fn fail<R: Recorder>(
    recorder: &mut R,
    trace: &mut Trace,
    error: StepError,
) -> Result<StepResult, R::Error> {
    recorder.failed(trace, &error).await?;
    Ok(StepResult::Failed(error))
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
            let now = Timestamp::now();
            match delay_until(input, now) {
                Ok(until) if until > now => StepResult::Wait(until),
                Ok(until) => StepResult::Output(json!({ "until": until.to_rfc3339() })),
                Err(error) => StepResult::Failed(StepError::fatal(error.to_string())),
            }
        }
        Action::App(_) | Action::Http => return None,
    })
}

fn push_output(context: &mut Value, output: Value) {
    if let Some(steps) = context["steps"].as_array_mut() {
        steps.push(output);
    }
}

/// A step's input field whose mapping failed on this run's context.
#[derive(Debug, thiserror::Error)]
#[error("{field}: {error}")]
struct InputError {
    field: String,
    #[source]
    error: JqError,
}

fn evaluate_input(step: &Step, context: &Value) -> Result<Value, InputError> {
    let mut input = Map::new();
    for (field, mapping) in &step.input {
        let value = mapping
            .evaluate(context)
            .map_err(|error| InputError { field: field.clone(), error })?;
        input.insert(field.clone(), value);
    }
    Ok(Value::Object(input))
}
