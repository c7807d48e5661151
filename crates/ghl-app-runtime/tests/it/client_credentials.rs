//! OAuth 2.0 client credentials against a small token server: one token fetch serves many
//! concurrent calls, a refused token is fetched again once, and a wrong client secret is a
//! reconnect error. (The app sandbox plays key-based auth only.)

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use futures_util::future::join_all;
use ghl_app_runtime::{Connection, Credentials, ManifestClient, RuntimeError};
use serde_json::{json, Value};

use crate::support::{fast_retry, local, serve_api};

const MANIFEST: &str = r#"
app: notes
title: Notes
base_url: https://notes.example/api
auth:
  kind: oauth2_client_credentials
  token_url: /oauth/token
  scopes: [notes.read]
operations:
  - name: list-notes
    title: List notes
    method: GET
    path: /notes
"#;

#[derive(Default)]
struct Server {
    issued: AtomicU64,
    valid: parking_lot::Mutex<BTreeSet<String>>,
}

async fn token(
    State(server): State<Arc<Server>>,
    Form(form): Form<HashMap<String, String>>,
) -> (StatusCode, Json<Value>) {
    let fits = form.get("grant_type").map(String::as_str) == Some("client_credentials")
        && form.get("client_id").map(String::as_str) == Some("notes-client")
        && form.get("client_secret").map(String::as_str) == Some("cs_right")
        && form.get("scope").map(String::as_str) == Some("notes.read");
    if !fits {
        return (StatusCode::UNAUTHORIZED, Json(json!({"error": "invalid_client"})));
    }
    let n = server.issued.fetch_add(1, Ordering::SeqCst);
    let token = format!("tok-{n}");
    server.valid.lock().insert(token.clone());
    (
        StatusCode::OK,
        Json(json!({"access_token": token, "token_type": "bearer", "expires_in": 3600})),
    )
}

async fn notes(State(server): State<Arc<Server>>, headers: HeaderMap) -> (StatusCode, Json<Value>) {
    let bearer = headers
        .get("authorization")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .unwrap_or_default();
    if server.valid.lock().contains(bearer) {
        (StatusCode::OK, Json(json!([{"id": 1, "text": "hello"}])))
    } else {
        (StatusCode::UNAUTHORIZED, Json(json!({"message": "token expired"})))
    }
}

async fn serve() -> (Arc<Server>, url::Url) {
    let server = Arc::new(Server::default());
    let router = Router::new()
        .route("/oauth/token", post(token))
        .route("/api/notes", get(notes))
        .with_state(server.clone());
    let base = serve_api(router).await;
    (server, base)
}

fn client(base: &url::Url, secret: &str) -> ManifestClient {
    let manifest = Arc::new(ghl_apps::load(MANIFEST).expect("the manifest loads"));
    let connection = Connection {
        base_url: Some(base.clone()),
        account: None,
        credentials: Credentials::ClientCredentials {
            client_id: "notes-client".into(),
            client_secret: secret.into(),
        },
    };
    ManifestClient::new(manifest, connection, local(), fast_retry()).expect("a client")
}

#[tokio::test]
async fn one_token_serves_concurrent_calls_and_a_refused_one_is_fetched_again_once() {
    let (server, base) = serve().await;
    let notes = client(&base, "cs_right");
    let request = notes.request("list-notes", json!({})).expect("valid");
    let answers = join_all((0..10).map(|_| notes.call(&request, None))).await;
    assert!(
        answers.iter().all(|answer| answer.as_ref().is_ok_and(|v| v[0]["text"] == "hello")),
        "{answers:?}"
    );
    assert_eq!(
        (server.issued.load(Ordering::SeqCst), notes.token_fetches()),
        (1, 1),
        "single-flight"
    );

    server.valid.lock().clear();
    let again = join_all((0..5).map(|_| notes.call(&request, None))).await;
    assert!(again.iter().all(Result::is_ok), "{again:?}");
    assert_eq!(server.issued.load(Ordering::SeqCst), 2, "one new token for every refused call");
}

#[tokio::test]
async fn a_wrong_client_secret_is_a_reconnect_error_that_prints_no_secret() {
    let (_server, base) = serve().await;
    let notes = client(&base, "cs_wrong_and_secret");
    let request = notes.request("list-notes", json!({})).expect("valid");
    let error = notes.call(&request, None).await.expect_err("refused");
    assert!(matches!(error, RuntimeError::Reconnect { status: Some(401), .. }), "{error:?}");
    let printed = format!("{error} {error:?}");
    assert!(printed.contains("invalid_client") && !printed.contains("cs_wrong"), "{printed}");
}
