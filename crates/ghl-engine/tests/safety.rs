//! Safety, on SQLite and PostgreSQL: an `http` connection's token is added when its step
//! sends and is recorded nowhere (nor is a secret written into a flow); a run refused by
//! HighLevel is evaluated afresh on replay once the flow is fixed; a run a filter ends is
//! `skipped`.

#[macro_use]
mod support;

use ghl_engine::connections::{save_http, HttpSecret};
use ghl_store::{IngestOutcome, RunFilter, RunStatus, RunSummary};
use serde_json::json;
use support::World;

on_both!(an_http_connection_adds_its_token_when_sent_and_nothing_records_it, http_connection);
on_both!(a_refused_step_is_evaluated_afresh_on_replay_after_the_flow_is_fixed, replay_refused);
on_both!(runs_ended_by_a_filter_are_skipped, skipped_runs);

fn event_id(outcome: IngestOutcome) -> ghl_store::EventId {
    match outcome {
        IngestOutcome::Stored { event_id, .. } => event_id,
        IngestOutcome::Duplicate => panic!("stored"),
    }
}

async fn run_of(world: &World, event_id: &ghl_store::EventId) -> RunSummary {
    let runs = world
        .store
        .runs(&RunFilter { status: None, flow: None, limit: 1000, ..RunFilter::default() })
        .await
        .expect("runs");
    runs.into_iter().find(|run| &run.event_id == event_id).expect("a run")
}

/// Everything recorded about a run, as the API and `runs show` give it.
async fn recorded(world: &World, run: &RunSummary) -> String {
    let steps = world.store.steps(&run.id).await.expect("steps");
    let run = world.store.run(&run.id).await.expect("run");
    json!({ "run": run, "steps": steps }).to_string()
}

const INLINE_SECRET: &str = "inline-s3cret-header";

