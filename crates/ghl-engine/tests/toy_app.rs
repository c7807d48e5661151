//! A partner app added by a test alone, through the interfaces HighLevel uses (operations,
//! a connection secret, a poll source), with no change to the engine: a flow polls the toy
//! app's items (a tiny REST API served here) and creates a HighLevel contact for each, in the
//! sandbox, on real SQLite and PostgreSQL. The toy app is read from data when the test runs
//! (a JSON description, as a manifest app is read from its YAML): nothing of it is a
//! `'static` table or a function pointer.

#[macro_use]
mod support;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use ghl_engine::apps::{
    App, AppClient, AppId, Apps, CallOptions, ClientContext, ClientError, ConnectInfo,
    OperationFields, OperationSpec, PollQuery, PollSource, WebhookEvent,
};
use ghl_engine::connections::{save, AuthSecret, ConnectionSecret, HttpSecret};
use ghl_engine::{Engine, EngineConfig};
use ghl_store::{NewEvent, RunFilter};
use parking_lot::Mutex;
use serde::Deserialize;
use serde_json::{json, Value};
use support::World;
use tokio_util::sync::CancellationToken;

on_both!(a_flow_polls_a_toy_app_and_creates_highlevel_contacts, toy_to_highlevel);
on_both!(a_toy_write_gets_the_same_intent_on_every_attempt, toy_write_intent);

const TOY: AppId = AppId::from_static("toy");
const API_KEY: &str = "toy-key-5b1";

/// The toy app as data: what a manifest would say of it.
const DESCRIPTION: &str = r#"{
  "title": "Toy",
  "operations": [
    {
      "id": "list-items", "method": "GET", "path": "/items", "scope": "items.readonly",
      "summary": "Items changed since a time, oldest first", "query": ["since", "limit"],
      "input": ["since", "limit"], "required": [], "output": ["items"]
    },
    {
      "id": "create-item", "method": "POST", "path": "/items", "scope": "items.write",
      "summary": "Create an item", "body": true,
      "input": ["name", "email"], "required": ["name"], "output": ["item.id", "item.name"]
    }
  ],
  "polls": [
    {
      "name": "items", "summary": "New or changed toy items", "operation": "list-items",
      "records": "/items", "id": "id", "modified": "updatedAt", "since": "since",
      "limit": "limit", "fields": ["id", "name", "email", "updatedAt"]
    }
  ],
  "check": "list-items"
}"#;

#[derive(Deserialize)]
struct Description {
    title: String,
    operations: Vec<OperationData>,
    polls: Vec<PollData>,
    check: String,
}

#[derive(Deserialize)]
struct OperationData {
    id: String,
    method: String,
    path: String,
    scope: String,
    summary: String,
    #[serde(default)]
    query: Vec<String>,
    #[serde(default)]
    body: bool,
    input: Vec<String>,
    required: Vec<String>,
    output: Vec<String>,
}

#[derive(Deserialize)]
struct PollData {
    name: String,
    summary: String,
    operation: String,
    records: String,
    id: String,
    modified: String,
    since: String,
    limit: String,
    fields: Vec<String>,
}

/// The toy app: an API key header, no webhooks, one poll source; all of it read from
/// `DESCRIPTION` when built.
struct Toy {
    title: String,
    operations: Vec<Arc<OperationSpec>>,
    polls: Vec<PollSource>,
    check: Arc<OperationSpec>,
}

impl Toy {
    fn from_data(text: &str) -> Self {
        let description: Description = serde_json::from_str(text).expect("the toy's data");
        let operations: Vec<Arc<OperationSpec>> = description
            .operations
            .into_iter()
            .map(|data| {
                let method = data.method.parse().expect("an HTTP method");
                Arc::new(OperationSpec {
                    summary: data.summary,
                    query: data.query,
                    body: data.body,
                    scopes: vec![data.scope],
                    fields: OperationFields {
                        input: data.input,
                        required: data.required,
                        output: data.output,
                        any_input: false,
                    },
                    ..OperationSpec::new(data.id, method, data.path)
                })
            })
            .collect();
        let polls = description
            .polls
            .into_iter()
            .map(|data| PollSource {
                summary: data.summary,
                query: PollQuery {
                    since: Some(data.since),
                    since_template: None,
                    sort: None,
                    limit: Some(data.limit),
                },
                record_fields: data.fields,
                ..PollSource::new(data.name, data.operation, data.records, data.id, data.modified)
            })
            .collect();
        let check = operations
            .iter()
            .find(|operation| operation.id == description.check)
            .expect("the check is an operation")
            .clone();
        Self { title: description.title, operations, polls, check }
    }
}

