//! Flows as users write them (YAML, kept in git, applied with `flows apply`), checked and
//! compiled once: unknown actions or triggers, bad jq and unknown fields are refused with the
//! line they are on; a file too large or nested too deep is refused before it is parsed.

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::apps::{reconciling_source, AppId, Apps, UnknownApp};
use crate::catalog::{action_entry, find_action, Action, ActionEntry};
use crate::document_bounds::check_flow_document;
use crate::jq::{JqError, Program, Template};

/// The most steps one flow may have.
pub const MAX_STEPS: usize = 100;
/// The longest flow name, in characters: a name is also a file name (`flows export`).
pub const MAX_NAME_LENGTH: usize = 100;

/// A flow file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowSpec {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    pub trigger: TriggerSpec,
    /// jq boolean over `{trigger, now}`: the run does nothing unless it holds.
    #[serde(default)]
    pub filter: Option<String>,
    pub steps: Vec<StepSpec>,
}

impl FlowSpec {
    /// Reads a flow file (bounded in size and depth) without checking it against the apps:
    /// what a front end edits before it is checked.
    pub fn read(text: &str) -> Result<Self, FlowError> {
        check_flow_document(text).map_err(|refusal| FlowError {
            line: refusal.line,
            reason: refusal.reason,
            place: None,
        })?;
        serde_norway::from_str(text).map_err(|err| FlowError {
            line: err.location().map_or(1, |location| location.line()),
            reason: err.to_string(),
            place: None,
        })
    }

    /// The flow file as YAML.
    pub fn to_yaml(&self) -> String {
        serde_norway::to_string(self).unwrap_or_default()
    }
}

/// One of: `app: highlevel` with `event: ContactCreate` (an app's webhook event; the short
/// form `highlevel: ContactCreate` names the app as the key), `schedule: "*/15 * * * *"`
/// (cron, UTC), `poll: {source, connection, every}`, `manual: true`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TriggerSpec {
    /// The app whose webhook event runs the flow (with `event`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
    /// The app's event (with `app`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poll: Option<PollSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manual: Option<bool>,
    /// With an event its app can look for when its webhook is lost (`highlevel:
    /// ContactCreate`): how often to look for records whose webhook never came (`15m`, the
    /// default, or `off`); it reads through the flow's first connection of that app.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconcile: Option<String>,
    /// With an app's event: whether the events the flow's own writes cause run it again
    /// (`run`) or not (`skip`, the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_own_writes: Option<OwnWrites>,
    /// The short form of an app's event, `<app>: <event>` (`highlevel: ContactCreate`); any
    /// other key is refused when the flow is checked.
    #[serde(flatten)]
    pub short: BTreeMap<String, Value>,
}

impl TriggerSpec {
    /// The app and event of an app trigger, in either form, as written.
    pub fn app_event(&self) -> Option<(&str, &str)> {
        if let (Some(app), Some(event)) = (&self.app, &self.event) {
            return Some((app, event));
        }
        let (app, event) = self.short.iter().next()?;
        Some((app, event.as_str()?))
    }
}

/// What a webhook trigger does with the echo of the flow's own write.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OwnWrites {
    /// Not run: the event is the flow's own doing.
    #[default]
    Skip,
    /// Run like any event (the runaway detector still pauses a loop).
    Run,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PollSpec {
    /// `<app>.<source>` (`highlevel.contacts`); `ghl-connector catalog` lists the sources.
    pub source: String,
    pub connection: String,
    /// How often: `30s`, `5m`, `1h` (at least 10 seconds).
    pub every: String,
}

/// A flow's trigger, checked.
#[derive(Debug)]
pub enum Trigger {
    /// An app's webhook event.
    App {
        app: AppId,
        event: String,
    },
    Schedule(Box<croner::Cron>),
    Poll {
        app: AppId,
        /// The app's poll source (`contacts`).
        source: String,
        /// The scopes its read needs.
        scopes: Vec<String>,
        connection: String,
        every: Duration,
    },
    Manual,
}

/// A webhook trigger's reconciliation poll: records created without their webhook arriving
/// are run as if it had.
#[derive(Debug, Clone, PartialEq)]
pub struct Reconcile {
    pub app: AppId,
    /// The app's poll source that finds them (by creation time).
    pub source: String,
    pub connection: String,
    pub every: Duration,
}

/// How often a flow on a reconcilable event looks for records whose webhook was lost, by
/// default.
pub const DEFAULT_RECONCILE: Duration = Duration::from_secs(15 * 60);