async fn http_connection(world: World) {
    let token = world.sandbox.private_integration_token.clone();
    let secret = HttpSecret {
        base_url: Some(world.sandbox.base_url.clone()),
        headers: [("Authorization".to_owned(), format!("Bearer {token}"))].into(),
    };
    save_http(&world.store, "sandbox-api", &secret).await.expect("connection");
    let location = &world.sandbox.location_id;
    let flow = format!(
        r#"name: copy over http
trigger:
  highlevel: ContactCreate
steps:
  - name: copy
    action: http.request
    connection: sandbox-api
    input:
      method: '"POST"'
      url: '"/contacts/"'
      headers: '{{"Version": "2021-07-28", "X-Api-Key": "{INLINE_SECRET}"}}'
      body: '{{locationId: "{location}", firstName: (.trigger.firstName + " copy")}}'
  - name: say what was sent
    action: util.log
    input:
      message: '"sent with key {INLINE_SECRET}"'
"#
    );
    let applied = world.engine.apply_flow(&flow).await.expect("flow applies");
    assert!(applied.warnings.is_empty(), "{:?}", applied.warnings);
    assert!(!flow.contains(&token), "the flow file holds no token");

    let event = world.contact_created("Barbara").await;
    let first = event_id(world.engine.ingest(&event).await.expect("ingest"));
    world.drain().await;
    let run = run_of(&world, &first).await;
    assert_eq!(run.status, ghl_store::RunStatus::Done, "{:?}", run.last_error);
    let stats = world.admin(reqwest::Method::GET, "/stats", None).await;
    assert_eq!(
        stats["effects"]["contact.created"], 2,
        "the sandbox took the connection's token: {stats}"
    );
    let steps = world.store.steps(&run.id).await.expect("steps");
    assert_eq!(steps[0].response.as_ref().expect("response")["status"], 201);
    let recorded = recorded(&world, &run).await;
    assert!(!recorded.contains(&token), "no token in the run's record: {recorded}");
    assert!(!recorded.contains(INLINE_SECRET), "no inline secret either: {recorded}");
    assert!(recorded.contains("***"), "masked, not dropped: {recorded}");

    // A HighLevel step cannot use an http connection, nor the other way round.
    let wrong = flow.replace(
        "action: http.request\n    connection: sandbox-api",
        "action: http.request\n    connection: highlevel",
    );
    let error = world.engine.apply_flow(&wrong).await.expect_err("wrong app");
    assert!(error.to_string().contains("need a `http` connection"), "{error}");
    assert_eq!(
        error.remedy(),
        Some(ghl_types::Remedy::Connect { app: Some("http".into()), connection: None })
    );

    // Credentials go nowhere but under the connection's base URL.
    let elsewhere = flow
        .replace(r#"url: '"/contacts/"'"#, r#"url: '"http://127.0.0.1:9/steal"'"#)
        .replace("name: copy over http", "name: elsewhere");
    world.engine.apply_flow(&elsewhere).await.expect("applies");
    world.store.set_flow_enabled("copy over http", false).await.expect("disable");
    let event = world.contact_created("Mallory").await;
    let second = event_id(world.engine.ingest(&event).await.expect("ingest"));
    world.drain().await;
    let run = run_of(&world, &second).await;
    assert_eq!(run.status, ghl_store::RunStatus::Dead);
    let error = run.last_error.unwrap_or_default();
    assert!(error.contains("not under the connection's base URL"), "{error}");
}

const FIX_EMAIL: &str = r#"name: fix email
trigger:
  highlevel: ContactCreate
steps:
  - name: set email
    action: highlevel.update-contact
    connection: highlevel
    input:
      contactId: .trigger.id
      email: '"not-an-email"'
"#;

async fn replay_refused(world: World) {
    let engine = &world.engine;
    engine.apply_flow(FIX_EMAIL).await.expect("flow applies");
    let event = world.contact_created("Frances").await;
    let contact = event.payload["id"].as_str().expect("id").to_owned();
    let stored = event_id(engine.ingest(&event).await.expect("ingest"));
    world.drain().await;
    let run = run_of(&world, &stored).await;
    assert_eq!(run.status, ghl_store::RunStatus::Dead, "a 422 is not worth retrying");
    assert_eq!(run.attempts, 1);
    let steps = world.store.steps(&run.id).await.expect("steps");
    assert_eq!(steps[0].status, ghl_store::StepStatus::Refused, "{steps:?}");

    engine
        .apply_flow(&FIX_EMAIL.replace("not-an-email", "frances@example.org"))
        .await
        .expect("fixed");
    assert!(world.store.replay(&run.id).await.expect("replay"));
    world.drain().await;
    let run = run_of(&world, &stored).await;
    assert_eq!(run.status, ghl_store::RunStatus::Done, "{:?}", run.last_error);
    let stored = world.stored_contact(&contact).await;
    assert_eq!(stored["contact"]["email"], "frances@example.org", "{stored}");
    let steps = world.store.steps(&run.id).await.expect("steps");
    let last = steps.last().expect("a step");
    assert_eq!(last.request.as_ref().expect("request")["body"]["email"], "frances@example.org");
}

const FILTERED: &str = r#"name: only vips
trigger:
  highlevel: ContactCreate
filter: .trigger.firstName == "Nobody"
steps:
  - name: log
    action: util.log
    input:
      message: .trigger.id
"#;

const STEP_FILTERED: &str = r#"name: only with a phone
trigger:
  highlevel: ContactCreate
steps:
  - name: has a phone
    action: util.filter
    input:
      condition: .trigger.phone != null
  - name: log
    action: util.log
    input:
      message: .trigger.id
"#;

async fn skipped_runs(world: World) {
    let engine = &world.engine;
    engine.apply_flow(FILTERED).await.expect("flow applies");
    engine.apply_flow(STEP_FILTERED).await.expect("flow applies");
    let event = world.contact_created("Ken").await;
    let stored = event_id(engine.ingest(&event).await.expect("ingest"));
    world.drain().await;
    let runs = world.store.runs(&RunFilter::default()).await.expect("runs");
    let runs: Vec<&RunSummary> = runs.iter().filter(|run| run.event_id == stored).collect();
    assert_eq!(runs.len(), 2);
    assert!(runs.iter().all(|run| run.status == RunStatus::Skipped), "{runs:?}");
    let skipped = world
        .store
        .runs(&RunFilter {
            status: Some(ghl_store::RunStatus::Skipped),
            flow: None,
            limit: 10,
            ..RunFilter::default()
        })
        .await
        .expect("runs");
    assert_eq!(skipped.len(), 2);
    assert_eq!("skipped".parse::<RunStatus>(), Ok(RunStatus::Skipped));
    let unknown = "finished".parse::<RunStatus>().expect_err("not a status").to_string();
    assert!(unknown.contains("skipped"), "the error names the statuses: {unknown}");
}
