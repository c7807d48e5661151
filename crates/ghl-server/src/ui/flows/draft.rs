//! The flow editor's draft: a flow as its form holds it, read from the posted fields and
//! written as a flow file (`FlowSpec`), and read back from one. The draft checks nothing: the
//! flow file it makes goes through the engine's checks (`flows apply`), whose errors name the
//! part of the flow at fault (`Place`), which the draft names as a form field.
//!
//! A field is a constant (text, written as a jq string literal: `"Follow up"`) or a mapping
//! (jq, or a text with `{{ }}`), as a flow file has them.

use std::collections::BTreeMap;

use ghl_engine::flow::{FlowSpec, OnError, OwnWrites, Place, PollSpec, StepSpec, TriggerSpec};
use serde_json::Value;

/// A flow being edited.
#[derive(Debug, Clone, Default)]
pub(crate) struct Draft {
    /// The name the flow is stored under, when a stored flow is edited.
    pub(crate) original: Option<String>,
    pub(crate) name: String,
    pub(crate) description: String,
    /// The catalog's id of the trigger (`highlevel.ContactCreate`, `poll: your-app.contacts`,
    /// `schedule`, `manual`); empty until one is picked.
    pub(crate) trigger: String,
    pub(crate) schedule: String,
    pub(crate) poll_connection: String,
    pub(crate) poll_every: String,
    pub(crate) reconcile: String,
    /// `skip`, `run`, or empty (the default).
    pub(crate) on_own_writes: String,
    pub(crate) filter: String,
    pub(crate) steps: Vec<DraftStep>,
    /// A sample of the trigger given in the form (JSON), for previews and tests instead of
    /// the trigger's own; not part of the flow.
    pub(crate) sample: String,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct DraftStep {
    pub(crate) name: String,
    pub(crate) action: String,
    pub(crate) connection: String,
    pub(crate) filter: String,
    pub(crate) on_error: OnError,
    /// The fields given, in the form's order.
    pub(crate) input: Vec<(String, FieldValue)>,
    /// A field to add, named in the form (an action that takes any field).
    pub(crate) new_field: String,
}

/// A step's input field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FieldValue {
    Constant(String),
    Mapping(String),
}

impl FieldValue {
    pub(crate) fn text(&self) -> &str {
        match self {
            Self::Constant(text) | Self::Mapping(text) => text,
        }
    }

    /// The field as a flow file writes it: `None` when empty (not set).
    fn to_value(&self) -> Option<Value> {
        match self {
            Self::Constant(text) if text.is_empty() => None,
            Self::Mapping(text) if text.trim().is_empty() => None,
            // A JSON string is a jq string literal: its value is the text.
            Self::Constant(text) => serde_json::to_string(text).ok().map(Value::String),
            Self::Mapping(text) => Some(Value::String(text.clone())),
        }
    }

    /// A flow file's field: a jq string literal is a constant, any other text a mapping, and
    /// a literal (a number, a list) the jq that makes it (JSON is jq).
    fn from_value(value: &Value) -> Self {
        match value {
            Value::String(text) if !text.contains("{{") => {
                match serde_json::from_str::<String>(text) {
                    Ok(constant) => Self::Constant(constant),
                    Err(_) => Self::Mapping(text.clone()),
                }
            }
            Value::String(text) => Self::Mapping(text.clone()),
            literal => Self::Mapping(literal.to_string()),
        }
    }
}

/// What a posted editor form asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    /// Show the form again for what was picked (a trigger, an action).
    Refresh,
    AddStep,
    RemoveStep(usize),
    MoveUp(usize),
    MoveDown(usize),
    Save,
    /// Test the whole flow, or its steps up to this one.
    Test(Option<usize>),
}

impl Op {
    fn parse(text: &str) -> Self {
        let indexed = |prefix: &str| text.strip_prefix(prefix).and_then(|i| i.parse().ok());
        match text {
            "add-step" => Self::AddStep,
            "save" => Self::Save,
            "test" => Self::Test(None),
            _ => {
                if let Some(index) = indexed("remove:") {
                    Self::RemoveStep(index)
                } else if let Some(index) = indexed("up:") {
                    Self::MoveUp(index)
                } else if let Some(index) = indexed("down:") {
                    Self::MoveDown(index)
                } else if let Some(index) = indexed("test:") {
                    Self::Test(Some(index))
                } else {
                    Self::Refresh
                }
            }
        }
    }

    /// The button's value in the form.
    pub(crate) fn value(self) -> String {
        match self {
            Self::Refresh => "refresh".into(),
            Self::AddStep => "add-step".into(),
            Self::RemoveStep(index) => format!("remove:{index}"),
            Self::MoveUp(index) => format!("up:{index}"),
            Self::MoveDown(index) => format!("down:{index}"),
            Self::Save => "save".into(),
            Self::Test(None) => "test".into(),
            Self::Test(Some(index)) => format!("test:{index}"),
        }
    }
}