/// The shortest polling interval: polling faster spends the location's rate budget for little.
pub const MIN_POLL_INTERVAL: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepSpec {
    pub name: String,
    /// `highlevel.create-task` (`<app>.<operation>`), `util.log`; `ghl-connector catalog`
    /// lists them.
    pub action: String,
    /// The connection the action uses (app actions need one).
    #[serde(default)]
    pub connection: Option<String>,
    /// Field values: a string is a jq expression over `{trigger, steps, now}`, a string with
    /// `{{ }}` a template, anything else a literal.
    #[serde(default)]
    pub input: BTreeMap<String, Value>,
    #[serde(default)]
    pub filter: Option<String>,
    #[serde(default)]
    pub on_error: OnError,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnError {
    /// Retry with backoff while the error is retryable, then dead-letter the run.
    #[default]
    Retry,
    /// Record the error and go on with the next step.
    Continue,
    /// Stop the run here; it is dead-lettered.
    Stop,
}

/// Why a flow file was refused, and where: its line, and the part of the flow at fault when
/// the checks found it (a front end shows the error at that field).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct FlowError {
    pub line: usize,
    pub reason: String,
    /// `None` when the file could not be read as a flow at all.
    pub place: Option<Place>,
}

/// A part of a flow file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// A top-level key: `name`, `filter`, `steps`.
    Top(String),
    /// A key of the trigger (`trigger` for the whole).
    Trigger(String),
    /// A step, by its index.
    Step(usize),
    /// A key of a step (`action`, `filter`) or of its input (a field's name).
    StepKey(usize, String),
}

/// A checked flow, ready to run.
#[derive(Debug)]
pub struct Flow {
    pub spec: FlowSpec,
    pub trigger: Trigger,
    pub on_own_writes: OwnWrites,
    pub reconcile: Option<Reconcile>,
    pub filter: Option<Program>,
    pub steps: Vec<Step>,
}

#[derive(Debug)]
pub struct Step {
    pub spec: StepSpec,
    pub action: Action,
    /// What the action takes and gives.
    pub entry: ActionEntry,
    pub filter: Option<Program>,
    pub input: Vec<(String, Mapping)>,
}

#[derive(Debug)]
pub enum Mapping {
    Expression(Program),
    Template(Template),
    Literal(Value),
}

impl Mapping {
    /// A field's value as a flow file writes it: a string is jq, a string with `{{ }}` a
    /// template, anything else a literal. The one way a mapping is compiled (flows, and the
    /// flow editor's preview).
    pub fn compile(value: &Value) -> Result<Self, JqError> {
        match value {
            Value::String(text) if text.contains("{{") => {
                Template::compile(text).map(Self::Template)
            }
            Value::String(text) => Program::compile(text).map(Self::Expression),
            other => Ok(Self::Literal(other.clone())),
        }
    }

    pub fn evaluate(&self, context: &Value) -> Result<Value, JqError> {
        match self {
            Self::Expression(program) => program.first(context),
            Self::Template(template) => template.render(context).map(Value::String),
            Self::Literal(value) => Ok(value.clone()),
        }
    }
}

impl Flow {
    /// Parses and checks a flow file against the built-in apps.
    pub fn parse(text: &str) -> Result<Self, FlowError> {
        Self::parse_with(text, &Apps::builtin())
    }

    /// Parses and checks a flow file against `apps`.
    pub fn parse_with(text: &str, apps: &Apps) -> Result<Self, FlowError> {
        Self::compile(FlowSpec::read(text)?, text, apps)
    }

    /// Parses a flow file on tokio's blocking pool: a large file is CPU work that webhooks
    /// and `/healthz` must not wait behind.
    pub async fn parse_off_runtime(text: String) -> Result<Self, FlowError> {
        Self::parse_off_runtime_with(text, Apps::builtin()).await
    }

    /// [`Flow::parse_off_runtime`] against `apps`.
    pub async fn parse_off_runtime_with(text: String, apps: Apps) -> Result<Self, FlowError> {
        tokio::task::spawn_blocking(move || Self::parse_with(&text, &apps)).await.unwrap_or_else(
            |err| {
                let reason = format!("the flow could not be parsed: {err}");
                Err(FlowError { line: 1, reason, place: None })
            },
        )
    }

