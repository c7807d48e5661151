//! The catalog: every HighLevel client operation is an action (`highlevel.<operationId>`),
//! every HighLevel webhook event a trigger, plus utility steps. Each entry lists its input
//! fields; `ghl-connector catalog` prints it. A partner app adds its own entries the same way.

use ghl_types::spec_rules::{body_rules, response_fields};
use ghl_types::{EventType, Operation, OPERATIONS};
use serde::Serialize;

pub const HIGHLEVEL: &str = "highlevel";

#[derive(Debug, Clone, Serialize)]
pub struct ActionEntry {
    /// `highlevel.create-task`, `util.log`.
    pub action: String,
    pub summary: String,
    /// Fields the step's `input` may set.
    pub input: Vec<String>,
    /// Fields the step must set.
    pub required: Vec<String>,
    /// Fields of the step's output, as later steps read it (`.steps[0].task.id`).
    pub output: Vec<String>,
    /// Whether it changes anything (writes are recorded as effects and never repeated).
    pub writes: bool,
    /// The app whose connection the step needs; `None` for utility steps.
    pub app: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TriggerEntry {
    /// `highlevel.ContactCreate`, `manual`.
    pub trigger: String,
    pub summary: String,
    /// Fields of `.trigger`.
    pub output: Vec<String>,
}

/// The action of a step, resolved.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Action {
    HighLevel(&'static Operation),
    Log,
    /// Stops the run (successfully) unless its condition holds.
    Filter,
    /// Pauses the run durably: the worker lets go of it until the time comes.
    Delay,
    /// Any HTTP request.
    Http,
}

const UTILITIES: [Action; 4] = [Action::Log, Action::Filter, Action::Delay, Action::Http];

pub fn find_action(name: &str) -> Option<Action> {
    match name {
        "util.log" => Some(Action::Log),
        "util.filter" => Some(Action::Filter),
        "util.delay" => Some(Action::Delay),
        "http.request" => Some(Action::Http),
        _ => name.strip_prefix("highlevel.").and_then(Operation::find).map(Action::HighLevel),
    }
}

/// Sources a `poll` trigger can watch, with what each is.
pub const POLL_SOURCES: [(&str, &str); 1] = [(
    "highlevel.contacts",
    "New or updated HighLevel contacts (contact search ordered by dateUpdated)",
)];

/// The webhook events a write causes (as the sandbox emits them), from the operation table.
pub fn events_caused(operation: &Operation) -> &'static [EventType] {
    operation.events
}

/// Path parameters of an operation, from its path template.
pub fn path_params(operation: &Operation) -> Vec<String> {
    operation
        .path
        .split('/')
        .filter_map(|segment| segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(str::to_owned)
        .collect()
}

/// Body fields of an operation, from the spec's request schema (or the table's
/// `documented_body` where the schema is empty).
pub fn body_fields(operation: &Operation) -> (Vec<String>, Vec<String>) {
    match operation.request_schema.and_then(|schema| body_rules().get(schema)) {
        Some(rule) => (rule.properties.clone(), rule.required.clone()),
        // Where the spec's schema is empty, the fields the documentation gives.
        None => match operation.documented_body {
            Some(body) => (names(body.fields), names(body.required)),
            None => (Vec::new(), Vec::new()),
        },
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
        output: names(output),
        writes: false,
        app: None,
    }
}

pub fn action_entry(action: Action) -> ActionEntry {
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
        Action::HighLevel(operation) => {
            let (body, body_required) = body_fields(operation);
            let path = path_params(operation);
            let mut input = path.clone();
            input.extend(operation.query.iter().map(|name| (*name).to_owned()));
            input.extend(body);
            input.dedup();
            let mut required = path;
            required.extend(body_required);
            ActionEntry {
                action: format!("highlevel.{}", operation.id),
                summary: operation.summary.to_owned(),
                input,
                required,
                output: response_fields(operation),
                writes: operation.writes,
                app: Some(HIGHLEVEL.into()),
            }
        }
    }
}

pub fn actions() -> Vec<ActionEntry> {
    let mut all: Vec<ActionEntry> =
        OPERATIONS.iter().map(|op| action_entry(Action::HighLevel(op))).collect();
    all.extend(UTILITIES.map(action_entry));
    all
}

pub fn triggers() -> Vec<TriggerEntry> {
    let mut all: Vec<TriggerEntry> = EventType::ALL
        .iter()
        .map(|event| TriggerEntry {
            trigger: format!("highlevel.{}", event.as_str()),
            summary: format!("HighLevel webhook {}", event.as_str()),
            output: event.fields(),
        })
        .collect();
    all.push(TriggerEntry {
        trigger: "schedule".into(),
        summary: "Run on a cron schedule, in UTC (`*/15 * * * *`); one run per tick".into(),
        output: names(&["scheduledAt"]),
    });
    // A polled contact is the contact as the API gives it.
    let contact: Vec<String> = Operation::find("get-contact")
        .map(response_fields)
        .unwrap_or_default()
        .iter()
        .filter_map(|field| field.strip_prefix("contact.").map(str::to_owned))
        .collect();
    all.extend(POLL_SOURCES.iter().map(|(source, summary)| TriggerEntry {
        trigger: format!("poll: {source}"),
        summary: format!("{summary}; the cursor is durable"),
        output: contact.clone(),
    }));
    all.push(TriggerEntry {
        trigger: "manual".into(),
        summary: "Run on demand (CLI, API, test): the sample given".into(),
        output: Vec::new(),
    });
    all
}
