//! A flow that writes what triggers it, end to end over real HTTP on SQLite and PostgreSQL:
//! the sandbox sends signed webhooks (each twice) to the server. The webhook that echoes the
//! flow's own write does not run it again, so a `ContactUpdate` flow that updates its contact
//! makes one update per outside change; told to run on its own writes, it loops until the
//! runaway detector pauses it, and the CLI's store, the API and the metrics say why.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ghl_engine::connections::save_private_token;
use ghl_engine::Engine;
use ghl_sandbox::{SandboxConfig, SandboxInfo};
use ghl_server::ingress::highlevel::{self, HighLevel, WebhookKeys};
use ghl_server::{serve, ServerConfig, Verifiers};
use ghl_store::{FlowStatus, Store};
use ghl_testkit::{on_both, TestSandbox};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

const ADMIN: &str = "test-admin-token";

/// Stamps every contact that changes: it updates the contact it is triggered by.
const STAMP: &str = r#"name: stamp
trigger:
  highlevel: ContactUpdate
steps:
  - name: stamp
    action: highlevel.update-contact
    connection: highlevel
    input:
      contactId: .trigger.id
      lastName: '"Stamped"'
"#;

struct Running {
    sandbox: SandboxInfo,
    server_url: String,
    engine: Arc<Engine>,
    http: reqwest::Client,
    shutdown: CancellationToken,
    _sandbox: TestSandbox,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn start(store: Store, flow: &str, runaway_limit: u32) -> Running {
    let shutdown = CancellationToken::new();
    let server_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let server_url = format!("http://{}", server_listener.local_addr().expect("addr"));
    let mut config = SandboxConfig { contacts: 0, ..SandboxConfig::default() };
    config.webhooks.urls = vec![format!("{server_url}/webhooks/highlevel").parse().expect("url")];
    config.webhooks.duplicate_share = 1.0;
    config.rate_limits.burst = 100_000;
    let running_sandbox = TestSandbox::start(config).await;
    let sandbox = running_sandbox.info.clone();
    let (base, location, token) =
        (&sandbox.base_url, &sandbox.location_id, &sandbox.private_integration_token);
    save_private_token(&store, "highlevel", base, location, token).await.expect("connection");
    let engine = Engine::with_retry_base(store, Duration::from_millis(10));
    engine.set_runaway_limit(runaway_limit);
    let applied = engine.apply_flow(flow).await.expect("flow");
    assert!(
        applied.warnings.iter().any(|warning| warning.contains("can trigger itself")),
        "flows apply warns: {:?}",
        applied.warnings
    );
    let keys = WebhookKeys::new(
        Some(&sandbox.webhook_public_keys.ed25519),
        Some(&sandbox.webhook_public_keys.rsa_pem),
    )
    .expect("keys");
    let config = ServerConfig {
        verifiers: Verifiers::new().with(highlevel::APP, HighLevel::new(keys)),
        admin_token: ADMIN.into(),
        workers: 2,
        worker_idle: Duration::from_millis(10),
    };
    tokio::spawn(serve(engine.clone(), config, server_listener, shutdown.clone()));
    Running {
        sandbox,
        server_url,
        engine,
        http: reqwest::Client::new(),
        shutdown,
        _sandbox: running_sandbox,
    }
}

impl Running {
    /// A change a person makes in HighLevel; answers the contact's id when it creates one.
    async fn as_user(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let url = format!(
            "{}/_sandbox/as-user/{}/{path}",
            self.sandbox.base_url, self.sandbox.location_id
        );
        let answer = self.http.request(method, url).json(&body).send().await.expect("as-user");
        assert!(answer.status().is_success(), "{}", answer.status());
        answer.json().await.expect("json")
    }

    async fn sandbox_stats(&self) -> Value {
        let url = format!("{}/_sandbox/stats", self.sandbox.base_url);
        self.http.get(url).send().await.expect("stats").json().await.expect("json")
    }

    async fn pending_runs(&self) -> i64 {
        let counts = self.engine.store().run_counts().await.expect("counts");
        counts
            .iter()
            .filter(|(status, _)| ["queued", "running", "waiting"].contains(&status.as_str()))
            .map(|(_, n)| n)
            .sum()
    }

