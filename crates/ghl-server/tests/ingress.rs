//! End to end over real HTTP, on SQLite and PostgreSQL: the sandbox sends signed webhooks
//! (each twice) to the server, which stores them, runs the flow once per event, and the
//! effects land in the sandbox. Unsigned, forged and replayed webhooks leave no trace.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use ghl_engine::apps::highlevel::verify::{TrustedKeys, HIGHLEVEL_ED25519_KEY};
use ghl_engine::apps::highlevel::HighLevel;
use ghl_engine::apps::{
    App, AppClient, AppId, ClientContext, ClientError, ConnectInfo, OperationSpec, PollSource,
    WebhookEvent,
};
use ghl_engine::inbound::{Refusal, VerifiedEvent, Verifier};
use ghl_engine::Apps;
use ghl_sandbox::SandboxConfig;
use ghl_store::{LearnedWebhookKeys, MasterKey, NewEvent, RunFilter, Store};
use ghl_testkit::{on_both, sqlite_store, TestDb};
use serde_json::{json, Value};
use support::{Options, Running, ADMIN};

const FLOW: &str = include_str!("../../ghl-engine/tests/support/welcome-task.yaml");

async fn start(store: Store) -> Running {
    start_seeded(store, 0).await
}

/// The sandbox with `contacts` seeded (no webhooks for them), sending each webhook twice to
/// the server (see [`start_configured`]).
async fn start_seeded(store: Store, contacts: usize) -> Running {
    let mut config = SandboxConfig { contacts, ..SandboxConfig::default() };
    config.webhooks.duplicate_share = 1.0;
    start_configured(store, config).await
}

/// The sandbox configured as given, sending its webhooks to the server, which runs the
/// welcome-task flow and trusts HighLevel's published key and the test's own key
/// ([`TestSigner`]) as configured keys, and the sandbox's keys as keys learned with its
/// connection.
async fn start_configured(store: Store, sandbox: SandboxConfig) -> Running {
    let options =
        Options { sandbox, apps: trusting_the_test(), flows: &[FLOW], ..Options::default() };
    support::start(store, options).await
}

/// The built-in apps, HighLevel's webhooks verified with its published key and the test's.
fn trusting_the_test() -> Apps {
    let mut keys = TrustedKeys::new(Some(HIGHLEVEL_ED25519_KEY), None).expect("keys");
    keys.learn(&TestSigner::learned()).expect("the test's key");
    Apps::builtin().with(Arc::new(HighLevel::default().with_webhook_keys(keys)))
}

impl Running {
    async fn create_contacts(&self, count: usize) {
        for n in 0..count {
            let body =
                json!({ "locationId": self.sandbox.location_id, "firstName": format!("Hook{n}") });
            self.as_user(reqwest::Method::POST, "contacts/", body).await;
        }
    }
}

on_both!(signed_webhooks_delivered_twice_run_their_flow_once, delivered_twice_run_once, via super::start, multi_thread);

async fn delivered_twice_run_once(running: Running) {
    running.create_contacts(20).await;
    // 20 ContactCreate events, and the 20 TaskCreate events the flow's tasks cause: each sent twice.
    let stats = running
        .until("20 tasks and every delivery", |stats| {
            let emitted = stats["webhooks"]["emitted"].as_u64().unwrap_or(0);
            stats["effects"]["task.created"] == 20
                && emitted == 40
                && stats["webhooks"]["delivered"] == 2 * emitted
        })
        .await;
    assert_eq!(stats["webhooks"]["duplicated"], 40, "every event was sent twice");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let done = running
            .runs(&RunFilter {
                status: Some(ghl_store::RunStatus::Done),
                flow: None,
                limit: 1000,
                ..RunFilter::default()
            })
            .await;
        if done.len() == 20 {
            break;
        }
        assert!(Instant::now() < deadline, "runs did not finish");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let all = running.all_runs().await;
    assert_eq!(all.len(), 20, "one run per event, not per delivery");
    let tasks_now = running.sandbox_stats().await["effects"]["task.created"].clone();
    assert_eq!(tasks_now, 20);

    let metrics = running
        .http
        .get(format!("{}/metrics", running.server_url))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(metrics.contains("ghl_webhooks_total{outcome=\"stored\"} 40"), "{metrics}");
    assert!(metrics.contains("ghl_webhooks_total{outcome=\"duplicate\"} 40"), "{metrics}");
    for line in [
        "ghl_runs{status=\"done\"} 20",
        "ghl_runs{status=\"queued\"} 0",
        "ghl_run_attempts_total{outcome=\"done\"} 20",
        "ghl_step_duration_seconds_count{action=\"highlevel.create-task\",outcome=\"done\"} 20",
    ] {
        assert!(metrics.contains(line), "{line} in:\n{metrics}");
    }
    let budget = metrics
        .lines()
        .find(|line| line.starts_with("ghl_rate_budget_available{"))
        .unwrap_or_else(|| panic!("the rate budget in:\n{metrics}"));
    let available: f64 = budget.rsplit(' ').next().and_then(|n| n.parse().ok()).expect("number");
    assert!(available > 0.0, "{budget}");
    let runs = running
        .http
        .get(format!("{}/api/runs", running.server_url))
        .bearer_auth(ADMIN)
        .send()
        .await
        .expect("api");
    assert_eq!(runs.status(), 200);
    let unauthenticated =
        running.http.get(format!("{}/api/runs", running.server_url)).send().await.expect("api");
    assert_eq!(unauthenticated.status(), 401);
}

