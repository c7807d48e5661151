//! What the engine's integration tests share: a sandbox, stores on SQLite and on PostgreSQL,
//! and an engine connected to the sandbox.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use ghl_engine::connections::save_private_token;
use ghl_engine::{Engine, EngineConfig};
use ghl_sandbox::{SandboxConfig, SandboxInfo};
use ghl_store::{NewEvent, Store};
use ghl_testkit::TestSandbox;
use serde_json::{json, Value};

pub struct World {
    pub sandbox: SandboxInfo,
    pub engine: Arc<Engine>,
    /// The store the engine was built on, for what a test reads or changes behind it.
    pub store: Store,
    pub http: reqwest::Client,
    /// Stops the sandbox when the world is dropped.
    pub _running: TestSandbox,
}

/// A one-step flow: a welcome task for every new contact.
pub const TASK_FLOW: &str = include_str!("welcome-task.yaml");

/// The sandbox of [`world`]: no contacts, limits no test reaches.
pub fn roomy_sandbox() -> SandboxConfig {
    SandboxConfig {
        contacts: 0,
        rate_limits: ghl_sandbox::RateLimits {
            burst: 100_000,
            interval_ms: 10_000,
            daily: 10_000_000,
        },
        ..SandboxConfig::default()
    }
}

/// The engine of [`world`]: runs back off from 10 ms.
pub fn quick_engine() -> EngineConfig {
    let backoff =
        ghl_client::Backoff::new(Duration::from_millis(10), ghl_engine::runner::RUN_BACKOFF.max);
    EngineConfig { backoff, ..EngineConfig::default() }
}

/// A sandbox, and an engine on `store` connected to it as `highlevel`, with no flows yet.
pub async fn world(store: Store) -> World {
    world_with(store, roomy_sandbox(), quick_engine()).await
}

/// [`world`] with this sandbox and this engine.
pub async fn world_with(store: Store, sandbox: SandboxConfig, engine: EngineConfig) -> World {
    let sandbox = TestSandbox::start(sandbox).await;
    let info = sandbox.info.clone();
    let (base, location, token) =
        (&info.base_url, &info.location_id, &info.private_integration_token);
    save_private_token(&store, "highlevel", base, location, token).await.expect("connection");
    let engine = Engine::with_config(store.clone(), engine);
    World { sandbox: info, engine, store, http: reqwest::Client::new(), _running: sandbox }
}

impl World {
    pub async fn admin(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request =
            self.http.request(method, format!("{}/_sandbox{path}", self.sandbox.base_url));
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.expect("admin").json().await.unwrap_or(Value::Null)
    }

    /// A contact created by a person in HighLevel; answers the ContactCreate event it emitted.
    pub async fn contact_created(&self, first_name: &str) -> NewEvent {
        self.contacts_created(&[first_name.to_owned()]).await.remove(0)
    }

    /// Contacts created by people in HighLevel, and the ContactCreate events they emitted.
    pub async fn contacts_created(&self, first_names: &[String]) -> Vec<NewEvent> {
        let path = format!("/as-user/{}/contacts/", self.sandbox.location_id);
        let mut ids = Vec::new();
        for name in first_names {
            let email = format!("{}@example.com", name.to_lowercase());
            let body = json!({ "locationId": self.sandbox.location_id, "firstName": name, "email": email });
            ids.push(
                self.admin(reqwest::Method::POST, &path, Some(body)).await["contact"]["id"].clone(),
            );
        }
        let events = self
            .admin(reqwest::Method::GET, "/webhooks?type=ContactCreate&limit=10000", None)
            .await;
        let events = events["events"].as_array().expect("events");
        ids.iter()
            .map(|id| {
                let event = events.iter().find(|e| e["payload"]["id"] == *id).expect("event");
                NewEvent {
                    // As the server keys it.
                    dedup_key: ghl_engine::apps::highlevel::event_key(
                        "ContactCreate",
                        &self.sandbox.location_id,
                        &event["payload"],
                        event["webhookId"].as_str().expect("webhookId"),
                    ),
                    source: "highlevel".into(),
                    event_type: "ContactCreate".into(),
                    location_id: Some(self.sandbox.location_id.clone()),
                    payload: event["payload"].clone(),
                }
            })
            .collect()
    }

    pub async fn stored_contact(&self, id: &str) -> Value {
        self.admin(
            reqwest::Method::GET,
            &format!("/locations/{}/contacts/{id}", self.sandbox.location_id),
            None,
        )
        .await
    }

    /// Works the queue until nothing is queued, running or waiting, within a bound.
    pub async fn drain(&self) {
        let deadline = Instant::now() + Duration::from_secs(180);
        loop {
            while self.engine.run_next().await.expect("run") {}
            let pending = self.store.run_counts().await.expect("counts");
            if !pending.iter().any(|(status, n)| {
                ["queued", "running", "waiting"].contains(&status.as_str()) && *n > 0
            }) {
                return;
            }
            assert!(Instant::now() < deadline, "the queue did not drain: {pending:?}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// A test on SQLite and on PostgreSQL: `$check(World)` runs on each.
macro_rules! on_both {
    ($name:ident, $check:ident) => {
        ghl_testkit::on_both!($name, $check, via $crate::support::world);
    };
}
