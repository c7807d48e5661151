//! Qonto's sandbox over real HTTP on 127.0.0.1, held to the vendor file
//! (specs/partners/qonto-openapi.yaml) rather than to its own manifest: every manifest
//! operation is one of the file's (method, path, parameters, body fields); the answers,
//! successes and errors, validate against the file's response schemas; and Qonto's quirks
//! hold: the `login:secret-key` header, JSON:API errors with a `trace_id`, `meta.next_page`
//! paging, no uniqueness of clients, per-kind required fields, transactions per bank account
//! with `updated_at_from`, and webhooks in Qonto's envelope signed `X-Qonto-Signature`.

use std::collections::BTreeSet;
use std::sync::OnceLock;
use std::time::Duration;

use ghl_app_sandbox::{AppSandbox, AppSandboxConfig};
use ghl_apps::signatures::{timestamp_v1, SigningKey};
use ghl_apps::Manifest;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

const VENDOR: &str = include_str!("../../../specs/partners/qonto-openapi.yaml");

fn vendor() -> &'static Value {
    static DOCUMENT: OnceLock<Value> = OnceLock::new();
    DOCUMENT.get_or_init(|| serde_norway::from_str(VENDOR).expect("the vendor file parses"))
}

fn manifest() -> Manifest {
    let manifests = ghl_apps::builtin::manifests().expect("the shipped manifests load");
    manifests.into_iter().find(|m| m.app == "qonto").expect("Qonto is shipped")
}

/// The vendor's operation at `method` `path`, if the file has it.
fn vendor_operation(method: &str, path: &str) -> Option<&'static Value> {
    vendor().get("paths")?.get(path)?.get(method.to_ascii_lowercase())
}

/// A `$ref` of the vendor file followed (`#/components/...`).
fn resolve(value: &'static Value) -> &'static Value {
    match value.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let pointer = reference.trim_start_matches('#');
            resolve(vendor().pointer(pointer).expect("a $ref of the file resolves"))
        }
        None => value,
    }
}

/// Every name a vendor operation's parameters (its own and its path's) give.
fn vendor_params(path: &str, operation: &'static Value) -> BTreeSet<String> {
    let shared = vendor()["paths"][path].get("parameters");
    let own = operation.get("parameters");
    [shared, own]
        .into_iter()
        .flatten()
        .filter_map(Value::as_array)
        .flatten()
        .map(resolve)
        .filter_map(|param| param["name"].as_str().map(str::to_owned))
        .collect()
}

/// The properties a vendor operation's JSON body takes.
fn vendor_body(operation: &'static Value) -> BTreeSet<String> {
    let schema = operation.pointer("/requestBody/content/application~1json/schema");
    let schema = schema.map(resolve);
    let properties = schema.and_then(|schema| schema["properties"].as_object());
    properties.map(|properties| properties.keys().cloned().collect()).unwrap_or_default()
}