/// The posted form: the draft, what to do with it, and whether a test sends its writes.
#[derive(Debug)]
pub(crate) struct Posted {
    pub(crate) draft: Draft,
    pub(crate) op: Op,
    pub(crate) real_test: bool,
}

impl Posted {
    /// Reads the editor's fields (`name`, `trigger`, `steps.0.action`,
    /// `steps.0.in.title.mode`, ...); what it does not know it leaves.
    pub(crate) fn read(fields: &[(String, String)]) -> Self {
        let mut draft = Draft::default();
        let mut op = Op::Refresh;
        let mut real_test = false;
        let mut steps: BTreeMap<usize, StepFields> = BTreeMap::new();
        for (key, value) in fields {
            let value = value.clone();
            match key.as_str() {
                "original" => draft.original = Some(value).filter(|name| !name.is_empty()),
                "name" => draft.name = value,
                "description" => draft.description = value,
                "trigger" => draft.trigger = value,
                "trigger.schedule" => draft.schedule = value,
                "trigger.connection" => draft.poll_connection = value,
                "trigger.every" => draft.poll_every = value,
                "trigger.reconcile" => draft.reconcile = value,
                "trigger.on_own_writes" => draft.on_own_writes = value,
                "filter" => draft.filter = value,
                "sample" => draft.sample = value,
                "op" => op = Op::parse(&value),
                "test_mode" => real_test = value == "real",
                _ => {
                    let Some((index, rest)) = key
                        .strip_prefix("steps.")
                        .and_then(|rest| rest.split_once('.'))
                        .and_then(|(index, rest)| Some((index.parse::<usize>().ok()?, rest)))
                    else {
                        continue;
                    };
                    steps.entry(index).or_default().read(rest, value);
                }
            }
        }
        draft.steps = steps.into_values().map(StepFields::into_step).collect();
        Self { draft, op, real_test }
    }
}

/// A step's fields as they are read, before the step is whole.
#[derive(Default)]
struct StepFields {
    step: DraftStep,
    /// Each input field's mode and value, by field, in the form's order.
    modes: Vec<(String, Option<String>, Option<String>)>,
}

impl StepFields {
    fn read(&mut self, key: &str, value: String) {
        match key {
            "name" => self.step.name = value,
            "action" => self.step.action = value,
            "connection" => self.step.connection = value,
            "filter" => self.step.filter = value,
            "on_error" => {
                self.step.on_error =
                    serde_json::from_value(Value::String(value)).unwrap_or_default();
            }
            "new_field" => self.step.new_field = value,
            _ => {
                let Some((field, part)) = key.strip_prefix("in.").and_then(|f| f.rsplit_once('.'))
                else {
                    return;
                };
                let index = match self.modes.iter().position(|(name, ..)| name == field) {
                    Some(index) => index,
                    None => {
                        self.modes.push((field.to_owned(), None, None));
                        self.modes.len() - 1
                    }
                };
                let entry = &mut self.modes[index];
                match part {
                    "mode" => entry.1 = Some(value),
                    "value" => entry.2 = Some(value),
                    _ => {}
                }
            }
        }
    }

    fn into_step(self) -> DraftStep {
        let mut step = self.step;
        step.input = self
            .modes
            .into_iter()
            .map(|(field, mode, value)| {
                let value = value.unwrap_or_default();
                let value = match mode.as_deref() {
                    Some("constant") => FieldValue::Constant(value),
                    _ => FieldValue::Mapping(value),
                };
                (field, value)
            })
            .collect();
        let new_field = std::mem::take(&mut step.new_field);
        let new_field = new_field.trim();
        if !new_field.is_empty() && !step.input.iter().any(|(field, _)| field == new_field) {
            step.input.push((new_field.to_owned(), FieldValue::Mapping(String::new())));
        }
        step
    }
}

impl Draft {
    /// A new flow: its trigger still to pick, and one step.
    pub(crate) fn new_flow() -> Self {
        Self {
            steps: vec![DraftStep { name: "step 1".into(), ..DraftStep::default() }],
            ..Self::default()
        }
    }

    /// Does what the form asked, to the draft (a save or a test is the editor's to do).
    pub(crate) fn apply(&mut self, op: Op) {
        let steps = &mut self.steps;
        match op {
            Op::AddStep => {
                let name = format!("step {}", steps.len() + 1);
                steps.push(DraftStep { name, ..DraftStep::default() });
            }
            Op::RemoveStep(index) if index < steps.len() => {
                steps.remove(index);
            }
            Op::MoveUp(index) if index > 0 && index < steps.len() => steps.swap(index - 1, index),
            Op::MoveDown(index) if index + 1 < steps.len() => steps.swap(index, index + 1),
            _ => {}
        }
    }