    /// Waits (bounded) until nothing more can happen: every webhook emitted was delivered
    /// (so its runs were stored), no run is left to do, and no new webhook came meanwhile.
    /// Answers the sandbox's stats then.
    async fn settled(&self) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let before = self.sandbox_stats().await;
            let emitted = before["webhooks"]["emitted"].as_u64().unwrap_or(0);
            let all_delivered = before["webhooks"]["delivered"].as_u64() == Some(2 * emitted);
            if all_delivered && self.pending_runs().await == 0 {
                let after = self.sandbox_stats().await;
                if after["webhooks"]["emitted"] == before["webhooks"]["emitted"] {
                    return after;
                }
            }
            assert!(Instant::now() < deadline, "did not settle: {before}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn api(&self, path: &str) -> Value {
        let url = format!("{}/api{path}", self.server_url);
        let answer = self.http.get(url).bearer_auth(ADMIN).send().await.expect("api");
        answer.json().await.expect("json")
    }

    async fn metrics(&self) -> String {
        let url = format!("{}/metrics", self.server_url);
        self.http.get(url).send().await.expect("metrics").text().await.expect("text")
    }
}

on_both!(
    a_flow_updating_what_triggers_it_makes_one_update_per_outside_change,
    one_update_each,
    multi_thread
);
on_both!(
    a_flow_running_on_its_own_writes_is_paused_as_a_runaway_and_says_why,
    runaway,
    multi_thread
);

async fn one_update_each(store: Store) {
    let running = start(store, STAMP, 20).await;
    let created = running
        .as_user(
            reqwest::Method::POST,
            "contacts/",
            json!({ "locationId": running.sandbox.location_id, "firstName": "Loop" }),
        )
        .await;
    let id = created["contact"]["id"].as_str().expect("id").to_owned();
    let changes = 3;
    for n in 0..changes {
        let change = json!({ "firstName": format!("Loop{n}") });
        running.as_user(reqwest::Method::PUT, &format!("contacts/{id}"), change).await;
        let stats = running.settled().await;
        assert_eq!(
            stats["effects"]["contact.updated"],
            2 * (n + 1),
            "each outside change, and the flow's one update: {stats}"
        );
    }
    let runs = running.api("/runs?limit=1000").await;
    let runs = runs["runs"].as_array().expect("runs").clone();
    assert_eq!(runs.len(), changes as usize, "one run per outside change: {runs:?}");
    assert!(runs.iter().all(|run| run["status"] == "done"), "{runs:?}");
    let metrics = running.metrics().await;
    assert!(metrics.contains(&format!("ghl_own_write_echoes_total {changes}")), "{metrics}");
    for line in ["ghl_runs{status=\"done\"} 3", "ghl_runs{status=\"skipped\"} 0"] {
        assert!(metrics.contains(line), "{line} in:\n{metrics}");
    }
    let flow = running.engine.store().flow("stamp").await.expect("flow").expect("stored");
    assert_eq!(flow.status, FlowStatus::Enabled);
}

async fn runaway(store: Store) {
    let limit = 5;
    let looping = STAMP
        .replace("highlevel: ContactUpdate\n", "highlevel: ContactUpdate\n  on_own_writes: run\n");
    let running = start(store, &looping, limit).await;
    let created = running
        .as_user(
            reqwest::Method::POST,
            "contacts/",
            json!({ "locationId": running.sandbox.location_id, "firstName": "Runaway" }),
        )
        .await;
    let id = created["contact"]["id"].as_str().expect("id").to_owned();
    running
        .as_user(reqwest::Method::PUT, &format!("contacts/{id}"), json!({ "firstName": "Go" }))
        .await;
    let stats = running.settled().await;
    assert_eq!(
        stats["effects"]["contact.updated"],
        1 + limit,
        "the outside change, then {limit} runs of the loop before the pause: {stats}"
    );
    let flow = running.engine.store().flow("stamp").await.expect("flow").expect("stored");
    assert_eq!(flow.status, FlowStatus::Paused);
    let reason = flow.paused_reason.clone().unwrap_or_default();
    assert!(reason.contains("runaway") && reason.contains(&id), "{reason}");

    let shown = running.api("/flows/stamp").await;
    assert_eq!(shown["flow"]["status"], "paused", "{shown}");
    assert_eq!(shown["flow"]["paused_reason"], reason.as_str());
    let listed = running.api("/flows").await;
    assert_eq!(listed["flows"][0]["status"], "paused", "{listed}");
    assert!(running.metrics().await.contains("ghl_runaway_pauses_total 1"));

    // Enabled again (after a fix), it runs again.
    assert!(running.engine.store().set_flow_enabled("stamp", true).await.expect("enable"));
    let flow = running.engine.store().flow("stamp").await.expect("flow").expect("stored");
    assert_eq!((flow.status, flow.paused_reason), (FlowStatus::Enabled, None));
}
