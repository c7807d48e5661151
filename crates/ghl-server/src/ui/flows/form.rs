//! The flow editor's form, part by part: the flow's name, its trigger and its steps, each
//! field a catalog's, each marked when the error being shown is at it (`FieldError`).

use ghl_engine::catalog::{ActionEntry, TriggerEntry};
use ghl_service::catalog::Catalog;
use ghl_service::samples::{SampleSource, TriggerSample};
use ghl_store::ConnectionSummary;
use maud::{html, Markup};

use super::draft::{input_id, step_field_id, Draft, DraftStep, FieldValue, Op};
use super::sample_tree::{steps_tree, trigger_tree};

/// The editor's address, with the test report's place: a test's answer opens at its report.
pub(super) const TO_REPORT: &str = "/ui/flows/editor#test-report";

/// An error shown at a form field: the field's id, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct FieldError {
    pub(super) field: String,
    pub(super) reason: String,
}

/// Everything the form is made from besides the draft, read once per page.
pub(super) struct Parts {
    pub(super) catalog: Catalog,
    pub(super) connections: Vec<ConnectionSummary>,
    pub(super) sample: Option<TriggerSample>,
}

/// An error's mark on a field: the message under it.
fn field_error(error: Option<&FieldError>, id: &str) -> Markup {
    match error {
        Some(error) if error.field == id => {
            html! { p.field-error id={ (id) "-error" } role="alert" { (error.reason) } }
        }
        _ => html! {},
    }
}

/// `aria-invalid` for the field with the error.
fn invalid(error: Option<&FieldError>, id: &str) -> Option<&'static str> {
    error.filter(|error| error.field == id).map(|_| "true")
}

pub(super) fn about(draft: &Draft, error: Option<&FieldError>) -> Markup {
    html! {
        section.panel {
            h2 { "About" }
            label for="f-name" { "Name" }
            input #f-name type="text" name="name" required value=(draft.name) aria-invalid=[invalid(error, "f-name")];
            (field_error(error, "f-name"))
            @if draft.original.as_ref().is_some_and(|original| *original != draft.name) {
                p.hint { "Saving under a new name makes a new flow; `" (draft.original.as_deref().unwrap_or("")) "` stays." }
            }
            label for="f-description" { "Description " span.optional { "(optional)" } }
            input #f-description type="text" name="description" value=(draft.description);
        }
    }
}

/// A catalog list (triggers or actions) grouped by app, with a search box that filters it.
fn catalog_picker<'a>(
    id: &str,
    name: &str,
    label: &str,
    chosen: &str,
    entries: impl Iterator<Item = (&'a str, &'a str, Option<String>)>,
    error: Option<&FieldError>,
) -> Markup {
    let mut groups: Vec<(String, Vec<(&str, &str)>)> = Vec::new();
    for (value, summary, app) in entries {
        let group = app.unwrap_or_else(|| "built in".to_owned());
        match groups.iter_mut().find(|(name, _)| *name == group) {
            Some((_, items)) => items.push((value, summary)),
            None => groups.push((group, vec![(value, summary)])),
        }
    }
    html! {
        div.picker {
            label for=(id) { (label) }
            input.search type="search" placeholder="Search" aria-label={ "Search: " (label) } data-filter-for=(id);
            select #(id) name=(name) size="6" data-refresh aria-invalid=[invalid(error, id)] {
                @if chosen.is_empty() { option value="" selected { "(pick one)" } }
                @for (group, items) in &groups {
                    optgroup label=(group) {
                        @for (value, summary) in items {
                            option value=(value) selected[*value == chosen] { (value) " — " (summary) }
                        }
                    }
                }
            }
            (field_error(error, id))
            noscript { button type="submit" name="op" value=(Op::Refresh.value()) { "Show its fields" } }
        }
    }
}