    /// The flow file the draft makes (with only its first steps, for a step's test).
    pub(crate) fn to_spec(&self, steps: Option<usize>) -> FlowSpec {
        let text = |text: &str| Some(text.trim().to_owned()).filter(|text| !text.is_empty());
        let count = steps.map_or(self.steps.len(), |last| (last + 1).min(self.steps.len()));
        FlowSpec {
            name: self.name.trim().to_owned(),
            description: text(&self.description),
            trigger: self.trigger_spec(),
            filter: text(&self.filter),
            steps: self.steps[..count]
                .iter()
                .map(|step| StepSpec {
                    name: step.name.trim().to_owned(),
                    action: step.action.clone(),
                    connection: text(&step.connection),
                    input: step
                        .input
                        .iter()
                        .filter_map(|(field, value)| Some((field.clone(), value.to_value()?)))
                        .collect(),
                    filter: text(&step.filter),
                    on_error: step.on_error,
                })
                .collect(),
        }
    }

    fn trigger_spec(&self) -> TriggerSpec {
        let text = |text: &str| Some(text.trim().to_owned()).filter(|text| !text.is_empty());
        let mut spec = TriggerSpec {
            reconcile: text(&self.reconcile),
            on_own_writes: match self.on_own_writes.as_str() {
                "skip" => Some(OwnWrites::Skip),
                "run" => Some(OwnWrites::Run),
                _ => None,
            },
            ..TriggerSpec::default()
        };
        match self.trigger.as_str() {
            "" => {}
            "schedule" => spec.schedule = Some(self.schedule.trim().to_owned()),
            "manual" => spec.manual = Some(true),
            id => match id.strip_prefix("poll: ") {
                Some(source) => {
                    spec.poll = Some(PollSpec {
                        source: source.to_owned(),
                        connection: self.poll_connection.trim().to_owned(),
                        every: self.poll_every.trim().to_owned(),
                    });
                }
                None => {
                    let (app, event) = id.split_once('.').unwrap_or((id, ""));
                    spec.short.insert(app.to_owned(), Value::String(event.to_owned()));
                }
            },
        }
        spec
    }

    /// The draft of a flow file as stored under `original`.
    pub(crate) fn from_spec(spec: &FlowSpec, original: Option<String>) -> Self {
        let trigger = &spec.trigger;
        let own_writes = trigger.on_own_writes.map(|own| match own {
            OwnWrites::Skip => "skip",
            OwnWrites::Run => "run",
        });
        Self {
            original,
            name: spec.name.clone(),
            description: spec.description.clone().unwrap_or_default(),
            trigger: trigger_id(trigger),
            schedule: trigger.schedule.clone().unwrap_or_default(),
            poll_connection: trigger
                .poll
                .as_ref()
                .map(|p| p.connection.clone())
                .unwrap_or_default(),
            poll_every: trigger.poll.as_ref().map(|p| p.every.clone()).unwrap_or_default(),
            reconcile: trigger.reconcile.clone().unwrap_or_default(),
            on_own_writes: own_writes.unwrap_or_default().to_owned(),
            filter: spec.filter.clone().unwrap_or_default(),
            sample: String::new(),
            steps: spec
                .steps
                .iter()
                .map(|step| DraftStep {
                    name: step.name.clone(),
                    action: step.action.clone(),
                    connection: step.connection.clone().unwrap_or_default(),
                    filter: step.filter.clone().unwrap_or_default(),
                    on_error: step.on_error,
                    input: step
                        .input
                        .iter()
                        .map(|(field, value)| (field.clone(), FieldValue::from_value(value)))
                        .collect(),
                    new_field: String::new(),
                })
                .collect(),
        }
    }

    /// The flow file as YAML.
    pub(crate) fn to_yaml(&self) -> String {
        self.to_spec(None).to_yaml()
    }
}

/// The catalog's id of a flow file's trigger (`highlevel.ContactCreate`, `schedule`, ...);
/// empty when it names none.
pub(crate) fn trigger_id(trigger: &TriggerSpec) -> String {
    if let Some((app, event)) = trigger.app_event() {
        format!("{app}.{event}")
    } else if trigger.schedule.is_some() {
        "schedule".into()
    } else if let Some(poll) = &trigger.poll {
        format!("poll: {}", poll.source)
    } else if trigger.manual.is_some() {
        "manual".into()
    } else {
        String::new()
    }
}

