//! What the web UI reads, through the REST API on SQLite and PostgreSQL: the dashboard's
//! series (counted per time bucket by the database), the live run stream (server-sent events
//! read from the store, so runs another process executes appear), triggers' samples and the
//! live preview of a mapping.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use ghl_engine::EngineConfig;
use ghl_service::Service;
use ghl_store::{FlowId, NewEvent, RunFilter, RunOutcome, Store, Timestamp};
use ghl_testkit::{on_both, TestDb};
use reqwest::Method;
use serde_json::{json, Value};
use support::{Options, Running, ADMIN};
use tokio_util::sync::CancellationToken;

const FLOW: &str = include_str!("../../ghl-engine/tests/support/welcome-task.yaml");
/// The bound on every wait: generous, as the machine may be busy.
const PATIENCE: Duration = Duration::from_secs(60);

on_both!(
    the_dashboard_counts_runs_and_webhooks_per_bucket_in_sql,
    dashboard,
    with_db,
    multi_thread
);
on_both!(
    the_run_stream_sends_a_run_executed_by_another_process_until_done,
    stream_from_another_process,
    via super::serving_without_workers,
    multi_thread
);
on_both!(
    a_triggers_sample_is_its_example_until_a_webhook_arrives_and_previews_evaluate_on_it,
    samples_and_preview,
    via super::serving,
    multi_thread
);

async fn serving(store: Store) -> Running {
    support::start(store, Options { flows: &[FLOW], ..Options::default() }).await
}

async fn serving_without_workers(store: Store) -> Running {
    support::start(store, Options { flows: &[FLOW], workers: 0, ..Options::default() }).await
}

fn contact_created(key: &str) -> NewEvent {
    NewEvent {
        dedup_key: key.into(),
        source: "highlevel".into(),
        event_type: "ContactCreate".into(),
        location_id: Some("loc".into()),
        payload: json!({ "type": "ContactCreate", "id": key }),
    }
}

