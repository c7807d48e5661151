//! Your App (apps/your-app/manifest.yaml) through the runtime against its sandbox: every
//! operation, paging, local refusals, the app's own errors, Retry-After, and exactly one
//! record per create under injected faults.

use std::collections::BTreeSet;

use futures_util::{StreamExt, TryStreamExt};
use ghl_app_runtime::{Checked, RuntimeError};
use ghl_app_sandbox::AppSandboxConfig;
use ghl_sandbox_kit::{FaultConfig, FaultRule, Window};
use serde_json::{json, Value};

use crate::support::{self, admin, client, client_with, local, requests, start, unlimited};

#[tokio::test]
async fn creates_reads_updates_lists_in_pages_and_deletes() {
    let sandbox = start("your-app", AppSandboxConfig::default()).await;
    let app = client(&sandbox, local());
    assert_eq!(app.check().await.expect("the connection works"), Checked::Works);

    let mut ids = Vec::new();
    for n in 0..5 {
        let request = app
            .request(
                "create-contact",
                json!({"name": format!("Ada {n}"), "email": format!("ada{n}@x.test")}),
            )
            .expect("valid");
        let created = app.call(&request, Some(&format!("intent-{n}"))).await.expect("created");
        assert_eq!(created["email"], format!("ada{n}@x.test"), "the record at response.record");
        ids.push(created["id"].as_str().expect("an id").to_owned());
    }
    let got = app
        .call(&app.request("get-contact", json!({"id": ids[0]})).expect("valid"), None)
        .await
        .expect("read");
    assert_eq!(got["name"], "Ada 0");
    let updated = app
        .call(
            &app.request("update-contact", json!({"id": ids[0], "company": "Acme"}))
                .expect("valid"),
            Some("u1"),
        )
        .await
        .expect("updated");
    assert_eq!(
        (updated["company"].as_str(), updated["name"].as_str()),
        (Some("Acme"), Some("Ada 0"))
    );

    let before = requests(&sandbox, "list-contacts").await.get("200").copied().unwrap_or(0);
    let paged: Vec<Value> =
        app.records("list-contacts", json!({"limit": 2})).try_collect().await.expect("every page");
    let listed: Vec<&str> = paged.iter().filter_map(|record| record["id"].as_str()).collect();
    assert_eq!(listed, ids.iter().map(String::as_str).collect::<Vec<_>>(), "5 records in order");
    let after = requests(&sandbox, "list-contacts").await.get("200").copied().unwrap_or(0);
    assert_eq!(after - before, 3, "pages of 2, 2 and 1 (has_more says when to stop)");
    let whole: Vec<Value> =
        app.records("list-contacts", json!({})).try_collect().await.expect("one page");
    assert_eq!(whole.len(), 5);
    assert_eq!(
        requests(&sandbox, "list-contacts").await["200"] - after,
        1,
        "the largest page: one request"
    );

    // Every request the runtime built from the manifest was accepted by the sandbox, which
    // checks paths, methods, the key, body fields and types, and paging parameters.
    let stats = admin(&sandbox, "stats").await;
    for (operation, statuses) in stats["requests"].as_object().expect("requests by operation") {
        for status in statuses.as_object().expect("by status").keys() {
            assert!(status.starts_with('2'), "{operation} answered {status}: {stats}");
        }
    }

    let deleted = app
        .call(&app.request("delete-contact", json!({"id": ids[4]})).expect("valid"), Some("d1"))
        .await
        .expect("deleted");
    assert_eq!(deleted, Value::Null, "format: empty");
    let gone =
        app.call(&app.request("get-contact", json!({"id": ids[4]})).expect("valid"), None).await;
    match gone {
        Err(RuntimeError::NotFound { app, operation, status: 404, message }) => {
            assert_eq!((app.as_str(), operation.as_str()), ("your-app", "get-contact"));
            assert!(message.contains(&ids[4]), "the app's words: {message}");
        }
        other => panic!("not found expected: {other:?}"),
    }
}

#[tokio::test]
async fn a_missing_required_field_is_refused_locally_naming_app_operation_and_field() {
    let sandbox = start("your-app", AppSandboxConfig::default()).await;
    let app = client(&sandbox, local());
    let error = app.request("create-contact", json!({"email": "a@x.test"})).expect_err("refused");
    assert!(
        matches!(&error, RuntimeError::Input { app, operation, field, .. }
            if app == "your-app" && operation == "create-contact" && field == "name"),
        "{error:?}"
    );
    assert_eq!(error.to_string(), "your-app.create-contact: name: is required");
    let error = app.request("get-contact", json!({})).expect_err("no id");
    assert_eq!(error.to_string(), "your-app.get-contact: id: is required");
    let error =
        app.request("update-contact", json!({"id": "x", "tags": "vip"})).expect_err("a list");
    assert!(
        error.to_string().starts_with("your-app.update-contact: tags: must be a list"),
        "{error}"
    );
    let ghl: ghl_client::Error = error.into();
    assert!(!ghl.is_retryable() && ghl.to_string().contains("update-contact: tags"), "{ghl}");
    assert_eq!(support::admin(&sandbox, "stats").await["requests"], json!({}), "nothing was sent");
}

