//! OAuth 2.0 authorization code through ghl-client's `OAuthConnection` against a small
//! token server that rotates refresh tokens and answers the standard fields only (no
//! HighLevel `userType`/`companyId`): an expired token is refreshed once for many
//! concurrent calls, the rotated refresh token is saved, and a token refused with a 401 is
//! refreshed once more.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use futures_util::future::join_all;
use ghl_app_runtime::{oauth_app, Connection, Credentials, ManifestClient};
use ghl_client::{MemoryTokenStore, OAuthConnection, TokenSet, TokenStore};
use serde_json::{json, Value};

use crate::support::{fast_retry, local, serve_api};

const MANIFEST: &str = r#"
app: tasks
title: Tasks
base_url: https://tasks.example/api
auth:
  kind: oauth2_authorization_code
  authorize_url: /oauth/authorize
  token_url: /oauth/token
  scopes: [tasks]
operations:
  - name: me
    title: Who am I
    method: GET
    path: /me
"#;

#[derive(Default)]
struct Server {
    /// (valid access token, valid refresh token)
    state: parking_lot::Mutex<(String, String)>,
    refreshes: parking_lot::Mutex<u32>,
}

async fn token(
    State(server): State<Arc<Server>>,
    Form(form): Form<HashMap<String, String>>,
) -> (StatusCode, Json<Value>) {
    let mut state = server.state.lock();
    let fits = form.get("grant_type").map(String::as_str) == Some("refresh_token")
        && form.get("refresh_token") == Some(&state.1)
        && form.get("client_secret").map(String::as_str) == Some("cs");
    if !fits {
        return (StatusCode::BAD_REQUEST, Json(json!({"error": "invalid_grant"})));
    }
    let mut refreshes = server.refreshes.lock();
    *refreshes += 1;
    *state = (format!("at-{refreshes}"), format!("rt-{refreshes}"));
    (
        StatusCode::OK,
        Json(
            json!({"access_token": state.0, "refresh_token": state.1, "expires_in": 3600, "token_type": "Bearer"}),
        ),
    )
}

async fn me(State(server): State<Arc<Server>>, headers: HeaderMap) -> (StatusCode, Json<Value>) {
    let bearer = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default();
    if bearer == format!("Bearer {}", server.state.lock().0) {
        (StatusCode::OK, Json(json!({"name": "Ada"})))
    } else {
        (StatusCode::UNAUTHORIZED, Json(json!({"message": "invalid token"})))
    }
}

#[tokio::test]
async fn an_expired_token_is_refreshed_once_for_many_calls_and_the_rotated_one_saved() {
    let server = Arc::new(Server::default());
    *server.state.lock() = ("at-0".into(), "rt-0".into());
    let router = Router::new()
        .route("/oauth/token", post(token))
        .route("/api/me", get(me))
        .with_state(server.clone());
    let base = serve_api(router).await;

    let manifest = Arc::new(ghl_apps::load(MANIFEST).expect("the manifest loads"));
    let redirect = url::Url::parse("http://127.0.0.1:1/callback").expect("url");
    let app = oauth_app(&manifest, Some(&base), "tasks-client", "cs".into(), redirect)
        .expect("an OAuth app");
    assert_eq!(app.token_url.path(), "/oauth/token", "a path under the connection's base URL");
    let expired = TokenSet {
        access_token: "at-0".to_owned().into(),
        refresh_token: "rt-0".to_owned().into(),
        expires_at: 0,
        lifetime_secs: 3600,
        scope: "tasks".into(),
        location_id: None,
        company_id: String::new(),
        base_url: None,
    };
    let store = MemoryTokenStore::new(Some(expired));
    let oauth = OAuthConnection::new(app, store.clone());
    let connection = Connection {
        base_url: Some(base),
        account: None,
        credentials: Credentials::OAuth(oauth.clone()),
    };
    let tasks = ManifestClient::new(manifest, connection, local(), fast_retry()).expect("a client");

    let request = tasks.request("me", json!({})).expect("valid");
    let answers = join_all((0..8).map(|_| tasks.call(&request, None))).await;
    assert!(answers.iter().all(|a| a.as_ref().is_ok_and(|v| v["name"] == "Ada")), "{answers:?}");
    assert_eq!((oauth.refresh_count(), *server.refreshes.lock()), (1, 1), "single-flight");
    let saved = store.load().await.expect("load").expect("tokens");
    assert_eq!(saved.refresh_token.expose(), "rt-1", "the rotated refresh token is saved");

    // The app revokes the access token: one 401, one refresh, the call succeeds.
    server.state.lock().0 = "at-revoked".into();
    let answer = tasks.call(&request, None).await;
    assert!(answer.is_ok(), "{answer:?}");
    assert_eq!(oauth.refresh_count(), 2);
}

/// The manifest's `pkce`, `base_url_from` and `client_auth` reach ghl-client's flow: the
/// authorization address carries an S256 challenge of the verifier kept for the code
/// exchange, and the other two are the registration's options.
#[test]
fn pkce_base_url_from_and_basic_client_auth_reach_the_flow() {
    let redirect = url::Url::parse("http://127.0.0.1:1/callback").expect("url");
    let extra = "  pkce: true\n  base_url_from: endpoint\n  client_auth: basic_header";
    let text = MANIFEST.replace("  scopes: [tasks]", &format!("  scopes: [tasks]\n{extra}"));
    let manifest = ghl_apps::load(&text).expect("the manifest loads");
    let app = oauth_app(&manifest, None, "tasks-client", "cs".into(), redirect).expect("usable");
    assert!(app.options.pkce);
    assert_eq!(app.options.base_url_from.as_deref(), Some("endpoint"));
    assert_eq!(app.options.client_auth, ghl_client::ClientAuth::BasicHeader);
    let request = app.authorization_request(&["tasks"]);
    let query: HashMap<String, String> = request.url.query_pairs().into_owned().collect();
    let verifier = request.code_verifier.expect("a verifier kept for the exchange");
    assert!((43..=128).contains(&verifier.expose().len()));
    assert_eq!(query["code_challenge_method"], "S256");
    assert_eq!(query["code_challenge"], ghl_client::auth::pkce_challenge(verifier.expose()));
    assert!(!query.values().any(|value| value == verifier.expose()), "the verifier stays here");

    let plain = ghl_apps::load(MANIFEST).expect("the manifest loads");
    let redirect = url::Url::parse("http://127.0.0.1:1/callback").expect("url");
    let app = oauth_app(&plain, None, "tasks-client", "cs".into(), redirect).expect("usable");
    let request = app.authorization_request(&["tasks"]);
    assert!(request.code_verifier.is_none() && !request.url.as_str().contains("code_challenge"));
}