pub(super) fn trigger_section(draft: &Draft, parts: &Parts, error: Option<&FieldError>) -> Markup {
    let entries = parts.catalog.triggers.iter().map(|entry: &TriggerEntry| {
        (
            entry.trigger.as_str(),
            entry.summary.as_str(),
            entry.app.as_ref().map(|app| app.to_string()),
        )
    });
    let chosen = parts.catalog.triggers.iter().find(|entry| entry.trigger == draft.trigger);
    let app_event =
        chosen.is_some_and(|entry| entry.app.is_some() && !entry.trigger.starts_with("poll: "));
    let poll_app = draft.trigger.strip_prefix("poll: ").and_then(|source| source.split_once('.'));
    html! {
        section.panel {
            h2 { "Trigger" }
            (catalog_picker("f-trigger", "trigger", "When", &draft.trigger, entries, error))
            @if draft.trigger == "schedule" {
                (text_field("f-trigger-schedule", "trigger.schedule", "Cron schedule, in UTC", &draft.schedule, "*/15 * * * *", error))
            }
            @if let Some((app, _)) = poll_app {
                (connection_field("f-trigger-connection", "trigger.connection", Some(app), &draft.poll_connection, &parts.connections, error))
                (text_field("f-trigger-every", "trigger.every", "Every", &draft.poll_every, "5m", error))
            }
            @if app_event {
                (text_field("f-trigger-reconcile", "trigger.reconcile", "Look for lost webhooks every (or off)", &draft.reconcile, "15m", error))
                label for="f-trigger-on_own_writes" { "Events the flow's own writes cause" }
                select #f-trigger-on_own_writes name="trigger.on_own_writes" aria-invalid=[invalid(error, "f-trigger-on_own_writes")] {
                    option value="" selected[draft.on_own_writes.is_empty()] { "skip them (the default)" }
                    option value="run" selected[draft.on_own_writes == "run"] { "run the flow again" }
                    option value="skip" selected[draft.on_own_writes == "skip"] { "skip them" }
                }
                (field_error(error, "f-trigger-on_own_writes"))
            }
            (text_field("f-filter", "filter", "Run only when (jq over .trigger; optional)", &draft.filter, "(.trigger.body // \"\") | test(\"follow up\"; \"i\")", error))
            @if let Some(sample) = &parts.sample {
                details.fields {
                    summary { "The trigger's sample: " (sample_source(sample.source)) }
                    (trigger_tree(&sample.payload))
                }
            }
            details.fields open[!draft.sample.is_empty()] {
                summary { "Use a sample of your own" }
                label for="f-sample" { "Sample (JSON): previews and tests use it instead of the trigger's" }
                textarea #f-sample name="sample" rows="5" spellcheck="false" aria-invalid=[invalid(error, "f-sample")] { (draft.sample) }
                (field_error(error, "f-sample"))
                label for="f-sample-file" { "Or read it from a file" }
                input #f-sample-file type="file" accept="application/json,.json" data-into="f-sample";
                div.buttons {
                    button.button #use-sample type="submit" name="op" value=(Op::Refresh.value()) formaction="/ui/flows/editor#f-sample" { "Use this sample" }
                }
            }
        }
    }
}

fn sample_source(source: SampleSource) -> &'static str {
    match source {
        SampleSource::LastEvent => "its last event",
        SampleSource::Example => "its example (no event of it has come yet)",
        SampleSource::Given => "given",
    }
}

fn text_field(
    id: &str,
    name: &str,
    label: &str,
    value: &str,
    placeholder: &str,
    error: Option<&FieldError>,
) -> Markup {
    html! {
        label for=(id) { (label) }
        input #(id) type="text" name=(name) value=(value) placeholder=(placeholder) aria-invalid=[invalid(error, id)];
        (field_error(error, id))
    }
}

