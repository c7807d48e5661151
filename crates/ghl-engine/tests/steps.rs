//! The utility steps, on SQLite and PostgreSQL: a filter step ends a run as skipped, a delay
//! step lets go of its worker and resumes (after a restart too) without counting as a failed
//! attempt, and an HTTP request step sends once, hides secrets in the run history and
//! dead-letters on a client error. A test run walks a flow as a real run does.

#[macro_use]
mod support;

use ghl_engine::Engine;
use ghl_store::{RunFilter, RunSummary};
use serde_json::Value;
use support::World;

on_both!(filter_and_delay_steps_stop_and_pause_runs_durably, filter_and_delay);
on_both!(an_http_request_step_sends_once_and_records_no_secret, http_request);
on_both!(a_test_run_walks_a_flow_as_a_real_run_does, test_and_real_alike);

const FOLLOW_UP: &str = r#"name: follow up
trigger:
  highlevel: ContactCreate
steps:
  - name: only with an email
    action: util.filter
    input:
      condition: .trigger.email != null
  - name: wait a second
    action: util.delay
    input:
      seconds: 1
  - name: note
    action: highlevel.create-note
    connection: highlevel
    input:
      contactId: .trigger.id
      body: 'Followed up {{ .trigger.firstName }}'
"#;

async fn run_of(world: &World, event_id: &ghl_store::EventId) -> RunSummary {
    let runs = world.store.runs(&RunFilter::default()).await.expect("runs");
    runs.into_iter().find(|run| &run.event_id == event_id).expect("a run")
}

fn event_id(outcome: ghl_store::IngestOutcome) -> ghl_store::EventId {
    match outcome {
        ghl_store::IngestOutcome::Stored { event_id, .. } => event_id,
        ghl_store::IngestOutcome::Duplicate => panic!("stored"),
    }
}

async fn filter_and_delay(world: World) {
    let engine = &world.engine;
    engine.apply_flow(FOLLOW_UP).await.expect("flow applies");
    let with_email = world.contact_created("Grace").await;
    let mut without_email = world.contact_created("Alan").await;
    without_email.dedup_key.push_str("-no-email");
    without_email.payload["email"] = Value::Null;
    let waiting = event_id(engine.ingest(&with_email).await.expect("ingest"));
    let stopped = event_id(engine.ingest(&without_email).await.expect("ingest"));

    while engine.run_next().await.expect("run") {}
    let run = run_of(&world, &waiting).await;
    assert_eq!(run.status, ghl_store::RunStatus::Waiting, "the delay lets go of the worker");
    let steps = world.store.steps(&run.id).await.expect("steps");
    assert_eq!(steps.iter().map(|s| s.status.as_str()).collect::<Vec<_>>(), ["done", "waiting"]);
    let contact = with_email.payload["id"].as_str().expect("id");
    assert_eq!(world.stored_contact(contact).await["notes"].as_array().map(Vec::len), Some(0));

    let run = run_of(&world, &stopped).await;
    assert_eq!(
        run.status,
        ghl_store::RunStatus::Skipped,
        "a filter that does not hold ends the run as skipped"
    );
    let steps = world.store.steps(&run.id).await.expect("steps");
    assert_eq!(steps.len(), 1);
    assert_eq!(steps[0].status, ghl_store::StepStatus::Stopped);

    // A restart: another engine on the store resumes the run when its time comes.
    let restarted = World { engine: Engine::new(world.store.clone()), ..world };
    restarted.drain().await;
    let run = run_of(&restarted, &waiting).await;
    assert_eq!(run.status, ghl_store::RunStatus::Done);
    assert!(run.last_error.is_none(), "a wait is no failure: {:?}", run.last_error);
    let notes = restarted.stored_contact(contact).await["notes"].clone();
    assert_eq!(notes.as_array().map(Vec::len), Some(1), "{notes}");
    assert_eq!(notes[0]["body"], "Followed up Grace");
}