#[tokio::test]
async fn unsigned_forged_and_replayed_webhooks_get_401_and_leave_no_trace() {
    let (store, _db) = sqlite_store().await;
    let running = start(store).await;
    running.create_contacts(1).await;
    running.until("the genuine delivery", |stats| stats["effects"]["task.created"] == 1).await;
    let events: Value = running
        .http
        .get(format!("{}/_sandbox/webhooks?type=ContactCreate", running.sandbox.base_url))
        .send()
        .await
        .expect("events")
        .json()
        .await
        .expect("json");
    let genuine = events["events"][0]["payload"].clone();
    let url = format!("{}/webhooks/highlevel", running.server_url);
    let send = |body: Vec<u8>, headers: Vec<(&'static str, String)>| {
        let mut request =
            running.http.post(&url).header("content-type", "application/json").body(body);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        request.send()
    };
    let mut fresh = genuine.clone();
    fresh["webhookId"] = "forged-1".into();
    let body = serde_json::to_vec(&fresh).expect("json");
    let unsigned = send(body.clone(), vec![]).await.expect("answer");
    assert_eq!(unsigned.status(), 401);
    let fake_signature = base64_of(&[7u8; 64]);
    let forged = send(body.clone(), vec![("x-ghl-signature", fake_signature.clone())])
        .await
        .expect("answer");
    assert_eq!(forged.status(), 401);
    let forged_rsa = send(body, vec![("x-wh-signature", fake_signature)]).await.expect("answer");
    assert_eq!(forged_rsa.status(), 401);
    let body: Value = forged.json().await.expect("json body");
    assert!(body["error"].as_str().is_some_and(|e| e.contains("signature")));

    let runs = running.all_runs().await;
    assert_eq!(runs.len(), 1, "only the genuine event was stored");
}

fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_manages_tests_and_runs_flows_and_checks_connections() {
    use reqwest::Method;
    let (store, _db) = sqlite_store().await;
    let running = start(store).await;
    let (status, flow) = running.api(Method::GET, "/flows/welcome", None).await;
    assert_eq!((status, flow["flow"]["enabled"].clone()), (200, json!(true)));
    assert!(flow["flow"]["definition"].as_str().is_some_and(|text| text.contains("create-task")));

    // The test feature: a dry run sends no write.
    let trigger = json!({ "id": "nobody-yet", "firstName": "Dry" });
    let (status, tested) = running
        .api(
            Method::POST,
            "/flows/welcome/test",
            Some(json!({ "trigger": trigger, "dryRun": true })),
        )
        .await;
    assert_eq!(status, 200, "{tested}");
    assert_eq!(tested["steps"][0]["status"], "dry run: not sent");
    assert_eq!(tested["steps"][0]["request"]["body"]["title"], "Welcome Dry");

    // A manual run, idempotent by key.
    let created = running
        .http
        .post(format!(
            "{}/_sandbox/as-user/{}/contacts/",
            running.sandbox.base_url, running.sandbox.location_id
        ))
        .json(&json!({ "locationId": running.sandbox.location_id, "firstName": "Manual" }))
        .send()
        .await
        .expect("create")
        .json::<Value>()
        .await
        .expect("json");
    let id = created["contact"]["id"].clone();
    let body = json!({ "trigger": { "id": id, "firstName": "Manual" }, "key": "once" });
    let (status, first) = running.api(Method::POST, "/flows/welcome/run", Some(body.clone())).await;
    assert_eq!(status, 202, "{first}");
    let (_, second) = running.api(Method::POST, "/flows/welcome/run", Some(body)).await;
    assert_eq!(second["duplicate"], true);
    let run = first["runs"][0].as_str().expect("a run").to_owned();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, shown) = running.api(Method::GET, &format!("/runs/{run}"), None).await;
        if shown["run"]["status"] == "done" {
            break;
        }
        assert!(Instant::now() < deadline, "the manual run did not finish: {shown}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Disable, enable, delete; bad input is a 4xx with a JSON error naming the problem.
    let (status, _) = running.api(Method::POST, "/flows/welcome/disable", None).await;
    assert_eq!(status, 200);
    let (_, flow) = running.api(Method::GET, "/flows/welcome", None).await;
    assert_eq!(flow["flow"]["enabled"], false);
    let (status, error) = running
        .api(Method::POST, "/flows/welcome/test", Some(json!({ "trigger": 1, "dry": 1 })))
        .await;
    assert_eq!(status, 400);
    assert!(error["error"].as_str().is_some_and(|text| text.contains("dry")), "{error}");
    let (status, error) =
        running.api(Method::POST, "/flows/nothing/run", Some(json!({ "trigger": {} }))).await;
    assert_eq!(status, 404, "{error}");
    let (status, _) = running.api(Method::DELETE, "/flows/welcome", None).await;
    assert_eq!(status, 200);
    let (status, _) = running.api(Method::GET, "/flows/welcome", None).await;
    assert_eq!(status, 404);

    let (status, checked) = running.api(Method::POST, "/connections/highlevel/test", None).await;
    assert_eq!((status, checked["works"].clone()), (200, json!(true)), "{checked}");
    let (status, _) = running.api(Method::DELETE, "/connections/highlevel", None).await;
    assert_eq!(status, 200);
    let (status, _) = running.api(Method::POST, "/connections/highlevel/test", None).await;
    assert_eq!(status, 404);

    // A flow naming a connection that is gone: the error, and what to do about it as data.
    let answer = running
        .http
        .post(format!("{}/api/flows", running.server_url))
        .bearer_auth(ADMIN)
        .body(FLOW)
        .send()
        .await
        .expect("answered");
    assert_eq!(answer.status().as_u16(), 422);
    let refused: Value = answer.json().await.expect("a JSON body");
    assert!(refused["error"].as_str().is_some_and(|text| text.contains("highlevel")), "{refused}");
    assert_eq!(
        refused["remedy"],
        json!({ "action": "connect", "app": null, "connection": "highlevel" }),
        "{refused}"
    );
}

