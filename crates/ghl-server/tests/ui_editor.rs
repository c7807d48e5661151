//! The flow editor in a real browser (headless chromium) against the server and HighLevel's
//! sandbox on SQLite: a mapping's live preview follows its text on the trigger's last event, a
//! dry-run test shows the request it would send and sends nothing, a save with bad jq is
//! refused at the field and changes nothing, and a good one is stored; the flow is disabled
//! and enabled from the list; a new flow is built
//! from the catalog, previewed on a sample of one's own, its steps added, reordered and
//! removed. With GHL_UI_SCREENSHOTS=1 they
//! save docs/ui/*.png.

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use ghl_service::samples::SampleSource;
use ghl_store::{RunFilter, RunStatus};
use reqwest::Method;
use serde_json::{json, Value};
use support::browser::{sign_in, ui_server, Browser};
use support::Running;

const FLOW: &str = "note-follow-up-task";
const NOTE: &str = "Please follow up on Monday";
/// How long the note's run may take to be done.
const UNTIL_DONE: Duration = Duration::from_secs(60);

/// Installs the template on the sandbox's connection; makes a contact with a note, whose event
/// becomes the trigger's sample, and waits for its run to be done. Answers the contact's id.
async fn flow_with_a_sample(server: &Running) -> String {
    let slots = BTreeMap::from([("highlevel".to_owned(), "highlevel".to_owned())]);
    server.service.templates().install(FLOW, &slots, None).await.expect("installed");
    let location = &server.sandbox.location_id;
    let contact = json!({ "locationId": location, "firstName": "Ada", "email": "ada@example.com" });
    let contact = server.as_user(Method::POST, "contacts/", contact).await;
    let contact = contact["contact"]["id"].as_str().expect("the contact's id").to_owned();
    server
        .as_user(Method::POST, &format!("contacts/{contact}/notes"), json!({ "body": NOTE }))
        .await;
    let filter = RunFilter {
        status: Some(RunStatus::Done),
        flow: Some(FLOW.into()),
        limit: 1,
        ..RunFilter::default()
    };
    let deadline = Instant::now() + UNTIL_DONE;
    while server.store.runs(&filter).await.expect("runs").is_empty() {
        assert!(Instant::now() < deadline, "the note's run is not done");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let sample = server.service.samples().trigger("highlevel.NoteCreate").await.expect("sample");
    assert_eq!(sample.source, SampleSource::LastEvent, "the note's event is the sample");
    contact
}

async fn tasks(server: &Running, contact: &str) -> Vec<Value> {
    let answer =
        server.as_user(Method::GET, &format!("contacts/{contact}/tasks"), Value::Null).await;
    answer["tasks"].as_array().cloned().unwrap_or_default()
}

async fn stored(server: &Running) -> String {
    server.store.flow(FLOW).await.expect("read").expect("the flow").definition
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mapping_is_previewed_live_tested_dry_and_saved_with_errors_at_the_field() {
    let (server, _db) = ui_server().await;
    let contact = flow_with_a_sample(&server).await;
    let browser = Browser::start().await;
    sign_in(&browser, &server).await;

    // The list: the flow, enabled, its last run done; then its editor.
    browser.click("header nav a[href='/ui/flows']").await;
    browser.until_text("h1", "Flows").await;
    browser.until_text(&format!("tr[@id='flow-{FLOW}']//td"), "enabled").await;
    browser.until_text(&format!("tr[@id='flow-{FLOW}']//td"), "done").await;
    browser.screenshot("flows").await;
    browser.click(&format!("tr#flow-{FLOW} a.button[href='/ui/flows/{FLOW}/edit']")).await;
    browser.until_text("h1", &format!("Edit {FLOW}")).await;

    // The body's mapping is previewed on the note's event; changing it changes the preview.
    let body = "#f-step-0-in-body";
    browser.until_text("output[@id='f-step-0-in-body-preview']", &format!("= \"{NOTE}\"")).await;
    browser.until_text("output[@id='f-step-0-in-title-preview']", "= \"Follow up\"").await;
    browser.fill(body, ".trigger.body | ascii_upcase").await;
    let upper = NOTE.to_uppercase();
    browser.until_text("output[@id='f-step-0-in-body-preview']", &format!("= \"{upper}\"")).await;
    browser.screenshot("flow-editor").await;

    // A dry run shows the request the step would send, and sends nothing.
    let before = tasks(&server, &contact).await.len();
    browser.click("#test-flow").await;
    browser.until_text("section[@id='test-report']//h2", "Test (dry run)").await;
    browser.until_text("section[@id='test-report']//pre", &upper).await;
    browser.screenshot("flow-test").await;
    assert_eq!(tasks(&server, &contact).await.len(), before, "a dry run writes nothing");
    assert!(!stored(&server).await.contains("ascii_upcase"), "a test saves nothing");

    // Bad jq is refused at its field, and the stored flow is unchanged.
    browser.fill(body, ".trigger.body |").await;
    browser.click("#save-flow").await;
    browser.until_text("p[@id='f-step-0-in-body-error']", "body").await;
    let field = browser.find(body).await;
    assert_eq!(field.attr("aria-invalid").await.expect("attr").as_deref(), Some("true"));
    assert!(!stored(&server).await.contains(".trigger.body |"), "nothing was saved");

    // Fixed, it is saved: the list says so, and the stored flow has the new mapping.
    browser.fill(body, ".trigger.body | ascii_upcase").await;
    browser.click("#save-flow").await;
    browser.until_text("p", &format!("Saved the flow `{FLOW}`")).await;
    assert!(stored(&server).await.contains(".trigger.body | ascii_upcase"), "saved");

    // Disabled and enabled again from the list.
    let enabled = || async { server.store.flow(FLOW).await.expect("read").expect("flow").enabled };
    browser.click(&format!("form[action='/ui/flows/{FLOW}/disable'] button")).await;
    browser.until_text("p", &format!("Disabled `{FLOW}`")).await;
    assert!(!enabled().await, "disabled");
    browser.until_text(&format!("tr[@id='flow-{FLOW}']//td"), "disabled").await;
    browser.click(&format!("form[action='/ui/flows/{FLOW}/enable'] button")).await;
    browser.until_text("p", &format!("Enabled `{FLOW}`")).await;
    assert!(enabled().await, "enabled again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_flow_is_built_from_the_catalog_and_its_steps_reordered() {
    let (server, _db) = ui_server().await;
    let browser = Browser::start().await;
    sign_in(&browser, &server).await;
    browser.goto(&format!("{}/ui/flows", server.server_url)).await;
    browser.click("#new-flow").await;
    browser.until_text("h1", "New flow").await;

    // The trigger, found by searching the catalog; the form shows it again for it.
    browser.fill("#f-name", "greet").await;
    browser.fill("input[data-filter-for='f-trigger']", "manual").await;
    let triggers = browser.find("select#f-trigger").await;
    triggers.select_by_value("manual").await.expect("the manual trigger is listed");
    browser.until_text("summary", "The trigger's sample").await;

    // Two log steps; the second moved first; the first removed.
    browser
        .find("select#f-step-0-action")
        .await
        .select_by_value("util.log")
        .await
        .expect("util.log");
    // A sample of one's own: previews read it.
    browser.click("details.fields:has(#f-sample) summary").await;
    browser.fill("#f-sample", r#"{"name": "Grace"}"#).await;
    browser.click("#use-sample").await;
    browser.fill("#f-step-0-in-message", ".trigger.name").await;
    browser.until_text("output[@id='f-step-0-in-message-preview']", "= \"Grace\"").await;
    browser.fill("#f-step-0-in-message", "\"first\"").await;
    browser.until_text("output[@id='f-step-0-in-message-preview']", "= \"first\"").await;
    browser.click("button[value='add-step']").await;
    browser
        .find("select#f-step-1-action")
        .await
        .select_by_value("util.log")
        .await
        .expect("util.log");
    browser.find("#f-step-1-in-message").await;
    browser.fill("#f-step-1-name", "second").await;
    browser.fill("#f-step-1-in-message", "\"second\"").await;
    browser.click("button[value='up:1']").await;
    browser.until_text("fieldset[@id='f-step-0']//output", "= \"second\"").await;
    browser.click("button[value='remove:1']").await;
    browser.until_text("fieldset[@id='f-step-0']//output", "= \"second\"").await;
    assert!(browser.client.find(fantoccini::Locator::Css("#f-step-1")).await.is_err(), "removed");

    browser.click("#save-flow").await;
    browser.until_text("p", "Saved the flow `greet`").await;
    let saved = server.store.flow("greet").await.expect("read").expect("stored").definition;
    assert!(saved.contains("manual: true") && saved.contains("second"), "{saved}");
    assert!(!saved.contains("first"), "the removed step is gone: {saved}");
}
