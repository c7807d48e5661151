//! The catalog: every HighLevel client operation is an action (`highlevel.<operationId>`),
//! every HighLevel webhook event a trigger, plus utility steps. Each entry lists its input
//! fields; `ghl-connector catalog` prints it. A partner app adds its own entries the same way.

use ghl_types::spec_rules::body_rules;
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
}

/// The action of a step, resolved.
#[derive(Debug, Clone, Copy)]
pub enum Action {
    HighLevel(&'static Operation),
    Log,
}

pub fn find_action(name: &str) -> Option<Action> {
    match name {
        "util.log" => Some(Action::Log),
        _ => name.strip_prefix("highlevel.").and_then(Operation::find).map(Action::HighLevel),
    }
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

/// Body fields of an operation, from the spec's request schema.
pub fn body_fields(operation: &Operation) -> (Vec<String>, Vec<String>) {
    match operation.request_schema.and_then(|schema| body_rules().get(schema)) {
        Some(rule) => (rule.properties.clone(), rule.required.clone()),
        // The search body schema is empty in the spec; NOTES.md documents its fields.
        None if operation.id == "search-contacts-advanced" => (
            ["locationId", "pageLimit", "page", "searchAfter", "query", "filters", "sort"]
                .map(String::from)
                .to_vec(),
            vec!["locationId".into(), "pageLimit".into()],
        ),
        None => (Vec::new(), Vec::new()),
    }
}

pub fn action_entry(action: Action) -> ActionEntry {
    match action {
        Action::Log => ActionEntry {
            action: "util.log".into(),
            summary: "Write a line to the run's log".into(),
            input: vec!["message".into()],
            required: vec!["message".into()],
            writes: false,
            app: None,
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
                writes: !operation.is_read() && operation.id != "search-contacts-advanced",
                app: Some(HIGHLEVEL.into()),
            }
        }
    }
}

pub fn actions() -> Vec<ActionEntry> {
    let mut all: Vec<ActionEntry> =
        OPERATIONS.iter().map(|op| action_entry(Action::HighLevel(op))).collect();
    all.push(action_entry(Action::Log));
    all
}

pub fn triggers() -> Vec<TriggerEntry> {
    let mut all: Vec<TriggerEntry> = EventType::ALL
        .iter()
        .map(|event| TriggerEntry {
            trigger: format!("highlevel.{}", event.as_str()),
            summary: format!("HighLevel webhook {}", event.as_str()),
        })
        .collect();
    all.push(TriggerEntry {
        trigger: "manual".into(),
        summary: "Run on demand (CLI, API, test)".into(),
    });
    all
}
