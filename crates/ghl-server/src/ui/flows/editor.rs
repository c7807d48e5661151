//! The flow editor (`/ui/flows/new`, `/ui/flows/{name}/edit`): one form holding the flow as a
//! `Draft`. The trigger and each step's action are picked from the catalog (a list grouped by
//! app, with a search box); each step's input is a form of its action's catalog fields, each
//! a constant or a mapping, with its value previewed live by `POST /api/preview` on the
//! trigger's sample (and on the earlier steps' outputs once the flow was tested). Adding,
//! removing and moving steps, testing (a dry run or for real) and saving post the form, which
//! the server shows again with what was done: the page works without its script, which only
//! makes it quicker. Saving is `flows apply`'s checks (the service's), and an error is shown
//! at the field it names. The flow's YAML is under the form, editable.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use ghl_engine::catalog::{ActionEntry, TriggerEntry};
use ghl_engine::flow::{FlowError, FlowSpec};
use ghl_engine::StepReport;
use ghl_service::catalog::Catalog;
use ghl_service::flows::{FlowToTest, TestMode, TriggerRecord};
use ghl_service::samples::{SampleSource, TriggerSample};
use ghl_service::sessions::Session;
use ghl_service::ServiceError;
use ghl_store::ConnectionSummary;
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::Value;

use super::draft::{field_id, input_id, step_field_id, Draft, DraftStep, FieldValue, Op, Posted};
use super::sample_tree::{steps_tree, trigger_tree};
use super::urlencoding;
use crate::state::AppState;
use crate::ui::auth::{Posted as PostedForm, SignedIn};
use crate::ui::runs::json_block;
use crate::ui::{csrf_field, internal, page, say_remedy, see_other, Nav, Notice};

/// The editor's address, with the test report's place: a test's answer opens at its report.
const TO_REPORT: &str = "/ui/flows/editor#test-report";

/// What the page shows besides the draft: what was just done, and the YAML form's state.
#[derive(Default)]
struct Shown {
    notice: Option<Notice>,
    /// The form field an error is at (its id), and the error.
    error_at: Option<(String, String)>,
    tested: Option<Tested>,
    /// YAML given in the YAML form and refused: shown again as given, open.
    yaml: Option<String>,
}

struct Tested {
    reports: Vec<StepReport>,
    real: bool,
}

/// Everything the editor's form is made from, read once per page.
struct Parts {
    catalog: Catalog,
    connections: Vec<ConnectionSummary>,
    sample: Option<TriggerSample>,
}

/// `GET /ui/flows/new`.
pub(crate) async fn new_flow(
    State(state): State<Arc<AppState>>,
    SignedIn(session): SignedIn,
) -> Response {
    editor(&state, &session, &Draft::new_flow(), Shown::default()).await
}

/// What the editor of a stored flow says above it: that it was just saved (as YAML).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Edited {
    #[serde(default)]
    saved: bool,
}

/// `GET /ui/flows/{name}/edit`: the stored flow in the form.
pub(crate) async fn edit(
    State(state): State<Arc<AppState>>,
    SignedIn(session): SignedIn,
    Path(name): Path<String>,
    Query(edited): Query<Edited>,
) -> Response {
    let record = match state.service.flows().show(&name).await {
        Ok(record) => record,
        Err(err) => return super::refused(&session, &err),
    };
    match FlowSpec::read(&record.definition) {
        Ok(spec) => {
            let said = format!("Saved the flow `{name}`: it is enabled.");
            let notice = edited.saved.then_some(Notice::Done(said));
            let draft = Draft::from_spec(&spec, Some(name));
            editor(&state, &session, &draft, Shown { notice, ..Shown::default() }).await
        }
        // A flow the form cannot hold is edited as YAML.
        Err(err) => {
            let draft = Draft { original: Some(name), ..Draft::default() };
            let shown = Shown {
                notice: Some(Notice::Failed {
                    error: format!("The stored flow cannot be shown as a form: {err}."),
                    remedy: Some("Edit its YAML below.".into()),
                }),
                yaml: Some(record.definition),
                ..Shown::default()
            };
            editor(&state, &session, &draft, shown).await
        }
    }
}

