//! The catalog: every operation of every registered app is an action (`<app>.<operationId>`),
//! every webhook event of an app a trigger (`<app>.<event>`), every poll source a `poll`
//! trigger, plus utility steps and the schedule and manual triggers. Each entry lists its
//! input fields; `ghl-connector catalog` prints it. The apps come from the registry
//! ([`Apps`]); nothing here knows one by name.

use serde::Serialize;
use serde_json::Value;

use crate::apps::{AppId, AppOperation, Apps};

#[derive(Debug, Clone, Serialize)]
pub struct ActionEntry {
    /// `highlevel.create-task`, `util.log`.
    pub action: String,
    pub summary: String,
    /// Fields the step's `input` may set.
    pub input: Vec<String>,
    /// Fields the step must set.
    pub required: Vec<String>,
    /// The field the step's connection fills in when the step leaves it out (HighLevel's
    /// `locationId`): required by the app, not by the step.
    pub filled_by_connection: Option<String>,
    /// Whether the step may set fields beyond `input` (an app's body that takes any field).
    pub any_input: bool,
    /// Fields of the step's output, as later steps read it (`.steps[0].task.id`).
    pub output: Vec<String>,
    /// Whether it changes anything (writes are recorded as effects and never repeated).
    pub writes: bool,
    /// The app whose connection the step needs; `None` for utility steps.
    pub app: Option<AppId>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TriggerEntry {
    /// `highlevel.ContactCreate`, `manual`.
    pub trigger: String,
    pub summary: String,
    /// Fields of `.trigger`.
    pub output: Vec<String>,
    /// The app whose events or records start it; `None` for the engine's own triggers.
    pub app: Option<AppId>,
}

/// The action of a step, resolved.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// An operation of a registered app.
    App(AppOperation),
    Log,
    /// Stops the run (successfully) unless its condition holds.
    Filter,
    /// Pauses the run durably: the worker lets go of it until the time comes.
    Delay,
    /// Any HTTP request.
    Http,
}

const UTILITIES: [Action; 4] = [Action::Log, Action::Filter, Action::Delay, Action::Http];

/// The action a step names: a utility, or `app.operation` of a registered app.
pub fn find_action(apps: &Apps, name: &str) -> Option<Action> {
    match name {
        "util.log" => Some(Action::Log),
        "util.filter" => Some(Action::Filter),
        "util.delay" => Some(Action::Delay),
        "http.request" => Some(Action::Http),
        _ => apps.operation(name).map(Action::App),
    }
}

fn names(fields: &[&str]) -> Vec<String> {
    fields.iter().map(|field| (*field).to_owned()).collect()
}

/// A utility step: `fields` are its input, `required` those it needs, `output` what it gives.
fn utility(action: &str, summary: &str, fields: [&[&str]; 3]) -> ActionEntry {
    let [input, required, output] = fields;
    ActionEntry {
        action: action.into(),
        summary: summary.into(),
        input: names(input),
        required: names(required),
        filled_by_connection: None,
        any_input: false,
        output: names(output),
        writes: false,
        app: None,
    }
}

/// What an action takes and gives.
pub fn action_entry(action: &Action) -> ActionEntry {
    match action {
        Action::Log => utility(
            "util.log",
            "Write a line to the run's log",
            [&["message"], &["message"], &["message"]],
        ),
        Action::Filter => utility(
            "util.filter",
            "Stop the run here, as done, unless `condition` is true",
            [&["condition"], &["condition"], &["condition"]],
        ),
        Action::Delay => utility(
            "util.delay",
            "Wait `seconds`, or until the time `until`, without holding a worker",
            [&["seconds", "until"], &[], &["until"]],
        ),
        // Recorded as an effect: a retried run never sends it twice (and a write carries an
        // Idempotency-Key).
        Action::Http => ActionEntry {
            writes: true,
            ..utility(
                "http.request",
                "Send an HTTP request; the output is its status and body",
                [&["method", "url", "headers", "query", "body"], &["url"], &["status", "body"]],
            )
        },
        Action::App(action) => {
            let operation = &action.operation;
            ActionEntry {
                action: action.name(),
                summary: operation.summary.clone(),
                input: operation.fields.input.clone(),
                required: operation.fields.required.clone(),
                filled_by_connection: operation.account.clone(),
                any_input: operation.fields.any_input,
                output: operation.fields.output.clone(),
                writes: operation.writes,
                app: Some(action.app.clone()),
            }
        }
    }
}

