//! The app sandboxes over real HTTP on 127.0.0.1: each built from its shipped manifest.

use std::time::Duration;

use ghl_app_sandbox::{AppSandbox, AppSandboxConfig, WebhookConfig};
use ghl_apps::signatures::standard_webhooks::{self, Delivery};
use ghl_sandbox_kit::{FaultConfig, FaultRule, Window};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

fn manifest(app: &str) -> ghl_apps::Manifest {
    let manifests = ghl_apps::builtin::manifests().expect("the shipped manifests load");
    manifests.into_iter().find(|m| m.app == app).expect("the app is shipped")
}

async fn start(app: &str, config: AppSandboxConfig) -> (AppSandbox, CancellationToken) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let shutdown = CancellationToken::new();
    let sandbox = AppSandbox::start(manifest(app), config, listener, shutdown.clone())
        .await
        .expect("the sandbox starts");
    (sandbox, shutdown)
}

fn key(sandbox: &AppSandbox) -> String {
    sandbox.info.credentials["api_key"].clone()
}

/// Sends `method` to Your App's `url` with its API key `key` (and `body` as JSON).
async fn keyed(
    client: &reqwest::Client,
    method: Method,
    url: &str,
    key: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let request = client.request(method, url).header("X-Api-Key", key);
    let request = match body {
        Some(body) => request.json(&body),
        None => request,
    };
    request.send().await.expect("the sandbox answers")
}

/// POSTs `body` as JSON to `url`.
async fn post(client: &reqwest::Client, url: &str, body: Value) -> reqwest::Response {
    client.post(url).json(&body).send().await.expect("the sandbox answers")
}

async fn stats(client: &reqwest::Client, sandbox: &AppSandbox) -> Value {
    let url = format!("{}/stats", sandbox.info.admin_url);
    client.get(url).send().await.expect("the sandbox answers").json().await.expect("a JSON answer")
}

#[tokio::test]
async fn your_app_refuses_missing_and_wrong_keys_with_its_own_bodies_and_read_only_writes() {
    let (sandbox, _stop) = start("your-app", AppSandboxConfig::default()).await;
    let client = reqwest::Client::new();
    let contacts = format!("{}/contacts", sandbox.info.base_url);
    assert!(sandbox.info.base_url.ends_with("/v1"), "served under the manifest's path");

    let missing = client.get(&contacts).send().await.expect("the sandbox answers");
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    let body: Value = missing.json().await.expect("a JSON answer");
    assert_eq!(body["error"]["code"], "unauthorized");
    assert!(body["error"]["message"].as_str().expect("a string").contains("X-Api-Key"), "{body}");

    let wrong = keyed(&client, Method::GET, &contacts, "sk_wrong", None).await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let body: Value = wrong.json().await.expect("a JSON answer");
    assert_eq!(body["error"]["code"], "invalid_credentials");

    let read_only = sandbox.info.read_only_credentials["api_key"].clone();
    let listed = keyed(&client, Method::GET, &contacts, &read_only, None).await;
    assert_eq!(listed.status(), StatusCode::OK);
    let refused =
        keyed(&client, Method::POST, &contacts, &read_only, Some(json!({"name": "Ada"}))).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let body: Value = refused.json().await.expect("a JSON answer");
    assert_eq!(body["error"]["code"], "forbidden");
    assert_eq!(sandbox.shared.rest.as_ref().expect("a REST sandbox").records("/contacts").len(), 0);
}