    /// Checks a flow against `apps`; `text` (its file) is only used to point at lines.
    pub fn compile(spec: FlowSpec, text: &str, apps: &Apps) -> Result<Self, FlowError> {
        let lines = Lines::new(text);
        let at = |place: Place, reason: String| FlowError {
            line: lines.line(&place),
            reason,
            place: Some(place),
        };
        let top = |key: &str| Place::Top(key.to_owned());
        let step_key = |index: usize, key: &str| Place::StepKey(index, key.to_owned());
        check_name(&spec.name).map_err(|reason| at(top("name"), reason.to_string()))?;
        let trigger = compile_trigger(&spec.trigger, apps)
            .map_err(|(key, reason)| at(Place::Trigger(key), reason))?;
        let filter = spec
            .filter
            .as_deref()
            .map(Program::compile)
            .transpose()
            .map_err(|reason| at(top("filter"), format!("filter: {reason}")))?;
        if spec.steps.is_empty() {
            return Err(at(top("steps"), "the flow has no steps".into()));
        }
        if spec.steps.len() > MAX_STEPS {
            let reason =
                format!("the flow has {} steps; at most {MAX_STEPS} are allowed", spec.steps.len());
            return Err(at(top("steps"), reason));
        }
        let mut steps = Vec::with_capacity(spec.steps.len());
        for (index, step) in spec.steps.iter().enumerate() {
            let action = find_action(apps, &step.action).ok_or_else(|| {
                at(
                    step_key(index, "action"),
                    format!(
                        "step `{}`: unknown action `{}`; the catalog lists them",
                        step.name, step.action
                    ),
                )
            })?;
            let entry = action_entry(&action);
            if entry.app.is_some() && step.connection.is_none() {
                return Err(at(
                    Place::Step(index),
                    format!("step `{}`: `{}` needs a `connection`", step.name, step.action),
                ));
            }
            let mut input = Vec::with_capacity(step.input.len());
            for (field, value) in &step.input {
                if !entry.input.contains(field) && !entry.any_input {
                    let known = entry.input.join(", ");
                    return Err(at(
                        step_key(index, field),
                        format!(
                            "step `{}`: `{}` has no field `{field}` (it has: {known})",
                            step.name, step.action
                        ),
                    ));
                }
                let mapping = Mapping::compile(value).map_err(|reason| {
                    at(step_key(index, field), format!("step `{}`, {field}: {reason}", step.name))
                })?;
                input.push((field.clone(), mapping));
            }
            // What the connection fills in (HighLevel's locationId) is not required.
            let filled = entry.filled_by_connection.as_deref();
            if let Some(missing) = entry
                .required
                .iter()
                .find(|field| filled != Some(field.as_str()) && !step.input.contains_key(*field))
            {
                return Err(at(
                    Place::Step(index),
                    format!("step `{}`: `{}` needs the field `{missing}`", step.name, step.action),
                ));
            }
            let filter =
                step.filter.as_deref().map(Program::compile).transpose().map_err(|reason| {
                    at(step_key(index, "filter"), format!("step `{}` filter: {reason}", step.name))
                })?;
            steps.push(Step { spec: step.clone(), action, entry, filter, input });
        }
        let reconcile = compile_reconcile(&spec.trigger, &trigger, &steps, apps)
            .map_err(|reason| at(Place::Trigger("reconcile".into()), reason.to_string()))?;
        let on_own_writes = spec.trigger.on_own_writes.unwrap_or_default();
        if spec.trigger.on_own_writes.is_some() && !matches!(trigger, Trigger::App { .. }) {
            return Err(at(
                Place::Trigger("on_own_writes".into()),
                "`on_own_writes` goes with app event triggers (`<app>: <event>`) only".into(),
            ));
        }
        Ok(Self { spec, trigger, on_own_writes, reconcile, filter, steps })
    }

    /// The connections the flow's trigger and steps use.
    pub fn connections(&self) -> Vec<&str> {
        let mut names: Vec<&str> =
            self.steps.iter().filter_map(|step| step.spec.connection.as_deref()).collect();
        if let Trigger::Poll { connection, .. } = &self.trigger {
            names.push(connection);
        }
        names.sort_unstable();
        names.dedup();
        names
    }

    /// The scopes each connection needs for the flow's trigger and steps.
    pub fn scopes(&self) -> BTreeMap<&str, BTreeSet<&str>> {
        let mut scopes: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for step in &self.steps {
            if let (Action::App(operation), Some(connection)) =
                (&step.action, step.spec.connection.as_deref())
            {
                let needed = operation.operation.scopes.iter().map(String::as_str);
                scopes.entry(connection).or_default().extend(needed);
            }
        }
        if let Trigger::Poll { connection, scopes: needed, .. } = &self.trigger {
            scopes.entry(connection).or_default().extend(needed.iter().map(String::as_str));
        }
        scopes
    }

    /// What `flows apply` says about a flow whose steps cause the event that triggers it.
    pub fn self_trigger_warnings(&self, runaway_limit: u32) -> Vec<String> {
        let Some((app, event)) = self.app_event() else { return Vec::new() };
        self.steps
            .iter()
            .filter(|step| match &step.action {
                Action::App(operation) => {
                    operation.app == *app && operation.operation.causes(event)
                }
                _ => false,
            })
            .map(|step| {
                let consequence = match self.on_own_writes {
                    OwnWrites::Skip => "the events its own writes cause are ignored \
                                        (`on_own_writes: skip`, the default)"
                        .to_owned(),
                    OwnWrites::Run => format!(
                        "with `on_own_writes: run` it runs again on its own writes, and is \
                         paused if it runs one record more than {runaway_limit} times a minute"
                    ),
                };
                format!(
                    "step `{}` ({}) causes {event}, the event that triggers this flow: the flow \
                     can trigger itself; {consequence}",
                    step.spec.name, step.spec.action
                )
            })
            .collect()
    }