#[async_trait::async_trait]
impl App for Toy {
    fn id(&self) -> AppId {
        TOY
    }

    fn title(&self) -> &str {
        &self.title
    }

    fn operations(&self) -> &[Arc<OperationSpec>] {
        &self.operations
    }

    fn events(&self) -> Vec<WebhookEvent> {
        Vec::new()
    }

    fn poll_sources(&self) -> &[PollSource] {
        &self.polls
    }

    fn event_key(&self, _: &str, _: &str, _: &Value, delivery_id: &str) -> String {
        format!("toy:{delivery_id}")
    }

    fn webhook_event(&self, payload: Value) -> NewEvent {
        NewEvent {
            dedup_key: format!("toy:{}", payload["deliveryId"].as_str().unwrap_or_default()),
            source: TOY.to_string(),
            event_type: payload["type"].as_str().unwrap_or_default().to_owned(),
            location_id: None,
            payload,
        }
    }

    fn client(&self, context: ClientContext<'_>) -> Result<Arc<dyn AppClient>, ClientError> {
        let AuthSecret::Headers(HttpSecret { base_url: Some(base_url), headers }) = context.auth
        else {
            return Err(ClientError::App {
                app: TOY,
                source: "a toy connection is a base URL and an API key header".into(),
            });
        };
        let base_url = base_url
            .parse::<url::Url>()
            .map_err(|source| ClientError::InvalidUrl { what: "base URL", source })?;
        let check = self.check.clone();
        Ok(Arc::new(ToyClient { http: reqwest::Client::new(), base_url, headers, check }))
    }

    fn connect_info(&self) -> ConnectInfo {
        ConnectInfo::plain("http://127.0.0.1:1")
    }
}

struct ToyClient {
    http: reqwest::Client,
    base_url: url::Url,
    headers: BTreeMap<String, String>,
    check: Arc<OperationSpec>,
}