#[tokio::test]
async fn your_app_creates_reads_updates_lists_in_pages_and_deletes() {
    let (sandbox, _stop) = start("your-app", AppSandboxConfig::default()).await;
    let client = reqwest::Client::new();
    let key = key(&sandbox);
    let contacts = format!("{}/contacts", sandbox.info.base_url);

    let invalid =
        keyed(&client, Method::POST, &contacts, &key, Some(json!({"email": "a@x.test"}))).await;
    assert_eq!(invalid.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = invalid.json().await.expect("a JSON answer");
    assert_eq!(body["error"]["message"], "name is required");

    let created = keyed(
        &client,
        Method::POST,
        &contacts,
        &key,
        Some(json!({"name": "Ada", "email": "ada@x.test", "tags": ["vip"]})),
    )
    .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let created: Value = created.json().await.expect("a JSON answer");
    let id = created["data"]["id"].as_str().expect("a string").to_owned();
    let first_update = created["data"]["updated_at"].as_str().expect("a string").to_owned();
    assert_eq!(created["data"]["created_at"], created["data"]["updated_at"]);

    let got: Value = keyed(&client, Method::GET, &format!("{contacts}/{id}"), &key, None)
        .await
        .json()
        .await
        .expect("a JSON answer");
    assert_eq!(got["data"]["email"], "ada@x.test");

    let updated = keyed(
        &client,
        Method::PATCH,
        &format!("{contacts}/{id}"),
        &key,
        Some(json!({"company": "Engines Ltd", "tags": null})),
    )
    .await;
    assert_eq!(updated.status(), StatusCode::OK);
    let updated: Value = updated.json().await.expect("a JSON answer");
    assert_eq!(updated["data"]["company"], "Engines Ltd");
    assert_eq!(updated["data"]["name"], "Ada");
    assert!(updated["data"].get("tags").is_none(), "null clears a field");
    assert!(updated["data"]["updated_at"].as_str().expect("a string") >= first_update.as_str());

    for n in 0..4 {
        let body = json!({"name": format!("C{n}"), "email": format!("c{n}@x.test")});
        let answer = client
            .post(&contacts)
            .header("X-Api-Key", &key)
            .json(&body)
            .send()
            .await
            .expect("the sandbox answers");
        assert_eq!(answer.status(), StatusCode::CREATED);
    }
    let mut seen = Vec::new();
    for page in 1..=3 {
        let answer: Value =
            keyed(&client, Method::GET, &format!("{contacts}?limit=2&page={page}"), &key, None)
                .await
                .json()
                .await
                .expect("a JSON answer");
        let names: Vec<String> = answer["data"]
            .as_array()
            .expect("an array")
            .iter()
            .map(|c| c["name"].as_str().expect("a string").to_owned())
            .collect();
        assert_eq!(answer["meta"]["has_more"], page < 3, "page {page}");
        seen.extend(names);
    }
    assert_eq!(seen, ["Ada", "C0", "C1", "C2", "C3"]);

    let by_email: Value =
        keyed(&client, Method::GET, &format!("{contacts}?email=c2@x.test"), &key, None)
            .await
            .json()
            .await
            .expect("a JSON answer");
    assert_eq!(by_email["data"].as_array().expect("an array").len(), 1);
    let since: Value = keyed(
        &client,
        Method::GET,
        &format!("{contacts}?updated_since=2999-01-01T00:00:00Z&sort=updated_at"),
        &key,
        None,
    )
    .await
    .json()
    .await
    .expect("a JSON answer");
    assert_eq!(since["data"], json!([]));

    let deleted = keyed(&client, Method::DELETE, &format!("{contacts}/{id}"), &key, None).await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let gone = keyed(&client, Method::GET, &format!("{contacts}/{id}"), &key, None).await;
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);

    let stats = stats(&client, &sandbox).await;
    assert_eq!(stats["effects"]["contact.created"], 5);
    assert_eq!(stats["effects"]["contact.updated"], 1);
    assert_eq!(stats["effects"]["contact.deleted"], 1);
    assert_eq!(stats["requests"]["create-contact"]["201"], 5);
}

#[tokio::test]
async fn a_taken_natural_key_is_refused_naming_the_existing_contact() {
    let (sandbox, _stop) = start("your-app", AppSandboxConfig::default()).await;
    let client = reqwest::Client::new();
    let key = key(&sandbox);
    let contacts = format!("{}/contacts", sandbox.info.base_url);
    let body = json!({"name": "Ada", "email": "ada@x.test", "external_id": "hl-1"});
    let first: Value = client
        .post(&contacts)
        .header("X-Api-Key", &key)
        .json(&body)
        .send()
        .await
        .expect("the sandbox answers")
        .json()
        .await
        .expect("a JSON answer");
    let id = first["data"]["id"].as_str().expect("a string");

    let again = keyed(
        &client,
        Method::POST,
        &contacts,
        &key,
        Some(json!({"name": "Other", "external_id": "hl-1"})),
    )
    .await;
    assert_eq!(again.status(), StatusCode::CONFLICT);
    let refusal: Value = again.json().await.expect("a JSON answer");
    assert_eq!(refusal["error"]["code"], "duplicate_email");
    assert_eq!(refusal["error"]["existing_id"], id);
    assert_eq!(sandbox.shared.rest.as_ref().expect("a REST sandbox").records("/contacts").len(), 1);
}