/// The test's own webhook signer, trusted by the server as a configured key, so a test can
/// send exactly the bytes HighLevel would (and send them again, as HighLevel's retry does).
struct TestSigner;

impl TestSigner {
    fn key() -> ed25519_dalek::SigningKey {
        ed25519_dalek::SigningKey::from_bytes(&[42; 32])
    }

    fn learned() -> LearnedWebhookKeys {
        use ed25519_dalek::pkcs8::EncodePublicKey;
        let der = Self::key().verifying_key().to_public_key_der().expect("der");
        LearnedWebhookKeys {
            connection: "test".into(),
            origin: "the test".into(),
            ed25519: Some(base64_of(der.as_bytes())),
            rsa_pem: None,
        }
    }

    /// The body's bytes and their `x-ghl-signature`.
    fn sign(payload: &Value) -> (Vec<u8>, String) {
        use ed25519_dalek::Signer;
        let body = serde_json::to_vec(payload).expect("json");
        let signature = base64_of(&Self::key().sign(&body).to_bytes());
        (body, signature)
    }
}

impl Running {
    async fn seeded_contact(&self) -> String {
        let answer: Value = self
            .http
            .get(format!(
                "{}/contacts/?locationId={}&limit=1",
                self.sandbox.base_url, self.sandbox.location_id
            ))
            .bearer_auth(&self.sandbox.private_integration_token)
            .header("Version", "2021-07-28")
            .send()
            .await
            .expect("contacts")
            .json()
            .await
            .expect("json");
        answer["contacts"][0]["id"].as_str().expect("a seeded contact").to_owned()
    }
}

/// Another connection holding the store at a URL busy: SQLite's write lock, or a PostgreSQL
/// session locking the tables an ingest writes; `release` rolls it back.
struct Busy(sqlx::AnyConnection);

impl Busy {
    async fn hold(url: &str) -> Self {
        let lock: &[&str] = if url.starts_with("sqlite:") {
            &["BEGIN IMMEDIATE"]
        } else {
            &["BEGIN", "LOCK TABLE webhook_ids, events IN EXCLUSIVE MODE"]
        };
        sqlx::any::install_default_drivers();
        let mut holder = <sqlx::AnyConnection as sqlx::Connection>::connect(url)
            .await
            .expect("a second connection");
        for statement in lock {
            sqlx::query(statement).execute(&mut holder).await.expect("the lock");
        }
        Self(holder)
    }

    async fn release(mut self) {
        sqlx::query("ROLLBACK").execute(&mut self.0).await.expect("release the lock");
    }
}

on_both!(
    a_busy_store_answers_429_at_once_and_highlevels_late_retry_is_stored_once,
    busy_then_retried,
    with_db,
    multi_thread
);
on_both!(
    the_sandbox_retries_what_a_busy_store_refused_and_it_runs_once,
    sandbox_retries_after_busy,
    with_db,
    multi_thread
);