#[async_trait::async_trait]
impl AppClient for ToyClient {
    /// Sends what the operation says (method, path), whatever it is: the client knows the toy
    /// app's operations only as data.
    /// A write's intent goes as its `Idempotency-Key`.
    async fn call(
        &self,
        operation: &OperationSpec,
        params: &[(String, String)],
        body: Option<&Value>,
        options: CallOptions<'_>,
    ) -> Result<Value, ghl_client::Error> {
        let failed = |message: String| ghl_client::Error::Transient {
            operation: operation.id.clone(),
            status: None,
            message,
        };
        let url =
            self.base_url.join(operation.path.as_str()).map_err(|err| failed(err.to_string()))?;
        let mut request = self.http.request(operation.method.clone(), url).query(params);
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        if let Some(intent) = options.intent {
            request = request.header("Idempotency-Key", intent);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let answer = request.send().await.map_err(|err| failed(err.to_string()))?;
        let status = answer.status().as_u16();
        let body: Value = answer.json().await.map_err(|err| failed(err.to_string()))?;
        match status {
            200..=299 => Ok(body),
            500..=599 => Err(ghl_client::Error::Transient {
                operation: operation.id.clone(),
                status: Some(status),
                message: body.to_string(),
            }),
            401 => Err(ghl_client::Error::Unauthorized {
                operation: operation.id.clone(),
                message: body.to_string(),
            }),
            _ => Err(ghl_client::Error::Permanent {
                operation: operation.id.clone(),
                status,
                message: body.to_string(),
            }),
        }
    }

    async fn check(&self) -> Result<(), ghl_client::Error> {
        let params = [("limit".into(), "1".into())];
        self.call(&self.check, &params, None, CallOptions::default()).await.map(|_| ())
    }
}

/// The toy app's API: items kept in memory, behind an API key.
#[derive(Clone, Default)]
struct ToyApi {
    items: Arc<Mutex<Vec<Value>>>,
    /// The `Idempotency-Key` of every create, in order; the first create answers 503.
    intents: Arc<Mutex<Vec<Option<String>>>>,
}

impl ToyApi {
    fn add(&self, name: &str) {
        let mut items = self.items.lock();
        let id = format!("item-{}", items.len() + 1);
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let email = format!("{}@toy.example.com", name.to_lowercase());
        items.push(json!({ "id": id, "name": name, "email": email, "updatedAt": now }));
    }
}

async fn list_items(
    State(api): State<ToyApi>,
    headers: HeaderMap,
    Query(query): Query<BTreeMap<String, String>>,
) -> (StatusCode, Json<Value>) {
    if headers.get("x-api-key").and_then(|key| key.to_str().ok()) != Some(API_KEY) {
        return (StatusCode::UNAUTHORIZED, Json(json!({ "error": "no API key" })));
    }
    let since = query.get("since").cloned().unwrap_or_default();
    let limit: usize = query.get("limit").and_then(|limit| limit.parse().ok()).unwrap_or(10);
    let key = |item: &Value| {
        (item["updatedAt"].as_str().unwrap_or_default().to_owned(), item["id"].to_string())
    };
    let mut items: Vec<Value> = api
        .items
        .lock()
        .iter()
        .filter(|item| item["updatedAt"].as_str().unwrap_or_default() >= since.as_str())
        .cloned()
        .collect();
    items.sort_by_key(key);
    items.truncate(limit);
    (StatusCode::OK, Json(json!({ "items": items })))
}

/// Creates an item, except on the first call, which fails (503) after noting its key.
async fn create_item(
    State(api): State<ToyApi>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    if headers.get("x-api-key").and_then(|key| key.to_str().ok()) != Some(API_KEY) {
        return (StatusCode::UNAUTHORIZED, Json(json!({ "error": "no API key" })));
    }
    let key = headers.get("idempotency-key").and_then(|key| key.to_str().ok());
    let first = {
        let mut intents = api.intents.lock();
        intents.push(key.map(str::to_owned));
        intents.len() == 1
    };
    if first {
        return (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "error": "busy, try again" })));
    }
    api.add(body["name"].as_str().unwrap_or_default());
    let item = api.items.lock().last().cloned().unwrap_or_default();
    (StatusCode::CREATED, Json(json!({ "item": item })))
}

async fn start_toy_api(shutdown: CancellationToken) -> (ToyApi, String) {
    let api = ToyApi::default();
    let router =
        Router::new().route("/items", get(list_items).post(create_item)).with_state(api.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base_url = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, router)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await;
    });
    (api, base_url)
}

const FLOW: &str = r#"name: toy items to contacts
trigger:
  poll:
    source: toy.items
    connection: toy
    every: 1m
steps:
  - name: contact
    action: highlevel.create-contact
    connection: highlevel
    input:
      firstName: .trigger.name
      email: .trigger.email
"#;