/// A list of the connections of `app` (every connection for an app not known).
fn connection_field(
    id: &str,
    name: &str,
    app: Option<&str>,
    chosen: &str,
    connections: &[ConnectionSummary],
    error: Option<&FieldError>,
) -> Markup {
    let fitting: Vec<&ConnectionSummary> =
        connections.iter().filter(|c| app.is_none_or(|app| c.app == app)).collect();
    let listed = fitting.iter().any(|c| c.name == chosen);
    html! {
        label for=(id) { "Connection" @if let Some(app) = app { " (" (app) ")" } }
        select #(id) name=(name) aria-invalid=[invalid(error, id)] {
            @if chosen.is_empty() { option value="" { "(pick one)" } }
            @if !chosen.is_empty() && !listed { option value=(chosen) selected { (chosen) " (not connected)" } }
            @for connection in &fitting {
                option value=(connection.name) selected[connection.name == chosen] { (connection.name) }
            }
        }
        @if fitting.is_empty() {
            p.warn { "No " (app.unwrap_or("")) " connection yet: " a href="/ui/connections/new" { "connect one" } "." }
        }
        (field_error(error, id))
    }
}

pub(super) fn steps_section(draft: &Draft, parts: &Parts, error: Option<&FieldError>) -> Markup {
    let count = draft.steps.len();
    html! {
        section.panel #steps {
            h2 { "Steps" }
            (field_error(error, "steps"))
            ol.steps {
                @for (index, step) in draft.steps.iter().enumerate() {
                    li { (step_fields(draft, index, step, count, parts, error)) }
                }
            }
            button.button type="submit" name="op" value=(Op::AddStep.value()) formaction={ "/ui/flows/editor#f-step-" (count) } { "Add a step" }
        }
    }
}

fn step_fields(
    draft: &Draft,
    index: usize,
    step: &DraftStep,
    count: usize,
    parts: &Parts,
    error: Option<&FieldError>,
) -> Markup {
    let key = |key: &str| format!("steps.{index}.{key}");
    let entry = parts.catalog.actions.iter().find(|entry| entry.action == step.action);
    let actions = parts.catalog.actions.iter().map(|entry: &ActionEntry| {
        (
            entry.action.as_str(),
            entry.summary.as_str(),
            entry.app.as_ref().map(|app| app.to_string()),
        )
    });
    let earlier: Vec<(String, Vec<String>)> = draft.steps[..index]
        .iter()
        .map(|earlier| {
            let outputs = parts.catalog.actions.iter().find(|entry| entry.action == earlier.action);
            (earlier.name.clone(), outputs.map(|entry| entry.output.clone()).unwrap_or_default())
        })
        .collect();
    let id = format!("f-step-{index}");
    html! {
        fieldset.step #(id) data-step=(index) aria-invalid=[invalid(error, &id)] {
            legend { "Step " (index + 1) }
            (field_error(error, &id))
            (text_field(&step_field_id(index, "name"), &key("name"), "Name", &step.name, "", error))
            (catalog_picker(&step_field_id(index, "action"), &key("action"), "Action", &step.action, actions, error))
            @if let Some(entry) = entry {
                p.hint { (entry.summary) @if entry.writes { " · writes" } }
                @if let Some(app) = &entry.app {
                    (connection_field(&step_field_id(index, "connection"), &key("connection"), Some(app.as_str()), &step.connection, &parts.connections, error))
                }
                h3 { "Input" }
                @for (field, value) in input_fields(step, entry) {
                    (input_field(index, &field, &value, need(entry, &field), error))
                }
                @if entry.any_input {
                    (text_field(&format!("{id}-new"), &key("new_field"), "Another field (its name)", "", "", error))
                }
                details.fields {
                    summary { "Insert a field of the trigger or an earlier step" }
                    p.hint { "Choose a field to put its path in the field you were editing." }
                    @if let Some(sample) = &parts.sample { (trigger_tree(&sample.payload)) }
                    (steps_tree(&earlier))
                }
            } @else if !step.action.is_empty() {
                p.field-error { "No action `" (step.action) "` in the catalog." }
            }
            details.more {
                summary { "Filter and errors" }
                (text_field(&step_field_id(index, "filter"), &key("filter"), "Run this step only when (jq; optional)", &step.filter, "", error))
                label for={ (id) "-on_error" } { "On an error" }
                select #{ (id) "-on_error" } name=(key("on_error")) {
                    @for (value, label) in [("retry", "retry, then dead-letter the run"), ("continue", "record it and go on"), ("stop", "stop: dead-letter the run")] {
                        option value=(value) selected[on_error_name(step) == value] { (label) }
                    }
                }
            }
            div.buttons {
                button.button type="submit" name="op" value=(Op::Test(Some(index)).value()) formaction=(TO_REPORT) { "Test up to this step" }
                @if index > 0 { button.button type="submit" name="op" value=(Op::MoveUp(index).value()) formaction={ "/ui/flows/editor#f-step-" (index - 1) } aria-label={ "Move step " (index + 1) " up" } { "Move up" } }
                @if index + 1 < count { button.button type="submit" name="op" value=(Op::MoveDown(index).value()) formaction={ "/ui/flows/editor#f-step-" (index + 1) } aria-label={ "Move step " (index + 1) " down" } { "Move down" } }
                button.danger type="submit" name="op" value=(Op::RemoveStep(index).value()) formaction="/ui/flows/editor#steps" aria-label={ "Remove step " (index + 1) } { "Remove" }
            }
        }
    }
}

