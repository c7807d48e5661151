//! The web UI's templates, runs and dashboard in a real browser (headless chromium), against
//! the server and HighLevel's sandbox on SQLite: a template is installed from its page, a
//! change in the sandbox makes a run that appears live in the run list and is dead-lettered by
//! injected faults, its page shows the failed step, and a replay from there completes it once;
//! the dashboard then charts it. With GHL_UI_SCREENSHOTS=1 they save docs/ui/*.png.

mod support;

use std::time::{Duration, Instant};

use ghl_store::{RunFilter, RunStatus, RunSummary};
use reqwest::Method;
use serde_json::{json, Value};
use support::browser::{sign_in, ui_server, Browser};
use support::Running;

const FLOW: &str = "note-follow-up-task";

/// Sets the HighLevel sandbox's injected faults.
async fn set_faults(server: &Running, faults: Value) {
    let url = format!("{}/faults", server.sandbox.admin_url);
    let set = server.http.put(url).json(&faults).send().await.expect("PUT faults");
    assert!(set.status().is_success(), "faults: {}", set.status());
}

/// How long a run may take to be dead-lettered: HighLevel's client retries each 500 within
/// the call (8 tries, backing off), and the engine tries the run 6 times.
const UNTIL_DEAD: Duration = Duration::from_secs(240);

/// The flow's one run, once it is in `status` (the store read every 50 ms, for
/// `UNTIL_DEAD` at most).
async fn until_run(server: &Running, status: RunStatus) -> RunSummary {
    let filter = RunFilter {
        status: Some(status),
        flow: Some(FLOW.into()),
        limit: 10,
        ..RunFilter::default()
    };
    let deadline = Instant::now() + UNTIL_DEAD;
    loop {
        let runs = server.store.runs(&filter).await.expect("runs");
        if let [run] = runs.as_slice() {
            return run.clone();
        }
        if Instant::now() > deadline {
            let all = RunFilter { status: None, ..filter };
            let all = server.store.runs(&all).await.expect("runs");
            panic!("no {status:?} run of {FLOW}: {all:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The tasks of `contact` in the sandbox.
async fn tasks(server: &Running, contact: &str) -> Vec<Value> {
    let path = format!("contacts/{contact}/tasks");
    let answer = server.as_user(Method::GET, &path, Value::Null).await;
    answer["tasks"].as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_template_installed_in_the_ui_runs_live_dies_under_faults_and_is_replayed_once() {
    let (server, _db) = ui_server().await;
    let url = &server.server_url;
    let browser = Browser::start().await;
    sign_in(&browser, &server).await;

    // The gallery, the template's page, its one slot filled from the list of connections.
    browser.click("header nav a[href='/ui/templates']").await;
    browser.until_text("h1", "Templates").await;
    browser.screenshot("templates").await;
    browser.click(&format!("a[href='/ui/templates/{FLOW}']")).await;
    let slot = browser.find("select#slot-highlevel").await;
    slot.select_by_value("highlevel").await.expect("the sandbox's connection is listed");
    browser.click("#install").await;
    browser.until_text("p", &format!("Installed the flow `{FLOW}`")).await;
    browser.until_text("td", FLOW).await;
    assert!(server.store.flow(FLOW).await.expect("read").is_some(), "installed");

    // Every task HighLevel is asked to make fails: the run is dead-lettered.
    set_faults(&server, json!({ "operations": { "create-task": { "500": 1.0 } } })).await;
    browser.goto(&format!("{url}/ui/runs")).await;
    browser.until_text("h1", "Runs").await;
    let location = &server.sandbox.location_id;
    let contact = json!({ "locationId": location, "firstName": "Ada", "email": "ada@example.com" });
    let contact = server.as_user(Method::POST, "contacts/", contact).await;
    let contact = contact["contact"]["id"].as_str().expect("the contact's id").to_owned();
    let note = json!({ "body": "Please follow up on Monday" });
    server.as_user(Method::POST, &format!("contacts/{contact}/notes"), note).await;

    // The run arrives in the open list, and its row changes to dead, with no reload.
    let dead = until_run(&server, RunStatus::Dead).await;
    let row = format!("tr#run-{}[data-status='dead']", dead.id);
    browser.find(&row).await;
    browser.until_text("td", FLOW).await;
    browser.screenshot("runs").await;

    // Its page: the failed step, then the replay, once the faults are gone.
    browser.click(&format!("{row} a.status")).await;
    browser.until_text("h1", &format!("Run of {FLOW}")).await;
    let failed = browser.find("ol.timeline li.step p.error").await;
    let said = failed.text().await.expect("the step's error");
    assert!(said.contains("create-task"), "the step says what failed: {said}");
    set_faults(&server, json!({})).await;
    browser.click("#replay").await;
    browser.until_text("p", "Queued again").await;
    let done = until_run(&server, RunStatus::Done).await;
    assert_eq!(done.id, dead.id, "the same run, replayed");
    browser.goto(&format!("{url}/ui/runs/{}", done.id)).await;
    browser.until_text("*[@id='run-status']", "done").await;
    browser.screenshot("run").await;
    let made = tasks(&server, &contact).await;
    assert_eq!(made.len(), 1, "one task, however often it was tried: {made:?}");

    // The dashboard charts it: one run ended done, none dead now.
    browser.goto(&format!("{url}/ui")).await;
    browser.until_text("figure[@class='chart']//li", "done: 1").await;
    browser.until_text("*[@id='queue-dead']", "0").await;
    browser.screenshot("dashboard").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_dead_run_of_a_flow_is_replayed_from_the_filtered_list() {
    let (server, _db) = ui_server().await;
    let browser = Browser::start().await;
    let mut slots = std::collections::BTreeMap::new();
    slots.insert("highlevel".to_owned(), "highlevel".to_owned());
    server.service.templates().install(FLOW, &slots, None).await.expect("installed");
    set_faults(&server, json!({ "operations": { "create-task": { "500": 1.0 } } })).await;
    let location = &server.sandbox.location_id;
    let contact = json!({ "locationId": location, "firstName": "Bo", "email": "bo@example.com" });
    let contact = server.as_user(Method::POST, "contacts/", contact).await;
    let contact = contact["contact"]["id"].as_str().expect("the contact's id").to_owned();
    for body in ["follow up one", "follow-up two"] {
        server
            .as_user(Method::POST, &format!("contacts/{contact}/notes"), json!({ "body": body }))
            .await;
    }
    let filter = RunFilter {
        status: Some(RunStatus::Dead),
        flow: Some(FLOW.into()),
        limit: 10,
        ..RunFilter::default()
    };
    let deadline = Instant::now() + UNTIL_DEAD;
    while server.store.runs(&filter).await.expect("runs").len() < 2 {
        assert!(Instant::now() < deadline, "two dead runs");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    set_faults(&server, json!({})).await;

    sign_in(&browser, &server).await;
    browser.goto(&format!("{}/ui/runs?flow={FLOW}&status=dead", server.server_url)).await;
    browser.click("form[action='/ui/runs/replay-dead'] button").await;
    browser.until_text("p", &format!("2 dead runs of {FLOW} queued again")).await;
    let done = RunFilter { status: Some(RunStatus::Done), ..filter };
    while server.store.runs(&done).await.expect("runs").len() < 2 {
        assert!(Instant::now() < deadline, "both replayed runs end done");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(tasks(&server, &contact).await.len(), 2, "one task per note");
}
