//! A partner app added by a test alone, through the interfaces HighLevel uses (an operation
//! table, a connection secret, a poll source), with no change to the engine: a flow polls the
//! toy app's items (a tiny REST API served here) and creates a HighLevel contact for each, in
//! the sandbox, on real SQLite and PostgreSQL.

#[macro_use]
mod support;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use ghl_engine::apps::{
    time_and_id, App, AppClient, AppId, Apps, ClientContext, ConnectInfo, OperationFields,
    PageRequest, PollSource, WebhookEvent,
};
use ghl_engine::connections::{save, AuthSecret, ConnectionSecret, HttpSecret};
use ghl_engine::{Engine, EngineConfig};
use ghl_store::{NewEvent, RunFilter};
use ghl_types::operations::Api;
use ghl_types::Operation;
use parking_lot::Mutex;
use serde_json::{json, Value};
use support::World;
use tokio_util::sync::CancellationToken;

on_both!(a_flow_polls_a_toy_app_and_creates_highlevel_contacts, toy_to_highlevel);

const TOY: AppId = AppId::from_static("toy");
const API_KEY: &str = "toy-key-5b1";

/// The toy app's operation table.
static OPERATIONS: [Operation; 2] = [
    Operation {
        id: "list-items",
        method: "GET",
        path: "/items",
        scope: "items.readonly",
        request_schema: None,
        success_status: 200,
        api: Api::Contacts,
        summary: "Items changed since a time, oldest first",
        query: &["since", "after", "limit"],
        tenant: None,
        writes: false,
        creates: None,
        paging: None,
        events: &[],
        documented_body: None,
    },
    Operation {
        id: "create-item",
        method: "POST",
        path: "/items",
        scope: "items.write",
        request_schema: Some("Item"),
        success_status: 201,
        api: Api::Contacts,
        summary: "Create an item",
        query: &[],
        tenant: None,
        writes: true,
        creates: None,
        paging: None,
        events: &[],
        documented_body: None,
    },
];

fn items_page(page: &PageRequest<'_>) -> Value {
    let mut input = json!({ "since": page.since, "limit": page.limit });
    if let Some(after) = &page.after {
        input["after"] = after.clone();
    }
    input
}

fn item_position(item: &mut Value) -> Vec<Value> {
    time_and_id(item, "updatedAt", "id")
}

fn item_fields() -> Vec<String> {
    ["id", "name", "email", "updatedAt"].map(String::from).to_vec()
}

const ITEMS: PollSource = PollSource {
    name: "items",
    summary: "New or changed toy items",
    operation: "list-items",
    page: items_page,
    records: "/items",
    position: item_position,
    id: "id",
    modified: "updatedAt",
    created: "updatedAt",
    record_fields: item_fields,
};

/// The toy app: an API key header, no webhooks, one poll source.
struct Toy;

#[async_trait::async_trait]
impl App for Toy {
    fn id(&self) -> AppId {
        TOY
    }

    fn title(&self) -> &'static str {
        "Toy"
    }

    fn operations(&self) -> &'static [Operation] {
        &OPERATIONS
    }

    fn fields(&self, operation: &'static Operation) -> OperationFields {
        let names = |names: &[&str]| names.iter().map(|name| (*name).to_owned()).collect();
        match operation.id {
            "create-item" => OperationFields {
                input: names(&["name", "email"]),
                required: names(&["name"]),
                output: names(&["item.id", "item.name"]),
                writes: true,
            },
            _ => OperationFields {
                input: names(&["since", "after", "limit"]),
                required: Vec::new(),
                output: names(&["items"]),
                writes: false,
            },
        }
    }

    fn events(&self) -> Vec<WebhookEvent> {
        Vec::new()
    }

    fn poll_sources(&self) -> &'static [PollSource] {
        &[ITEMS]
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

    fn client(&self, context: ClientContext<'_>) -> Result<Arc<dyn AppClient>, String> {
        let AuthSecret::Headers(HttpSecret { base_url: Some(base_url), headers }) = context.auth
        else {
            return Err("a toy connection is a base URL and an API key header".into());
        };
        let base_url = base_url.parse::<url::Url>().map_err(|err| err.to_string())?;
        Ok(Arc::new(ToyClient { http: reqwest::Client::new(), base_url, headers }))
    }

    fn connect_info(&self) -> ConnectInfo {
        ConnectInfo::plain("http://127.0.0.1:1")
    }
}

struct ToyClient {
    http: reqwest::Client,
    base_url: url::Url,
    headers: BTreeMap<String, String>,
}

#[async_trait::async_trait]
impl AppClient for ToyClient {
    async fn call(
        &self,
        operation: &'static Operation,
        params: &[(String, String)],
        body: Option<&Value>,
    ) -> Result<Value, ghl_client::Error> {
        let failed = |message: String| ghl_client::Error::Transient {
            operation: operation.id.into(),
            status: None,
            message,
        };
        let url = self.base_url.join(operation.path).map_err(|err| failed(err.to_string()))?;
        let method = reqwest::Method::from_bytes(operation.method.as_bytes())
            .map_err(|err| failed(err.to_string()))?;
        let mut request = self.http.request(method, url).query(params);
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let answer = request.send().await.map_err(|err| failed(err.to_string()))?;
        let status = answer.status().as_u16();
        let body: Value = answer.json().await.map_err(|err| failed(err.to_string()))?;
        match status {
            200..=299 => Ok(body),
            401 => Err(ghl_client::Error::Unauthorized {
                operation: operation.id.into(),
                message: body.to_string(),
            }),
            _ => Err(ghl_client::Error::Permanent {
                operation: operation.id.into(),
                status,
                message: body.to_string(),
            }),
        }
    }

    async fn check(&self) -> Result<(), ghl_client::Error> {
        let list = &OPERATIONS[0];
        self.call(list, &[("limit".into(), "1".into())], None).await.map(|_| ())
    }
}

/// The toy app's API: items kept in memory, behind an API key.
#[derive(Clone, Default)]
struct ToyApi {
    items: Arc<Mutex<Vec<Value>>>,
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
    let after: Option<Vec<Value>> =
        query.get("after").and_then(|after| serde_json::from_str(after).ok());
    let limit: usize = query.get("limit").and_then(|limit| limit.parse().ok()).unwrap_or(10);
    let key = |item: &Value| {
        (item["updatedAt"].as_str().unwrap_or_default().to_owned(), item["id"].to_string())
    };
    let mut items: Vec<Value> = api
        .items
        .lock()
        .iter()
        .filter(|item| item["updatedAt"].as_str().unwrap_or_default() >= since.as_str())
        .filter(|item| match &after {
            Some(after) => key(item) > key(&json!({ "updatedAt": after[0], "id": after[1] })),
            None => true,
        })
        .cloned()
        .collect();
    items.sort_by_key(key);
    items.truncate(limit);
    (StatusCode::OK, Json(json!({ "items": items })))
}

async fn start_toy_api(shutdown: CancellationToken) -> (ToyApi, String) {
    let api = ToyApi::default();
    let router = Router::new().route("/items", get(list_items)).with_state(api.clone());
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

    let apps = Apps::builtin().with(Arc::new(Toy));
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