async fn dashboard(db: TestDb) {
    let store = db.store().await;
    let running = serving_without_workers(store.clone()).await;
    let flow: FlowId = running.applied[0].id.clone();
    for n in 0..4 {
        store
            .ingest(&contact_created(&format!("c{n}")), std::slice::from_ref(&flow), None)
            .await
            .expect("ingest");
    }
    let tick = NewEvent {
        source: "schedule".into(),
        event_type: "schedule".into(),
        ..contact_created("tick")
    };
    store.ingest(&tick, &[], None).await.expect("tick");
    let batch = store.claim_batch(4, Duration::from_secs(60)).await.expect("claim");
    assert_eq!(batch.len(), 4);
    let outcomes = [
        RunOutcome::Done,
        RunOutcome::Done,
        RunOutcome::Dead { error: "refused".into() },
        RunOutcome::Done,
    ];
    for (run, outcome) in batch.iter().zip(&outcomes) {
        store.finish(&run.id, run.attempt, outcome).await.expect("finish");
    }
    // One run and its event from two hours ago: in the day, not in the hour.
    let two_hours_ago = Timestamp::now().saturating_sub(Duration::from_secs(2 * 3600));
    let pool = sqlx::AnyPool::connect(&db.url).await.expect("pool");
    sqlx::query("UPDATE runs SET updated_at = $1 WHERE id = $2")
        .bind(two_hours_ago.as_millis())
        .bind(batch[3].id.as_str())
        .execute(&pool)
        .await
        .expect("backdate the run");
    sqlx::query("UPDATE events SET received_at = $1 WHERE id = $2")
        .bind(two_hours_ago.as_millis())
        .bind(batch[3].event_id.as_str())
        .execute(&pool)
        .await
        .expect("backdate the event");
    pool.close().await;
    // A request through the engine's client: the budget of the sandbox's location is seen.
    let check = running.service.connections().test("highlevel").await.expect("the check");
    assert!(matches!(check, ghl_service::connections::Check::Works), "{check:?}");

    let (status, hour) = running.api(Method::GET, "/dashboard", None).await;
    assert_eq!(status, 200, "{hour}");
    assert_eq!(
        (hour["window"].as_str(), hour["bucket_seconds"].as_u64()),
        (Some("hour"), Some(60))
    );
    let buckets = hour["buckets"].as_array().expect("buckets");
    assert_eq!(buckets.len(), 60);
    let (first, last) = (millis(&buckets[0]["start"]), millis(&buckets[59]["start"]));
    let now = millis(&hour["now"]);
    assert!(last <= now && now < last + 60_000, "the last bucket holds now");
    assert_eq!(last - first, 59 * 60_000);
    // Each finished run in the bucket of its last change.
    let runs = store.runs(&RunFilter { limit: 100, ..RunFilter::default() }).await.expect("runs");
    let mut expected: BTreeMap<(i64, &str), i64> = BTreeMap::new();
    for run in runs.iter().filter(|run| run.status.has_ended()) {
        let at = run.updated_at.as_millis();
        if at >= first {
            *expected
                .entry((first + (at - first) / 60_000 * 60_000, run.status.as_str()))
                .or_default() += 1;
        }
    }
    let mut counted: BTreeMap<(i64, &str), i64> = BTreeMap::new();
    for bucket in buckets {
        for outcome in ["done", "skipped", "dead"] {
            let n = bucket[outcome].as_i64().expect("a count");
            if n > 0 {
                counted.insert((millis(&bucket["start"]), outcome), n);
            }
        }
    }
    assert_eq!(counted, expected);
    assert_eq!(sum(buckets, "done"), 2, "the run of two hours ago is not in the hour");
    assert_eq!(
        (sum(buckets, "dead"), sum(buckets, "webhooks"), sum(buckets, "other_events")),
        (1, 3, 1)
    );
    assert_eq!(
        hour["queue"],
        json!({ "queued": 0, "waiting": 0, "running": 0, "due": 0, "dead": 1 })
    );
    let budgets = hour["rate_budgets"].as_array().expect("budgets");
    let location = budgets
        .iter()
        .find(|budget| budget["location"] == running.sandbox.location_id.as_str())
        .unwrap_or_else(|| panic!("the sandbox location's budget: {budgets:?}"));
    // HighLevel counts per app of its own (a marketplace app, or a private integration).
    assert_eq!(location["app"], "private-integration");
    let (limit, left) = (location["daily_limit"].as_u64(), location["daily_remaining"].as_u64());
    let (Some(limit), Some(left)) = (limit, left) else {
        panic!("the daily quota as seen: {location}")
    };
    assert_eq!(location["daily_used"].as_u64(), Some(limit - left));
    assert!(location["observed_at"].as_i64().is_some_and(|at| at <= now));

    let (status, day) = running.api(Method::GET, "/dashboard?window=day", None).await;
    assert_eq!(status, 200, "{day}");
    let buckets = day["buckets"].as_array().expect("buckets");
    assert_eq!((buckets.len(), day["bucket_seconds"].as_u64()), (48, Some(1800)));
    assert_eq!(
        (sum(buckets, "done"), sum(buckets, "webhooks")),
        (3, 4),
        "two hours ago is in the day"
    );

    // Levels are sampled: a run queued now is in the last bucket's queue, and the budget's
    // use too.
    store
        .ingest(&contact_created("c-queued"), std::slice::from_ref(&flow), None)
        .await
        .expect("ingest");
    running.service.dashboard().sample().await.expect("a sample");
    let (_, sampled) = running.api(Method::GET, "/dashboard", None).await;
    let last = &sampled["buckets"][59];
    assert!(last["queue_most"].as_i64().is_some_and(|most| most >= 1), "{last}");
    let budget = sampled["rate_budgets"]
        .as_array()
        .and_then(|budgets| {
            budgets.iter().find(|b| b["location"] == running.sandbox.location_id.as_str())
        })
        .expect("the location's budget");
    assert_eq!(budget["history"].as_array().map(Vec::len), Some(60));
    assert!(budget["history"][59]["daily_used"].as_u64().is_some(), "{budget}");

    let (status, refused) = running.api(Method::GET, "/dashboard?window=week", None).await;
    assert_eq!(status, 400);
    assert!(refused["error"].as_str().is_some_and(|error| error.contains("week")), "{refused}");
}

fn millis(value: &Value) -> i64 {
    value.as_i64().unwrap_or_else(|| panic!("ms since the epoch: {value}"))
}

fn sum(buckets: &[Value], field: &str) -> i64 {
    buckets.iter().map(|bucket| bucket[field].as_i64().expect("a count")).sum()
}

/// A server-sent event stream read as it comes.
struct Events {
    answer: reqwest::Response,
    buffer: String,
}

/// One server-sent event: its type, id and data.
#[derive(Debug)]
struct Event {
    kind: String,
    id: Option<String>,
    data: String,
}