/// The whole path with HighLevel's retry rule as the sandbox plays it: while the store is held
/// busy, the sandbox's webhook is answered 429, which it retries with the
/// same signed bytes; once the store is free a retry is stored, and the contact gets one run
/// and one task. The retry interval is short here (HighLevel's is about ten minutes, which the
/// 2-hour freshness window covers); how many attempts meet the lock does not matter.
async fn sandbox_retries_after_busy(db: TestDb) {
    let url = db.url.as_str();
    let store = Store::open(url, &MasterKey::generate()).await.expect("store");
    let mut config = SandboxConfig::default();
    config.webhooks.retry_delay = Duration::from_millis(300);
    config.webhooks.max_attempts = 50;
    let running = start_configured(store, config).await;
    // The server writes to the store as it starts (its heartbeat): let it start first.
    running.until_serving().await;

    let held = Busy::hold(url).await;
    running.create_contacts(1).await;
    running
        .until("a delivery refused and retried", |stats| stats["webhooks"]["retried"] != 0)
        .await;
    assert!(running.all_runs().await.is_empty(), "nothing stored while the store was busy");
    held.release().await;

    // The delivery refused while the store was busy may be committed once the store is free
    // (an ingest cut short may still commit): its task can then come before the retry's 200.
    let stats = running
        .until("the retried event's task and every webhook acknowledged", |stats| {
            let webhooks = &stats["webhooks"];
            stats["effects"]["task.created"] == 1 && webhooks["delivered"] == webhooks["emitted"]
        })
        .await;
    assert_eq!(stats["webhooks"]["failed"], 0, "no delivery was given up: {stats}");
    let events: Value = running
        .http
        .get(format!("{}/_sandbox/webhooks?type=ContactCreate", running.sandbox.base_url))
        .send()
        .await
        .expect("events")
        .json()
        .await
        .expect("json");
    assert_eq!(events["events"][0]["delivered"], true, "acknowledged in the end: {events}");
    let runs = running.all_runs().await;
    assert_eq!(runs.len(), 1, "one run for the contact, however often it came: {runs:?}");
}

/// With the store at `url` held busy by another connection ([`Busy`]), a
/// delivery is answered 429 before its sender gives up and stores nothing; HighLevel's retry
/// of the same bytes is stored once.
async fn busy_then_retried(db: TestDb) {
    let url = db.url.as_str();
    let store = Store::open(url, &MasterKey::generate()).await.expect("store");
    let running = start_seeded(store, 1).await;
    let held = Busy::hold(url).await;
    refused_while_held_then_stored_once(&running, held).await;
}

/// A server started while its store is held busy (another process writing, a long
/// migration) answers at once all the same: 429 to a webhook within the sender's patience,
/// and the retry is stored once the store is free.
async fn busy_at_start(db: TestDb) {
    let url = db.url.as_str();
    let store = Store::open(url, &MasterKey::generate()).await.expect("store");
    let sandbox = SandboxConfig { contacts: 1, ..SandboxConfig::default() };
    let options = Options {
        sandbox,
        apps: trusting_the_test(),
        flows: &[FLOW],
        serving: false,
        ..Options::default()
    };
    let running = support::start(store, options).await;
    let held = Busy::hold(url).await;
    running.serve();
    refused_while_held_then_stored_once(&running, held).await;
}

on_both!(
    a_server_started_while_its_store_is_busy_answers_429_in_time_and_stores_the_retry_once,
    busy_at_start,
    with_db,
    multi_thread
);

/// A delivery while `held` keeps the store busy is answered 429 before its sender gives up
/// and stores nothing; once released, HighLevel's retry of the same bytes is stored once.
async fn refused_while_held_then_stored_once(running: &Running, held: Busy) {
    let contact = running.seeded_contact().await;
    // Sent 10 minutes ago: what HighLevel's first retry carries (the original bytes).
    let sent = chrono::Utc::now() - chrono::Duration::minutes(10);
    let payload = json!({
        "type": "ContactCreate", "locationId": running.sandbox.location_id, "id": contact,
        "firstName": "Busy", "webhookId": "w-busy-1",
        "timestamp": sent.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    });
    let (body, signature) = TestSigner::sign(&payload);
    // A sender gives up on a slow answer: 5 s here, so waiting out the store's 10 s busy
    // timeout fails the test.
    let sender =
        reqwest::Client::builder().timeout(Duration::from_secs(5)).build().expect("client");
    let deliver = || {
        sender
            .post(running.webhook_url())
            .header("content-type", "application/json")
            .header("x-ghl-signature", &signature)
            .body(body.clone())
            .send()
    };

    let busy = deliver().await.expect("an answer before the sender gives up");
    assert_eq!(busy.status(), 429, "429 is what HighLevel retries");
    let problem: Value = busy.json().await.expect("a JSON body");
    assert!(problem["error"].as_str().is_some_and(|text| text.contains("busy")), "{problem}");
    assert!(running.all_runs().await.is_empty(), "nothing stored while the store was busy");
    held.release().await;

    // HighLevel's retry: the same bytes, with their original timestamp.
    let retried = deliver().await.expect("answer");
    assert_eq!(retried.status(), 200);
    let stored: Value = retried.json().await.expect("json");
    // The busy attempt's write runs to its end on a task of its own: once the store is free it
    // may commit before the retry, which is then its duplicate. Either way, one event.
    assert!(
        stored == json!({ "stored": true, "runs": 1 }) || stored["duplicate"] == true,
        "the retry stores the event or finds the busy attempt's: {stored}"
    );
    let replayed = deliver().await.expect("answer");
    assert_eq!(replayed.status(), 200);
    let duplicate: Value = replayed.json().await.expect("json");
    assert_eq!(duplicate["duplicate"], true);

    running.until("the retried event's task", |stats| stats["effects"]["task.created"] == 1).await;
    let runs = running.all_runs().await;
    assert_eq!(runs.len(), 1, "one run for the event, however often it came: {runs:?}");
}