/// A receiver that refuses the first delivery, then accepts: returns each delivery's headers
/// and body.
async fn receiver(
) -> (String, tokio::sync::mpsc::UnboundedReceiver<(axum::http::HeaderMap, Vec<u8>)>) {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;
    let (sender, received) = tokio::sync::mpsc::unbounded_channel();
    let calls = Arc::new(AtomicU32::new(0));
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
            let sender = sender.clone();
            let calls = calls.clone();
            async move {
                let _ = sender.send((headers, body.to_vec()));
                if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                    StatusCode::SERVICE_UNAVAILABLE
                } else {
                    StatusCode::OK
                }
            }
        }),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let url = format!("http://{}/hook", listener.local_addr().expect("an address"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, received)
}

#[tokio::test]
async fn a_signed_webhook_arrives_verifies_and_keeps_its_id_across_a_retry() {
    let (url, mut received) = receiver().await;
    let config = AppSandboxConfig {
        webhooks: WebhookConfig {
            retry_delay: Duration::from_millis(10),
            ..WebhookConfig::default()
        },
        ..AppSandboxConfig::default()
    };
    let (sandbox, _stop) = start("your-app", config).await;
    let client = reqwest::Client::new();
    let added =
        post(&client, &format!("{}/webhook-targets", sandbox.info.admin_url), json!({"url": url}))
            .await;
    assert_eq!(added.status(), StatusCode::CREATED);
    let created = keyed(
        &client,
        Method::POST,
        &format!("{}/contacts", sandbox.info.base_url),
        &key(&sandbox),
        Some(json!({"name": "Ada"})),
    )
    .await;
    assert_eq!(created.status(), StatusCode::CREATED);

    let secret = standard_webhooks::parse_secret(&sandbox.info.credentials["webhook_secret"])
        .expect("a whsec_ secret");
    let (first_headers, first_body) = received.recv().await.expect("a delivery");
    let (headers, body) = received.recv().await.expect("a delivery");
    let header = |headers: &axum::http::HeaderMap, name: &str| {
        headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
    };
    assert_eq!(
        header(&first_headers, "webhook-id"),
        header(&headers, "webhook-id"),
        "a retry keeps the id"
    );
    assert_eq!(first_body, body);
    let (id, timestamp, signature) = (
        header(&headers, "webhook-id"),
        header(&headers, "webhook-timestamp"),
        header(&headers, "webhook-signature"),
    );
    let delivery = Delivery {
        id: id.as_deref(),
        timestamp: timestamp.as_deref(),
        signature: signature.as_deref(),
        body: &body,
    };
    let now = chrono::Utc::now().timestamp();
    standard_webhooks::verify(&[secret], &delivery, now, 300)
        .expect("the delivery verifies with the secret");
    let event: Value = serde_json::from_slice(&body).expect("a JSON event");
    assert_eq!(event["type"], "contact.created");
    assert_eq!(event["data"]["name"], "Ada");
    assert!(event["workspace_id"].is_string());
    // A wrong secret does not verify.
    let other =
        standard_webhooks::parse_secret("whsec_c2VjcmV0c2VjcmV0c2VjcmV0").expect("a whsec_ secret");
    assert!(standard_webhooks::verify(&[other], &delivery, now, 300).is_err());
}

#[tokio::test]
async fn faults_injected_at_a_configured_rate_are_seen_and_counted() {
    let faults = FaultConfig {
        default: FaultRule { internal_error: 0.5, ..FaultRule::default() },
        operations: Default::default(),
    };
    let (sandbox, _stop) =
        start("your-app", AppSandboxConfig { faults, seed: 7, ..AppSandboxConfig::default() })
            .await;
    let client = reqwest::Client::new();
    let contacts = format!("{}/contacts", sandbox.info.base_url);
    let mut failed = 0;
    for _ in 0..40 {
        let answer = keyed(&client, Method::GET, &contacts, &key(&sandbox), None).await;
        if answer.status() == StatusCode::INTERNAL_SERVER_ERROR {
            let body: Value = answer.json().await.expect("a JSON answer");
            assert_eq!(body["error"]["code"], "internal_error", "in the app's error shape");
            failed += 1;
        } else {
            assert_eq!(answer.status(), StatusCode::OK);
        }
    }
    assert!((5..=35).contains(&failed), "about half of 40 fail, got {failed}");
    let stats = stats(&client, &sandbox).await;
    assert_eq!(stats["faults"]["500"], failed);
    assert_eq!(stats["requests"]["list-contacts"]["500"], failed);
}