    /// The app event it runs on, if any.
    pub fn event(&self) -> Option<&str> {
        self.app_event().map(|(_, event)| event)
    }

    /// The app and event it runs on, if any.
    pub fn app_event(&self) -> Option<(&AppId, &str)> {
        match &self.trigger {
            Trigger::App { app, event } => Some((app, event)),
            _ => None,
        }
    }
}

/// A flow on an event its app can reconcile (`highlevel: ContactCreate`) reconciles through
/// its first connection of that app unless told `reconcile: off`; other triggers cannot
/// reconcile (yet).
fn compile_reconcile(
    spec: &TriggerSpec,
    trigger: &Trigger,
    steps: &[Step],
    apps: &Apps,
) -> Result<Option<Reconcile>, ReconcileError> {
    let every = match spec.reconcile.as_deref() {
        Some("off") => return Ok(None),
        Some(text) => Some(interval(text).map_err(ReconcileError::Interval)?),
        None => None,
    };
    let reconciled = match trigger {
        Trigger::App { app, event } => apps.get(app.as_str()).and_then(|known| {
            let source = reconciling_source(&**known, event)?;
            Some((known, source.name.clone()))
        }),
        _ => None,
    };
    let Some((app, source)) = reconciled else {
        return match every {
            Some(_) => {
                let reconcilable: Vec<String> = apps
                    .iter()
                    .flat_map(|app| {
                        let id = app.id();
                        app.events()
                            .into_iter()
                            .filter(|event| reconciling_source(&**app, &event.name).is_some())
                            .map(move |event| format!("`{id}: {}`", event.name))
                    })
                    .collect();
                Err(ReconcileError::NotReconcilable { reconcilable })
            }
            None => Ok(None),
        };
    };
    let every = every.unwrap_or(DEFAULT_RECONCILE);
    let id = app.id();
    let connection = steps.iter().find_map(|step| match &step.action {
        Action::App(operation) if operation.app == id => step.spec.connection.clone(),
        _ => None,
    });
    match (connection, spec.reconcile.is_some()) {
        (Some(connection), _) => Ok(Some(Reconcile { app: id, source, connection, every })),
        (None, true) => Err(ReconcileError::NoConnection { title: app.title().to_owned() }),
        (None, false) => Ok(None),
    }
}

