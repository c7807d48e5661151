//! Qobrix's sandbox over real HTTP on 127.0.0.1, held against the vendor's OpenAPI document
//! (specs/partners/qobrix-openapi-v2.yaml), not against the manifest alone: every manifest
//! operation is a path and method of that file with its parameters, body fields and required
//! fields; the sandbox's answers (success, errors, webhook deliveries) validate against its
//! schemas; and Qobrix's quirks hold (two auth headers, `{"errors": [...]}`, `pagination`,
//! search expressions on `modified`, soft deletes, comments under their parent, unsigned
//! webhooks in Qobrix's shape).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;
use std::time::Duration;

use axum::routing::post;
use ghl_app_sandbox::{AppSandbox, AppSandboxConfig};
use ghl_apps::manifest::Method;
use ghl_apps::Manifest;
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// The vendor file's paths start with this; the manifest's base URL ends with it.
const PREFIX: &str = "/api/v2";

fn vendor() -> &'static Value {
    static SPEC: OnceLock<Value> = OnceLock::new();
    SPEC.get_or_init(|| {
        let path =
            concat!(env!("CARGO_MANIFEST_DIR"), "/../../specs/partners/qobrix-openapi-v2.yaml");
        let text = std::fs::read_to_string(path).expect("the vendor file");
        serde_norway::from_str(&text).expect("the vendor file is YAML")
    })
}

fn manifest() -> Manifest {
    let manifests = ghl_apps::builtin::manifests().expect("the shipped manifests load");
    manifests.into_iter().find(|m| m.app == "qobrix").expect("qobrix is shipped")
}

/// A `$ref`'d schema, followed.
fn resolved(schema: &Value) -> &Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let pointer = reference.trim_start_matches('#');
            resolved(vendor().pointer(pointer).unwrap_or(&Value::Null))
        }
        None => schema,
    }
}

fn vendor_operation(method: Method, path: &str) -> Option<&'static Value> {
    vendor()["paths"].get(format!("{PREFIX}{path}"))?.get(method.to_string().to_lowercase())
}

fn names(list: impl Iterator<Item = String>) -> BTreeSet<String> {
    list.collect()
}