/// `POST /ui/flows/editor`: the form, with what its button asks.
pub(crate) async fn post_editor(
    State(state): State<Arc<AppState>>,
    PostedForm { session, form }: PostedForm<Vec<(String, String)>>,
) -> Response {
    let Posted { mut draft, op, real_test } = Posted::read(&form);
    match op {
        Op::Save => match state.service.flows().apply(&draft.to_yaml()).await {
            Ok(applied) if applied.warnings.is_empty() => {
                see_other("/ui/flows", &[("saved", draft.name.trim())])
            }
            Ok(applied) => {
                draft.original = Some(draft.name.trim().to_owned());
                let mut said = format!("Saved the flow `{}`: it is enabled.", draft.name.trim());
                for warning in applied.warnings {
                    said.push_str(&format!(" Note: {warning}."));
                }
                let shown = Shown { notice: Some(Notice::Done(said)), ..Shown::default() };
                editor(&state, &session, &draft, shown).await
            }
            Err(err) => editor(&state, &session, &draft, refusal(&err)).await,
        },
        Op::Test(upto) => {
            let shown = test(&state, &draft, upto, real_test).await;
            editor(&state, &session, &draft, shown).await
        }
        op => {
            draft.apply(op);
            editor(&state, &session, &draft, Shown::default()).await
        }
    }
}

/// Tests the draft (its steps up to `upto`) on its trigger's sample, nothing recorded.
async fn test(state: &AppState, draft: &Draft, upto: Option<usize>, real: bool) -> Shown {
    let sample = match sample_of(state, draft).await {
        Ok(Some(sample)) => sample.payload,
        Ok(None) => {
            let reason = "Pick a trigger first: its sample is what the test runs on.".to_owned();
            return Shown { error_at: Some(("f-trigger".into(), reason)), ..Shown::default() };
        }
        Err(error_at) => return Shown { error_at: Some(error_at), ..Shown::default() },
    };
    let text = draft.to_spec(upto).to_yaml();
    let mode = if real { TestMode::Real } else { TestMode::DryRun };
    let flows = state.service.flows();
    match flows.test(FlowToTest::File(text), TriggerRecord::Given(sample), mode).await {
        Ok(reports) => Shown { tested: Some(Tested { reports, real }), ..Shown::default() },
        Err(err) => refusal(&err),
    }
}

/// The sample the draft's previews and tests run on: the one given in the form, else the
/// trigger's (its last event, else its example); `None` before a trigger is picked. A given
/// sample that is not JSON is refused at its field.
async fn sample_of(
    state: &AppState,
    draft: &Draft,
) -> Result<Option<TriggerSample>, (String, String)> {
    if !draft.sample.trim().is_empty() {
        return match serde_json::from_str::<Value>(&draft.sample) {
            Ok(payload) => Ok(Some(TriggerSample {
                trigger: draft.trigger.clone(),
                source: SampleSource::Given,
                payload,
                event_id: None,
                received_at: None,
            })),
            Err(err) => Err(("f-sample".into(), format!("The sample is not JSON: {err}."))),
        };
    }
    Ok(match draft.trigger.as_str() {
        "" => None,
        id => state.service.samples().trigger(id).await.ok(),
    })
}

/// A refused save or test: an error in the flow at its field, any other above the form.
fn refusal(err: &ServiceError) -> Shown {
    match err {
        ServiceError::InvalidFlow(FlowError { reason, place: Some(place), .. }) => Shown {
            notice: Some(Notice::Failed {
                error: format!("The flow was not saved: {reason}."),
                remedy: Some("The field is marked below.".into()),
            }),
            error_at: Some((field_id(place), reason.clone())),
            ..Shown::default()
        },
        err => Shown { notice: Some(Notice::failed(err)), ..Shown::default() },
    }
}

/// The YAML form: `yaml`, and `to` (`save`, or `form` to edit it in the form).
#[derive(Debug, Deserialize)]
pub(crate) struct YamlForm {
    #[serde(default)]
    original: String,
    yaml: String,
    to: String,
}

/// `POST /ui/flows/yaml`.
pub(crate) async fn post_yaml(
    State(state): State<Arc<AppState>>,
    PostedForm { session, form }: PostedForm<YamlForm>,
) -> Response {
    let original = Some(form.original.clone()).filter(|name| !name.is_empty());
    let parsed = FlowSpec::read(&form.yaml);
    let draft = match &parsed {
        Ok(spec) => Draft::from_spec(spec, original.clone()),
        Err(_) => Draft { original: original.clone(), ..Draft::default() },
    };
    if form.to == "save" {
        return match state.service.flows().apply(&form.yaml).await {
            Ok(_) => {
                let name = draft.name.trim();
                see_other(&format!("/ui/flows/{}/edit", urlencoding(name)), &[("saved", "true")])
            }
            Err(err) => {
                let shown = Shown {
                    notice: Some(Notice::failed(&err)),
                    yaml: Some(form.yaml),
                    ..Shown::default()
                };
                editor(&state, &session, &draft, shown).await
            }
        };
    }
    match parsed {
        Ok(_) => editor(&state, &session, &draft, Shown::default()).await,
        Err(err) => {
            let shown = Shown {
                notice: Some(Notice::Failed {
                    error: format!("The YAML is not a flow file: {err}."),
                    remedy: None,
                }),
                yaml: Some(form.yaml),
                ..Shown::default()
            };
            editor(&state, &session, &draft, shown).await
        }
    }
}