#[tokio::test]
async fn a_dropped_connection_after_the_effect_leaves_the_record() {
    let faults = FaultConfig {
        default: FaultRule::default(),
        operations: [(
            "create-contact".to_owned(),
            FaultRule { reset_after: 1.0, ..FaultRule::default() },
        )]
        .into(),
    };
    let (sandbox, _stop) =
        start("your-app", AppSandboxConfig { faults, ..AppSandboxConfig::default() }).await;
    let answer = reqwest::Client::new()
        .post(format!("{}/contacts", sandbox.info.base_url))
        .header("X-Api-Key", key(&sandbox))
        .json(&json!({"name": "Ada"}))
        .send()
        .await;
    assert!(answer.is_err(), "no answer: {answer:?}");
    assert_eq!(sandbox.shared.rest.as_ref().expect("a REST sandbox").records("/contacts").len(), 1);
}

#[tokio::test]
async fn slack_records_posts_and_answers_as_slack() {
    let config = AppSandboxConfig {
        rate_limits: Some(vec![Window { requests: 3, per_ms: 60_000 }]),
        ..AppSandboxConfig::default()
    };
    let (sandbox, _stop) = start("slack", config).await;
    let client = reqwest::Client::new();
    let hook = sandbox.info.credentials["url"].clone();
    assert_eq!(hook, sandbox.info.base_url);

    let ok = post(&client, &hook, json!({"text": "Hello *world*"})).await;
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(ok.text().await.expect("a text answer"), "ok");

    let bad = client
        .post(&hook)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("the sandbox answers");
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    assert_eq!(bad.text().await.expect("a text answer"), "invalid_payload");

    let empty = post(&client, &hook, json!({"unfurl_links": true})).await;
    assert_eq!(
        (empty.status(), empty.text().await.expect("a text answer").as_str()),
        (StatusCode::BAD_REQUEST, "no_text")
    );

    // The window of 3 is spent: Slack's 429 with Retry-After.
    let limited = post(&client, &hook, json!({"text": "again"})).await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(
        limited.headers()["retry-after"]
            .to_str()
            .expect("a text header")
            .parse::<u64>()
            .expect("seconds")
            >= 1
    );

    let unknown = post(
        &client,
        &format!("{}/services/TSANDBOX/BNOPE/nope", sandbox.shared.address),
        json!({"text": "x"}),
    )
    .await;
    assert_eq!(
        (unknown.status(), unknown.text().await.expect("a text answer").as_str()),
        (StatusCode::NOT_FOUND, "no_service")
    );

    let archived: Value = post(
        &client,
        &format!("{}/hooks", sandbox.info.admin_url),
        json!({"refuse": "channel_is_archived"}),
    )
    .await
    .json()
    .await
    .expect("a JSON answer");
    let answer =
        post(&client, archived["url"].as_str().expect("a string"), json!({"text": "x"})).await;
    assert_eq!(
        (answer.status(), answer.text().await.expect("a text answer").as_str()),
        (StatusCode::GONE, "channel_is_archived")
    );

    let posts: Value = client
        .get(format!("{}/posts", sandbox.info.admin_url))
        .send()
        .await
        .expect("the sandbox answers")
        .json()
        .await
        .expect("a JSON answer");
    assert_eq!(posts["posts"].as_array().expect("an array").len(), 1, "{posts}");
    assert_eq!(posts["posts"][0]["body"]["text"], "Hello *world*");
    let stats = stats(&client, &sandbox).await;
    assert_eq!(stats["effects"]["message.posted"], 1);
    assert_eq!(stats["rateLimited"], 1);
}