#[tokio::test]
async fn signed_webhooks_that_are_not_json_or_from_an_unknown_key_are_refused_with_reasons() {
    let (store, _db) = sqlite_store().await;
    let running = start(store).await;
    let payload = json!({
        "type": "ContactCreate", "locationId": running.sandbox.location_id, "id": "c-1",
        "webhookId": "w-plain-1", "timestamp": chrono::Utc::now().to_rfc3339(),
    });
    let (body, signature) = TestSigner::sign(&payload);
    for content_type in ["text/plain", "application/x-www-form-urlencoded"] {
        let answer = running
            .http
            .post(running.webhook_url())
            .header("content-type", content_type)
            .header("x-ghl-signature", &signature)
            .body(body.clone())
            .send()
            .await
            .expect("answer");
        assert_eq!(answer.status(), 415, "{content_type}");
        let problem: Value = answer.json().await.expect("a JSON body");
        assert!(
            problem["error"].as_str().is_some_and(|text| text.contains("application/json")),
            "{problem}"
        );
    }

    // Signed with a key the server does not know: the answer names the keys it tried.
    use ed25519_dalek::Signer;
    let stranger = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
    let answer = running
        .http
        .post(running.webhook_url())
        .header("content-type", "application/json; charset=utf-8")
        .header("x-ghl-signature", base64_of(&stranger.sign(&body).to_bytes()))
        .body(body.clone())
        .send()
        .await
        .expect("answer");
    assert_eq!(answer.status(), 401);
    let problem: Value = answer.json().await.expect("a JSON body");
    let reason = problem["error"].as_str().unwrap_or_default();
    let sandbox_key = &running.sandbox.webhook_public_keys.ed25519;
    for part in [
        "x-ghl-signature",
        "MCowBQYDK2VwAyEAi2HR1srL…CDiOg= (HighLevel's published key)",
        &format!("{}…", &sandbox_key[..24]),
        "learned with connection `highlevel`",
        "Connect it by its base URL",
    ] {
        assert!(reason.contains(part), "{part} in {reason}");
    }
    assert_eq!(problem["remedy"], json!({ "action": "trust_webhook_key", "app": "highlevel" }));
    assert!(running.all_runs().await.is_empty(), "nothing stored");

    // The same bytes as JSON are stored: the refusals were about the type and the key.
    let answer = running
        .http
        .post(running.webhook_url())
        .header("content-type", "application/json")
        .header("x-ghl-signature", &signature)
        .body(body)
        .send()
        .await
        .expect("answer");
    assert_eq!(answer.status(), 200);
}

