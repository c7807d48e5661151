//! BQE CORE (apps/bqe-core/manifest.yaml) through the runtime against its sandbox, connected
//! by OAuth through the sandbox's identity provider: every list walked in `page=<n>,<size>`
//! pages to the 204 past the end; refusals name the app, the operation and the field, and
//! change nothing: a missing required field (refused before anything is sent), a stale
//! `version` (the app's 409 `OutDatedModel`), a wrong client secret and revoked tokens.

use futures_util::TryStreamExt;
use ghl_app_runtime::{oauth_app, Connection, Credentials, ManifestClient, RuntimeError};
use ghl_app_sandbox::{AppSandbox, AppSandboxConfig};
use ghl_client::{MemoryTokenStore, OAuthConnection, TokenSet};
use serde_json::{json, Value};

use crate::support::{admin, fast_retry, local, requests, start};

const REDIRECT: &str = "http://127.0.0.1:9/callback";

/// The registration of the sandbox's client, its pages and token endpoint at the sandbox
/// (`--base-url`), with `secret`.
fn registration(sandbox: &AppSandbox, secret: &str) -> ghl_client::OAuthApp {
    let manifest = &sandbox.shared.manifest;
    let base: url::Url = sandbox.info.base_url.parse().expect("the sandbox's address");
    let app = oauth_app(
        manifest,
        None,
        &sandbox.info.credentials["client_id"],
        secret.to_owned().into(),
        REDIRECT.parse().expect("a URL"),
    )
    .expect("an OAuth app");
    let under = |url: &url::Url| base.join(url.path()).expect("a path under the sandbox");
    ghl_client::OAuthApp {
        authorize_url: under(&app.authorize_url),
        token_url: under(&app.token_url),
        ..app
    }
}

/// Tokens from the authorization code flow: the sandbox approves at once and redirects.
async fn tokens(registration: &ghl_client::OAuthApp) -> TokenSet {
    let request = registration.authorization_request(&["readwrite:core", "offline_access"]);
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client");
    let approved = browser.get(request.url.clone()).send().await.expect("approved");
    let back: url::Url =
        approved.headers()["location"].to_str().expect("text").parse().expect("URL");
    let get = |name: &str| {
        back.query_pairs().find(|(key, _)| key == name).map(|(_, v)| v.into_owned()).expect(name)
    };
    registration
        .exchange_code(&browser, &request, &get("state"), &get("code"))
        .await
        .expect("tokens")
}

/// A client of the company's API at the address the token answer gave.
fn client(
    sandbox: &AppSandbox,
    registration: ghl_client::OAuthApp,
    tokens: TokenSet,
) -> ManifestClient {
    let base_url = tokens.base_url.as_deref().map(|url| url.parse().expect("the API address"));
    let oauth = OAuthConnection::new(registration, MemoryTokenStore::new(Some(tokens)));
    let connection = Connection { base_url, account: None, credentials: Credentials::OAuth(oauth) };
    let manifest = std::sync::Arc::new(sandbox.shared.manifest.clone());
    ManifestClient::new(manifest, connection, local(), fast_retry()).expect("a client")
}

async fn connected(sandbox: &AppSandbox) -> ManifestClient {
    let registration = registration(sandbox, &sandbox.info.credentials["client_secret"]);
    let tokens = tokens(&registration).await;
    assert!(
        tokens
            .base_url
            .as_deref()
            .is_some_and(|url| url.contains("/accounts/") && !url.ends_with('/')),
        "the company's API address, without its trailing `/`: {:?}",
        tokens.base_url
    );
    client(sandbox, registration, tokens)
}

fn records(sandbox: &AppSandbox, resource: &str) -> Vec<Value> {
    let rest = sandbox.shared.rest.as_ref().expect("a REST sandbox");
    rest.records(resource).into_iter().map(Value::Object).collect()
}

#[tokio::test]
async fn every_list_is_walked_in_pages_of_the_largest_size_to_the_204() {
    let sandbox = start("bqe-core", AppSandboxConfig::default()).await;
    let bqe = connected(&sandbox).await;
    assert_eq!(bqe.check().await.expect("the connection works"), ghl_app_runtime::Checked::Works);
    for n in 1..=5 {
        let body = json!({"code": format!("A{n}"), "description": format!("Activity {n}")});
        let request = bqe.request("create-activity", body).expect("valid");
        bqe.call(&request, Some(&format!("activity-{n}"))).await.expect("created");
    }
    let codes = |records: Vec<Value>| -> Vec<String> {
        records.iter().map(|r| r["code"].as_str().expect("a code").to_owned()).collect()
    };
    let before = requests(&sandbox, "list-activities").await;
    let all: Vec<Value> =
        bqe.records("list-activities", json!({})).try_collect().await.expect("one page");
    assert_eq!(codes(all), ["A1", "A2", "A3", "A4", "A5"]);
    let after = requests(&sandbox, "list-activities").await;
    assert_eq!(
        after.get("200"),
        Some(&(before.get("200").unwrap_or(&0) + 1)),
        "one short page of 1000"
    );

    let paged: Vec<Value> =
        bqe.records("list-activities", json!({"page": "1,2"})).try_collect().await.expect("pages");
    assert_eq!(codes(paged), ["A1", "A2", "A3", "A4", "A5"], "pages of 2, 2 and 1");
    let exact: Vec<Value> =
        bqe.records("list-activities", json!({"page": "1,5"})).try_collect().await.expect("pages");
    assert_eq!(exact.len(), 5);
    let statuses = requests(&sandbox, "list-activities").await;
    assert_eq!(
        statuses.get("204"),
        Some(&1),
        "the full page of 5 is followed by one 204: {statuses:?}"
    );
}