async fn toy_to_highlevel(world: World) {
    let shutdown = CancellationToken::new();
    let (toy, base_url) = start_toy_api(shutdown.clone()).await;
    let store = world.store.clone();
    let headers = [("X-Api-Key".to_owned(), API_KEY.to_owned())].into();
    let auth = AuthSecret::Headers(HttpSecret { base_url: Some(base_url), headers });
    save(&store, "toy", &ConnectionSecret { app: TOY, auth }, "").await.expect("connection");

    // The built-in apps know nothing of it.
    let refused = Engine::new(store.clone()).apply_flow(FLOW).await.expect_err("no toy app");
    assert!(refused.to_string().contains("unknown poll source `toy.items`"), "{refused}");

    let apps = Apps::builtin().with(Arc::new(Toy::from_data(DESCRIPTION)));
    let config = EngineConfig { apps: apps.clone(), ..support::quick_engine() };
    let engine = Engine::with_config(store.clone(), config);
    let world = World { engine: engine.clone(), ..world };
    let actions = ghl_engine::catalog::actions(&apps);
    assert!(actions.iter().any(|action| action.action == "toy.create-item"));
    let triggers = ghl_engine::catalog::triggers(&apps);
    assert!(triggers.iter().any(|trigger| trigger.trigger == "poll: toy.items"));
    engine.connections().check("toy").await.expect("the toy connection works");

    engine.apply_flow(FLOW).await.expect("flow applies");
    let start = ghl_store::Timestamp::now();
    assert_eq!(engine.fire_triggers(start).await.expect("poll"), 0, "first sight arms");
    for name in ["Grace", "Alan", "Edsger"] {
        toy.add(name);
    }
    assert_eq!(
        engine.fire_triggers(start + std::time::Duration::from_secs(61)).await.expect("poll"),
        3
    );
    assert_eq!(
        engine.fire_triggers(start + std::time::Duration::from_secs(122)).await.expect("poll"),
        0,
        "seen already"
    );
    world.drain().await;

    let runs = store.runs(&RunFilter { limit: 10, ..Default::default() }).await.expect("runs");
    assert_eq!(runs.len(), 3, "{runs:?}");
    let mut emails = Vec::new();
    for run in &runs {
        assert_eq!(run.status, ghl_store::RunStatus::Done, "{run:?}");
        assert_eq!(run.trigger.as_deref(), Some("poll:toy.items"));
        let steps = store.steps(&run.id).await.expect("steps");
        let created = steps[0].response.as_ref().expect("an answer")["contact"]["id"].clone();
        let contact = world.stored_contact(created.as_str().expect("an id")).await;
        emails.push(contact["contact"]["email"].as_str().unwrap_or_default().to_owned());
    }
    emails.sort();
    assert_eq!(
        emails,
        ["alan@toy.example.com", "edsger@toy.example.com", "grace@toy.example.com"],
        "one HighLevel contact per toy item"
    );
    shutdown.cancel();
}

const WRITE_FLOW: &str = r#"name: toy item on demand
trigger:
  manual: true
steps:
  - name: item
    action: toy.create-item
    connection: toy
    input:
      name: .trigger.name
"#;

/// A write of an app's operation hands the app's client its intent key (the run and the
/// step), the same on the retry after a failed attempt: what a manifest app sends as its
/// idempotency key.
async fn toy_write_intent(world: World) {
    let shutdown = CancellationToken::new();
    let (toy, base_url) = start_toy_api(shutdown.clone()).await;
    let store = world.store.clone();
    let headers = [("X-Api-Key".to_owned(), API_KEY.to_owned())].into();
    let auth = AuthSecret::Headers(HttpSecret { base_url: Some(base_url), headers });
    save(&store, "toy", &ConnectionSecret { app: TOY, auth }, "").await.expect("connection");
    let apps = Apps::builtin().with(Arc::new(Toy::from_data(DESCRIPTION)));
    let config = EngineConfig { apps, ..support::quick_engine() };
    let engine = Engine::with_config(store.clone(), config);
    let world = World { engine: engine.clone(), ..world };

    engine.apply_flow(WRITE_FLOW).await.expect("flow applies");
    engine.run_now("toy item on demand", json!({ "name": "Ada" }), None).await.expect("run");
    world.drain().await;

    let runs = store.runs(&RunFilter { limit: 10, ..Default::default() }).await.expect("runs");
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0].status, ghl_store::RunStatus::Done, "{:?}", runs[0]);
    let intent = format!("{}:0", runs[0].id);
    assert_eq!(
        *toy.intents.lock(),
        [Some(intent.clone()), Some(intent)],
        "the failed attempt and its retry carry one intent"
    );
    assert_eq!(toy.items.lock().len(), 1, "one item");
    shutdown.cancel();
}