fn http_flow(world: &World) -> String {
    let (base, location, token) = (
        &world.sandbox.base_url,
        &world.sandbox.location_id,
        &world.sandbox.private_integration_token,
    );
    format!(
        r#"name: create over http
trigger:
  highlevel: ContactCreate
steps:
  - name: copy
    action: http.request
    input:
      method: '"POST"'
      url: '"{base}/contacts/"'
      headers: '{{"Authorization": "Bearer {token}", "Version": "2021-07-28"}}'
      body: '{{locationId: "{location}", firstName: (.trigger.firstName + " copy")}}'
  - name: read a contact that is not there
    action: http.request
    on_error: stop
    input:
      url: '"{base}/contacts/nobody"'
      headers: '{{"Authorization": "Bearer {token}", "Version": "2021-07-28"}}'
"#
    )
}

async fn http_request(world: World) {
    let engine = &world.engine;
    engine.apply_flow(&http_flow(&world)).await.expect("flow applies");
    let event = world.contact_created("Edsger").await;
    let event_id = event_id(engine.ingest(&event).await.expect("ingest"));
    world.drain().await;

    let run = run_of(&world, &event_id).await;
    assert_eq!(run.status, ghl_store::RunStatus::Dead, "a client error is not worth retrying");
    let error = run.last_error.clone().unwrap_or_default();
    assert!(
        error.contains("read a contact that is not there") && error.contains("answered 400"),
        "{error}"
    );
    let steps = world.store.steps(&run.id).await.expect("steps");
    let sent = &steps[0].request.as_ref().expect("request")["http"];
    assert_eq!(sent["headers"]["Authorization"], "***", "no token in the run history");
    assert_eq!(sent["headers"]["Idempotency-Key"], format!("{}:0", run.id));
    assert_eq!(steps[0].response.as_ref().expect("response")["status"], 201);

    // Replayed, the run sends the create no second time.
    assert!(world.store.replay(&run.id).await.expect("replay"));
    world.drain().await;
    let stats = world.admin(reqwest::Method::GET, "/stats", None).await;
    assert_eq!(stats["effects"]["contact.created"], 2, "Edsger, and one copy: {stats}");
}

const WALK: &str = r#"name: walk
trigger:
  highlevel: ContactCreate
steps:
  - name: only without an email
    action: util.log
    filter: .trigger.email == null
    input:
      message: '"no email"'
  - name: broken delay
    action: util.delay
    on_error: continue
    input:
      seconds: .trigger.email
  - name: stop here
    action: util.filter
    input:
      condition: .trigger.email == null
  - name: never
    action: util.log
    input:
      message: '"not reached"'
"#;

/// One interpreter: the step filter, `on_error: continue` and a filter step that stops the
/// flow go the same way whether the run is real (recorded) or a test (reported).
async fn test_and_real_alike(world: World) {
    let engine = &world.engine;
    engine.apply_flow(WALK).await.expect("flow applies");
    let event = world.contact_created("Ada").await;
    let flow = ghl_engine::flow::Flow::parse(WALK).expect("flow parses");
    let reports = engine.test_flow(&flow, event.payload.clone(), false).await;
    let reported: Vec<&str> = reports.iter().map(|report| report.status.as_str()).collect();
    assert_eq!(reported, ["skipped", "failed", "stopped: the condition does not hold"]);
    assert!(reports[1].error.as_deref().is_some_and(|error| error.contains("seconds")));

    let id = event_id(engine.ingest(&event).await.expect("ingest"));
    while engine.run_next().await.expect("run") {}
    let run = run_of(&world, &id).await;
    assert_eq!(run.status, ghl_store::RunStatus::Skipped, "the filter step ends the run");
    let steps = world.store.steps(&run.id).await.expect("steps");
    let recorded: Vec<&str> = steps.iter().map(|step| step.status.as_str()).collect();
    assert_eq!(recorded, ["skipped", "failed", "stopped"]);
    assert_eq!(steps[1].error, reports[1].error, "the same failure, recorded and reported");
}