#[tokio::test]
async fn teams_accepts_an_adaptive_card_with_202_and_a_message_card_with_1() {
    let config = AppSandboxConfig {
        rate_limits: Some(vec![Window { requests: 3, per_ms: 60_000 }]),
        ..AppSandboxConfig::default()
    };
    let (sandbox, _stop) = start("teams", config).await;
    let client = reqwest::Client::new();
    let workflow = sandbox.info.credentials["url"].clone();
    let legacy = sandbox.info.credentials["legacy_url"].clone();
    let card = json!({"type": "message", "attachments": [{
        "contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": null,
        "content": {"type": "AdaptiveCard", "version": "1.4", "body": [{"type": "TextBlock", "text": "Hi"}]}}]});

    let accepted = client.post(&workflow).json(&card).send().await.expect("the sandbox answers");
    assert_eq!(accepted.status(), StatusCode::ACCEPTED);
    let wrong_shape = post(&client, &workflow, json!({"text": "plain"})).await;
    assert_eq!(wrong_shape.status(), StatusCode::BAD_REQUEST);
    let unsigned = client
        .post(workflow.replace("sig=", "sig=x"))
        .json(&card)
        .send()
        .await
        .expect("the sandbox answers");
    assert_eq!(unsigned.status(), StatusCode::UNAUTHORIZED);

    let one = post(&client, &legacy, json!({"@type": "MessageCard", "text": "Hi"})).await;
    assert_eq!(
        (one.status(), one.text().await.expect("a text answer").as_str()),
        (StatusCode::OK, "1")
    );
    let no_text = post(&client, &legacy, json!({"@type": "MessageCard", "title": "T"})).await;
    assert_eq!(
        (no_text.status(), no_text.text().await.expect("a text answer").as_str()),
        (StatusCode::BAD_REQUEST, "Summary or Text is required.")
    );
    // A refused post counts against the window too: this third post spends it.
    let third = post(&client, &legacy, json!({"text": "more"})).await;
    assert_eq!(third.text().await.expect("a text answer"), "1");
    // Past the window the connector answers no 429 status but says so in its body.
    let throttled = post(&client, &legacy, json!({"text": "more"})).await;
    assert!(throttled.text().await.expect("a text answer").contains("HTTP error 429"));

    let posts: Value = client
        .get(format!("{}/posts", sandbox.info.admin_url))
        .send()
        .await
        .expect("the sandbox answers")
        .json()
        .await
        .expect("a JSON answer");
    let operations: Vec<&str> = posts["posts"]
        .as_array()
        .expect("an array")
        .iter()
        .map(|p| p["operation"].as_str().expect("a string"))
        .collect();
    assert_eq!(operations, ["post-adaptive-card", "post-message-card", "post-message-card"]);
}

#[tokio::test]
async fn every_shipped_manifest_gets_a_sandbox_with_working_credentials() {
    let shutdown = CancellationToken::new();
    let sandboxes = ghl_app_sandbox::start_builtin(
        "127.0.0.1",
        |_| AppSandboxConfig::default(),
        shutdown.clone(),
    )
    .await
    .expect("the sandboxes start");
    let apps: Vec<&str> = sandboxes.keys().map(String::as_str).collect();
    let mut shipped: Vec<&str> = ghl_apps::builtin::MANIFESTS.iter().map(|(app, _)| *app).collect();
    shipped.sort_unstable();
    assert_eq!(apps, shipped, "one sandbox per shipped manifest");
    let receiver = &sandboxes["webhook"].info;
    assert!(
        receiver.credentials["secret"].starts_with("whsec_"),
        "{:?}",
        receiver.credentials.keys()
    );
    assert_eq!(receiver.base_url, receiver.credentials["url"]);
    let your_app = &sandboxes["your-app"];
    let answer = reqwest::Client::new()
        .get(format!("{}/contacts?limit=1", your_app.info.base_url))
        .header("X-Api-Key", key(your_app))
        .send()
        .await
        .expect("the sandbox answers");
    assert_eq!(answer.status(), StatusCode::OK);
    shutdown.cancel();
}

