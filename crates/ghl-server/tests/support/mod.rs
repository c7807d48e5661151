//! What the server's integration tests share: a sandbox sending its webhooks to a server on
//! `127.0.0.1:0`, serving a service on the test's store with the apps, flows and options a
//! test gives, connected to the sandbox as `highlevel` (whose webhook keys it has learned).

#![allow(dead_code)]

pub mod browser;

use std::time::{Duration, Instant};

use ghl_engine::connections::save_private_token;
use ghl_engine::{Applied, Apps, EngineConfig};
use ghl_sandbox::{SandboxConfig, SandboxInfo};
use ghl_server::{serve, ServerConfig};
use ghl_service::Service;
use ghl_store::{LearnedWebhookKeys, RunFilter, RunSummary, Store};
use ghl_testkit::TestSandbox;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

/// The REST API's admin token in tests.
pub const ADMIN: &str = "test-admin-token";

/// How a test's server is set up.
pub struct Options<'a> {
    /// The sandbox (its webhooks go to the server, its rate limit is lifted).
    pub sandbox: SandboxConfig,
    /// The apps the server's engine knows, each verifying its own webhooks.
    pub apps: Apps,
    /// Flows applied before the server starts.
    pub flows: &'a [&'a str],
    /// Runs of one flow for one record a minute that make it a runaway.
    pub runaway_limit: Option<u32>,
    /// Whether the server is started by `start` (false: by `Running::serve`, once the test
    /// has set the store up as it wants the server to find it).
    pub serving: bool,
    /// The server's workers (0: runs stay as the test leaves them, or another process
    /// executes them).
    pub workers: usize,
}

impl Default for Options<'_> {
    fn default() -> Self {
        Self {
            sandbox: SandboxConfig::default(),
            apps: Apps::builtin(),
            flows: &[],
            runaway_limit: None,
            serving: true,
            workers: 2,
        }
    }
}

pub struct Running {
    pub sandbox: SandboxInfo,
    pub server_url: String,
    pub service: Service,
    /// The store the service runs on, for what a test reads behind the API.
    pub store: Store,
    /// What applying each of the options' flows answered.
    pub applied: Vec<Applied>,
    pub http: reqwest::Client,
    shutdown: CancellationToken,
    workers: usize,
    /// The server's listener until it serves.
    listener: std::sync::Mutex<Option<tokio::net::TcpListener>>,
    _sandbox: TestSandbox,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// The sandbox and the server on `store` as `options` say; runs back off from 10 ms, and two
/// workers look for due runs every 10 ms.
pub async fn start(store: Store, options: Options<'_>) -> Running {
    let Options { sandbox: mut config, apps, flows, runaway_limit, serving, workers } = options;
    let shutdown = CancellationToken::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let server_url = format!("http://{}", listener.local_addr().expect("addr"));
    config.webhooks.urls = vec![format!("{server_url}/webhooks/highlevel").parse().expect("url")];
    config.rate_limits.burst = 100_000;
    let running_sandbox = TestSandbox::start(config).await;
    let sandbox = running_sandbox.info.clone();

    let (base, location, token) =
        (&sandbox.base_url, &sandbox.location_id, &sandbox.private_integration_token);
    save_private_token(&store, "highlevel", base, location, token).await.expect("connection");
    let learned = LearnedWebhookKeys {
        connection: "highlevel".into(),
        origin: sandbox.base_url.clone(),
        ed25519: Some(sandbox.webhook_public_keys.ed25519.clone()),
        rsa_pem: Some(sandbox.webhook_public_keys.rsa_pem.clone()),
    };
    assert!(store.put_webhook_keys(&learned).await.expect("learned keys"));
    let backoff =
        ghl_client::Backoff::new(Duration::from_millis(10), ghl_engine::runner::RUN_BACKOFF.max);
    let service = Service::new(store.clone(), EngineConfig { apps, backoff, ..Default::default() });
    if let Some(limit) = runaway_limit {
        service.engine().set_runaway_limit(limit);
    }
    let mut applied = Vec::new();
    for flow in flows {
        applied.push(service.flows().apply(flow).await.expect("flow"));
    }
    let running = Running {
        sandbox,
        server_url,
        service,
        store,
        applied,
        http: reqwest::Client::new(),
        shutdown,
        workers,
        listener: std::sync::Mutex::new(Some(listener)),
        _sandbox: running_sandbox,
    };
    if serving {
        running.serve();
    }
    running
}

impl Running {
    /// Starts the server (once): its workers (two unless the options said) look for due runs
    /// every 10 ms.
    pub fn serve(&self) {
        let listener = self.listener.lock().expect("the listener").take().expect("not serving yet");
        let config = ServerConfig {
            admin_token: ADMIN.into(),
            workers: self.workers,
            worker_idle: Duration::from_millis(10),
        };
        tokio::spawn(serve(self.service.clone(), config, listener, self.shutdown.clone()));
    }

    /// Stops the server (as its process's shutdown would); the sandbox runs on.
    pub fn stop(&self) {
        self.shutdown.cancel();
    }

    /// Waits (bounded) until the server answers `/healthz`: it has started.
    pub async fn until_serving(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let healthz = format!("{}/healthz", self.server_url);
        while !self.http.get(&healthz).send().await.is_ok_and(|answer| answer.status() == 200) {
            assert!(Instant::now() < deadline, "the server did not start");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// A change a person makes in HighLevel, at `path` under the location; answers the
    /// sandbox's answer.
    pub async fn as_user(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let url = format!(
            "{}/_sandbox/as-user/{}/{path}",
            self.sandbox.base_url, self.sandbox.location_id
        );
        let answer = self.http.request(method, url).json(&body).send().await.expect("as-user");
        assert!(answer.status().is_success(), "{}", answer.status());
        answer.json().await.expect("json")
    }

    pub async fn sandbox_stats(&self) -> Value {
        let url = format!("{}/_sandbox/stats", self.sandbox.base_url);
        self.http.get(url).send().await.expect("stats").json().await.expect("json")
    }

    /// Waits (bounded) until `done` holds for the sandbox's stats.
    pub async fn until(&self, what: &str, done: impl Fn(&Value) -> bool) -> Value {
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

    /// An admin API call; answers the status and the JSON body (every answer is JSON).
    pub async fn api(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request =
            self.http.request(method, format!("{}/api{path}", self.server_url)).bearer_auth(ADMIN);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer = request.send().await.expect("api");
        let status = answer.status().as_u16();
        (status, answer.json().await.expect("a JSON body"))
    }

    pub async fn metrics(&self) -> String {
        let url = format!("{}/metrics", self.server_url);
        self.http.get(url).send().await.expect("metrics").text().await.expect("text")
    }

    /// Every run, newest first.
    pub async fn all_runs(&self) -> Vec<RunSummary> {
        self.runs(&RunFilter { status: None, flow: None, limit: 1000, ..RunFilter::default() })
            .await
    }

    pub async fn runs(&self, filter: &RunFilter) -> Vec<RunSummary> {
        self.service.runs().list(filter).await.expect("runs")
    }

    pub fn webhook_url(&self) -> String {
        format!("{}/webhooks/highlevel", self.server_url)
    }
}