/// Every action: each app's operations, then the utilities.
pub fn actions(apps: &Apps) -> Vec<ActionEntry> {
    let mut all: Vec<ActionEntry> = apps
        .iter()
        .flat_map(|app| {
            let id = app.id();
            app.operations().iter().map(move |operation| AppOperation {
                app: id.clone(),
                operation: operation.clone(),
            })
        })
        .map(|operation| action_entry(&Action::App(operation)))
        .collect();
    all.extend(UTILITIES.map(|action| action_entry(&action)));
    all
}

/// Every trigger: each app's webhook events, the schedule, each app's poll sources, manual.
pub fn triggers(apps: &Apps) -> Vec<TriggerEntry> {
    let mut all: Vec<TriggerEntry> = apps
        .iter()
        .flat_map(|app| {
            let (id, title) = (app.id(), app.title());
            app.events().into_iter().map(move |event| TriggerEntry {
                trigger: format!("{id}.{}", event.name),
                summary: format!("{title} webhook {}", event.name),
                output: event.fields,
                app: Some(id.clone()),
            })
        })
        .collect();
    all.push(TriggerEntry {
        trigger: "schedule".into(),
        summary: "Run on a cron schedule, in UTC (`*/15 * * * *`); one run per tick".into(),
        output: names(&["scheduledAt"]),
        app: None,
    });
    for app in apps.iter() {
        all.extend(app.poll_sources().iter().map(|source| TriggerEntry {
            trigger: format!("poll: {}.{}", app.id(), source.name),
            summary: format!("{}; the cursor is durable", source.summary),
            output: source.record_fields.clone(),
            app: Some(app.id()),
        }));
    }
    all.push(TriggerEntry {
        trigger: "manual".into(),
        summary: "Run on demand (CLI, API, test): the sample given".into(),
        output: Vec::new(),
        app: None,
    });
    all
}

/// The catalog's trigger of this id (`highlevel.ContactCreate`, `poll: your-app.contacts`,
/// `schedule`, `manual`).
pub fn trigger(apps: &Apps, id: &str) -> Option<TriggerEntry> {
    triggers(apps).into_iter().find(|entry| entry.trigger == id)
}

/// How a trigger's events are stored: the `source` and `event_type` intake gives them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAs {
    /// The app's id for its webhooks; `poll`, `schedule`, `manual` for the engine's own.
    pub source: String,
    pub event_type: String,
}

/// Where the events of the trigger `entry` are stored (its id as [`triggers`] gives it).
pub fn stored_as(entry: &TriggerEntry) -> StoredAs {
    let id = entry.trigger.as_str();
    let (source, event_type) = match (id.strip_prefix("poll: "), &entry.app) {
        (Some(source), _) => ("poll".to_owned(), format!("poll:{source}")),
        (None, Some(app)) => {
            let event = id.strip_prefix(&format!("{app}.")).unwrap_or(id);
            (app.to_string(), event.to_owned())
        }
        (None, None) => (id.to_owned(), id.to_owned()),
    };
    StoredAs { source, event_type }
}

/// A trigger's example `.trigger`: its app's documented example of the event where there is
/// one; the time of a schedule's tick; else an object of the trigger's fields, each `null`
/// (`appointment.id` nested).
pub fn example(apps: &Apps, entry: &TriggerEntry) -> Value {
    let stored = stored_as(entry);
    if let Some(app) = entry.app.as_ref().and_then(|app| apps.get(app.as_str())) {
        if let Some(example) = app.event_example(&stored.event_type) {
            return example;
        }
    }
    if entry.trigger == "schedule" {
        return serde_json::json!({ "scheduledAt": ghl_store::Timestamp::now().to_rfc3339() });
    }
    let mut example = serde_json::Map::new();
    for field in &entry.output {
        let mut parts = field.split('.');
        let Some(first) = parts.next() else { continue };
        let mut at = example.entry(first.to_owned()).or_insert(Value::Null);
        for part in parts {
            if !at.is_object() {
                *at = Value::Object(serde_json::Map::new());
            }
            let Value::Object(object) = at else { break };
            at = object.entry(part.to_owned()).or_insert(Value::Null);
        }
    }
    Value::Object(example)
}

/// A flow's trigger as the catalog names it.
pub fn trigger_id(trigger: &crate::flow::Trigger) -> String {
    use crate::flow::Trigger;
    match trigger {
        Trigger::App { app, event } => format!("{app}.{event}"),
        Trigger::Poll { app, source, .. } => format!("poll: {app}.{source}"),
        Trigger::Schedule(_) => "schedule".into(),
        Trigger::Manual => "manual".into(),
    }
}
