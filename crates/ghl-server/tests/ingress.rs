//! End to end over real HTTP, on SQLite and PostgreSQL: the sandbox sends signed webhooks
//! (each twice) to the server, which stores them, runs the flow once per event, and the
//! effects land in the sandbox. Unsigned, forged and replayed webhooks leave no trace.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ghl_engine::connections::save_private_token;
use ghl_engine::Engine;
use ghl_sandbox::{Sandbox, SandboxConfig, SandboxInfo};
use ghl_server::webhook_signature::WebhookKeys;
use ghl_server::{serve, ServerConfig};
use ghl_store::{MasterKey, RunFilter, Store};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

const POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/test";
const ADMIN: &str = "test-admin-token";

const FLOW: &str = include_str!("../../ghl-engine/tests/support/welcome-task.yaml");

struct Running {
    sandbox: SandboxInfo,
    server_url: String,
    engine: Arc<Engine>,
    http: reqwest::Client,
    shutdown: CancellationToken,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn start(store: Store) -> Running {
    let shutdown = CancellationToken::new();
    let server_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let server_url = format!("http://{}", server_listener.local_addr().expect("addr"));
    let mut config = SandboxConfig { contacts: 0, ..SandboxConfig::default() };
    config.webhooks.urls = vec![format!("{server_url}/webhooks/highlevel").parse().expect("url")];
    config.webhooks.duplicate_share = 1.0;
    config.rate_limits.burst = 100_000;
    let sandbox_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let sandbox =
        Sandbox::start(config, sandbox_listener, shutdown.clone()).await.expect("sandbox").info;

    let (base, location, token) =
        (&sandbox.base_url, &sandbox.location_id, &sandbox.private_integration_token);
    save_private_token(&store, "highlevel", base, location, token).await.expect("connection");
    let engine = Engine::with_retry_base(store, Duration::from_millis(10));
    engine.apply_flow(FLOW).await.expect("flow");
    let keys = WebhookKeys::new(
        Some(&sandbox.webhook_public_keys.ed25519),
        Some(&sandbox.webhook_public_keys.rsa_pem),
    )
    .expect("keys");
    let config = ServerConfig {
        webhook_keys: keys,
        admin_token: ADMIN.into(),
        workers: 2,
        worker_idle: Duration::from_millis(10),
    };
    tokio::spawn(serve(engine.clone(), config, server_listener, shutdown.clone()));
    Running { sandbox, server_url, engine, http: reqwest::Client::new(), shutdown }
}

async fn sqlite() -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite:{}", dir.path().join("server.db").display());
    (Store::open(&url, &MasterKey::generate()).await.expect("store"), dir)
}

async fn postgres() -> Store {
    sqlx_any_schema().await
}

async fn sqlx_any_schema() -> Store {
    let schema = format!("s_{}", ghl_store::new_id());
    let admin = ghl_store::admin_pool(POSTGRES).await.expect("PostgreSQL on 127.0.0.1:5432");
    ghl_store::execute(&admin, &format!("CREATE SCHEMA {schema}")).await.expect("schema");
    Store::open(&format!("{POSTGRES}?options=-c%20search_path%3D{schema}"), &MasterKey::generate())
        .await
        .expect("store")
}

impl Running {
    async fn create_contacts(&self, count: usize) {
        for n in 0..count {
            let body =
                json!({ "locationId": self.sandbox.location_id, "firstName": format!("Hook{n}") });
            let path = format!(
                "{}/_sandbox/as-user/{}/contacts/",
                self.sandbox.base_url, self.sandbox.location_id
            );
            let answer = self.http.post(path).json(&body).send().await.expect("create");
            assert_eq!(answer.status(), 201);
        }
    }

    async fn sandbox_stats(&self) -> Value {
        self.http
            .get(format!("{}/_sandbox/stats", self.sandbox.base_url))
            .send()
            .await
            .expect("stats")
            .json()
            .await
            .expect("json")
    }

    /// Waits (bounded) until `done` holds for the sandbox's stats.
    async fn until(&self, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let stats = self.sandbox_stats().await;
            if done(&stats) {
                return stats;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}: {stats}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

macro_rules! on_both {
    ($name:ident, $check:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let (store, _dir) = super::sqlite().await;
                super::$check(super::start(store).await).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$check(super::start(super::postgres().await).await).await;
            }
        }
    };
}

on_both!(signed_webhooks_delivered_twice_run_their_flow_once, delivered_twice_run_once);

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
            .engine
            .store()
            .runs(&RunFilter { status: Some("done".into()), limit: 1000 })
            .await
            .expect("runs");
        if done.len() == 20 {
            break;
        }
        assert!(Instant::now() < deadline, "runs did not finish");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let all =
        running.engine.store().runs(&RunFilter { status: None, limit: 1000 }).await.expect("runs");
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
    let (store, _dir) = sqlite().await;
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

    let runs =
        running.engine.store().runs(&RunFilter { status: None, limit: 100 }).await.expect("runs");
    assert_eq!(runs.len(), 1, "only the genuine event was stored");
}

fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

impl Running {
    /// An admin API call; answers the status and the JSON body (every answer is JSON).
    async fn api(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request =
            self.http.request(method, format!("{}/api{path}", self.server_url)).bearer_auth(ADMIN);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer = request.send().await.expect("api");
        let status = answer.status().as_u16();
        (status, answer.json().await.expect("a JSON body"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_manages_tests_and_runs_flows_and_checks_connections() {
    use reqwest::Method;
    let (store, _dir) = sqlite().await;
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
    let (store, _dir) = sqlite().await;
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
    let (store, _dir) = sqlite().await;
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