#[tokio::test]
async fn the_webhook_receiver_verifies_signatures_and_counts_a_message_once_per_id() {
    let (sandbox, _stop) = start("webhook", AppSandboxConfig::default()).await;
    let client = reqwest::Client::new();
    let url = sandbox.info.credentials["url"].clone();
    let key = standard_webhooks::parse_secret(&sandbox.info.credentials["secret"]).expect("whsec_");
    let body = br#"{"event":"deal.won"}"#;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs() as i64;
    let send = |id: &'static str, key: ghl_apps::signatures::SigningKey| {
        let client = client.clone();
        let url = url.clone();
        async move {
            let mut request = client.post(&url).header("content-type", "application/json");
            for (name, value) in standard_webhooks::headers(&key, id, now, body) {
                request = request.header(name, value);
            }
            request.body(body.to_vec()).send().await.expect("the sandbox answers")
        }
    };
    assert_eq!(send("msg_1", key.clone()).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(send("msg_1", key.clone()).await.status(), StatusCode::NO_CONTENT, "a retry");
    let other = ghl_apps::signatures::SigningKey::from_bytes(b"another key".to_vec());
    let forged = send("msg_2", other).await;
    assert_eq!(forged.status(), StatusCode::UNAUTHORIZED);
    assert!(forged.text().await.expect("text").starts_with("signature refused"));
    let unsigned = client.post(&url).body(body.to_vec()).send().await.expect("answers");
    assert_eq!(unsigned.status(), StatusCode::UNAUTHORIZED);

    let listed: Value = client
        .get(format!("{}/deliveries", sandbox.info.admin_url))
        .send()
        .await
        .expect("the sandbox answers")
        .json()
        .await
        .expect("JSON");
    let repeats: Vec<bool> = listed["deliveries"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|delivery| delivery["repeat"] == true)
        .collect();
    assert_eq!(repeats, [false, true], "the retry is marked, the forged one not recorded");
    assert_eq!(stats(&client, &sandbox).await["effects"]["message.received"], 1);
}

/// Your App's manifest with its `since` and its email key written as search expressions
/// (docs/apps/manifest.md, "Expression parameters"), as Qobrix's and BQE CORE's are.
fn your_app_with_expressions() -> ghl_apps::Manifest {
    let text = ghl_apps::builtin::MANIFESTS
        .iter()
        .find(|(app, _)| *app == "your-app")
        .map(|(_, text)| *text)
        .expect("your-app");
    let text = text
        .replacen(
            "      since: query:updated_since\n",
            "      since: {param: query:search, template: 'updated_at >= \"{time:%Y-%m-%dT%H:%M:%S}\"'}\n",
            1,
        )
        .replacen("      email: {type: string}\n      external_id", "      search: {type: string}\n      email: {type: string}\n      external_id", 1);
    ghl_apps::load(&text).unwrap_or_else(|err| panic!("{err}"))
}

#[tokio::test]
async fn a_list_is_filtered_by_a_search_expression_and_a_malformed_one_is_refused() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let shutdown = CancellationToken::new();
    let sandbox = AppSandbox::start(
        your_app_with_expressions(),
        AppSandboxConfig::default(),
        listener,
        shutdown.clone(),
    )
    .await
    .expect("the sandbox starts");
    let _stop = shutdown.drop_guard();
    let client = reqwest::Client::new();
    let key = key(&sandbox);
    let contacts = format!("{}/contacts", sandbox.info.base_url);
    for (name, email) in [("Ada", "ada@x.test"), ("Grace", "grace@x.test")] {
        let made = keyed(
            &client,
            Method::POST,
            &contacts,
            &key,
            Some(json!({"name": name, "email": email})),
        )
        .await;
        assert_eq!(made.status(), StatusCode::CREATED);
    }
    let search = |expression: &str| {
        let url =
            reqwest::Url::parse_with_params(&contacts, [("search", expression)]).expect("a URL");
        client.get(url).header("X-Api-Key", &key).send()
    };
    let names = |body: &Value| -> Vec<String> {
        body["data"]
            .as_array()
            .expect("a list")
            .iter()
            .map(|contact| contact["name"].as_str().expect("a name").to_owned())
            .collect()
    };

    let found: Value =
        search("email == \"grace@x.test\"").await.expect("answered").json().await.expect("JSON");
    assert_eq!(names(&found), ["Grace"]);
    let since: Value = search("updated_at >= \"2000-01-01T00:00:00\" and name != 'Ada'")
        .await
        .expect("answered")
        .json()
        .await
        .expect("JSON");
    assert_eq!(names(&since), ["Grace"]);
    let later = chrono::Utc::now() + chrono::Duration::hours(1);
    let future = format!("updated_at >= \"{}\"", later.format("%Y-%m-%dT%H:%M:%S"));
    let none: Value = search(&future).await.expect("answered").json().await.expect("JSON");
    assert_eq!(names(&none), Vec::<String>::new(), "a zone-less time is UTC");

    let refused = search("email ~ 'x'").await.expect("answered");
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let body: Value = refused.json().await.expect("JSON");
    assert_eq!(body["error"]["code"], "invalid_expression");
    assert!(body["error"]["message"].as_str().expect("text").contains("expected one of"), "{body}");
}