impl Events {
    async fn open(running: &Running, query: &str) -> Self {
        let url = format!("{}/api/runs/stream{query}", running.server_url);
        let answer = running.http.get(url).bearer_auth(ADMIN).send().await.expect("stream");
        assert_eq!(answer.status(), 200);
        let kind = answer.headers().get("content-type").and_then(|value| value.to_str().ok());
        assert_eq!(kind, Some("text/event-stream"));
        Self { answer, buffer: String::new() }
    }

    /// The next event (comments skipped), within `PATIENCE` overall.
    async fn next(&mut self) -> Event {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut event = Event { kind: "message".into(), id: None, data: String::new() };
                let mut fields = 0;
                for line in block.lines() {
                    if let Some((name, value)) = line.split_once(':') {
                        let value = value.strip_prefix(' ').unwrap_or(value);
                        match name {
                            "event" => event.kind = value.into(),
                            "id" => event.id = Some(value.into()),
                            "data" => event.data.push_str(value),
                            _ => continue,
                        }
                        fields += 1;
                    }
                }
                if fields > 0 {
                    return event;
                }
                continue;
            }
            let chunk = tokio::time::timeout(PATIENCE, self.answer.chunk())
                .await
                .expect("an event in time")
                .expect("the stream")
                .expect("the stream is open");
            self.buffer.push_str(std::str::from_utf8(&chunk).expect("UTF-8"));
        }
    }

    /// Runs from the stream until one `holds`; answers it, with every run seen before.
    async fn until_run(&mut self, holds: impl Fn(&Value) -> bool) -> (Value, Vec<Value>) {
        let mut seen = Vec::new();
        let read = async {
            loop {
                let event = self.next().await;
                assert_eq!(event.kind, "run", "{event:?}");
                let run: Value = serde_json::from_str(&event.data).expect("a run as JSON");
                assert_eq!(
                    event.id.as_deref(),
                    run["updated_at"].as_i64().map(|at| at.to_string()).as_deref()
                );
                if holds(&run) {
                    return run;
                }
                seen.push(run);
            }
        };
        let run = tokio::time::timeout(PATIENCE, read).await.expect("the run in time");
        (run, seen)
    }
}

async fn stream_from_another_process(running: Running) {
    let mut all = Events::open(&running, "").await;
    let mut done_only = Events::open(&running, "?flow=welcome&status=done").await;
    // Another process's engine on the same store executes the runs: the server has no
    // workers, so what the stream sends it read from the store.
    let other = Service::new(running.store.clone(), EngineConfig::default());
    other.engine().load_flows().await.expect("flows");
    let stop = CancellationToken::new();
    let worker = tokio::spawn(other.engine().clone().work(stop.clone(), Duration::from_millis(10)));

    let body = json!({ "locationId": running.sandbox.location_id, "firstName": "Streamed" });
    running.as_user(Method::POST, "contacts/", body).await;
    let (done, before) = all.until_run(|run| run["status"] == "done").await;
    assert_eq!(
        (done["flow_name"].as_str(), done["trigger"].as_str()),
        (Some("welcome"), Some("ContactCreate"))
    );
    let id = done["id"].clone();
    // Each read sends a run's state then: a change and the next within one period are
    // sent as the later one, and no state is sent twice.
    let states: Vec<_> =
        before.iter().filter(|run| run["id"] == id).map(|run| &run["status"]).collect();
    assert!(
        states
            .iter()
            .all(|status| ["queued", "running"].contains(&status.as_str().unwrap_or_default())),
        "{states:?}"
    );
    let mut distinct = states.clone();
    distinct.dedup();
    assert_eq!(distinct, states, "no state sent twice");
    let (only, before) = done_only.until_run(|run| run["id"] == id).await;
    assert_eq!(only["status"], "done");
    assert!(before.is_empty(), "only done runs of the flow: {before:?}");
    let (status, listed) = running.api(Method::GET, "/runs?flow=welcome", None).await;
    assert_eq!(status, 200);
    assert_eq!(listed["runs"][0], done, "the stream's run is the list's");
    stop.cancel();
    worker.await.expect("the other worker stops");
}