/// The editor's page for `draft`.
async fn editor(state: &AppState, session: &Session, draft: &Draft, mut shown: Shown) -> Response {
    let connections = match state.service.connections().list().await {
        Ok(connections) => connections,
        Err(err) => return internal(&err),
    };
    let sample = match sample_of(state, draft).await {
        Ok(sample) => sample,
        Err(error_at) => {
            shown.error_at.get_or_insert(error_at);
            None
        }
    };
    let parts = Parts { catalog: state.service.catalog(), connections, sample };
    let title = match &draft.original {
        Some(name) => format!("Edit {name}"),
        None => "New flow".to_owned(),
    };
    let (outputs, outputs_from) = match step_outputs(state, draft, &shown).await {
        Ok(found) => found,
        Err(err) => return internal(&err),
    };
    let sample_json = parts.sample.as_ref().map_or(Value::Null, |sample| sample.payload.clone());
    let yaml = shown.yaml.clone().unwrap_or_else(|| draft.to_yaml());
    let body = html! {
        p { a href="/ui/flows" { "← All flows" } }
        h1 { (title) }
        @if let Some(notice) = &shown.notice { (notice.render()) }
        @if let Some((id, reason)) = &shown.error_at {
            @if shown.notice.is_none() {
                div.notice.failed role="alert" { p { a href={ "#" (id) } { (reason) } } }
            }
        }
        div #preview-context hidden data-sample=(sample_json.to_string())
            data-steps=(Value::Array(outputs).to_string()) {}
        p.hint #steps-from { "Previews see " code { ".trigger" } " as the trigger's sample and "
            code { ".steps" } " as " (outputs_from) "." }
        form #editor .editor method="post" action="/ui/flows/editor" {
            (csrf_field(session))
            input type="hidden" name="original" value=(draft.original.as_deref().unwrap_or(""));
            // Enter in a field shows the form again; it never saves.
            button.visually-hidden type="submit" name="op" value=(Op::Refresh.value()) tabindex="-1" aria-hidden="true" { "Update" }
            (about(draft, &shown))
            (trigger_section(draft, &parts, &shown))
            (steps_section(draft, &parts, &shown))
            section.panel {
                h2 { "Test and save" }
                fieldset.choices {
                    legend { "A test" }
                    label.check { input type="radio" name="test_mode" value="dry" checked[!shown.tested.as_ref().is_some_and(|t| t.real)]; "shows each write without sending it (dry run)" }
                    label.check { input type="radio" name="test_mode" value="real" checked[shown.tested.as_ref().is_some_and(|t| t.real)]; "sends the writes, for real" }
                }
                p.hint { "A test runs on the trigger's sample and records nothing. Saving runs the checks of "
                    code { "flows apply" } " and enables the flow." }
                div.buttons {
                    button #test-flow type="submit" name="op" value=(Op::Test(None).value()) formaction=(TO_REPORT) { "Test the flow" }
                    button #save-flow type="submit" name="op" value=(Op::Save.value()) { "Save" }
                }
            }
        }
        @if let Some(tested) = &shown.tested { (test_report(tested)) }
        details #yaml .panel open[shown.yaml.is_some()] {
            summary { "The flow as YAML" }
            form method="post" action="/ui/flows/yaml" {
                (csrf_field(session))
                input type="hidden" name="original" value=(draft.original.as_deref().unwrap_or(""));
                label for="yaml-text" { "YAML" }
                textarea #yaml-text name="yaml" rows="18" spellcheck="false" { (yaml) }
                div.buttons {
                    button type="submit" name="to" value="save" { "Save this YAML" }
                    button.button type="submit" name="to" value="form" { "Edit it in the form" }
                }
            }
        }
    };
    page(&title, Some(session), Nav::Flows, body).into_response()
}