/// Why a flow's `reconcile` is refused.
#[derive(Debug, thiserror::Error)]
enum ReconcileError {
    #[error("reconcile {0} (or `off`)")]
    Interval(#[source] IntervalError),
    #[error("`reconcile` goes with {} only, so far", reconcilable.join(", "))]
    NotReconcilable { reconcilable: Vec<String> },
    #[error("`reconcile` reads through a {title} step's connection; the flow has none")]
    NoConnection { title: String },
}

/// Why a polling interval is refused.
#[derive(Debug, thiserror::Error)]
enum IntervalError {
    #[error("`{text}`: {error}")]
    Unreadable {
        text: String,
        #[source]
        error: humantime::DurationError,
    },
    #[error("`{text}`: from {}s to 31 days", MIN_POLL_INTERVAL.as_secs())]
    OutOfRange { text: String },
}

/// A polling interval (`30s`, `5m`), between `MIN_POLL_INTERVAL` and a month.
fn interval(text: &str) -> Result<Duration, IntervalError> {
    const MAX: Duration = Duration::from_secs(31 * 86_400);
    let every = humantime::parse_duration(text)
        .map_err(|error| IntervalError::Unreadable { text: text.to_owned(), error })?;
    if !(MIN_POLL_INTERVAL..=MAX).contains(&every) {
        return Err(IntervalError::OutOfRange { text: text.to_owned() });
    }
    Ok(every)
}

/// Checks a trigger; an error names the key of the trigger at fault (`trigger` for the whole),
/// and why.
fn compile_trigger(spec: &TriggerSpec, apps: &Apps) -> Result<Trigger, (String, String)> {
    let failed = |key: &str, reason: String| Err((key.to_owned(), reason));
    if let Some(key) = spec.short.keys().find(|key| apps.get(key).is_none()) {
        return failed(
            key,
            format!(
                "unknown field `{key}` in the trigger: not an app ({}) nor `app`, `event`, \
                 `schedule`, `poll`, `manual`, `reconcile`, `on_own_writes`",
                apps.names().join(", ")
            ),
        );
    }
    let set = [
        spec.app.is_some() || spec.event.is_some(),
        spec.schedule.is_some(),
        spec.poll.is_some(),
        spec.manual == Some(true),
    ];
    if set.iter().filter(|set| **set).count() + spec.short.len() != 1 {
        let reason = "the trigger is one of `<app>: <event>` (or `app: <app>` with \
                      `event: <event>`), `schedule: <cron>`, `poll: {source, connection, every}` \
                      or `manual: true`";
        return failed("trigger", reason.into());
    }
    if let Some((key, value)) = spec.short.iter().next() {
        let Some(event) = value.as_str() else {
            return failed(key, format!("`{key}:` takes an event name (`{key}: <event>`)"));
        };
        return app_trigger(apps, key, event).map_err(|reason| (key.clone(), reason.to_string()));
    }
    match (&spec.app, &spec.event) {
        (Some(app), Some(event)) => {
            let Some(known) = apps.get(app) else {
                let known = apps.names().join(", ");
                return failed("app", format!("unknown app `{app}`; the apps are {known}"));
            };
            return app_trigger(apps, &known.id().to_string(), event)
                .map_err(|reason| ("event".to_owned(), reason.to_string()));
        }
        (Some(_), None) => return failed("app", "`app` goes with `event: <event>`".into()),
        (None, Some(_)) => return failed("event", "`event` goes with `app: <app>`".into()),
        (None, None) => {}
    }
    if let Some(cron) = &spec.schedule {
        let parsed = croner::Cron::from_str(cron)
            .map_err(|err| ("schedule".to_owned(), format!("schedule `{cron}`: {err}")))?;
        return Ok(Trigger::Schedule(Box::new(parsed)));
    }
    if let Some(poll) = &spec.poll {
        let Some((app, source)) = apps.poll_source(&poll.source) else {
            let known: Vec<String> = apps
                .iter()
                .flat_map(|app| {
                    let id = app.id();
                    app.poll_sources().iter().map(move |source| format!("{id}.{}", source.name))
                })
                .collect();
            let reason =
                format!("unknown poll source `{}` (known: {})", poll.source, known.join(", "));
            return failed("source", reason);
        };
        let every = interval(&poll.every)
            .map_err(|err| ("every".to_owned(), format!("poll every {err}")))?;
        let scopes = apps
            .get(app.as_str())
            .and_then(|known| known.operation(&source.operation))
            .map(|operation| operation.scopes.clone())
            .unwrap_or_default();
        return Ok(Trigger::Poll {
            app,
            source: source.name.clone(),
            scopes,
            connection: poll.connection.clone(),
            every,
        });
    }
    Ok(Trigger::Manual)
}

/// Why an app trigger is refused.
#[derive(Debug, thiserror::Error)]
enum AppTriggerError {
    #[error(transparent)]
    UnknownApp(#[from] UnknownApp),
    #[error("unknown {title} trigger `{event}`; the catalog lists them")]
    UnknownEvent { title: String, event: String },
}

/// An app's webhook event as a trigger.
fn app_trigger(apps: &Apps, app: &str, event: &str) -> Result<Trigger, AppTriggerError> {
    let known = apps.require(app)?;
    if !known.events().iter().any(|known| known.name == event) {
        let title = known.title().to_string();
        return Err(AppTriggerError::UnknownEvent { title, event: event.to_owned() });
    }
    Ok(Trigger::App { app: known.id(), event: event.to_owned() })
}

/// A flow name: it names the flow in the CLI, the API and its file (`flows export` writes
/// spaces as `_`).
fn check_name(name: &str) -> Result<(), NameError> {
    if name.trim().is_empty() {
        return Err(NameError::Empty);
    }
    let length = name.chars().count();
    if length > MAX_NAME_LENGTH {
        return Err(NameError::TooLong(length));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, ' ' | '-' | '_' | '.');
    if let Some(bad) = name.chars().find(|c| !allowed(*c)) {
        return Err(NameError::Character { name: name.to_owned(), bad });
    }
    if name.trim() != name {
        return Err(NameError::Spaces(name.to_owned()));
    }
    if name.starts_with('.') {
        return Err(NameError::Hidden(name.to_owned()));
    }
    Ok(())
}

/// Why a flow's name is refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
enum NameError {
    #[error("the flow needs a name")]
    Empty,
    #[error("the flow's name is {0} characters long; at most {MAX_NAME_LENGTH} are allowed")]
    TooLong(usize),
    #[error(
        "the flow's name `{name}` has `{bad}`; a name is letters, digits, spaces, `-`, `_` and \
         `.` (it is also a file name)"
    )]
    Character { name: String, bad: char },
    #[error("the flow's name `{0}` starts or ends with a space")]
    Spaces(String),
    #[error("the flow's name `{0}` starts with `.`; it would be a hidden file")]
    Hidden(String),
}

/// Finds the lines of a flow file's parts, to point an error at the part at fault: a
/// top-level key, a key of the trigger, a step (its first line) or a key inside a step.
/// Block-style YAML as flows are written; anything else points at line 1.
struct Lines<'a> {
    lines: Vec<&'a str>,
    /// The index of each step's first line.
    steps: Vec<usize>,
    /// Where the steps end (the next top-level key, or the end).
    steps_end: usize,
}