#[tokio::test]
async fn a_missing_field_and_a_stale_version_are_refused_naming_app_operation_and_field() {
    let sandbox = start("bqe-core", AppSandboxConfig::default()).await;
    let bqe = connected(&sandbox).await;
    let error = bqe.request("create-client", json!({"email": "a@x.test"})).expect_err("no name");
    assert_eq!(error.to_string(), "bqe-core.create-client: name: is required");
    let error =
        bqe.request("update-client", json!({"id": "x", "name": "Ada"})).expect_err("no version");
    assert_eq!(error.to_string(), "bqe-core.update-client: version: is required");
    assert_eq!(requests(&sandbox, "create-client").await, Default::default(), "nothing sent");

    let made = bqe
        .call(&bqe.request("create-client", json!({"name": "Ada"})).expect("valid"), Some("c1"))
        .await
        .expect("created");
    let id = made["id"].as_str().expect("an id");
    let stale = json!({"id": id, "name": "Ada L.", "version": "AAAAAAAAAAE="});
    let error = bqe
        .call(&bqe.request("update-client", stale).expect("valid"), Some("u1"))
        .await
        .expect_err("a stale version");
    match &error {
        RuntimeError::Invalid { status: 409, message, .. } => {
            assert!(message.starts_with("OutDatedModel"), "the app's Message: {message}");
            assert!(message.contains("version"), "names the field: {message}");
        }
        other => panic!("invalid expected (sending it again cannot help): {other:?}"),
    }
    let shown = error.to_string();
    assert!(shown.contains("bqe-core") && shown.contains("update-client"), "{shown}");
    assert_eq!(requests(&sandbox, "update-client").await.get("409"), Some(&1), "not retried");
    assert_eq!(records(&sandbox, "/client")[0]["name"], "Ada", "nothing changed");
}

#[tokio::test]
async fn a_wrong_client_secret_and_revoked_tokens_need_reconnecting_and_change_nothing() {
    let sandbox = start("bqe-core", AppSandboxConfig::default()).await;
    let good = registration(&sandbox, &sandbox.info.credentials["client_secret"]);
    let tokens = tokens(&good).await;

    // The access token expired; the refresh is refused: the client secret is wrong.
    let wrong = registration(&sandbox, "cs_not_the_secret");
    let expired = TokenSet { expires_at: 0, ..tokens.clone() };
    let bqe = client(&sandbox, wrong, expired);
    let create = bqe.request("create-client", json!({"name": "Ada"})).expect("valid");
    let error = bqe.call(&create, Some("c1")).await.expect_err("refused");
    let shown = error.to_string();
    assert!(shown.contains("bqe-core") && shown.contains("create-client"), "{shown}");
    assert!(shown.contains("client id or secret is wrong"), "the IdP's words: {shown}");
    assert!(!shown.contains("cs_not_the_secret"), "never the secret: {shown}");
    let ghl: ghl_client::Error = error.into();
    assert!(matches!(ghl, ghl_client::Error::ReconnectNeeded { .. }), "{ghl:?}");

    // The company revokes the app: the token and its refresh are refused.
    let bqe = client(&sandbox, good, tokens);
    admin_post(&sandbox, "oauth/revoke-tokens").await;
    let error = bqe.call(&create, Some("c2")).await.expect_err("revoked");
    let shown = error.to_string();
    assert!(shown.contains("bqe-core") && shown.contains("create-client"), "{shown}");
    let ghl: ghl_client::Error = error.into();
    assert!(matches!(ghl, ghl_client::Error::ReconnectNeeded { .. }), "{ghl:?}");
    assert!(records(&sandbox, "/client").is_empty(), "nothing was made");
    let effects = admin(&sandbox, "stats").await["effects"].clone();
    assert_eq!(effects, json!({"oauth-token": 1}), "the first grant only: {effects}");
}

async fn admin_post(sandbox: &AppSandbox, path: &str) {
    let answer = reqwest::Client::new()
        .post(format!("{}/{path}", sandbox.info.admin_url))
        .send()
        .await
        .expect("the sandbox answers");
    assert!(answer.status().is_success(), "{path}: {}", answer.status());
}
