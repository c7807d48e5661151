//! Connecting through the service, as a web UI would: OAuth in two calls against the sandbox,
//! and a connection kept only when it answers.

use ghl_engine::EngineConfig;
use ghl_service::connect::{OAuthRequest, WebhookKeys};
use ghl_service::connections::Check;
use ghl_service::{Service, ServiceError};
use ghl_testkit::{sqlite_store, TestSandbox};

fn request(sandbox: &ghl_sandbox::SandboxInfo, write: bool) -> OAuthRequest {
    OAuthRequest {
        app: "highlevel".into(),
        name: "crm".into(),
        client_id: sandbox.oauth.client_id.clone(),
        client_secret: sandbox.oauth.client_secret.clone().into(),
        base_url: sandbox.base_url.parse().expect("base URL"),
        authorize_url: None,
        token_url: None,
        // Nothing listens there: the test reads the redirect instead of following it.
        redirect_uri: "http://127.0.0.1:9/callback".parse().expect("redirect"),
        account: None,
        write,
        scopes: Vec::new(),
    }
}

/// The user approves `scope` for `location` on the sandbox's page; answers the code and the
/// state the browser is sent back with.
async fn approve(authorize: &url::Url, location: &str, scope: Option<&str>) -> (String, String) {
    let query: std::collections::HashMap<String, String> =
        authorize.query_pairs().into_owned().collect();
    let mut form: Vec<(&str, String)> = ["client_id", "redirect_uri", "scope", "state"]
        .iter()
        .map(|key| (*key, query[*key].clone()))
        .collect();
    if let Some(scope) = scope {
        form[2].1 = scope.to_owned();
    }
    form.push(("location_id", location.to_owned()));
    let mut page = authorize.clone();
    page.set_query(None);
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let answer = http.post(page).form(&form).send().await.expect("approve");
    let back = answer.headers()["location"].to_str().expect("a redirect").to_owned();
    let back: url::Url = back.parse().expect("the redirect");
    let back: std::collections::HashMap<String, String> = back.query_pairs().into_owned().collect();
    (back["code"].clone(), back["state"].clone())
}

#[tokio::test]
async fn an_oauth_connection_is_made_in_two_calls_and_learns_the_sandbox_keys() {
    let sandbox = TestSandbox::start(ghl_sandbox::SandboxConfig::default()).await;
    let (store, _db) = sqlite_store().await;
    let service = Service::new(store, EngineConfig::default());
    let connections = service.connections();

    let started = connections.oauth_start(request(&sandbox.info, false)).await.expect("started");
    let scope = started.url.query_pairs().find(|(key, _)| key == "scope").map(|(_, v)| v);
    assert_eq!(scope.as_deref(), Some("contacts.readonly"));
    let forged = connections.oauth_finish("forged", "any").await;
    assert!(matches!(forged, Err(ServiceError::OAuth(ghl_client::Error::StateMismatch))));

    let (code, state) = approve(&started.url, &sandbox.info.location_id, None).await;
    let connected = connections.oauth_finish(&state, &code).await.expect("connected");
    assert_eq!(connected.account, sandbox.info.location_id);
    assert!(matches!(connected.webhook_keys, WebhookKeys::Learned { .. }), "{connected:?}");
    assert!(matches!(connections.test("crm").await, Ok(Check::Works)));
    let again = connections.oauth_finish(&state, &code).await;
    assert!(matches!(again, Err(ServiceError::OAuth(_))), "a state finishes once: {again:?}");
}

#[tokio::test]
async fn a_scope_not_granted_or_a_token_refused_keeps_what_was_there() {
    let sandbox = TestSandbox::start(ghl_sandbox::SandboxConfig::default()).await;
    let info = &sandbox.info;
    let (store, _db) = sqlite_store().await;
    let service = Service::new(store, EngineConfig::default());
    let connections = service.connections();
    let base_url: url::Url = info.base_url.parse().expect("base URL");
    let token = info.private_integration_token.clone();
    connections
        .connect_private_token("highlevel", "crm", token.into(), &base_url, &info.location_id)
        .await
        .expect("the private token works");

    let started = connections.oauth_start(request(info, true)).await.expect("started");
    let (code, state) = approve(&started.url, &info.location_id, Some("contacts.readonly")).await;
    let refused = connections.oauth_finish(&state, &code).await;
    let err = refused.expect_err("a scope was not granted");
    assert!(err.to_string().contains("did not grant contacts.write"), "{err}");

    let wrong = connections
        .connect_private_token("highlevel", "crm", "pit-wrong".into(), &base_url, &info.location_id)
        .await;
    assert!(wrong.is_err(), "a refused token is not kept: {wrong:?}");
    let listed = connections.list().await.expect("listed");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].auth_kind, ghl_store::AuthKind::PrivateToken);
    assert!(matches!(connections.test("crm").await, Ok(Check::Works)), "the first one is back");
}

/// A manifest app whose auth is the authorization code flow, as a web UI would connect it:
/// `oauth_start` answers its own authorization page (on its identity host, with the PKCE
/// challenge its manifest asks for), a state that did not start here is refused, and its
/// named credentials alone are refused naming the app and storing nothing.
#[tokio::test]
async fn a_manifest_app_with_oauth_is_started_through_the_service_and_not_by_credentials_alone() {
    let manifest = r#"
app: books
title: Books
base_url: https://api.books.example/api
auth:
  kind: oauth2_authorization_code
  authorize_url: https://id.books.example/connect/authorize
  token_url: https://id.books.example/connect/token
  scopes: [read:core, offline_access]
  pkce: true
  client_auth: basic_header
  base_url_from: endpoint
operations:
  - name: list-projects
    title: List projects
    method: GET
    path: /project
"#;
    let (store, _db) = sqlite_store().await;
    Service::new(store.clone(), EngineConfig::default())
        .added_apps()
        .add(manifest)
        .await
        .expect("added");
    let service = Service::open(store, EngineConfig::default()).await.expect("opened");
    let connections = service.connections();
    let started = connections
        .oauth_start(OAuthRequest {
            app: "books".into(),
            name: "books".into(),
            client_id: "books-client".into(),
            client_secret: "books-secret".to_owned().into(),
            base_url: "https://api.books.example/api".parse().expect("url"),
            authorize_url: None,
            token_url: None,
            redirect_uri: "http://127.0.0.1:9/callback".parse().expect("redirect"),
            account: None,
            write: false,
            scopes: Vec::new(),
        })
        .await
        .expect("started");
    assert!(
        started.url.as_str().starts_with("https://id.books.example/connect/authorize?"),
        "the app's own page on its identity host: {}",
        started.url
    );
    let query: std::collections::HashMap<String, String> =
        started.url.query_pairs().into_owned().collect();
    assert_eq!(query["scope"], "offline_access read:core");
    assert_eq!(query["code_challenge_method"], "S256");
    assert!(!started.url.as_str().contains("books-secret"));

    let forged = connections.oauth_finish("not-a-state-started-here", "code").await;
    assert!(
        matches!(forged, Err(ServiceError::OAuth(ghl_client::Error::StateMismatch))),
        "{forged:?}"
    );
    let credentials = [("client_id", "books-client"), ("client_secret", "books-secret")]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value.to_owned().into()))
        .collect();
    let refused = connections.connect_credentials("books", "books", None, None, credentials).await;
    let said = refused.map(|_| ()).expect_err("needs the browser").to_string();
    assert!(said.contains("books") && said.contains("OAuth"), "{said}");
    assert!(!said.contains("books-secret"), "{said}");
    assert!(connections.list().await.expect("listed").is_empty(), "nothing stored");
}