/// The id of the form field a part of the flow is edited in.
pub(crate) fn field_id(place: &Place) -> String {
    match place {
        Place::Top(key) if key == "steps" => "steps".into(),
        Place::Top(key) => format!("f-{key}"),
        Place::Trigger(key) => match key.as_str() {
            "schedule" | "connection" | "every" | "reconcile" | "on_own_writes" => {
                format!("f-trigger-{key}")
            }
            _ => "f-trigger".into(),
        },
        Place::Step(index) => format!("f-step-{index}"),
        Place::StepKey(index, key) => step_field_id(*index, key),
    }
}

/// The id of a step's field: one of its keys, or an input field's value.
pub(crate) fn step_field_id(index: usize, key: &str) -> String {
    match key {
        "name" | "action" | "connection" | "filter" | "on_error" => format!("f-step-{index}-{key}"),
        field => input_id(index, field),
    }
}

/// The id of an input field's value.
pub(crate) fn input_id(index: usize, field: &str) -> String {
    format!("f-step-{index}-in-{field}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(fields: &[(&str, &str)]) -> Vec<(String, String)> {
        fields.iter().map(|(key, value)| ((*key).to_owned(), (*value).to_owned())).collect()
    }

    #[test]
    fn a_posted_form_makes_the_flow_file_it_shows() {
        let posted = Posted::read(&pairs(&[
            ("name", "follow-up"),
            ("trigger", "highlevel.NoteCreate"),
            ("steps.0.name", "task"),
            ("steps.0.action", "highlevel.create-task"),
            ("steps.0.connection", "highlevel"),
            ("steps.0.in.title.mode", "constant"),
            ("steps.0.in.title.value", "Follow \"up\""),
            ("steps.0.in.body.mode", "mapping"),
            ("steps.0.in.body.value", ".trigger.body"),
            ("steps.0.in.dueDate.mode", "mapping"),
            ("steps.0.in.dueDate.value", ""),
            ("op", "test:0"),
            ("test_mode", "real"),
        ]));
        assert_eq!(posted.op, Op::Test(Some(0)));
        assert!(posted.real_test);
        let spec = posted.draft.to_spec(None);
        assert_eq!(spec.trigger.app_event(), Some(("highlevel", "NoteCreate")));
        let input = &spec.steps[0].input;
        assert_eq!(input["title"], Value::String(r#""Follow \"up\"""#.into()));
        assert_eq!(input["body"], Value::String(".trigger.body".into()));
        assert!(!input.contains_key("dueDate"), "an empty field is not set");
    }

    #[test]
    fn a_flow_file_read_into_a_draft_is_written_back_the_same() {
        let text = r#"
name: copy
trigger:
  poll:
    source: your-app.contacts
    connection: app
    every: 5m
steps:
  - name: log
    action: util.log
    input:
      message: '"Hello {{ .trigger.name }}"'
  - name: send
    action: http.request
    on_error: continue
    input:
      url: '"https://example.com"'
      headers: {a: b}
      body: .trigger
"#;
        let spec = FlowSpec::read(text).expect("a flow file");
        let draft = Draft::from_spec(&spec, Some("copy".into()));
        assert_eq!(draft.trigger, "poll: your-app.contacts");
        let send = &draft.steps[1].input;
        assert!(send.contains(&("url".into(), FieldValue::Constant("https://example.com".into()))));
        let again = draft.to_spec(None);
        assert_eq!(
            serde_json::to_value(&again.trigger).ok(),
            serde_json::to_value(&spec.trigger).ok()
        );
        assert_eq!(again.steps[0].input, spec.steps[0].input, "a template stays a template");
        assert_eq!(again.steps[1].input["headers"], Value::String(r#"{"a":"b"}"#.into()));
        assert_eq!(again.steps[1].on_error, OnError::Continue);
    }

    #[test]
    fn steps_are_added_moved_and_removed_and_a_test_takes_the_first_ones() {
        let mut draft = Draft::new_flow();
        draft.apply(Op::AddStep);
        draft.apply(Op::AddStep);
        draft.apply(Op::MoveUp(2));
        let names: Vec<&str> = draft.steps.iter().map(|step| step.name.as_str()).collect();
        assert_eq!(names, ["step 1", "step 3", "step 2"]);
        draft.apply(Op::MoveDown(2));
        draft.apply(Op::RemoveStep(0));
        draft.apply(Op::RemoveStep(9));
        assert_eq!(draft.steps.len(), 2);
        assert_eq!(draft.to_spec(Some(0)).steps.len(), 1);
        for op in [Op::Save, Op::Test(None), Op::Test(Some(3)), Op::RemoveStep(1), Op::MoveUp(2)] {
            assert_eq!(Op::parse(&op.value()), op);
        }
    }
}