#[test]
fn every_manifest_operation_is_the_vendors_with_its_parameters_and_body_fields() {
    let manifest = manifest();
    let mut problems = Vec::new();
    for operation in &manifest.operations {
        let method = operation.method.to_string();
        let name = &operation.name;
        let Some(vendor) = vendor_operation(&method, &operation.path) else {
            problems.push(format!("{name}: {method} {} is not in the file", operation.path));
            continue;
        };
        let params = vendor_params(&operation.path, vendor);
        let ours = operation.query.names().chain(operation.path_params.names());
        for param in ours.chain(operation.account.iter().map(|param| param.name.as_str())) {
            if !params.contains(param) {
                problems.push(format!("{name}: parameter `{param}` is not the vendor's"));
            }
        }
        let fields = vendor_body(vendor);
        for field in operation.body.iter().flat_map(|body| body.fields.names()) {
            if !fields.contains(field) {
                problems.push(format!("{name}: body field `{field}` is not the vendor's"));
            }
        }
        // The one field the vendor marks required in a body is required here too.
        let required = vendor
            .pointer("/requestBody/content/application~1json/schema")
            .map(resolve)
            .and_then(|schema| schema["required"].as_array())
            .into_iter()
            .flatten()
            .filter_map(Value::as_str);
        for field in required {
            let ours = operation.body.as_ref().and_then(|body| body.fields.get(field));
            if !ours.is_some_and(|field| field.required) {
                problems
                    .push(format!("{name}: the vendor requires `{field}`; the manifest does not"));
            }
        }
        let statuses: BTreeSet<String> =
            vendor["responses"].as_object().into_iter().flatten().map(|(s, _)| s.clone()).collect();
        for status in &operation.response.status {
            if !statuses.contains(&status.to_string()) {
                problems.push(format!("{name}: success status {status} is not the vendor's"));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "the manifest and the vendor file differ:\n{}",
        problems.join("\n")
    );
}

/// Validates `body` against the vendor's schema of `status` for `method` `path`.
fn validates(method: &str, path: &str, status: u16, body: &Value) {
    let operation = vendor_operation(method, path).unwrap_or_else(|| panic!("{method} {path}"));
    let response = operation["responses"]
        .get(status.to_string())
        .map(resolve)
        .unwrap_or_else(|| panic!("{method} {path}: the vendor gives no {status}"));
    let schema = response.pointer("/content/application~1json/schema").map(resolve);
    let Some(schema) = schema else { return };
    let mut rooted = schema.clone();
    rooted["components"] = vendor()["components"].clone();
    let validator = jsonschema::validator_for(&rooted).expect("the vendor schema compiles");
    let errors: Vec<String> =
        validator.iter_errors(body).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(errors.is_empty(), "{method} {path} {status}: {body}\n{}", errors.join("\n"));
}

async fn start(config: AppSandboxConfig) -> (AppSandbox, CancellationToken) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let shutdown = CancellationToken::new();
    let sandbox = AppSandbox::start(manifest(), config, listener, shutdown.clone())
        .await
        .expect("the sandbox starts");
    (sandbox, shutdown)
}

/// Qonto's API key header: `login:secret-key`, not Basic.
fn key(sandbox: &AppSandbox) -> String {
    let credentials = &sandbox.info.credentials;
    format!("{}:{}", credentials["login"], credentials["secret_key"])
}

struct Api {
    client: reqwest::Client,
    base: String,
    key: String,
}

impl Api {
    fn of(sandbox: &AppSandbox) -> Self {
        Self {
            client: reqwest::Client::new(),
            base: sandbox.info.base_url.clone(),
            key: key(sandbox),
        }
    }

    /// `method` on `path` (with its query), the body as JSON; (status, body or null).
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let request = self.client.request(method, format!("{}{path}", self.base));
        let request = request.header("Authorization", &self.key);
        let request = match body {
            Some(body) => request.json(&body),
            None => request,
        };
        let answer = request.send().await.expect("the sandbox answers");
        let status = answer.status().as_u16();
        let text = answer.text().await.expect("a body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

#[tokio::test]
async fn a_missing_or_wrong_key_is_refused_with_a_json_api_error_and_a_trace_id() {
    let (sandbox, _stop) = start(AppSandboxConfig::default()).await;
    assert!(sandbox.info.base_url.ends_with(':') || !sandbox.info.base_url.ends_with('/'));
    let client = reqwest::Client::new();
    let clients = format!("{}/v2/clients", sandbox.info.base_url);

    let missing = client.get(&clients).send().await.expect("an answer");
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    let body: Value = missing.json().await.expect("JSON");
    assert_eq!(body["errors"][0]["code"], "unauthorized", "{body}");
    assert!(body["trace_id"].as_str().is_some_and(|id| id.len() == 32), "{body}");
    validates("GET", "/v2/clients", 401, &body);

    let login = &sandbox.info.credentials["login"];
    for wrong in [format!("{login}:sk_wrong"), format!("Basic {}", key(&sandbox))] {
        let answer = client.get(&clients).header("Authorization", wrong).send().await;
        let answer = answer.expect("an answer");
        assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
        let body: Value = answer.json().await.expect("JSON");
        assert_eq!(body["errors"][0]["code"], "invalid_credentials", "{body}");
        validates("GET", "/v2/clients", 401, &body);
    }
    let api = Api::of(&sandbox);
    let (status, body) = api.call(Method::GET, "/v2/clients", None).await;
    assert_eq!(status, 200, "{body}");
    validates("GET", "/v2/clients", 200, &body);
}

#[tokio::test]
async fn clients_are_not_unique_and_pages_end_where_meta_next_page_is_null() {
    let (sandbox, _stop) = start(AppSandboxConfig::default()).await;
    let api = Api::of(&sandbox);
    let mut ids = BTreeSet::new();
    for n in 0..5 {
        let client = json!({
            "kind": "company", "name": format!("Acme {n}"), "email": "billing@acme.example",
        });
        let (status, body) = api.call(Method::POST, "/v2/clients", Some(client)).await;
        assert_eq!(status, 201, "the same email again is no conflict: {body}");
        validates("POST", "/v2/clients", 201, &body);
        let id = body["client"]["id"].as_str().expect("an id").to_owned();
        assert_eq!(id.len(), 36, "a UUID: {id}");
        ids.insert(id);
    }
    assert_eq!(ids.len(), 5);

    let mut seen = BTreeSet::new();
    for (page, next) in [(1, json!(2)), (2, json!(3)), (3, Value::Null)] {
        let path = format!("/v2/clients?page={page}&per_page=2");
        let (status, body) = api.call(Method::GET, &path, None).await;
        assert_eq!(status, 200);
        validates("GET", "/v2/clients", 200, &body);
        let meta = &body["meta"];
        assert_eq!(meta["current_page"], page, "{body}");
        assert_eq!(meta["next_page"], next, "{body}");
        assert_eq!(
            (meta["total_count"].clone(), meta["total_pages"].clone()),
            (json!(5), json!(3))
        );
        assert_eq!(meta["prev_page"], if page == 1 { Value::Null } else { json!(page - 1) });
        for client in body["clients"].as_array().expect("clients") {
            seen.insert(client["id"].as_str().expect("an id").to_owned());
        }
    }
    assert_eq!(seen, ids, "every client once across the pages");

    let (_, body) = api.call(Method::GET, "/v2/clients?filter[name]=Acme%203", None).await;
    assert_eq!(body["clients"].as_array().map(Vec::len), Some(1), "{body}");
    let (_, body) =
        api.call(Method::GET, "/v2/clients?filter[email]=billing%40acme.example", None).await;
    assert_eq!(body["meta"]["total_count"], 5, "{body}");
}

#[tokio::test]
async fn a_client_needs_the_fields_of_its_kind_and_a_refusal_names_the_field() {
    let (sandbox, _stop) = start(AppSandboxConfig::default()).await;
    let api = Api::of(&sandbox);
    let cases = [
        (json!({"kind": "individual", "first_name": "Ada"}), "/last_name"),
        (json!({"kind": "freelancer", "last_name": "Lovelace"}), "/first_name"),
        (json!({"kind": "company", "email": "a@b.example"}), "/name"),
        (json!({"kind": "robot", "name": "R2"}), "/kind"),
    ];
    for (client, pointer) in cases {
        let (status, body) = api.call(Method::POST, "/v2/clients", Some(client.clone())).await;
        assert_eq!(status, 422, "{client}: {body}");
        assert_eq!(body["errors"][0]["source"]["pointer"], pointer, "{body}");
        let field = pointer.trim_start_matches('/');
        let detail = body["errors"][0]["detail"].as_str().expect("a detail");
        assert!(detail.contains(field), "{detail}");
        validates("POST", "/v2/clients", 422, &body);
    }
    let (status, body) = api.call(Method::POST, "/v2/clients", Some(json!({"name": "X"}))).await;
    assert_eq!(status, 422, "kind is required: {body}");
    let (_, listed) = api.call(Method::GET, "/v2/clients", None).await;
    assert_eq!(listed["meta"]["total_count"], 0, "nothing was made: {listed}");

    let person = json!({"kind": "individual", "first_name": "Ada", "last_name": "Lovelace"});
    let (status, made) = api.call(Method::POST, "/v2/clients", Some(person)).await;
    assert_eq!(status, 201, "{made}");
    let id = made["client"]["id"].as_str().expect("an id");
    let path = format!("/v2/clients/{id}");
    let (status, body) =
        api.call(Method::PATCH, &path, Some(json!({"email": "ada@example.com"}))).await;
    assert_eq!((status, body["client"]["email"].clone()), (200, json!("ada@example.com")));
    validates("PATCH", "/v2/clients/{id}", 200, &body);
    let (status, _) = api.call(Method::DELETE, &path, None).await;
    assert_eq!(status, 204);
    let (status, body) = api.call(Method::GET, &path, None).await;
    assert_eq!(status, 404, "{body}");
    validates("GET", "/v2/clients/{id}", 404, &body);
}

#[tokio::test]
async fn the_organization_lists_its_bank_accounts_and_the_read_only_resources_are_held() {
    let (sandbox, _stop) = start(AppSandboxConfig::default()).await;
    let api = Api::of(&sandbox);
    let (status, body) = api.call(Method::GET, "/v2/organization", None).await;
    assert_eq!(status, 200, "{body}");
    validates("GET", "/v2/organization", 200, &body);
    let main = &body["organization"]["bank_accounts"][0];
    assert_eq!(main["main"], true);
    assert_eq!(main["id"].as_str(), sandbox.info.account.as_deref(), "the connection's account");
    for (path, item) in [
        ("/v2/labels", "/v2/labels/{id}"),
        ("/v2/sepa/beneficiaries", "/v2/sepa/beneficiaries/{id}"),
        ("/v2/client_invoices", "/v2/client_invoices/{id}"),
    ] {
        let (status, body) = api.call(Method::GET, path, None).await;
        assert_eq!(status, 200, "{path}: {body}");
        validates("GET", path, 200, &body);
        let key = path.rsplit('/').next().expect("a resource");
        let id = body[key][0]["id"].as_str().unwrap_or_else(|| panic!("{path}: {body}"));
        let (status, one) = api.call(Method::GET, &item.replace("{id}", id), None).await;
        assert_eq!(status, 200, "{item}: {one}");
        validates("GET", item, 200, &one);
    }
    let (status, body) = api.call(Method::GET, "/v2/memberships", None).await;
    assert_eq!(status, 200);
    validates("GET", "/v2/memberships", 200, &body);
    let (_, trusted) = api.call(Method::GET, "/v2/sepa/beneficiaries?trusted=true", None).await;
    assert_eq!(trusted["beneficiaries"].as_array().map(Vec::len), Some(1), "{trusted}");
}

#[tokio::test]
async fn transactions_are_listed_per_bank_account_and_since_an_updated_at() {
    let (sandbox, _stop) = start(AppSandboxConfig::default()).await;
    let api = Api::of(&sandbox);
    let (status, body) = api.call(Method::GET, "/v2/transactions", None).await;
    assert_eq!(status, 400, "no bank account: {body}");
    assert_eq!(body["errors"][0]["source"]["parameter"], "bank_account_id", "{body}");
    validates("GET", "/v2/transactions", 400, &body);
    let (status, body) = api.call(Method::GET, "/v2/transactions?iban=FR00UNKNOWN", None).await;
    assert_eq!(status, 404, "{body}");

    let account = sandbox.info.account.clone().expect("the sandbox's bank account");
    let by_id = format!("/v2/transactions?bank_account_id={account}");
    let (status, listed) = api.call(Method::GET, &by_id, None).await;
    assert_eq!(status, 200, "{listed}");
    validates("GET", "/v2/transactions", 200, &listed);
    let iban = ghl_app_sandbox::quirks::qonto::MAIN_IBAN;
    let (_, by_iban) = api.call(Method::GET, &format!("/v2/transactions?iban={iban}"), None).await;
    assert_eq!(by_iban["transactions"], listed["transactions"], "the IBAN names the same account");
    let count = listed["meta"]["total_count"].as_u64().expect("a count");
    assert!(count >= 3, "{listed}");

    let first = listed["transactions"][0]["id"].as_str().expect("an id").to_owned();
    let (status, one) = api.call(Method::GET, &format!("/v2/transactions/{first}"), None).await;
    assert_eq!(status, 200);
    validates("GET", "/v2/transactions/{id}", 200, &one);

    // Only what changed at or after `updated_at_from`, oldest first with `sort_by`.
    let before = chrono::Utc::now() - chrono::Duration::seconds(1);
    let since = before.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let changed = json!({"attachment_required": false});
    let path = format!("/v2/transactions/{first}");
    let (status, body) = api.call(Method::PATCH, &path, Some(changed)).await;
    assert_eq!(status, 200, "{body}");
    let later = chrono::Utc::now() + chrono::Duration::seconds(60);
    let later = later.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let query = |from: &str| {
        format!("{by_id}&updated_at_from={}&sort_by=updated_at:asc", from.replace('+', "%2B"))
    };
    let (_, recent) = api.call(Method::GET, &query(&since), None).await;
    let recent_ids: Vec<&str> = recent["transactions"]
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|t| t["id"].as_str())
        .collect();
    assert!(recent_ids.contains(&first.as_str()), "{recent}");
    let (_, none) = api.call(Method::GET, &query(&later), None).await;
    assert_eq!(none["meta"]["total_count"], 0, "{none}");
    let (status, bad) =
        api.call(Method::GET, &format!("{by_id}&updated_at_from=yesterday"), None).await;
    assert_eq!(status, 422, "{bad}");
}

async fn receiver(
) -> (String, tokio::sync::mpsc::UnboundedReceiver<(axum::http::HeaderMap, Vec<u8>)>) {
    let (sender, received) = tokio::sync::mpsc::unbounded_channel();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
            let sender = sender.clone();
            async move {
                let _ = sender.send((headers, body.to_vec()));
                StatusCode::OK
            }
        }),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let url = format!("http://{}/hook", listener.local_addr().expect("an address"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, received)
}

/// The next delivery, its signature verified with the sandbox's secret, its body validated
/// against the vendor's webhook envelope.
async fn delivery(
    received: &mut tokio::sync::mpsc::UnboundedReceiver<(axum::http::HeaderMap, Vec<u8>)>,
    secret: &str,
) -> Value {
    let (headers, body) = tokio::time::timeout(Duration::from_secs(10), received.recv())
        .await
        .expect("a delivery in time")
        .expect("a delivery");
    let signature = headers.get("x-qonto-signature").and_then(|v| v.to_str().ok());
    let key = SigningKey::from_bytes(secret.as_bytes().to_vec());
    let now = chrono::Utc::now().timestamp();
    let checked = timestamp_v1::verify(&[key], "X-Qonto-Signature", signature, &body, now, 300);
    assert_eq!(checked, Ok(()), "{signature:?}");
    let envelope: Value = serde_json::from_slice(&body).expect("a JSON body");
    let mut schema = vendor()["components"]["schemas"]["WebhookEvent"].clone();
    schema["components"] = vendor()["components"].clone();
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
    assert!(validator.is_valid(&envelope), "{envelope}");
    envelope
}

#[tokio::test]
async fn webhooks_come_in_qontos_envelope_signed_with_x_qonto_signature() {
    let (url, mut received) = receiver().await;
    let mut config = AppSandboxConfig::default();
    config.webhooks.urls = vec![url.parse().expect("a URL")];
    let (sandbox, _stop) = start(config).await;
    let secret = sandbox.info.credentials["webhook_secret"].clone();
    let api = Api::of(&sandbox);

    let person = json!({"kind": "freelancer", "first_name": "Ada", "last_name": "Lovelace"});
    let (_, made) = api.call(Method::POST, "/v2/clients", Some(person)).await;
    let created = delivery(&mut received, &secret).await;
    assert_eq!(
        (created["type"].clone(), created["data"]["event"].clone()),
        (json!("v1/clients"), json!("created"))
    );
    assert_eq!(created["data"]["id"], made["client"]["id"]);
    let organization = api.call(Method::GET, "/v2/organization", None).await.1;
    assert_eq!(created["organization_id"], organization["organization"]["id"], "{created}");

    let path = format!("/v2/clients/{}", made["client"]["id"].as_str().expect("an id"));
    api.call(Method::PATCH, &path, Some(json!({"city": "Paris"}))).await;
    let updated = delivery(&mut received, &secret).await;
    assert_eq!(updated["data"]["event"], "updated");
    assert_ne!(updated["id"], created["id"], "each delivery its own id");
    api.call(Method::DELETE, &path, None).await;
    assert_eq!(delivery(&mut received, &secret).await["data"]["event"], "deleted");

    // A card payment on Qonto's side: a pending one settles, a new one is made.
    let admin = reqwest::Client::new().post(format!("{}/activity", sandbox.info.admin_url));
    let done: Value = admin.send().await.expect("an answer").json().await.expect("JSON");
    let mut events = BTreeSet::new();
    for _ in 0..2 {
        let event = delivery(&mut received, &secret).await;
        assert_eq!(event["type"], "v1/transactions");
        events.insert(event["data"]["event"].as_str().expect("an event").to_owned());
    }
    assert_eq!(events, BTreeSet::from(["created".to_owned(), "updated".to_owned()]), "{done}");
}