/// The earlier steps' outputs previews see as `.steps`, and where they come from: the test
/// just run, else the newest run of the stored flow that has them.
async fn step_outputs(
    state: &AppState,
    draft: &Draft,
    shown: &Shown,
) -> Result<(Vec<Value>, String), ServiceError> {
    if let Some(tested) = &shown.tested {
        let outputs = tested.reports.iter().map(|report| report.response.clone());
        let outputs = outputs.map(|output| output.unwrap_or(Value::Null)).collect();
        return Ok((outputs, "the answers of the test below".into()));
    }
    let needed = draft.steps.len().saturating_sub(1);
    let found = match &draft.original {
        Some(flow) if needed > 0 => state.service.samples().step_outputs(flow, needed).await?,
        _ => None,
    };
    Ok(match found {
        Some((run, outputs)) => (outputs, format!("the answers of the flow's run {run}")),
        None => (Vec::new(), "empty until the flow is tested".into()),
    })
}

/// An error's mark on a field: `aria-invalid` and the message under it.
fn field_error(shown: &Shown, id: &str) -> Markup {
    match &shown.error_at {
        Some((at, reason)) if at == id => {
            html! { p.field-error id={ (id) "-error" } role="alert" { (reason) } }
        }
        _ => html! {},
    }
}

fn invalid(shown: &Shown, id: &str) -> Option<&'static str> {
    shown.error_at.as_ref().filter(|(at, _)| at == id).map(|_| "true")
}

fn about(draft: &Draft, shown: &Shown) -> Markup {
    html! {
        section.panel {
            h2 { "About" }
            label for="f-name" { "Name" }
            input #f-name type="text" name="name" required value=(draft.name) aria-invalid=[invalid(shown, "f-name")];
            (field_error(shown, "f-name"))
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
    shown: &Shown,
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
            select #(id) name=(name) size="6" data-refresh aria-invalid=[invalid(shown, id)] {
                @if chosen.is_empty() { option value="" selected { "(pick one)" } }
                @for (group, items) in &groups {
                    optgroup label=(group) {
                        @for (value, summary) in items {
                            option value=(value) selected[*value == chosen] { (value) " — " (summary) }
                        }
                    }
                }
            }
            (field_error(shown, id))
            noscript { button type="submit" name="op" value=(Op::Refresh.value()) { "Show its fields" } }
        }
    }
}

fn trigger_section(draft: &Draft, parts: &Parts, shown: &Shown) -> Markup {
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
            (catalog_picker("f-trigger", "trigger", "When", &draft.trigger, entries, shown))
            @if draft.trigger == "schedule" {
                (text_field("f-trigger-schedule", "trigger.schedule", "Cron schedule, in UTC", &draft.schedule, "*/15 * * * *", shown))
            }
            @if let Some((app, _)) = poll_app {
                (connection_field("f-trigger-connection", "trigger.connection", Some(app), &draft.poll_connection, &parts.connections, shown))
                (text_field("f-trigger-every", "trigger.every", "Every", &draft.poll_every, "5m", shown))
            }
            @if app_event {
                (text_field("f-trigger-reconcile", "trigger.reconcile", "Look for lost webhooks every (or off)", &draft.reconcile, "15m", shown))
                label for="f-trigger-on_own_writes" { "Events the flow's own writes cause" }
                select #f-trigger-on_own_writes name="trigger.on_own_writes" aria-invalid=[invalid(shown, "f-trigger-on_own_writes")] {
                    option value="" selected[draft.on_own_writes.is_empty()] { "skip them (the default)" }
                    option value="run" selected[draft.on_own_writes == "run"] { "run the flow again" }
                    option value="skip" selected[draft.on_own_writes == "skip"] { "skip them" }
                }
                (field_error(shown, "f-trigger-on_own_writes"))
            }
            (text_field("f-filter", "filter", "Run only when (jq over .trigger; optional)", &draft.filter, "(.trigger.body // \"\") | test(\"follow up\"; \"i\")", shown))
            @if let Some(sample) = &parts.sample {
                details.fields {
                    summary { "The trigger's sample: " (sample_source(sample.source)) }
                    (trigger_tree(&sample.payload))
                }
            }
            details.fields open[!draft.sample.is_empty()] {
                summary { "Use a sample of your own" }
                label for="f-sample" { "Sample (JSON): previews and tests use it instead of the trigger's" }
                textarea #f-sample name="sample" rows="5" spellcheck="false" aria-invalid=[invalid(shown, "f-sample")] { (draft.sample) }
                (field_error(shown, "f-sample"))
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
    shown: &Shown,
) -> Markup {
    html! {
        label for=(id) { (label) }
        input #(id) type="text" name=(name) value=(value) placeholder=(placeholder) aria-invalid=[invalid(shown, id)];
        (field_error(shown, id))
    }
}