fn on_error_name(step: &DraftStep) -> String {
    serde_json::to_value(step.on_error)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// The step's fields: the action's catalog fields in order, then any others the step sets.
fn input_fields(step: &DraftStep, entry: &ActionEntry) -> Vec<(String, FieldValue)> {
    let given =
        |field: &str| step.input.iter().find(|(name, _)| name == field).map(|(_, v)| v.clone());
    let mut fields: Vec<(String, FieldValue)> = entry
        .input
        .iter()
        .map(|field| (field.clone(), given(field).unwrap_or(FieldValue::Mapping(String::new()))))
        .collect();
    fields.extend(step.input.iter().filter(|(name, _)| !entry.input.contains(name)).cloned());
    fields
}

/// Whether a step must give `field`, or its connection fills it in when it does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Need {
    Optional,
    Required,
    FilledByConnection,
}

fn need(entry: &ActionEntry, field: &str) -> Need {
    if entry.filled_by_connection.as_deref() == Some(field) {
        Need::FilledByConnection
    } else if entry.required.iter().any(|required| required == field) {
        Need::Required
    } else {
        Need::Optional
    }
}

/// One input field: constant or mapping, its text, and its live preview.
fn input_field(
    index: usize,
    field: &str,
    value: &FieldValue,
    need: Need,
    error: Option<&FieldError>,
) -> Markup {
    let id = input_id(index, field);
    let name = format!("steps.{index}.in.{field}");
    let constant = matches!(value, FieldValue::Constant(_));
    html! {
        div.mapping data-field=(field) {
            label for=(id) {
                code { (field) }
                @match need {
                    Need::Required => { " " span.optional { "(required)" } }
                    Need::FilledByConnection => { " " span.optional { "(the connection's, when left empty)" } }
                    Need::Optional => {}
                }
            }
            div.mapping-row {
                select.mode name={ (name) ".mode" } aria-label={ (field) ": constant or mapping" } {
                    option value="mapping" selected[!constant] { "mapping (jq)" }
                    option value="constant" selected[constant] { "constant" }
                }
                input.value #(id) type="text" name={ (name) ".value" } value=(value.text())
                    spellcheck="false" autocomplete="off" aria-invalid=[invalid(error, &id)]
                    aria-describedby={ (id) "-preview" };
            }
            output.preview #{ (id) "-preview" } for=(id) aria-live="polite" {}
            (field_error(error, &id))
        }
    }
}