/// Every operation of the manifest against the vendor file; every difference at once.
#[test]
fn every_qobrix_operation_is_the_vendor_s_with_its_parameters_and_required_fields() {
    let manifest = manifest();
    assert!(manifest.base_url.as_url().path().ends_with(PREFIX));
    let mut problems = Vec::new();
    for operation in &manifest.operations {
        let name = &operation.name;
        let Some(vendor_op) = vendor_operation(operation.method, &operation.path) else {
            problems.push(format!(
                "{name}: {} {PREFIX}{} is not in the vendor file",
                operation.method, operation.path
            ));
            continue;
        };
        let parameters = vendor_op["parameters"].as_array().cloned().unwrap_or_default();
        let of = |place: &str| {
            names(
                parameters
                    .iter()
                    .filter(|p| p["in"] == place)
                    .filter_map(|p| p["name"].as_str().map(str::to_owned)),
            )
        };
        let path_params = names(operation.path_params.names().map(str::to_owned));
        if path_params != of("path") {
            problems.push(format!(
                "{name}: path parameters {path_params:?}, the vendor's {:?}",
                of("path")
            ));
        }
        for query in operation.query.names() {
            if !of("query").contains(query) {
                problems
                    .push(format!("{name}: `{query}` is not a query parameter of the vendor's"));
            }
        }
        for status in &operation.response.status {
            if vendor_op["responses"].get(status.to_string()).is_none() {
                problems.push(format!("{name}: the vendor declares no {status} answer"));
            }
        }
        let body = vendor_op.pointer("/requestBody/content/application~1json/schema").map(resolved);
        match (&operation.body, body) {
            (None, None) => {}
            (Some(_), None) => {
                problems.push(format!("{name}: the vendor's operation takes no body"))
            }
            (None, Some(_)) => {
                problems.push(format!("{name}: the vendor's operation takes a body"))
            }
            (Some(declared), Some(schema)) => {
                let properties = &schema["properties"];
                for (field, spec) in &declared.fields.0 {
                    let Some(vendor_field) = properties.get(field) else {
                        problems.push(format!("{name}: body field `{field}` is not the vendor's"));
                        continue;
                    };
                    if vendor_field["readOnly"] == true {
                        problems.push(format!("{name}: body field `{field}` is read-only"));
                    }
                    let vendor_enum = vendor_field["enum"].as_array();
                    if let (Some(ours), Some(theirs)) = (&spec.one_of, vendor_enum) {
                        if ours.iter().any(|value| !theirs.contains(value)) {
                            problems.push(format!(
                                "{name}: `{field}` takes values the vendor does not"
                            ));
                        }
                    }
                }
                let required: BTreeSet<String> =
                    declared.fields.required().map(str::to_owned).collect();
                let vendor_required: BTreeSet<String> = schema["required"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|name| name.as_str().map(str::to_owned))
                    .collect();
                // A create requires what the schema requires; a PATCH changes what it is given.
                let expected = match operation.method {
                    Method::Post => vendor_required,
                    _ => BTreeSet::new(),
                };
                if required != expected {
                    problems
                        .push(format!("{name}: requires {required:?}, the vendor {expected:?}"));
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "the manifest and the vendor file disagree:\n{}",
        problems.join("\n")
    );
    assert!(manifest.operations.len() >= 30, "{} operations", manifest.operations.len());
}

/// The same, by the shared checker (`ghl_spec_check::vendor`): names, required-ness both
/// ways, types, statuses, record pointers and the polls' time fields. Two kinds of
/// difference are choices docs/connectors/qobrix.md explains, and nothing else differs:
/// - a `PATCH` changes the fields it is given: the dump reuses the create's schema (with its
///   required fields) for the edit's body;
/// - `sort[]` is sent as one value (one sort field per request), not a list.
#[test]
fn the_shared_vendor_checker_finds_no_difference_but_the_documented_choices() {
    use ghl_spec_check::vendor::{differences, spec, Allowances};
    let manifest = manifest();
    let found =
        differences(&manifest, spec("qobrix-openapi-v2.yaml"), PREFIX, &Allowances::default());
    let chosen = |difference: &String| {
        let patch = difference.contains("(PATCH ") && difference.ends_with("it is optional here");
        let sort = difference.contains("query parameter sort[] is String here but array");
        patch || sort
    };
    let other: Vec<&String> = found.iter().filter(|difference| !chosen(difference)).collect();
    assert!(other.is_empty(), "the manifest differs from the vendor file:\n{other:#?}");
}

/// A validator of `schema` (the vendor's, its `$ref`s resolved in the vendor file).
fn validator(schema: &Value) -> jsonschema::Validator {
    let document = json!({ "allOf": [schema], "components": vendor()["components"] });
    jsonschema::validator_for(&document).expect("the vendor's schema compiles")
}

fn response_schema(method: Method, path: &str, status: u16) -> Value {
    let operation = vendor_operation(method, path).unwrap_or_else(|| panic!("{method} {path}"));
    operation["responses"][status.to_string()]
        .pointer("/content/application~1json/schema")
        .cloned()
        .unwrap_or_else(|| panic!("{method} {path} {status} has no JSON schema"))
}

/// Fails with every problem when `answer` does not fit the vendor's schema.
fn assert_fits(what: &str, schema: &Value, answer: &Value) {
    let validator = validator(schema);
    let errors: Vec<String> =
        validator.iter_errors(answer).map(|e| format!("{e} at {}", e.instance_path())).collect();
    assert!(
        errors.is_empty(),
        "{what}: {answer} does not fit the vendor's schema:\n{}",
        errors.join("\n")
    );
}

struct Qobrix {
    sandbox: AppSandbox,
    _stop: tokio_util::sync::DropGuard,
    http: reqwest::Client,
}

impl Qobrix {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
        let stop = CancellationToken::new();
        let config =
            AppSandboxConfig { rate_limits: Some(Vec::new()), ..AppSandboxConfig::default() };
        let sandbox = AppSandbox::start(manifest(), config, listener, stop.clone())
            .await
            .expect("the sandbox starts");
        Self { sandbox, _stop: stop.drop_guard(), http: reqwest::Client::new() }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.sandbox.info.base_url)
    }

    fn keyed(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let credentials = &self.sandbox.info.credentials;
        self.http
            .request(method, self.url(path))
            .header("X-Api-User", &credentials["api_user"])
            .header("X-Api-Key", &credentials["api_key"])
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let request = self.keyed(method, path);
        let request = match body {
            Some(body) => request.json(&body),
            None => request,
        };
        let answer = request.send().await.expect("the sandbox answers");
        let status = answer.status();
        let text = answer.text().await.expect("a body");
        (
            status,
            if text.is_empty() { Value::Null } else { serde_json::from_str(&text).expect("JSON") },
        )
    }

    async fn create(&self, path: &str, body: Value) -> Value {
        let (status, answer) = self.send(reqwest::Method::POST, path, Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "{path}: {answer}");
        answer
    }
}

#[tokio::test]
async fn qobrix_answers_fit_the_vendor_s_schemas() {
    let qobrix = Qobrix::start().await;
    use reqwest::Method as M;
    let contact = qobrix
        .create("/contacts", json!({"first_name": "Ada", "email": "ada@x.test", "country": "CY"}))
        .await;
    assert_fits("POST /contacts", &response_schema(Method::Post, "/contacts", 201), &contact);
    let id = contact["data"]["id"].as_str().expect("an id").to_owned();
    let (_, got) = qobrix.send(M::GET, &format!("/contacts/{id}"), None).await;
    assert_fits("GET /contacts/{id}", &response_schema(Method::Get, "/contacts/{id}", 200), &got);
    let (_, patched) =
        qobrix.send(M::PATCH, &format!("/contacts/{id}"), Some(json!({"city": "Paphos"}))).await;
    assert_fits(
        "PATCH /contacts/{id}",
        &response_schema(Method::Patch, "/contacts/{id}", 200),
        &patched,
    );
    let (_, list) = qobrix.send(M::GET, "/contacts", None).await;
    assert_fits("GET /contacts", &response_schema(Method::Get, "/contacts", 200), &list);
    let comment = qobrix
        .create(
            &format!("/contacts/{id}/comments"),
            json!({"content": "Sea view", "related_model": "Contacts", "related_id": id}),
        )
        .await;
    assert_fits(
        "POST comments",
        &response_schema(Method::Post, "/contacts/{id}/comments", 201),
        &comment,
    );
    let (_, comments) = qobrix.send(M::GET, &format!("/contacts/{id}/comments"), None).await;
    assert_fits(
        "GET comments",
        &response_schema(Method::Get, "/contacts/{id}/comments", 200),
        &comments,
    );

    for (path, body) in [
        (
            "/tasks",
            json!({"subject": "Call", "priorities": "high", "status": "new", "contact": id}),
        ),
        (
            "/meetings",
            json!({"start_date": "2026-12-02T10:00:00Z", "end_date": "2026-12-02T11:00:00Z"}),
        ),
        ("/calls", json!({"subject": "First call", "status": "held"})),
        ("/opportunities", json!({"contact_name": id, "status": "new"})),
        (
            "/properties",
            json!({"name": "Villa", "property_type": "house", "list_selling_price_amount": 1.5e6}),
        ),
        ("/projects", json!({"name": "Marina"})),
        (
            "/webhooks-notifications",
            json!({"url": "https://x.test/h", "context": "lead_created", "http_method": "POST"}),
        ),
    ] {
        let made = qobrix.create(path, body).await;
        assert_fits(&format!("POST {path}"), &response_schema(Method::Post, path, 201), &made);
        let (_, list) = qobrix.send(M::GET, path, None).await;
        assert_fits(&format!("GET {path}"), &response_schema(Method::Get, path, 200), &list);
    }

    let (status, deleted) = qobrix.send(M::DELETE, &format!("/contacts/{id}"), None).await;
    assert_eq!((status, deleted), (StatusCode::NO_CONTENT, Value::Null));
    let (status, missing) = qobrix.send(M::GET, &format!("/contacts/{id}"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_fits("404", &response_schema(Method::Get, "/contacts/{id}", 404), &missing);
}

#[tokio::test]
async fn qobrix_refuses_a_wrong_key_and_a_missing_field_with_its_errors_array() {
    let qobrix = Qobrix::start().await;
    let error_schema = json!({"$ref": "#/components/schemas/ErrorResponse"});
    let credentials = &qobrix.sandbox.info.credentials;

    let missing = qobrix.http.get(qobrix.url("/contacts")).send().await.expect("answered");
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    let body: Value = missing.json().await.expect("JSON");
    assert_fits("401", &error_schema, &body);
    assert!(body["errors"][0].as_str().expect("a message").contains("X-Api-Key"), "{body}");

    let wrong = qobrix
        .http
        .get(qobrix.url("/contacts"))
        .header("X-Api-User", &credentials["api_user"])
        .header("X-Api-Key", "not-the-key")
        .send()
        .await
        .expect("answered");
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert_fits("401", &error_schema, &wrong.json().await.expect("JSON"));

    let read_only = &qobrix.sandbox.info.read_only_credentials;
    let refused = qobrix
        .http
        .post(qobrix.url("/contacts"))
        .header("X-Api-User", &read_only["api_user"])
        .header("X-Api-Key", &read_only["api_key"])
        .json(&json!({"first_name": "Ada"}))
        .send()
        .await
        .expect("answered");
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert_fits("403", &error_schema, &refused.json().await.expect("JSON"));

    let (status, body) = qobrix
        .send(reqwest::Method::POST, "/tasks", Some(json!({"subject": "Call", "status": "new"})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "Qobrix declares 400, not 422: {body}");
    assert_fits("400", &error_schema, &body);
    assert_eq!(body["errors"][0], "priorities is required");
    let stats: Value = qobrix
        .http
        .get(format!("{}/stats", qobrix.sandbox.info.admin_url))
        .send()
        .await
        .expect("stats")
        .json()
        .await
        .expect("JSON");
    assert_eq!(stats["effects"], json!({}), "a refusal changes nothing");
}

#[tokio::test]
async fn qobrix_pages_with_its_pagination_object_and_filters_by_a_modified_expression() {
    let qobrix = Qobrix::start().await;
    use reqwest::Method as M;
    let before = chrono::Utc::now() - chrono::Duration::seconds(2);
    for n in 0..25 {
        qobrix.create("/contacts", json!({"first_name": format!("C{n:02}")})).await;
    }
    let mut seen = Vec::new();
    for page in 1..=3 {
        let (status, answer) =
            qobrix.send(M::GET, &format!("/contacts?page={page}&limit=10"), None).await;
        assert_eq!(status, StatusCode::OK);
        let pagination = &answer["pagination"];
        assert_eq!(
            (
                &pagination["current_page"],
                &pagination["page_count"],
                &pagination["count"],
                &pagination["limit"]
            ),
            (&json!(page), &json!(3), &json!(25), &json!(10))
        );
        assert_eq!(pagination["has_next_page"], page < 3);
        assert_eq!(pagination["has_prev_page"], page > 1);
        seen.extend(
            answer["data"].as_array().expect("data").iter().map(|c| c["first_name"].clone()),
        );
    }
    assert_eq!(seen.len(), 25);
    let (_, big) = qobrix.send(M::GET, "/contacts?limit=500", None).await;
    assert_eq!(big["pagination"]["limit"], 100, "at most 100 a page");

    let search = |expression: String| {
        let url = reqwest::Url::parse_with_params(
            &qobrix.url("/contacts"),
            [("search", expression), ("sort[]", "-modified".into()), ("limit", "100".into())],
        )
        .expect("a URL");
        let credentials = &qobrix.sandbox.info.credentials;
        qobrix
            .http
            .get(url)
            .header("X-Api-User", &credentials["api_user"])
            .header("X-Api-Key", &credentials["api_key"])
            .send()
    };
    let format = "%Y-%m-%dT%H:%M:%S";
    let all: Value = search(format!("modified >= \"{}\"", before.format(format)))
        .await
        .expect("answered")
        .json()
        .await
        .expect("JSON");
    let names: Vec<&str> = all["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter_map(|c| c["first_name"].as_str())
        .collect();
    assert_eq!(names.len(), 25);
    assert_eq!(names.first(), Some(&"C24"), "sort[]=-modified: the newest first");
    let later = chrono::Utc::now() + chrono::Duration::minutes(5);
    let none: Value = search(format!("modified >= \"{}\"", later.format(format)))
        .await
        .expect("answered")
        .json()
        .await
        .expect("JSON");
    assert_eq!(none["data"], json!([]), "a zone-less time is UTC");
}

#[tokio::test]
async fn qobrix_deletes_softly_and_keeps_comments_under_their_parent() {
    let qobrix = Qobrix::start().await;
    use reqwest::Method as M;
    let ada = qobrix.create("/contacts", json!({"first_name": "Ada"})).await["data"]["id"].clone();
    let bob = qobrix.create("/contacts", json!({"first_name": "Bob"})).await["data"]["id"].clone();
    let (ada, bob) = (ada.as_str().expect("id").to_owned(), bob.as_str().expect("id").to_owned());
    let note = |id: &str, text: &str| json!({"content": text, "related_model": "Contacts", "related_id": id});
    let first = qobrix.create(&format!("/contacts/{ada}/comments"), note(&ada, "one")).await;
    assert!(first.get("data").is_none(), "a comment is answered unwrapped: {first}");
    qobrix.create(&format!("/contacts/{bob}/comments"), note(&bob, "two")).await;
    let (_, adas) = qobrix.send(M::GET, &format!("/contacts/{ada}/comments"), None).await;
    assert_eq!(adas["data"].as_array().map(Vec::len), Some(1), "only Ada's: {adas}");
    let (status, body) =
        qobrix.send(M::POST, "/contacts/nobody/comments", Some(note("nobody", "x"))).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let comment_id = first["id"].as_str().expect("an id");
    let (status, _) =
        qobrix.send(M::DELETE, &format!("/contacts/{ada}/comments/{comment_id}"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, adas) = qobrix.send(M::GET, &format!("/contacts/{ada}/comments"), None).await;
    assert_eq!(adas["data"], json!([]));

    let (status, _) = qobrix.send(M::DELETE, &format!("/contacts/{ada}"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, listed) = qobrix.send(M::GET, "/contacts", None).await;
    let ids: Vec<&str> =
        listed["data"].as_array().expect("data").iter().filter_map(|c| c["id"].as_str()).collect();
    assert_eq!(ids, [bob.as_str()], "a trashed contact is hidden");
    let (_, trashed) = qobrix.send(M::GET, "/contacts?trashed=true", None).await;
    assert_eq!(trashed["pagination"]["count"], 2, "and listed with trashed=true: {trashed}");
    let (status, _) = qobrix.send(M::GET, &format!("/contacts/{ada}"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, kept) = qobrix.send(M::GET, &format!("/contacts/{ada}?trashed=true"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(kept["data"]["trashed"].is_string(), "{kept}");
    let (status, _) = qobrix.send(M::DELETE, &format!("/contacts/{ada}?trashed=true"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let rest = qobrix.sandbox.shared.rest.as_ref().expect("REST");
    assert_eq!(rest.records("/contacts").len(), 1, "trashed=true purges");
}

/// A receiver of webhook deliveries: each body, with whether it carried a signature.
async fn receiver() -> (String, mpsc::UnboundedReceiver<(Value, bool)>) {
    let (sender, received) = mpsc::unbounded_channel();
    let route = post(move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
        let sender = sender.clone();
        async move {
            let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let _ = sender.send((json, headers.contains_key("webhook-signature")));
            StatusCode::OK
        }
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let url = format!("http://{}/hook", listener.local_addr().expect("an address"));
    tokio::spawn(
        async move { axum::serve(listener, axum::Router::new().route("/hook", route)).await },
    );
    (url, received)
}

/// The next delivery, within a bound.
async fn next(received: &mut mpsc::UnboundedReceiver<(Value, bool)>) -> Value {
    let (body, signed) = tokio::time::timeout(Duration::from_secs(10), received.recv())
        .await
        .expect("a delivery in time")
        .expect("the receiver runs");
    assert!(!signed, "Qobrix signs nothing");
    body
}

fn webhook_schema(name: &str) -> Value {
    vendor()["webhooks"][name]["post"]
        .pointer("/requestBody/content/application~1json/schema")
        .cloned()
        .unwrap_or_else(|| panic!("the vendor's `{name}` webhook"))
}

#[tokio::test]
async fn qobrix_sends_its_four_webhooks_in_its_shape_a_status_change_only_when_it_changed() {
    let qobrix = Qobrix::start().await;
    use reqwest::Method as M;
    let (url, mut received) = receiver().await;
    let added = qobrix
        .http
        .post(format!("{}/webhook-targets", qobrix.sandbox.info.admin_url))
        .json(&json!({"url": url}))
        .send()
        .await
        .expect("added");
    assert!(added.status().is_success());

    let contact =
        qobrix.create("/contacts", json!({"first_name": "Ada"})).await["data"]["id"].clone();
    let lead = qobrix
        .create(
            "/opportunities",
            json!({"contact_name": contact, "status": "new", "enquiry_date": "2026-12-01"}),
        )
        .await;
    let lead_id = lead["data"]["id"].as_str().expect("an id").to_owned();
    let created = next(&mut received).await;
    assert_fits("Lead Created", &webhook_schema("Lead Created"), &created);
    assert_eq!(
        (&created["context"], &created["data"]["id"]),
        (&json!("lead_created"), &json!(lead_id))
    );
    assert!(created["data"].get("contact_name").is_none(), "only the event's fields: {created}");

    qobrix
        .send(
            M::PATCH,
            &format!("/opportunities/{lead_id}"),
            Some(json!({"description": "same status"})),
        )
        .await;
    qobrix
        .send(M::PATCH, &format!("/opportunities/{lead_id}"), Some(json!({"status": "viewing"})))
        .await;
    let changed = next(&mut received).await;
    assert_fits("Lead Status Changed", &webhook_schema("Lead Status Changed"), &changed);
    assert_eq!(
        (&changed["context"], &changed["data"]["old_status"], &changed["data"]["new_status"]),
        (&json!("lead_status_changed"), &json!("new"), &json!("viewing")),
        "the first PATCH changed no status and sent nothing"
    );

    let property =
        qobrix.create("/properties", json!({"name": "Villa", "property_type": "house"})).await;
    let project = qobrix.create("/projects", json!({"name": "Marina"})).await;
    let property_id = property["data"]["id"].as_str().expect("an id");
    let project_id = project["data"]["id"].as_str().expect("an id");
    qobrix
        .send(
            M::PATCH,
            &format!("/properties/{property_id}"),
            Some(json!({"sale_rent": "for_sale"})),
        )
        .await;
    let property_changed = next(&mut received).await;
    assert_fits("Property Changed", &webhook_schema("Property Changed"), &property_changed);
    assert_eq!(property_changed["data"]["sale_rent"], "for_sale");
    qobrix
        .send(
            M::PATCH,
            &format!("/projects/{project_id}"),
            Some(json!({"website_status": "published"})),
        )
        .await;
    let project_changed = next(&mut received).await;
    assert_fits("Project Changed", &webhook_schema("Project Changed"), &project_changed);
    assert_eq!(project_changed["context"], "project_changed");

    let sent: Value = qobrix
        .http
        .get(format!("{}/webhooks", qobrix.sandbox.info.admin_url))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("JSON");
    let contexts: BTreeMap<String, usize> = sent["events"].as_array().into_iter().flatten().fold(
        BTreeMap::new(),
        |mut counts, event| {
            *counts.entry(event["type"].as_str().unwrap_or_default().to_owned()).or_default() += 1;
            counts
        },
    );
    assert_eq!(
        contexts,
        BTreeMap::from([
            ("lead_created".to_owned(), 1),
            ("lead_status_changed".to_owned(), 1),
            ("project_changed".to_owned(), 1),
            ("property_changed".to_owned(), 1)
        ]),
        "nothing for contacts, creates of properties and projects, or an unchanged status"
    );
}
