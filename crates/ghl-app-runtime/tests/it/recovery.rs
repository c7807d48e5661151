//! Recovery of writes whose answer was lost, against a small server that plays the hard
//! cases the app sandbox does not: a create that took effect but answered 500 while the
//! lookup does not see it yet (the app's later duplicate refusal, naming the record, proves
//! the first attempt made it), and a child record (a contact's note) found among its
//! parent's children instead of being made twice.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use ghl_app_runtime::{Connection, Credentials, ManifestClient};
use serde_json::{json, Value};

use crate::support::{fast_retry, serve_api, unlimited};

const MANIFEST: &str = r#"
app: crm
title: CRM
base_url: https://crm.example/api
auth: {kind: bearer}
errors:
  message: /error/message
operations:
  - name: create-contact
    title: Create a contact
    method: POST
    path: /contacts
    body:
      fields:
        name: {type: string, required: true}
        email: {type: string}
    response: {record: /data}
    write:
      kind: natural_key
      lookup: find-contacts
      keys: [{field: email, param: query:email}]
      duplicate: {id_at: /error/existing_id, read: get-contact, read_id: path:id}
  - name: find-contacts
    title: Find contacts
    method: GET
    path: /contacts
    query: {email: {type: string}}
    response: {record: /data}
  - name: get-contact
    title: Get a contact
    method: GET
    path: /contacts/{id}
    path_params: {id: {type: string, required: true}}
    response: {record: /data}
  - name: create-note
    title: Add a note
    method: POST
    path: /contacts/{contact_id}/notes
    path_params: {contact_id: {type: string, required: true}}
    body:
      fields:
        body: {type: string, required: true}
    response: {record: /data}
    write: {kind: child_of, parent: path:contact_id, list: list-notes, matching: [body]}
  - name: list-notes
    title: List notes
    method: GET
    path: /contacts/{contact_id}/notes
    path_params: {contact_id: {type: string, required: true}}
    response: {record: /data}
"#;

#[derive(Default)]
struct Crm {
    contacts: parking_lot::Mutex<Vec<Value>>,
    notes: parking_lot::Mutex<Vec<Value>>,
    /// What happened, in order.
    log: parking_lot::Mutex<Vec<String>>,
    /// Lookups that still miss a new record (a lagging search index).
    lagging_lookups: parking_lot::Mutex<u32>,
}

type S = State<Arc<Crm>>;

async fn create_contact(State(crm): S, Json(body): Json<Value>) -> (StatusCode, Json<Value>) {
    let mut contacts = crm.contacts.lock();
    if let Some(existing) = contacts.iter().find(|c| c["email"] == body["email"]) {
        crm.log.lock().push("create: 409".into());
        let error = json!({"error": {"message": "email taken", "existing_id": existing["id"]}});
        return (StatusCode::CONFLICT, Json(error));
    }
    let record = json!({"id": format!("c{}", contacts.len() + 1), "name": body["name"], "email": body["email"]});
    contacts.push(record);
    // It took effect, but the answer says otherwise.
    crm.log.lock().push("create: 500".into());
    (StatusCode::INTERNAL_SERVER_ERROR, Json(json!({"error": {"message": "upstream timeout"}})))
}

async fn find_contacts(
    State(crm): S,
    Query(query): Query<std::collections::HashMap<String, String>>,
) -> Json<Value> {
    let mut lagging = crm.lagging_lookups.lock();
    let found: Vec<Value> = if *lagging > 0 {
        *lagging -= 1;
        Vec::new()
    } else {
        let wanted = query.get("email").cloned().unwrap_or_default();
        crm.contacts.lock().iter().filter(|c| c["email"] == wanted.as_str()).cloned().collect()
    };
    crm.log.lock().push(format!("lookup: {}", found.len()));
    Json(json!({"data": found}))
}

async fn get_contact(State(crm): S, Path(id): Path<String>) -> (StatusCode, Json<Value>) {
    crm.log.lock().push(format!("get {id}"));
    match crm.contacts.lock().iter().find(|c| c["id"] == id.as_str()) {
        Some(contact) => (StatusCode::OK, Json(json!({"data": contact}))),
        None => (StatusCode::NOT_FOUND, Json(json!({"error": {"message": "no such contact"}}))),
    }
}

async fn create_note(
    State(crm): S,
    Path(contact): Path<String>,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    let mut notes = crm.notes.lock();
    let id = format!("n{}", notes.len());
    notes.push(json!({"id": id, "contact_id": contact, "body": body["body"]}));
    crm.log.lock().push("note: 503".into());
    (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"error": {"message": "try later"}})))
}

async fn list_notes(State(crm): S, Path(contact): Path<String>) -> Json<Value> {
    crm.log.lock().push("list notes".into());
    let notes: Vec<Value> =
        crm.notes.lock().iter().filter(|n| n["contact_id"] == contact.as_str()).cloned().collect();
    Json(json!({"data": notes}))
}

async fn serve() -> (Arc<Crm>, ManifestClient) {
    let crm = Arc::new(Crm::default());
    let router = Router::new()
        .route("/api/contacts", get(find_contacts).post(create_contact))
        .route("/api/contacts/{id}", get(get_contact))
        .route("/api/contacts/{id}/notes", get(list_notes).post(create_note))
        .with_state(crm.clone());
    let base = serve_api(router).await;
    let manifest = Arc::new(ghl_apps::load(MANIFEST).expect("the manifest loads"));
    let connection = Connection {
        base_url: Some(base),
        account: None,
        credentials: Credentials::values([("token", "t")]),
    };
    (crm, ManifestClient::new(manifest, connection, unlimited(), fast_retry()).expect("a client"))
}

#[tokio::test]
async fn a_duplicate_refusal_after_an_ambiguous_create_is_the_proof_it_was_made() {
    let (crm, client) = serve().await;
    *crm.lagging_lookups.lock() = 1;
    let request = client
        .request("create-contact", json!({"name": "Ada", "email": "ada@x.test"}))
        .expect("valid");
    let contact =
        client.call(&request, Some("intent-1")).await.expect("the record the first attempt made");
    assert_eq!(
        (contact["id"].as_str(), contact["email"].as_str()),
        (Some("c1"), Some("ada@x.test"))
    );
    assert_eq!(crm.contacts.lock().len(), 1, "no twin");
    assert_eq!(*crm.log.lock(), ["create: 500", "lookup: 0", "create: 409", "get c1"]);

    // Without an earlier ambiguous attempt, the same refusal is a duplicate error.
    let error = client.call(&request, Some("intent-2")).await.expect_err("a duplicate");
    assert!(
        matches!(&error, ghl_app_runtime::RuntimeError::Duplicate { existing_id: Some(id), .. } if id == "c1"),
        "{error:?}"
    );
}

#[tokio::test]
async fn an_ambiguous_child_create_is_found_among_the_parents_children() {
    let (crm, client) = serve().await;
    crm.notes.lock().push(json!({"id": "n0", "contact_id": "c9", "body": "an older note"}));
    let request = client
        .request("create-note", json!({"contact_id": "c9", "body": "Called back"}))
        .expect("valid");
    let note = client.call(&request, Some("note-1")).await.expect("found instead of made twice");
    assert_eq!(note["body"], "Called back");
    assert_eq!(crm.notes.lock().len(), 2, "one new note");
    assert_eq!(*crm.log.lock(), ["note: 503", "list notes"]);
    let found =
        client.find_created(&request, std::time::SystemTime::UNIX_EPOCH).await.expect("a read");
    assert_eq!(
        found.as_ref().map(|note| &note["id"]),
        Some(&json!("n1")),
        "what the engine asks after a crash"
    );
}
