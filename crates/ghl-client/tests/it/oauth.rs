//! OAuth: the authorization request and its state, the code exchange, and refresh that is
//! single-flight however many tasks need it, rotated tokens saved, revocation surfaced.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use ghl_client::{
    Client, ClientConfig, Credentials, Error, MemoryTokenStore, OAuthApp, OAuthConnection,
    TokenStore,
};

use crate::support::TestSandbox;

const REDIRECT: &str = "http://127.0.0.1:9/callback";

fn app(sandbox: &TestSandbox) -> OAuthApp {
    OAuthApp {
        client_id: sandbox.info.oauth.client_id.clone(),
        client_secret: sandbox.info.oauth.client_secret.clone().into(),
        authorize_url: sandbox.info.oauth.authorize_url.parse().expect("url"),
        token_url: sandbox.info.oauth.token_url.parse().expect("url"),
        redirect_uri: REDIRECT.parse().expect("url"),
        extra_form: ghl_client::AppProfile::token_form(&ghl_client::HighLevel::default()),
        options: Default::default(),
    }
}

/// Plays the user: approves the authorization request; answers the redirect's query.
async fn approve(sandbox: &TestSandbox, url: &url::Url) -> (String, String) {
    let query: std::collections::HashMap<String, String> = url.query_pairs().into_owned().collect();
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let mut form: Vec<(String, String)> = ["client_id", "redirect_uri", "scope", "state"]
        .iter()
        .map(|name| (name.to_string(), query.get(*name).cloned().unwrap_or_default()))
        .collect();
    form.push(("location_id".into(), sandbox.info.location_id.clone()));
    let answer = no_redirects
        .post(&sandbox.info.oauth.authorize_url)
        .form(&form)
        .send()
        .await
        .expect("approve");
    let location: url::Url =
        answer.headers()["location"].to_str().expect("header").parse().expect("url");
    let back: std::collections::HashMap<String, String> =
        location.query_pairs().into_owned().collect();
    (back["code"].clone(), back["state"].clone())
}

async fn connected(sandbox: &TestSandbox) -> (Arc<OAuthConnection>, Arc<MemoryTokenStore>, Client) {
    let app = app(sandbox);
    let request = app.authorization_request(&["contacts.readonly", "contacts.write"]);
    let (code, state) = approve(sandbox, &request.url).await;
    let tokens = app
        .exchange_code(&reqwest::Client::new(), &request, &state, &code)
        .await
        .expect("exchange");
    assert_eq!(tokens.location_id.as_deref(), Some(sandbox.info.location_id.as_str()));
    let store = MemoryTokenStore::new(Some(tokens));
    let connection = OAuthConnection::new(app, store.clone());
    let config = ClientConfig::new(
        sandbox.api_url.parse().expect("url"),
        Credentials::OAuth(connection.clone()),
        sandbox.info.location_id.clone(),
    );
    (connection, store, Client::new(config).expect("client"))
}

#[tokio::test]
async fn a_forged_state_is_refused_before_any_exchange() {
    let sandbox = TestSandbox::start().await;
    let app = app(&sandbox);
    let request = app.authorization_request(&["contacts.readonly"]);
    assert!(request.url.as_str().contains("state="));
    let (code, _) = approve(&sandbox, &request.url).await;
    let forged =
        app.exchange_code(&reqwest::Client::new(), &request, "someone-elses-state", &code).await;
    assert!(matches!(forged, Err(Error::StateMismatch)));
    assert_eq!(sandbox.stats().await["tokensIssued"], serde_json::json!({}));
}

#[tokio::test]
async fn sixteen_tasks_with_an_expired_token_cause_exactly_one_refresh() {
    let sandbox = TestSandbox::start().await;
    let (connection, store, client) = connected(&sandbox).await;
    let before = store.load().await.expect("load").expect("tokens");
    sandbox
        .admin_send(
            reqwest::Method::POST,
            &format!("/locations/{}/expire-tokens", sandbox.info.location_id),
            serde_json::json!({}),
        )
        .await;
    let results = join_all((0..16).map(|_| {
        let client = client.clone();
        async move { client.list_contacts(&[("limit", "1")]).await }
    }))
    .await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(connection.refresh_count(), 1);
    assert_eq!(sandbox.stats().await["tokensIssued"]["refresh_token"], 1);
    let after = store.load().await.expect("load").expect("tokens");
    assert_ne!(after.refresh_token, before.refresh_token, "the rotated refresh token was saved");
}

#[tokio::test]
async fn a_revoked_connection_surfaces_reconnect_needed() {
    let sandbox = TestSandbox::start().await;
    let (_, _, client) = connected(&sandbox).await;
    client.list_contacts(&[]).await.expect("works at first");
    sandbox
        .admin_send(
            reqwest::Method::POST,
            &format!("/locations/{}/revoke-tokens", sandbox.info.location_id),
            serde_json::json!({}),
        )
        .await;
    let error = client.list_contacts(&[]).await.expect_err("revoked");
    assert!(matches!(error, Error::ReconnectNeeded { .. }), "{error:?}");
    assert!(!error.is_retryable());
}

/// The soak: 30 s tokens, 16 tasks, 2 minutes. Each expiry causes exactly one
/// refresh (ahead of expiry, so none is rejected), and no request fails.
#[tokio::test]
async fn two_minutes_of_sixteen_tasks_with_thirty_second_tokens() {
    let sandbox = TestSandbox::start_with(|config| {
        config.token_lifetime = Duration::from_secs(30);
        config.rate_limits.burst = 100_000;
    })
    .await;
    let (connection, _, client) = connected(&sandbox).await;
    let started = Instant::now();
    let run_for = Duration::from_secs(120);
    let outcomes = join_all((0..16).map(|_| {
        let client = client.clone();
        async move {
            let (mut ok, mut failed) = (0u64, Vec::new());
            while started.elapsed() < run_for {
                match client.list_contacts(&[("limit", "1")]).await {
                    Ok(_) => ok += 1,
                    Err(err) => failed.push(err.to_string()),
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            (ok, failed)
        }
    }))
    .await;
    let failed: Vec<String> = outcomes.iter().flat_map(|(_, failed)| failed.clone()).collect();
    assert!(failed.is_empty(), "{failed:?}");
    assert!(outcomes.iter().all(|(ok, _)| *ok > 100));
    // Tokens live 30 s and are refreshed a quarter of that ahead, every ~22.5 s: one refresh
    // per token, 5 or 6 in two minutes (seconds are whole), never one per request.
    let refreshes = connection.refresh_count();
    let stats = sandbox.stats().await;
    assert_eq!(stats["tokensIssued"]["refresh_token"], refreshes);
    assert_eq!(
        stats["requests"]["get-contacts"].get("401"),
        None,
        "no request met an expired token"
    );
    assert!((4..=6).contains(&refreshes), "{refreshes} refreshes in 2 minutes of 30 s tokens");
}
