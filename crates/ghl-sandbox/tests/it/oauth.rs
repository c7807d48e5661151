//! The OAuth 2.0 server: choose-location page, code exchange, single-use refresh tokens,
//! scopes, expiry and revocation.

use std::collections::HashMap;

use serde_json::{json, Value};

use crate::support::{send, Reply, TestSandbox, TIMEOUT};
use ghl_spec_check::assert_matches_spec;

const REDIRECT: &str = "http://127.0.0.1:9/callback";

/// Walks the authorize page as a user would: open it, pick the location, follow nothing.
async fn authorize(sandbox: &TestSandbox, scope: &str, state: &str) -> String {
    let page = sandbox
        .http
        .get(&sandbox.info.oauth.authorize_url)
        .query(&[
            ("response_type", "code"),
            ("client_id", &sandbox.info.oauth.client_id),
            ("redirect_uri", REDIRECT),
            ("scope", scope),
            ("state", state),
        ])
        .send()
        .await
        .expect("authorize page");
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("html");
    assert!(html.contains(sandbox.location()), "the page offers the location");
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(TIMEOUT)
        .build()
        .expect("client");
    let approved = no_redirects
        .post(&sandbox.info.oauth.authorize_url)
        .form(&[
            ("client_id", sandbox.info.oauth.client_id.as_str()),
            ("redirect_uri", REDIRECT),
            ("scope", scope),
            ("state", state),
            ("location_id", sandbox.location()),
        ])
        .send()
        .await
        .expect("approve");
    assert_eq!(approved.status(), 303);
    let location = approved.headers()["location"].to_str().expect("location header").to_owned();
    assert!(location.starts_with(REDIRECT));
    let query: HashMap<String, String> =
        url::Url::parse(&location).expect("url").query_pairs().into_owned().collect();
    assert_eq!(
        query.get("state").map(String::as_str),
        Some(state),
        "the caller's state comes back"
    );
    query.get("code").expect("a code").clone()
}

async fn token(sandbox: &TestSandbox, form: &[(&str, &str)]) -> Reply {
    let mut fields = vec![
        ("client_id", sandbox.info.oauth.client_id.as_str()),
        ("client_secret", sandbox.info.oauth.client_secret.as_str()),
    ];
    fields.extend_from_slice(form);
    let reply = send(sandbox.http.post(&sandbox.info.oauth.token_url).form(&fields)).await;
    if reply.status == 200 {
        assert_matches_spec("get-access-token", 200, &reply.body);
    }
    reply
}

fn text<'v>(body: &'v Value, field: &str) -> &'v str {
    body[field].as_str().unwrap_or_else(|| panic!("{field} in {body}"))
}