#[tokio::test]
async fn a_bad_key_is_a_reconnect_error_in_the_apps_words() {
    let sandbox = start("your-app", AppSandboxConfig::default()).await;
    let wrong = [("api_key".to_owned(), "sk_not_the_key".to_owned())].into();
    let app = client_with(&sandbox, &wrong, local());
    let error = app.check().await.expect_err("refused");
    match &error {
        RuntimeError::Reconnect { app, operation, status: Some(401), message } => {
            assert_eq!((app.as_str(), operation.as_str()), ("your-app", "list-contacts"));
            assert_eq!(message, "The credentials are not valid", "the app's errors.message");
        }
        other => panic!("reconnect expected: {other:?}"),
    }
    assert!(error.to_string().contains("reconnect your-app"), "{error}");
    let ghl: ghl_client::Error = error.into();
    assert!(matches!(ghl, ghl_client::Error::ReconnectNeeded { .. }), "{ghl:?}");
    assert_eq!(requests(&sandbox, "list-contacts").await["401"], 1, "a key is not retried");

    let read_only = client_with(&sandbox, &sandbox.info.read_only_credentials, local());
    let create = read_only.request("create-contact", json!({"name": "Ada"})).expect("valid");
    let error = read_only.call(&create, Some("i")).await.expect_err("a read-only key");
    assert!(matches!(error, RuntimeError::Forbidden { status: 403, .. }), "{error:?}");
}

#[tokio::test]
async fn the_apps_422_is_invalid_with_its_message_and_a_409_names_the_existing_record() {
    let sandbox = start("your-app", AppSandboxConfig::default()).await;
    let app = client(&sandbox, local());
    // The type is right (an integer), the value is not one the app takes.
    let request = app.request("list-contacts", json!({"page": -1})).expect("an integer");
    let error = app.call(&request, None).await.expect_err("refused by the app");
    match &error {
        RuntimeError::Invalid { status: 422, message, .. } => {
            assert_eq!(message, "page must be a whole number, not `-1`");
        }
        other => panic!("invalid expected: {other:?}"),
    }
    let ghl: ghl_client::Error = error.into();
    assert_eq!(ghl.status(), Some(422));

    let ada = json!({"name": "Ada", "email": "ada@x.test"});
    let first = app
        .call(&app.request("create-contact", ada.clone()).expect("valid"), Some("a"))
        .await
        .expect("made");
    let twin = app.call(&app.request("create-contact", ada).expect("valid"), Some("b")).await;
    match twin {
        Err(RuntimeError::Duplicate { status: 409, existing_id: Some(id), .. }) => {
            assert_eq!(id, first["id"])
        }
        other => panic!("duplicate expected: {other:?}"),
    }
}

#[tokio::test]
async fn a_429_is_retried_after_its_retry_after() {
    // Two requests a second at the sandbox; the runtime's own budget set aside so that the
    // app's 429s are what paces it.
    let config = AppSandboxConfig {
        rate_limits: Some(vec![Window { requests: 2, per_ms: 1_000 }]),
        ..AppSandboxConfig::default()
    };
    let sandbox = start("your-app", config).await;
    let app = client(&sandbox, unlimited());
    for _ in 0..5 {
        let request = app.request("list-contacts", json!({"limit": 1})).expect("valid");
        app.call(&request, None).await.expect("answered after the wait");
    }
    let limited = admin(&sandbox, "stats").await["rateLimited"].as_u64().expect("a count");
    // Waiting as told, each request beyond the first two meets at most one 429; retrying
    // sooner (the backoff alone is milliseconds) would meet many.
    assert!((1..=3).contains(&limited), "429s seen: {limited}");
}

#[tokio::test]
async fn a_hundred_creates_under_twenty_percent_faults_make_exactly_a_hundred_records() {
    let rule = FaultRule {
        reset: 0.04,
        internal_error: 0.04,
        unavailable: 0.04,
        reset_after: 0.08,
        ..FaultRule::default()
    };
    let config = AppSandboxConfig {
        faults: FaultConfig {
            default: FaultRule::default(),
            operations: [("create-contact".to_owned(), rule)].into(),
        },
        rate_limits: Some(Vec::new()),
        seed: 11,
        ..AppSandboxConfig::default()
    };
    let sandbox = start("your-app", config).await;
    let app = client(&sandbox, unlimited());
    let made: Vec<Value> = futures_util::stream::iter(0..100)
        .map(|n| {
            let app = app.clone();
            async move {
                let input =
                    json!({"name": format!("Contact {n}"), "email": format!("c{n}@x.test")});
                let request = app.request("create-contact", input).expect("valid");
                app.call(&request, Some(&format!("create-{n}"))).await
            }
        })
        .buffer_unordered(8)
        .try_collect()
        .await
        .expect("every create succeeds or is found");
    let records = sandbox.shared.rest.as_ref().expect("REST").records("/contacts");
    assert_eq!(records.len(), 100, "exactly one record per create");
    let emails: BTreeSet<&str> =
        records.iter().filter_map(|r| r.get("email").and_then(Value::as_str)).collect();
    assert_eq!(emails.len(), 100, "no twins");
    let answered: BTreeSet<&str> = made.iter().filter_map(|r| r["id"].as_str()).collect();
    let stored: BTreeSet<&str> =
        records.iter().filter_map(|r| r.get("id").and_then(Value::as_str)).collect();
    assert_eq!(answered, stored, "each call answered its own record");
    let faults = admin(&sandbox, "stats").await["faults"].clone();
    assert!(
        faults["reset_after"].as_u64().unwrap_or(0) > 0,
        "some answers were lost after the effect: {faults}"
    );
}
