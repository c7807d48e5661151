//! Test support: a sandbox on 127.0.0.1:0, and calls by operation id whose responses are
//! checked against the official spec.

use std::collections::BTreeMap;
use std::time::Duration;

use ghl_sandbox::{SandboxConfig, SandboxInfo};
use ghl_types::Operation;
use reqwest::header::HeaderMap;
use serde_json::{json, Value};

use ghl_spec_check::{assert_matches_spec, documents_status};

/// Every wait in these tests is bounded by this.
pub const TIMEOUT: Duration = Duration::from_secs(20);

pub use ghl_testkit::keys;

pub struct TestSandbox {
    pub info: SandboxInfo,
    pub http: reqwest::Client,
    /// Stops the sandbox when dropped.
    _running: ghl_testkit::TestSandbox,
}

#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

impl TestSandbox {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(change: impl FnOnce(&mut SandboxConfig)) -> Self {
        let mut config =
            SandboxConfig { contacts: 20, signing_keys: Some(keys()), ..SandboxConfig::default() };
        change(&mut config);
        let running = ghl_testkit::TestSandbox::start(config).await;
        let http = reqwest::Client::builder().timeout(TIMEOUT).build().expect("client");
        Self { info: running.info.clone(), http, _running: running }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.info.base_url)
    }

    pub fn token(&self) -> &str {
        &self.info.private_integration_token
    }

    pub fn location(&self) -> &str {
        &self.info.location_id
    }

    /// Calls an operation with the private integration token.
    pub async fn call(
        &self,
        operation: &str,
        params: &[(&str, &str)],
        body: Option<Value>,
    ) -> Reply {
        self.call_as(self.token(), operation, params, body).await
    }

    /// Calls an operation by its spec id: `params` fill the path template, the rest go in the
    /// query string. The answer is checked against the spec's schema for its status.
    pub async fn call_as(
        &self,
        token: &str,
        operation: &str,
        params: &[(&str, &str)],
        body: Option<Value>,
    ) -> Reply {
        let op =
            Operation::find(operation).unwrap_or_else(|| panic!("unknown operation {operation}"));
        let mut path = op.path.to_owned();
        let mut query = Vec::new();
        for (name, value) in params {
            let placeholder = format!("{{{name}}}");
            if path.contains(&placeholder) {
                path = path.replace(&placeholder, value);
            } else {
                query.push((name.to_string(), value.to_string()));
            }
        }
        let version = match op.api {
            ghl_types::operations::Api::Contacts => ghl_types::CONTACTS_API_VERSION,
            ghl_types::operations::Api::Calendars => ghl_types::CALENDARS_API_VERSION,
        };
        let method = reqwest::Method::from_bytes(op.method.as_bytes()).expect("method");
        let mut request = self
            .http
            .request(method, self.url(&path))
            .query(&query)
            .bearer_auth(token)
            .header("Version", version);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let reply = send(request).await;
        check_against_spec(operation, &reply);
        reply
    }

    pub async fn admin(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Reply {
        let mut request = self.http.request(method, self.url(&format!("/_sandbox{path}")));
        if let Some(body) = body {
            request = request.json(&body);
        }
        send(request).await
    }

    pub async fn stats(&self) -> Value {
        self.admin(reqwest::Method::GET, "/stats", None).await.body
    }

    pub async fn effects(&self) -> BTreeMap<String, u64> {
        serde_json::from_value(self.stats().await["effects"].clone()).expect("effects")
    }

    /// The whole stored contact, as the admin API shows it.
    pub async fn stored_contact(&self, contact_id: &str) -> Reply {
        self.admin(
            reqwest::Method::GET,
            &format!("/locations/{}/contacts/{contact_id}", self.location()),
            None,
        )
        .await
    }

    pub async fn create_contact(&self, fields: Value) -> Value {
        let mut body = json!({ "locationId": self.location() });
        if let (Value::Object(target), Value::Object(extra)) = (&mut body, fields) {
            target.extend(extra);
        }
        let reply = self.call("create-contact", &[], Some(body)).await;
        assert_eq!(reply.status, 201, "{:?}", reply.body);
        reply.body["contact"].clone()
    }
}

pub async fn send(request: reqwest::RequestBuilder) -> Reply {
    let response = request.send().await.expect("request sent");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.expect("body read");
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or(Value::Null)
    };
    Reply { status, headers, body }
}

/// Documented statuses must match their schema; the others (403, 413, 429) must still carry
/// HighLevel's error shape.
fn check_against_spec(operation: &str, reply: &Reply) {
    if documents_status(operation, reply.status) {
        assert_matches_spec(operation, reply.status, &reply.body);
    } else {
        assert_eq!(
            reply.body["statusCode"], reply.status,
            "{operation}: undocumented {} without an error body: {}",
            reply.status, reply.body
        );
        assert!(
            reply.body["message"].is_string() || reply.body["message"].is_array(),
            "{}",
            reply.body
        );
    }
}