async fn samples_and_preview(running: Running) {
    let trigger = "highlevel.ContactCreate";
    let sample_path = format!("/catalog/triggers/{trigger}/sample");
    let (status, example) = running.api(Method::GET, &sample_path, None).await;
    assert_eq!(status, 200, "{example}");
    assert_eq!(
        (example["source"].as_str(), example["trigger"].as_str()),
        (Some("example"), Some(trigger))
    );
    assert_eq!(example["payload"]["type"], "ContactCreate", "HighLevel's documented example");
    let (status, shown) =
        preview(&running, json!({ "expression": ".trigger.firstName", "trigger": trigger })).await;
    assert_eq!(
        (status, &shown["value"], &shown["source"]),
        (200, &example["payload"]["firstName"], &json!("example"))
    );

    // A webhook arrives: its event is the sample from then on.
    let mut runs = Events::open(&running, "?flow=welcome").await;
    let body = json!({ "locationId": running.sandbox.location_id, "firstName": "Ada" });
    running.as_user(Method::POST, "contacts/", body).await;
    runs.until_run(|run| run["status"] == "done").await;
    let (status, real) = running.api(Method::GET, &sample_path, None).await;
    assert_eq!(status, 200, "{real}");
    assert_eq!(
        (real["source"].as_str(), real["payload"]["firstName"].as_str()),
        (Some("last_event"), Some("Ada"))
    );
    assert!(real["event_id"].is_string() && real["received_at"].is_i64(), "{real}");
    let (_, shown) = preview(
        &running,
        json!({ "expression": "Hi {{ .trigger.firstName }}", "trigger": trigger }),
    )
    .await;
    assert_eq!((&shown["value"], &shown["source"]), (&json!("Hi Ada"), &json!("last_event")));
    let (status, shown) = preview(
        &running,
        json!({ "expression": ".trigger.firstName", "flow": "welcome", "step": "welcome task" }),
    )
    .await;
    assert_eq!((status, &shown["value"]), (200, &json!("Ada")), "{shown}");

    // On a sample given, with the earlier steps' outputs.
    let given = json!({
        "expression": "[(.trigger.name | ascii_upcase), .steps[0].id]",
        "sample": { "name": "grace" },
        "steps": [{ "id": "t1" }],
    });
    let (status, shown) = preview(&running, given).await;
    assert_eq!(
        (status, &shown["value"], &shown["source"]),
        (200, &json!(["GRACE", "t1"]), &json!("given")),
        "{shown}"
    );

    // Refusals name the problem.
    let (status, error) =
        preview(&running, json!({ "expression": ".trigger.name | ascii_upcase(", "sample": {} }))
            .await;
    assert_eq!(status, 422, "{error}");
    let words = error["error"].as_str().expect("words");
    assert!(words.contains("invalid jq") && words.contains("ascii_upcase("), "{words}");
    let (status, error) =
        preview(&running, json!({ "expression": ".trigger.name + 1", "sample": { "name": "x" } }))
            .await;
    assert_eq!(status, 422, "{error}");
    assert!(error["error"].as_str().is_some_and(|words| words.contains("failed")), "{error}");
    let (status, error) =
        preview(&running, json!({ "expression": ".", "trigger": "nobody.Nothing" })).await;
    assert_eq!(status, 404);
    assert!(
        error["error"].as_str().is_some_and(|words| words.contains("nobody.Nothing")),
        "{error}"
    );
    let (status, error) =
        preview(&running, json!({ "expression": ".", "flow": "welcome", "step": "nope" })).await;
    assert_eq!(status, 404);
    assert!(error["error"].as_str().is_some_and(|words| words.contains("welcome task")), "{error}");
    let (status, error) = preview(&running, json!({ "expression": "." })).await;
    assert_eq!(status, 400);
    assert!(error["error"].as_str().is_some_and(|words| words.contains("sample")), "{error}");
    let (status, _) =
        running.api(Method::GET, "/catalog/triggers/nobody.Nothing/sample", None).await;
    assert_eq!(status, 404);

    // A poll trigger (its id has a space and a colon) has an example of its fields.
    let (_, catalog) = running.api(Method::GET, "/catalog", None).await;
    let poll = catalog["triggers"]
        .as_array()
        .expect("triggers")
        .iter()
        .filter_map(|entry| entry["trigger"].as_str())
        .find(|id| id.starts_with("poll: "))
        .expect("a poll trigger")
        .to_owned();
    let path = format!("/catalog/triggers/{}/sample", poll.replace(' ', "%20").replace(':', "%3A"));
    let (status, polled) = running.api(Method::GET, &path, None).await;
    assert_eq!((status, polled["source"].as_str()), (200, Some("example")), "{polled}");
    assert!(polled["payload"].is_object());
}

async fn preview(running: &Running, body: Value) -> (u16, Value) {
    running.api(Method::POST, "/preview", Some(body)).await
}
