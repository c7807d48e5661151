//! A sandbox on 127.0.0.1:0 and clients for it.

use ghl_client::{Client, ClientConfig, Credentials, RetryPolicy};
use ghl_sandbox::{SandboxConfig, SandboxInfo};
use ghl_spec_check::{start_validating_proxy, ProxyReport};
use serde_json::Value;

pub use ghl_testkit::keys;

/// A sandbox behind a validating proxy: clients talk to the proxy, and every request they
/// send is checked against the official spec when the test ends.
pub struct TestSandbox {
    pub info: SandboxInfo,
    pub admin: reqwest::Client,
    /// Where clients send API requests: the proxy in front of the sandbox.
    pub api_url: String,
    pub report: ProxyReport,
    running: ghl_testkit::TestSandbox,
}

impl Drop for TestSandbox {
    fn drop(&mut self) {
        self.running.shutdown().cancel();
        if !std::thread::panicking() {
            self.report.assert_clean();
        }
    }
}

impl TestSandbox {
    pub async fn start_with(change: impl FnOnce(&mut SandboxConfig)) -> Self {
        let mut config =
            SandboxConfig { contacts: 20, signing_keys: Some(keys()), ..SandboxConfig::default() };
        change(&mut config);
        let running = ghl_testkit::TestSandbox::start(config).await;
        let (api_url, report) = start_validating_proxy(running.info.base_url.clone()).await;
        Self { info: running.info.clone(), admin: reqwest::Client::new(), api_url, report, running }
    }

    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// A client with the location's private integration token.
    pub fn client(&self) -> Client {
        self.client_with(RetryPolicy::default())
    }

    pub fn client_with(&self, retry: RetryPolicy) -> Client {
        let mut config = ClientConfig::new(
            self.api_url.parse().expect("url"),
            Credentials::PrivateToken(self.info.private_integration_token.clone().into()),
            self.info.location_id.clone(),
        );
        config.retry = retry;
        Client::new(config).expect("client")
    }

    pub async fn admin_get(&self, path: &str) -> Value {
        self.admin
            .get(format!("{}/_sandbox{path}", self.info.base_url))
            .send()
            .await
            .expect("admin")
            .json()
            .await
            .expect("json")
    }

    pub async fn admin_send(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let response = self
            .admin
            .request(method, format!("{}/_sandbox{path}", self.info.base_url))
            .json(&body)
            .send()
            .await
            .expect("admin");
        assert!(response.status().is_success(), "admin {path}: {}", response.status());
        response.json().await.unwrap_or(Value::Null)
    }

    pub async fn stats(&self) -> Value {
        self.admin_get("/stats").await
    }

    pub async fn stored(&self, contact_id: &str) -> Value {
        self.admin_get(&format!("/locations/{}/contacts/{contact_id}", self.info.location_id)).await
    }
}
