//! What the runtime's tests share: sandboxes started from the shipped manifests, clients
//! connected to them, a budget that never waits, fast retries, the sandbox's admin API.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use ghl_app_runtime::{Connection, Credentials, ManifestClient};
use ghl_app_sandbox::{AppSandbox, AppSandboxConfig};
use ghl_apps::Manifest;
use ghl_client::{BudgetKey, LocalBudget, Observation, RateBudget, RetryPolicy};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub fn manifest(app: &str) -> Arc<Manifest> {
    let manifests = ghl_apps::builtin::manifests().expect("the shipped manifests load");
    Arc::new(manifests.into_iter().find(|m| m.app == app).expect("the app is shipped"))
}

/// A sandbox of a shipped app, stopped when the returned guard drops.
pub struct Sandbox {
    pub sandbox: AppSandbox,
    stop: CancellationToken,
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl std::ops::Deref for Sandbox {
    type Target = AppSandbox;
    fn deref(&self) -> &AppSandbox {
        &self.sandbox
    }
}

pub async fn start(app: &str, config: AppSandboxConfig) -> Sandbox {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let stop = CancellationToken::new();
    let sandbox = AppSandbox::start((*manifest(app)).clone(), config, listener, stop.clone())
        .await
        .expect("the sandbox starts");
    Sandbox { sandbox, stop }
}

/// Serves `router` on a free port of 127.0.0.1 (a small API playing what the sandboxes do
/// not); answers the address of its `/api`.
pub async fn serve_api(router: axum::Router) -> url::Url {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let base = format!("http://{}/api", listener.local_addr().expect("bound"));
    tokio::spawn(async move { axum::serve(listener, router).await });
    url::Url::parse(&base).expect("url")
}

/// A budget that never waits: for tests about something else than pacing (the sandbox's
/// own limits, or none, decide).
pub struct Unlimited;

#[async_trait::async_trait]
impl RateBudget for Unlimited {
    async fn acquire(&self, _key: &BudgetKey) -> ghl_client::Result<()> {
        Ok(())
    }
    async fn observe(&self, _key: &BudgetKey, _seen: &Observation) {}
}

pub fn unlimited() -> Arc<dyn RateBudget> {
    Arc::new(Unlimited)
}

pub fn local() -> Arc<dyn RateBudget> {
    LocalBudget::new()
}

/// Retries close together, so a test of recovery is quick.
pub fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 12,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(100),
        max_total: Duration::from_secs(60),
        request_timeout: Duration::from_secs(10),
    }
}

/// A client of the sandbox's app with the credentials its ready line gives.
pub fn client(sandbox: &AppSandbox, budget: Arc<dyn RateBudget>) -> ManifestClient {
    client_with(sandbox, &sandbox.info.credentials, budget)
}

pub fn client_with(
    sandbox: &AppSandbox,
    credentials: &BTreeMap<String, String>,
    budget: Arc<dyn RateBudget>,
) -> ManifestClient {
    let manifest = Arc::new(sandbox.shared.manifest.clone());
    let base_url = (!manifest.auth.url_is_credential())
        .then(|| url::Url::parse(&sandbox.info.base_url).expect("the sandbox's URL"));
    let connection = Connection {
        base_url,
        account: None,
        credentials: Credentials::values(
            credentials.iter().map(|(name, value)| (name.as_str(), value.as_str())),
        ),
    };
    ManifestClient::new(manifest, connection, budget, fast_retry()).expect("a client")
}

pub async fn admin(sandbox: &AppSandbox, path: &str) -> Value {
    reqwest::get(format!("{}/{path}", sandbox.info.admin_url))
        .await
        .expect("the sandbox answers")
        .json()
        .await
        .expect("a JSON answer")
}

pub async fn admin_put(sandbox: &AppSandbox, path: &str, body: Value) {
    let answer = reqwest::Client::new()
        .put(format!("{}/{path}", sandbox.info.admin_url))
        .json(&body)
        .send()
        .await
        .expect("the sandbox answers");
    assert!(answer.status().is_success(), "{path}: {}", answer.status());
}

/// How many requests of `operation` the sandbox answered, by status.
pub async fn requests(sandbox: &AppSandbox, operation: &str) -> BTreeMap<String, u64> {
    let stats = admin(sandbox, "stats").await;
    serde_json::from_value(stats["requests"][operation].clone()).unwrap_or_default()
}