impl<'a> Lines<'a> {
    fn new(text: &'a str) -> Self {
        let lines: Vec<&str> = text.lines().collect();
        let top_level = |line: &str| !line.starts_with([' ', '-', '#']) && !line.trim().is_empty();
        let mut steps = Vec::new();
        let mut steps_end = lines.len();
        if let Some(start) = lines.iter().position(|line| key_of(line) == Some("steps")) {
            let mut item_indent = None;
            for (index, line) in lines.iter().enumerate().skip(start + 1) {
                if top_level(line) {
                    steps_end = index;
                    break;
                }
                let content = line.trim_start();
                if !content.starts_with('-') {
                    continue;
                }
                let indent = line.len() - content.len();
                if *item_indent.get_or_insert(indent) == indent {
                    steps.push(index);
                }
            }
        }
        Self { lines, steps, steps_end }
    }

    /// The line of a part of the flow.
    fn line(&self, place: &Place) -> usize {
        match place {
            Place::Top(key) => self.top(key),
            Place::Trigger(key) => self.trigger(key),
            Place::Step(index) => self.step(*index),
            Place::StepKey(index, key) => self.step_key(*index, key),
        }
    }

    /// The line of a top-level key (1 when there is none).
    fn top(&self, key: &str) -> usize {
        self.top_index(key).map_or(1, |index| index + 1)
    }

    fn top_index(&self, key: &str) -> Option<usize> {
        self.lines
            .iter()
            .position(|line| !line.starts_with([' ', '-']) && key_of(line) == Some(key))
    }

    /// The line of a key of the trigger (`trigger` itself for the whole).
    fn trigger(&self, key: &str) -> usize {
        let Some(start) = self.top_index("trigger") else { return 1 };
        if key == "trigger" {
            return start + 1;
        }
        self.lines
            .iter()
            .enumerate()
            .skip(start + 1)
            .take_while(|(_, line)| line.starts_with([' ', '#']) || line.trim().is_empty())
            .find(|(_, line)| key_of(line) == Some(key))
            .map_or(start + 1, |(index, _)| index + 1)
    }

    /// The first line of step `index`.
    fn step(&self, index: usize) -> usize {
        self.steps.get(index).map_or_else(|| self.top("steps"), |line| line + 1)
    }

    /// The line of `key` in step `index` (a key of the step or of its input), or the step's.
    fn step_key(&self, index: usize, key: &str) -> usize {
        let Some(start) = self.steps.get(index).copied() else { return self.step(index) };
        let end = self.steps.get(index + 1).copied().unwrap_or(self.steps_end);
        (start..end)
            .find(|line| self.lines.get(*line).and_then(|line| key_of(line)) == Some(key))
            .map_or(start + 1, |line| line + 1)
    }
}

