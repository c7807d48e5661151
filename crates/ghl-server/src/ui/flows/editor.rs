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
use ghl_engine::flow::{FlowError, FlowSpec};
use ghl_engine::StepReport;
use ghl_service::flows::{FlowToTest, TestMode, TriggerRecord};
use ghl_service::samples::{SampleSource, TriggerSample};
use ghl_service::sessions::Session;
use ghl_service::ServiceError;
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::Value;

use super::draft::{field_id, Draft, Op, Posted};
use super::form::{about, steps_section, trigger_section, FieldError, Parts, TO_REPORT};
use super::urlencoding;
use crate::state::AppState;
use crate::ui::auth::{Posted as PostedForm, SignedIn};
use crate::ui::runs::json_block;
use crate::ui::{csrf_field, internal, page, say_remedy, see_other, Nav, Notice};

/// What the page shows besides the draft: what was just done, and the YAML form's state.
#[derive(Default)]
struct Shown {
    notice: Option<Notice>,
    /// An error at a form field.
    error: Option<FieldError>,
    tested: Option<Tested>,
    /// YAML given in the YAML form and refused: shown again as given, open.
    yaml: Option<String>,
}

struct Tested {
    reports: Vec<StepReport>,
    real: bool,
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
            let error = FieldError { field: "f-trigger".into(), reason };
            return Shown { error: Some(error), ..Shown::default() };
        }
        Err(error) => return Shown { error: Some(error), ..Shown::default() },
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
async fn sample_of(state: &AppState, draft: &Draft) -> Result<Option<TriggerSample>, FieldError> {
    if !draft.sample.trim().is_empty() {
        return match serde_json::from_str::<Value>(&draft.sample) {
            Ok(payload) => Ok(Some(TriggerSample {
                trigger: draft.trigger.clone(),
                source: SampleSource::Given,
                payload,
                event_id: None,
                received_at: None,
            })),
            Err(err) => Err(FieldError {
                field: "f-sample".into(),
                reason: format!("The sample is not JSON: {err}."),
            }),
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
            error: Some(FieldError { field: field_id(place), reason: reason.clone() }),
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
        Err(error) => {
            shown.error.get_or_insert(error);
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
        @if let Some(FieldError { field, reason }) = &shown.error {
            @if shown.notice.is_none() {
                div.notice.failed role="alert" { p { a href={ "#" (field) } { (reason) } } }
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
            (about(draft, shown.error.as_ref()))
            (trigger_section(draft, &parts, shown.error.as_ref()))
            (steps_section(draft, &parts, shown.error.as_ref()))
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