#[tokio::test]
async fn a_running_server_keeps_a_heartbeat_in_the_store_and_removes_it_when_it_stops() {
    let (store, _db) = sqlite_store().await;
    let running = start(store).await;
    let store = running.store.clone();
    let deadline = Instant::now() + Duration::from_secs(10);
    while store.live_workers(ghl_store::HEARTBEAT_FRESH).await.expect("count") != 1 {
        assert!(Instant::now() < deadline, "no heartbeat");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    running.stop();
    let deadline = Instant::now() + Duration::from_secs(10);
    while store.live_workers(ghl_store::HEARTBEAT_FRESH).await.expect("count") != 0 {
        assert!(Instant::now() < deadline, "the heartbeat stayed after shutdown");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn the_openapi_document_gives_every_route_its_schemas_and_every_answer_it_names() {
    let (store, _db) = sqlite_store().await;
    let running = start(store).await;
    let document: Value = running
        .http
        .get(format!("{}/openapi.json", running.server_url))
        .send()
        .await
        .expect("openapi")
        .json()
        .await
        .expect("json");
    let takes_a_body = [
        "/webhooks/{app}",
        "/api/flows",
        "/api/flows/{name}/test",
        "/api/flows/{name}/run",
        "/api/preview",
    ];
    let paths = document["paths"].as_object().expect("paths");
    assert!(paths.len() >= 16, "{}", paths.len());
    for (path, item) in paths {
        for (method, operation) in item.as_object().expect("operations") {
            let responses = operation["responses"].as_object().expect("responses");
            for (status, response) in responses {
                let media = response["content"].as_object();
                let has_schema = media.is_some_and(|media| {
                    !media.is_empty() && media.values().all(|one| one["schema"].is_object())
                });
                assert!(has_schema, "{method} {path} {status}: no schema");
            }
            if method == "post" && takes_a_body.contains(&path.as_str()) {
                let body = operation["requestBody"]["content"].as_object();
                assert!(
                    body.is_some_and(|media| media.values().all(|one| one["schema"].is_object())),
                    "{method} {path}: no request body schema"
                );
            }

            // The route exists, and what it answers (with nothing useful given) is documented.
            let url = format!(
                "{}{}",
                running.server_url,
                path.replace("{app}", "highlevel")
                    .replace("{id}", "none")
                    .replace("{name}", "none")
            );
            let method_name =
                reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
            let answer = running
                .http
                .request(method_name, url)
                .bearer_auth(ADMIN)
                .send()
                .await
                .expect("answer");
            let status = answer.status();
            assert!(
                responses.contains_key(status.as_str()),
                "{method} {path} answered {status}, which the document does not name"
            );
            if status.is_client_error() {
                let body: Value = answer.json().await.expect("a JSON client error");
                assert!(body["error"].is_string(), "{method} {path}: {body}");
            }
        }
    }
}

/// A request that must be refused: its answer's status and a word its error names.
struct Refused {
    method: reqwest::Method,
    path: &'static str,
    body: Option<(&'static str, Vec<u8>)>,
    authorised: bool,
    status: u16,
    names: &'static str,
}

#[tokio::test]
async fn every_client_error_is_json_naming_the_problem() {
    use reqwest::Method;
    let (store, _db) = sqlite_store().await;
    let running = start(store).await;
    let refused = |method, path, authorised, status, names| Refused {
        method,
        path,
        body: None,
        authorised,
        status,
        names,
    };
    let cases = [
        refused(Method::GET, "/api/nothing", true, 404, "no route"),
        refused(Method::GET, "/nothing", false, 404, "no route"),
        refused(Method::PUT, "/api/runs", true, 405, "allowed"),
        refused(Method::DELETE, "/webhooks/highlevel", false, 405, "allowed"),
        refused(Method::GET, "/api/runs?limit=many", true, 400, "limit"),
        refused(Method::GET, "/api/runs", false, 401, "Authorization"),
        Refused {
            body: Some(("application/json", b"{not json".to_vec())),
            ..refused(Method::POST, "/api/flows/welcome/test", true, 400, "body")
        },
        Refused {
            body: Some(("text/yaml", vec![0xff, 0xfe, 0x00])),
            ..refused(Method::POST, "/api/flows", true, 400, "UTF-8")
        },
    ];
    for case in cases {
        let url = format!("{}{}", running.server_url, case.path);
        let mut request = running.http.request(case.method.clone(), &url);
        if case.authorised {
            request = request.bearer_auth(ADMIN);
        }
        if let Some((content_type, bytes)) = case.body {
            request = request.header("content-type", content_type).body(bytes);
        }
        let answer = request.send().await.expect("answer");
        let method = &case.method;
        assert_eq!(answer.status().as_u16(), case.status, "{method} {url}");
        let content_type = answer.headers().get("content-type").cloned();
        let problem: Value = answer
            .json()
            .await
            .unwrap_or_else(|err| panic!("{method} {url}: not JSON ({content_type:?}): {err}"));
        let text = problem["error"].as_str().unwrap_or_default();
        assert!(text.contains(case.names), "{method} {url}: {} in {problem}", case.names);
    }
}

/// A flow whose jq is 1,000 parentheses deep, stored before the limits existed.
fn deep_flow(name: &str) -> String {
    FLOW.replace("name: welcome", &format!("name: {name}")).replace(
        "dueDate: .now",
        &format!("dueDate: '{}.now{}'", "(".repeat(1_000), ")".repeat(1_000)),
    )
}

/// A flow that cannot be loaded (stored before the limits existed) is marked broken at start,
/// shown so by the API, and skipped: the server starts and the other flows' webhooks run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_stored_flow_is_marked_and_skipped_and_the_others_run() {
    let (store, _db) = sqlite_store().await;
    store.put_flow("deep", &deep_flow("deep"), true).await.expect("stored without checks");
    let running = start(store).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let broken = loop {
        let (status, flow) = running.api(reqwest::Method::GET, "/flows/deep", None).await;
        assert_eq!(status, 200);
        if let Some(reason) = flow["flow"]["broken"].as_str() {
            break reason.to_owned();
        }
        assert!(Instant::now() < deadline, "the flow was never marked broken: {flow}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(
        broken.contains("brackets nest more than 32") && broken.contains("dueDate"),
        "{broken}"
    );
    running.create_contacts(2).await;
    running
        .until("the welcome flow's 2 tasks", |stats| stats["effects"]["task.created"] == 2)
        .await;
    let (_, flows) = running.api(reqwest::Method::GET, "/flows", None).await;
    let welcome = flows["flows"]
        .as_array()
        .and_then(|flows| flows.iter().find(|flow| flow["name"] == "welcome").cloned());
    assert_eq!(welcome.map(|flow| flow["broken"].clone()), Some(Value::Null));
}

/// `POST /api/flows` with the shapes that used to overflow the stack, or a 200 KB nested
/// YAML, answers a 4xx whose JSON names the limit; the server keeps answering.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pathological_flows_are_refused_with_the_limit_named() {
    let (store, _db) = sqlite_store().await;
    let running = start(store).await;
    let post = |body: String| {
        let request = running
            .http
            .post(format!("{}/api/flows", running.server_url))
            .bearer_auth(ADMIN)
            .body(body);
        async move {
            let answer = request.send().await.expect("answered");
            let status = answer.status().as_u16();
            (status, answer.json::<Value>().await.expect("a JSON body"))
        }
    };
    let with_due_date = |jq: String| FLOW.replace("dueDate: .now", &format!("dueDate: '{jq}'"));
    let cases = [
        (
            with_due_date(format!("{}1{}", "(".repeat(1_000), ")".repeat(1_000))),
            400,
            "brackets nest more than 32",
        ),
        (with_due_date(format!("1{}", "+1".repeat(2_000))), 400, "more than 100 operators"),
        (with_due_date(format!(".{}", "|.".repeat(2_000))), 400, "more than 100 operators"),
        (
            format!("name: x\ndescription: {}1{}\n", "{a: ".repeat(12_000), "}".repeat(12_000)),
            400,
            "nests more than 24",
        ),
        (
            format!("name: x\ndescription: {}1{}\n", "{a: ".repeat(50_000), "}".repeat(50_000)),
            413,
            "over 65536 bytes",
        ),
        (
            FLOW.replace("name: welcome", &format!("name: {}", "n".repeat(3_000))),
            400,
            "at most 100 are allowed",
        ),
    ];
    for (body, status, reason) in cases {
        let (got, answer) = post(body).await;
        let error = answer["error"].as_str().unwrap_or_default();
        assert_eq!(got, status, "{reason}: {answer}");
        assert!(error.contains(reason), "{reason}: {answer}");
    }
    // Nested YAML posted concurrently is parsed off the async runtime: /healthz answers.
    let nested =
        format!("name: x\ndescription: {}1{}\n", "{a: ".repeat(12_000), "}".repeat(12_000));
    let posts: Vec<_> = (0..4).map(|_| tokio::spawn(post(nested.clone()))).collect();
    let health = running.http.get(format!("{}/healthz", running.server_url)).send().await;
    assert_eq!(health.expect("healthz").status(), 200);
    for posted in posts {
        assert_eq!(posted.await.expect("joined").0, 400);
    }
    let (_, flows) = running.api(reqwest::Method::GET, "/flows", None).await;
    assert_eq!(flows["flows"].as_array().map(Vec::len), Some(1), "nothing was stored: {flows}");
}

/// A toy app that only sends webhooks: an HMAC-SHA256 of the body with a secret shared with
/// the app, in hex in `x-toy-signature`; each event names its `kind` and carries the app's
/// delivery `id`.
struct ToyApp {
    secret: Vec<u8>,
}

impl ToyApp {
    fn mac(&self, body: &[u8]) -> String {
        use hmac::Mac;
        let mut mac =
            hmac::Hmac::<sha2::Sha256>::new_from_slice(&self.secret).expect("any key length");
        mac.update(body);
        mac.finalize().into_bytes().iter().map(|byte| format!("{byte:02x}")).collect()
    }
}

impl Verifier for ToyApp {
    fn verify(
        &self,
        body: &[u8],
        headers: &reqwest::header::HeaderMap,
        _now: chrono::DateTime<chrono::Utc>,
    ) -> Result<VerifiedEvent, Refusal> {
        let given = headers.get("x-toy-signature").and_then(|value| value.to_str().ok());
        let given = given.ok_or_else(|| Refusal::new("no x-toy-signature"))?;
        if given != self.mac(body) {
            return Err(Refusal::new("x-toy-signature does not match the shared secret"));
        }
        let payload: Value =
            serde_json::from_slice(body).map_err(|_| Refusal::new("the body is not JSON"))?;
        let field = |name: &str| payload[name].as_str().map(str::to_owned);
        let (Some(kind), Some(id)) = (field("kind"), field("id")) else {
            return Err(Refusal::new("a toy event has a kind and an id"));
        };
        Ok(VerifiedEvent {
            event_type: kind,
            dedup_key: format!("toy:{id}"),
            account: None,
            payload,
        })
    }
}

/// The toy app as the registry sees it: no operations, no poll, one event, its verifier.
struct Toy(Arc<ToyApp>);

#[async_trait::async_trait]
impl App for Toy {
    fn id(&self) -> AppId {
        AppId::from_static("toy")
    }

    fn title(&self) -> &str {
        "Toy"
    }

    fn operations(&self) -> &[Arc<OperationSpec>] {
        &[]
    }

    fn events(&self) -> Vec<WebhookEvent> {
        vec![WebhookEvent { name: "ticket.opened".into(), fields: Vec::new(), reconciled_by: None }]
    }

    fn poll_sources(&self) -> &[PollSource] {
        &[]
    }

    fn event_key(&self, _: &str, _: &str, _: &Value, delivery_id: &str) -> String {
        format!("toy:{delivery_id}")
    }

    fn webhook_event(&self, payload: Value) -> NewEvent {
        NewEvent {
            dedup_key: format!("toy:{}", payload["id"].as_str().unwrap_or_default()),
            source: "toy".into(),
            event_type: payload["kind"].as_str().unwrap_or_default().into(),
            location_id: None,
            payload,
        }
    }

    fn client(&self, _: ClientContext<'_>) -> Result<Arc<dyn AppClient>, ClientError> {
        Err(ClientError::App {
            app: AppId::from_static("toy"),
            source: "the toy app takes no connections".into(),
        })
    }

    fn connect_info(&self) -> ConnectInfo {
        ConnectInfo::plain("http://127.0.0.1:9/")
    }

    fn verifier(&self) -> Option<Arc<dyn Verifier>> {
        Some(self.0.clone())
    }
}

/// A second app's webhooks are verified by the verifier the app brings, registered by the
/// composition (this test) in the apps it gives the engine, without any change to the
/// server: genuine deliveries are stored once, forged ones refused with the toy's reason, and
/// an app nobody registered is a 404 naming those that receive webhooks.
#[tokio::test]
async fn an_app_registered_by_the_composition_gets_its_webhooks_verified_by_its_own_verifier() {
    let (store, _db) = sqlite_store().await;
    let toy = || ToyApp { secret: b"shared with the toy app".to_vec() };
    let apps = Apps::builtin().with(Arc::new(Toy(Arc::new(toy()))));
    let running = support::start(store, Options { apps, ..Options::default() }).await;
    running.until_serving().await;
    let post = |app: &str, body: &Value, signature: &str| {
        running
            .http
            .post(format!("{}/webhooks/{app}", running.server_url))
            .header("x-toy-signature", signature)
            .json(body)
    };
    let event = json!({ "kind": "ticket.opened", "id": "t-1", "title": "Printer on fire" });
    let signature = toy().mac(&serde_json::to_vec(&event).expect("json"));

    let first = post("toy", &event, &signature).send().await.expect("answer");
    assert_eq!(first.status(), 200);
    assert_eq!(first.json::<Value>().await.expect("json"), json!({ "stored": true, "runs": 0 }));
    let again = post("toy", &event, &signature).send().await.expect("answer");
    assert_eq!(
        again.json::<Value>().await.expect("json"),
        json!({ "stored": false, "duplicate": true }),
        "the toy's dedup id makes a second delivery a duplicate"
    );

    let forged = json!({ "kind": "ticket.opened", "id": "t-2", "title": "Printer on fire" });
    let refused = post("toy", &forged, &signature).send().await.expect("answer");
    assert_eq!(refused.status(), 401);
    let reason = refused.json::<Value>().await.expect("json")["error"].clone();
    assert_eq!(reason, "x-toy-signature does not match the shared secret");
    // HighLevel's signature headers mean nothing to the toy's verifier, and the other way.
    let as_highlevel = post("highlevel", &event, &signature).send().await.expect("answer");
    assert_eq!(as_highlevel.status(), 401);

    let unknown = post("nobody", &event, &signature).send().await.expect("answer");
    assert_eq!(unknown.status(), 404);
    let reason = unknown.json::<Value>().await.expect("json")["error"].clone();
    let reason = reason.as_str().unwrap_or_default();
    let named = ["highlevel", "your-app", "toy"].iter().all(|app| reason.contains(app));
    assert!(reason.contains("`nobody`") && named, "{reason}");
}