/// The key a block-style YAML line starts with (`  - name: x` -> `name`), if any.
fn key_of(line: &str) -> Option<&str> {
    let content = line.trim_start().trim_start_matches("- ").trim_start();
    let (key, _) = content.split_once(':')?;
    let key = key.trim().trim_matches(['"', '\'']);
    (!key.is_empty() && !key.contains(' ') && !key.starts_with('#')).then_some(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    const WELCOME: &str = r#"name: welcome
trigger:
  highlevel: ContactCreate
filter: .trigger.email != null
steps:
  - name: welcome task
    action: highlevel.create-task
    connection: highlevel
    input:
      contactId: .trigger.id
      title: 'Welcome {{ .trigger.firstName }}'
      dueDate: .now
      completed: false
"#;

    #[test]
    fn a_valid_flow_compiles() {
        let flow = Flow::parse(WELCOME).expect("valid");
        assert_eq!(flow.event(), Some("ContactCreate"));
        assert_eq!(flow.connections(), ["highlevel"]);
        assert_eq!(flow.steps[0].input.len(), 4);
    }

    #[test]
    fn mistakes_are_refused_with_their_line() {
        let cases = [
            (WELCOME.replace("create-task", "create-tsk"), 7, "unknown action"),
            (
                WELCOME.replace("contactId: .trigger.id", "contactID: .trigger.id"),
                10,
                "no field `contactID`",
            ),
            (WELCOME.replace("dueDate: .now", "dueDate: .now | ("), 12, "invalid jq"),
            (WELCOME.replace("ContactCreate", "ContactCreated"), 3, "unknown HighLevel trigger"),
            (WELCOME.replace("    connection: highlevel\n", ""), 6, "needs a `connection`"),
            (WELCOME.replace("      completed: false\n", ""), 6, "needs the field `completed`"),
            (WELCOME.replace("filter:", "filtre:"), 4, "unknown field"),
        ];
        for (text, line, reason) in cases {
            let error = Flow::parse(&text).expect_err(reason);
            assert!(error.reason.contains(reason), "{reason}: {error}");
            assert_eq!(error.line, line, "{reason}: {error}");
        }
    }

    /// `highlevel: ContactCreate` is the short form of `app: highlevel` + `event: ...`; an
    /// unknown app or a half of the long form is refused at its line, naming the apps.
    #[test]
    fn an_app_trigger_has_a_long_and_a_short_form() {
        let long = WELCOME
            .replace("  highlevel: ContactCreate\n", "  app: highlevel\n  event: ContactCreate\n");
        for text in [WELCOME, long.as_str()] {
            let flow = Flow::parse(text).expect("valid");
            let (app, event) = flow.app_event().expect("an app event");
            assert_eq!((app.as_str(), event), ("highlevel", "ContactCreate"));
            assert_eq!(flow.reconcile.as_ref().map(|r| r.source.as_str()), Some("contacts"));
        }
        let cases = [
            (
                WELCOME.replace("highlevel: ContactCreate", "no-such-app: ContactCreate"),
                3,
                "not an app (highlevel, your-app, slack, teams, webhook, ",
            ),
            (
                long.replace("app: highlevel", "app: no-such-app"),
                3,
                "unknown app `no-such-app`; the apps are highlevel, your-app, slack, teams, webhook, ",
            ),
            (long.replace("  app: highlevel\n", ""), 3, "`event` goes with `app: <app>`"),
            (
                long.replace("event: ContactCreate", "event: ContactCreated"),
                4,
                "unknown HighLevel trigger",
            ),
            (
                WELCOME.replace(
                    "  highlevel: ContactCreate\n",
                    "  highlevel: ContactCreate\n  schedule: '* * * * *'\n",
                ),
                2,
                "the trigger is one of",
            ),
        ];
        for (text, line, reason) in cases {
            let error = Flow::parse(&text).expect_err(reason);
            assert!(error.reason.contains(reason), "{reason}: {error}");
            assert_eq!(error.line, line, "{reason}: {error}");
        }
    }

    #[test]
    fn schedule_and_poll_triggers_are_checked() {
        let flow = |trigger: &str| {
            format!("name: t\ntrigger:\n{trigger}\nsteps:\n  - name: log\n    action: util.log\n    input:\n      message: .trigger\n")
        };
        let schedule = Flow::parse(&flow("  schedule: '*/15 * * * *'")).expect("valid");
        assert!(matches!(schedule.trigger, Trigger::Schedule(_)));
        let poll =
            flow("  poll:\n    source: highlevel.contacts\n    connection: hl\n    every: 5m");
        let poll = Flow::parse(&poll).expect("valid");
        assert!(matches!(poll.trigger, Trigger::Poll { every, .. } if every.as_secs() == 300));
        assert_eq!(poll.connections(), ["hl"], "the poll's connection must exist too");
        let cases = [
            (flow("  schedule: '61 * * * *'"), 3, "schedule `61 * * * *`"),
            (
                flow("  poll:\n    source: highlevel.deals\n    connection: hl\n    every: 5m"),
                4,
                "unknown poll source",
            ),
            (
                flow("  poll:\n    source: highlevel.contacts\n    connection: hl\n    every: 2s"),
                6,
                "from 10s to 31 days",
            ),
            (
                flow(
                    "  poll:\n    source: highlevel.contacts\n    connection: hl\n    every: 400y",
                ),
                6,
                "from 10s to 31 days",
            ),
            (flow("  schedule: '* * * * *'\n  manual: true"), 2, "the trigger is one of"),
            (flow("  schedule: '* * * * *'\n  reconcile: 5m"), 4, "`reconcile` goes with"),
            (flow("  highlevel: ContactCreate\n  reconcile: 5m"), 4, "the flow has none"),
        ];
        for (text, line, reason) in cases {
            let error = Flow::parse(&text).expect_err(reason);
            assert!(error.reason.contains(reason), "{reason}: {error}");
            assert_eq!(error.line, line, "{reason}: {error}");
        }
    }

    /// A step named like the flow: its errors still point at the step, not at the flow's name.
    #[test]
    fn errors_point_at_the_step_or_field_at_fault() {
        let flow = WELCOME.replace("name: welcome task", "name: welcome");
        let cases = [
            (flow.replace("    connection: highlevel\n", ""), 6, "needs a `connection`"),
            (flow.replace("      completed: false\n", ""), 6, "needs the field `completed`"),
            (flow.replace("dueDate: .now", "dueDate: .now | nope"), 12, "no jq function `nope`"),
            (
                flow.replace("filter: .trigger.email != null", "filter: .a |"),
                4,
                "filter: invalid jq",
            ),
        ];
        for (text, line, reason) in cases {
            let error = Flow::parse(&text).expect_err(reason);
            assert!(error.reason.contains(reason), "{reason}: {error}");
            assert_eq!(error.line, line, "{reason}: {error}");
        }
    }

    /// The shapes that overflowed the stack (1,000 nested parentheses, 2,000 `+` or `|`) and
    /// YAML nested or sized past its limits are refused, naming the limit and the field.
    #[test]
    fn pathological_flows_are_refused_naming_the_limit_and_the_field() {
        let with_due_date =
            |jq: &str| WELCOME.replace("dueDate: .now", &format!("dueDate: '{jq}'"));
        let cases = [
            (
                with_due_date(&format!("{}1{}", "(".repeat(1_000), ")".repeat(1_000))),
                "brackets nest more than 32",
            ),
            (with_due_date(&format!("1{}", "+1".repeat(2_000))), "more than 100 operators"),
            (with_due_date(&format!(".{}", "|.".repeat(2_000))), "more than 100 operators"),
        ];
        for (text, reason) in cases {
            let error = Flow::parse(&text).expect_err(reason);
            assert!(error.reason.contains(reason) && error.reason.contains("dueDate"), "{error}");
            assert_eq!(error.line, 12, "{error}");
        }
        let nested =
            format!("name: x\ndescription: {}1{}\n", "{a: ".repeat(50_000), "}".repeat(50_000));
        let error = Flow::parse(&nested).expect_err("200 KB nested");
        assert!(error.reason.contains("at most 65536 are allowed"), "{error}");
        let nested =
            format!("name: x\ndescription: {}1{}\n", "{a: ".repeat(12_000), "}".repeat(12_000));
        let error = Flow::parse(&nested).expect_err("60 KB nested");
        assert!(error.reason.contains("nests more than 24"), "{error}");
    }

    #[test]
    fn names_are_short_and_safe_for_a_file_name() {
        for (name, reason) in [
            ("x".repeat(MAX_NAME_LENGTH + 1), "at most 100 are allowed"),
            ("a/b".into(), "has `/`"),
            ("a:b".into(), "has `:`"),
            ("' padded'".into(), "starts or ends with a space"),
            (".hidden".into(), "starts with `.`"),
            ("''".into(), "needs a name"),
        ] {
            let text = WELCOME.replace("name: welcome\n", &format!("name: {name}\n"));
            let error = Flow::parse(&text).expect_err(reason);
            assert!(error.reason.contains(reason), "{reason}: {error}");
            assert_eq!(error.line, 1, "{error}");
        }
        let text = WELCOME.replace("name: welcome\n", "name: Welcome new_contacts-v2.1\n");
        Flow::parse(&text).expect("letters, digits, spaces, `-`, `_` and `.`");
    }

    /// The flows shipped in flows/ parse, have distinct names, and no two run on one trigger
    /// to do the same thing (applying the folders runs each event once per purpose); the
    /// sample record is the webhook payload the catalog describes for ContactCreate.
    #[test]
    fn shipped_flows_and_samples_are_valid_and_do_not_overlap() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../flows");
        let mut files = vec![root.join("welcome.yaml")];
        let examples = std::fs::read_dir(root.join("examples")).expect("flows/examples");
        files.extend(examples.map(|entry| entry.expect("entry").path()));
        let mut seen: Vec<(String, String)> = Vec::new();
        for file in &files {
            let text = std::fs::read_to_string(file).expect("read");
            let flow = Flow::parse(&text).unwrap_or_else(|err| panic!("{}: {err}", file.display()));
            let purpose = format!(
                "{:?} {:?}",
                flow.spec.trigger.app_event().map(|(_, event)| event).or(flow
                    .spec
                    .trigger
                    .schedule
                    .as_deref()),
                flow.steps.first().map(|step| &step.spec.action)
            );
            assert!(
                seen.iter().all(|(name, other)| *name != flow.spec.name && *other != purpose),
                "{}: {} overlaps {seen:?}",
                file.display(),
                flow.spec.name
            );
            seen.push((flow.spec.name.clone(), purpose));
        }
        assert!(seen.len() >= 3, "{seen:?}");
        let sample =
            std::fs::read_to_string(root.join("samples/contact-create.json")).expect("sample");
        let sample = crate::document_bounds::parse_json_sample(&sample).expect("JSON");
        let create = crate::catalog::triggers(&Apps::builtin())
            .into_iter()
            .find(|trigger| trigger.trigger == "highlevel.ContactCreate")
            .expect("ContactCreate in the catalog");
        let fields = sample.as_object().expect("an object");
        assert_eq!(sample["type"], "ContactCreate");
        for field in
            fields.keys().filter(|field| !["timestamp", "webhookId"].contains(&field.as_str()))
        {
            assert!(create.output.contains(field), "{field} is not a ContactCreate field");
        }
    }
}