/// An app whose poll writes times as milliseconds since the epoch (as Nozbe does).
const EPOCH_MILLIS_APP: &str = r#"
app: millis-app
title: Millis App
base_url: https://api.millis.example/v1
auth:
  kind: api_key
  headers:
    Authorization: "{api_key}"
operations:
  - name: create-note
    title: Create a note
    method: POST
    path: /notes
    body:
      fields:
        text: {type: string, required: true}
    write: {kind: not_repeatable}
  - name: update-note
    title: Update a note
    method: PUT
    path: /notes/{id}
    path_params:
      id: {type: string, required: true}
    body:
      fields:
        text: {type: string}
    write: {kind: idempotent}
  - name: list-notes
    title: List notes
    method: GET
    path: /notes
    query:
      "changed[min]": {type: integer}
      sortBy: {type: string}
      limit: {type: integer}
      offset: {type: integer}
    paging: {style: offset, offset: query:offset, limit: query:limit, max_limit: 100}
triggers:
  polls:
    - name: notes
      title: New or changed notes
      operation: list-notes
      modified: changed
      created: made
      time_format: epoch_millis
      since: "query:changed[min]"
      sort: {param: query:sortBy, value: changed}
"#;

#[tokio::test]
async fn times_are_stamped_and_filtered_in_the_poll_s_epoch_millis() {
    let manifest = ghl_apps::load(EPOCH_MILLIS_APP).expect("the manifest loads");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let shutdown = CancellationToken::new();
    let sandbox = AppSandbox::start(manifest, AppSandboxConfig::default(), listener, shutdown)
        .await
        .expect("the sandbox starts");
    let client = reqwest::Client::new();
    let key = sandbox.info.credentials["api_key"].clone();
    let notes = format!("{}/notes", sandbox.info.base_url);
    let send = |method: Method, url: String, body: Option<Value>| {
        let request = client.request(method, url).header("Authorization", &key);
        let request = match body {
            Some(body) => request.json(&body),
            None => request,
        };
        async move { request.send().await.expect("the sandbox answers") }
    };
    let before = chrono::Utc::now().timestamp_millis();
    let first: Value = send(Method::POST, notes.clone(), Some(json!({"text": "a"})))
        .await
        .json()
        .await
        .expect("a JSON answer");
    let made = first["made"].as_i64().expect("the creation time is a JSON integer");
    assert_eq!(first["changed"], first["made"], "{first}");
    assert!(made >= before && made <= chrono::Utc::now().timestamp_millis(), "{first}");

    let id = first["id"].as_str().expect("an id");
    let second: Value = send(Method::POST, notes.clone(), Some(json!({"text": "b"})))
        .await
        .json()
        .await
        .expect("a JSON answer");
    let updated: Value = send(Method::PUT, format!("{notes}/{id}"), Some(json!({"text": "a2"})))
        .await
        .json()
        .await
        .expect("a JSON answer");
    let changed = updated["changed"].as_i64().expect("the modified time is a JSON integer");
    assert_eq!(updated["made"], first["made"], "an update keeps the creation time");
    assert!(changed >= second["changed"].as_i64().expect("an integer"), "{updated} {second}");

    let since = |millis: i64| {
        let url = format!("{notes}?changed%5Bmin%5D={millis}&sortBy=changed");
        async move {
            let answer: Value = send(Method::GET, url, None).await.json().await.expect("JSON");
            answer
                .as_array()
                .expect("a bare array")
                .iter()
                .map(|note| {
                    let text = note["text"].as_str().expect("text").to_owned();
                    (note["changed"].as_i64().expect("an integer time"), text)
                })
                .collect::<Vec<_>>()
        }
    };
    let all = since(made).await;
    assert!(all.windows(2).all(|pair| pair[0].0 <= pair[1].0), "oldest change first: {all:?}");
    let mut texts: Vec<&str> = all.iter().map(|(_, text)| text.as_str()).collect();
    texts.sort_unstable();
    assert_eq!(texts, ["a2", "b"], "both changed at or after the first creation");
    assert!(since(changed).await.iter().any(|(_, text)| text == "a2"));
    assert!(since(changed + 1).await.is_empty(), "nothing changed after the last change");

    let refused =
        send(Method::GET, format!("{notes}?changed%5Bmin%5D=2026-01-01T00:00:00Z"), None).await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = refused.text().await.expect("a body");
    assert!(body.contains("changed[min]"), "the refusal names the parameter: {body}");
}