/// A list of the connections of `app` (every connection for an app not known).
fn connection_field(
    id: &str,
    name: &str,
    app: Option<&str>,
    chosen: &str,
    connections: &[ConnectionSummary],
    shown: &Shown,
) -> Markup {
    let fitting: Vec<&ConnectionSummary> =
        connections.iter().filter(|c| app.is_none_or(|app| c.app == app)).collect();
    let listed = fitting.iter().any(|c| c.name == chosen);
    html! {
        label for=(id) { "Connection" @if let Some(app) = app { " (" (app) ")" } }
        select #(id) name=(name) aria-invalid=[invalid(shown, id)] {
            @if chosen.is_empty() { option value="" { "(pick one)" } }
            @if !chosen.is_empty() && !listed { option value=(chosen) selected { (chosen) " (not connected)" } }
            @for connection in &fitting {
                option value=(connection.name) selected[connection.name == chosen] { (connection.name) }
            }
        }
        @if fitting.is_empty() {
            p.warn { "No " (app.unwrap_or("")) " connection yet: " a href="/ui/connections/new" { "connect one" } "." }
        }
        (field_error(shown, id))
    }
}

fn steps_section(draft: &Draft, parts: &Parts, shown: &Shown) -> Markup {
    let count = draft.steps.len();
    html! {
        section.panel #steps {
            h2 { "Steps" }
            (field_error(shown, "steps"))
            ol.steps {
                @for (index, step) in draft.steps.iter().enumerate() {
                    li { (step_fields(draft, index, step, count, parts, shown)) }
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
    shown: &Shown,
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
        fieldset.step #(id) data-step=(index) aria-invalid=[invalid(shown, &id)] {
            legend { "Step " (index + 1) }
            (field_error(shown, &id))
            (text_field(&step_field_id(index, "name"), &key("name"), "Name", &step.name, "", shown))
            (catalog_picker(&step_field_id(index, "action"), &key("action"), "Action", &step.action, actions, shown))
            @if let Some(entry) = entry {
                p.hint { (entry.summary) @if entry.writes { " · writes" } }
                @if let Some(app) = &entry.app {
                    (connection_field(&step_field_id(index, "connection"), &key("connection"), Some(app.as_str()), &step.connection, &parts.connections, shown))
                }
                h3 { "Input" }
                @for (field, value) in input_fields(step, entry) {
                    (input_field(index, &field, &value, entry.required.contains(&field), shown))
                }
                @if entry.any_input {
                    (text_field(&format!("{id}-new"), &key("new_field"), "Another field (its name)", "", "", shown))
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
                (text_field(&step_field_id(index, "filter"), &key("filter"), "Run this step only when (jq; optional)", &step.filter, "", shown))
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

/// One input field: constant or mapping, its text, and its live preview.
fn input_field(
    index: usize,
    field: &str,
    value: &FieldValue,
    required: bool,
    shown: &Shown,
) -> Markup {
    let id = input_id(index, field);
    let name = format!("steps.{index}.in.{field}");
    let constant = matches!(value, FieldValue::Constant(_));
    html! {
        div.mapping data-field=(field) {
            label for=(id) { code { (field) } @if required { " " span.optional { "(required)" } } }
            div.mapping-row {
                select.mode name={ (name) ".mode" } aria-label={ (field) ": constant or mapping" } {
                    option value="mapping" selected[!constant] { "mapping (jq)" }
                    option value="constant" selected[constant] { "constant" }
                }
                input.value #(id) type="text" name={ (name) ".value" } value=(value.text())
                    spellcheck="false" autocomplete="off" aria-invalid=[invalid(shown, &id)]
                    aria-describedby={ (id) "-preview" };
            }
            output.preview #{ (id) "-preview" } for=(id) aria-live="polite" {}
            (field_error(shown, &id))
        }
    }
}

/// A test's report: each step's status, input, request and answer.
fn test_report(tested: &Tested) -> Markup {
    html! {
        section.panel #test-report {
            h2 { "Test " @if tested.real { "(for real)" } @else { "(dry run)" } }
            @if tested.reports.is_empty() { p { "No step ran: the flow's filter did not hold on the sample." } }
            ol.timeline {
                @for report in &tested.reports {
                    li.step {
                        h3 { (report.name) " " span.status { (report.status) } }
                        @if let Some(error) = &report.error { p.error { (error) } }
                        @if let Some(remedy) = &report.remedy { p { (say_remedy(remedy)) } }
                        (json_block("Input", report.input.as_ref(), false))
                        (json_block("Request", report.request.as_ref(), true))
                        (json_block("Answer", report.response.as_ref(), true))
                    }
                }
            }
        }
    }
}