#[tokio::test]
async fn code_exchange_gives_a_working_token_limited_to_its_scopes() {
    let sandbox = TestSandbox::start().await;
    let code = authorize(&sandbox, "contacts.readonly", "s-123").await;
    let tokens = token(
        &sandbox,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("user_type", "Location"),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    assert_eq!(tokens.status, 200, "{:?}", tokens.body);
    assert_eq!(tokens.body["locationId"], sandbox.location());
    assert_eq!(tokens.body["userType"], "Location");
    assert_eq!(tokens.body["scope"], "contacts.readonly");
    assert_eq!(tokens.body["expires_in"], 86_399);
    let access = text(&tokens.body, "access_token");

    let contact = sandbox.create_contact(json!({ "firstName": "Scoped" })).await;
    let read = sandbox
        .call_as(access, "get-contact", &[("contactId", contact["id"].as_str().expect("id"))], None)
        .await;
    assert_eq!(read.status, 200);
    let write = sandbox
        .call_as(
            access,
            "create-contact",
            &[],
            Some(json!({ "locationId": sandbox.location(), "firstName": "No" })),
        )
        .await;
    assert_eq!(write.status, 401);
    assert_eq!(write.body["message"], "The token is not authorized for this scope.");

    let reused = token(&sandbox, &[("grant_type", "authorization_code"), ("code", &code)]).await;
    assert_eq!(reused.status, 401, "a code is single-use");
}

#[tokio::test]
async fn refresh_rotates_and_an_old_refresh_token_is_refused() {
    let sandbox = TestSandbox::start().await;
    let code = authorize(&sandbox, "contacts.readonly contacts.write", "s").await;
    let first =
        token(&sandbox, &[("grant_type", "authorization_code"), ("code", &code)]).await.body;
    let refresh = text(&first, "refresh_token");
    let second = token(
        &sandbox,
        &[("grant_type", "refresh_token"), ("refresh_token", refresh), ("user_type", "Location")],
    )
    .await;
    assert_eq!(second.status, 200, "{:?}", second.body);
    assert_ne!(text(&second.body, "refresh_token"), refresh);
    assert_ne!(text(&second.body, "access_token"), text(&first, "access_token"));
    let again =
        token(&sandbox, &[("grant_type", "refresh_token"), ("refresh_token", refresh)]).await;
    assert_eq!(again.status, 401, "refresh tokens are single-use");
    let write = sandbox
        .call_as(
            text(&second.body, "access_token"),
            "create-contact",
            &[],
            Some(json!({ "locationId": sandbox.location(), "firstName": "Yes" })),
        )
        .await;
    assert_eq!(write.status, 201);
}

#[tokio::test]
async fn expired_token_gets_401_until_refreshed_and_revoked_grants_cannot_refresh() {
    let sandbox = TestSandbox::start().await;
    let code = authorize(&sandbox, "contacts.readonly", "s").await;
    let tokens =
        token(&sandbox, &[("grant_type", "authorization_code"), ("code", &code)]).await.body;
    let access = text(&tokens, "access_token");
    let location = sandbox.location().to_owned();
    let list = |token: String| {
        let location = location.clone();
        let sandbox = &sandbox;
        async move { sandbox.call_as(&token, "get-contacts", &[("locationId", &location)], None).await }
    };
    assert_eq!(list(access.to_owned()).await.status, 200);
    sandbox
        .admin(reqwest::Method::POST, &format!("/locations/{location}/expire-tokens"), None)
        .await;
    let expired = list(access.to_owned()).await;
    assert_eq!(expired.status, 401);
    let refreshed = token(
        &sandbox,
        &[("grant_type", "refresh_token"), ("refresh_token", text(&tokens, "refresh_token"))],
    )
    .await
    .body;
    assert_eq!(list(text(&refreshed, "access_token").to_owned()).await.status, 200);
    assert_eq!(
        list(sandbox.token().to_owned()).await.status,
        200,
        "private integration tokens never expire"
    );

    sandbox
        .admin(reqwest::Method::POST, &format!("/locations/{location}/revoke-tokens"), None)
        .await;
    let after_revoke = token(
        &sandbox,
        &[("grant_type", "refresh_token"), ("refresh_token", text(&refreshed, "refresh_token"))],
    )
    .await;
    assert_eq!(after_revoke.status, 401);
    assert_eq!(list(text(&refreshed, "access_token").to_owned()).await.status, 401);
}

#[tokio::test]
async fn bad_client_credentials_grant_and_scope_are_refused() {
    let sandbox = TestSandbox::start().await;
    let wrong_secret = send(sandbox.http.post(&sandbox.info.oauth.token_url).form(&[
        ("client_id", sandbox.info.oauth.client_id.as_str()),
        ("client_secret", "wrong"),
        ("grant_type", "authorization_code"),
        ("code", "x"),
    ]))
    .await;
    assert_eq!(wrong_secret.status, 401);
    let bad_grant = token(&sandbox, &[("grant_type", "password")]).await;
    assert_eq!(bad_grant.status, 422);
    let unknown_scope = sandbox
        .http
        .get(&sandbox.info.oauth.authorize_url)
        .query(&[
            ("response_type", "code"),
            ("client_id", sandbox.info.oauth.client_id.as_str()),
            ("redirect_uri", REDIRECT),
            ("scope", "everything.write"),
        ])
        .send()
        .await
        .expect("page");
    assert_eq!(unknown_scope.status(), 400);
    let tokens_issued = sandbox.stats().await["tokensIssued"].clone();
    assert_eq!(tokens_issued, json!({}));
}
