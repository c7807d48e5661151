//! Qobrix (apps/qobrix/manifest.yaml) through the runtime against its sandbox: its two
//! headers, its errors (`{"errors": [...]}`) naming the app, the operation and the field, a
//! create under faults found again by a search expression (Qobrix has no uniqueness rule), a
//! comment found among its contact's, and soft deletes.

use std::collections::BTreeSet;

use futures_util::{StreamExt, TryStreamExt};
use ghl_app_runtime::{Checked, RuntimeError};
use ghl_app_sandbox::AppSandboxConfig;
use ghl_sandbox_kit::{FaultConfig, FaultRule};
use serde_json::{json, Value};

use crate::support::{admin, client, client_with, local, requests, start, unlimited};

#[tokio::test]
async fn qobrix_creates_reads_updates_lists_comments_and_soft_deletes() {
    let sandbox = start("qobrix", AppSandboxConfig::default()).await;
    let app = client(&sandbox, local());
    assert_eq!(app.check().await.expect("the connection works"), Checked::Works);

    let contact = app
        .call(
            &app.request("create-contact", json!({"first_name": "Ada", "email": "ada@x.test"}))
                .expect("valid"),
            Some("c1"),
        )
        .await
        .expect("created");
    let id = contact["id"].as_str().expect("an id").to_owned();
    assert_eq!(contact["ref"], 1, "Qobrix numbers its records");
    let updated = app
        .call(
            &app.request("update-contact", json!({"id": id, "city": "Limassol"})).expect("valid"),
            Some("u1"),
        )
        .await
        .expect("updated");
    assert_eq!(
        (updated["city"].as_str(), updated["first_name"].as_str()),
        (Some("Limassol"), Some("Ada"))
    );

    let comment = app
        .call(
            &app.request(
                "create-contact-comment",
                json!({"id": id, "content": "Sea view", "related_model": "Contacts", "related_id": id}),
            )
            .expect("valid"),
            Some("n1"),
        )
        .await
        .expect("a comment, answered unwrapped");
    assert_eq!(comment["content"], "Sea view");
    let comments: Vec<Value> = app
        .records("list-contact-comments", json!({"id": id}))
        .try_collect()
        .await
        .expect("the contact's comments");
    assert_eq!(comments.len(), 1);

    let found: Vec<Value> = app
        .records(
            "list-contacts",
            json!({"search": "email == \"ada@x.test\" and city == 'Limassol'"}),
        )
        .try_collect()
        .await
        .expect("searched");
    assert_eq!(found.len(), 1);

    let deleted = app
        .call(&app.request("delete-contact", json!({"id": id})).expect("valid"), Some("d1"))
        .await
        .expect("deleted");
    assert_eq!(deleted, Value::Null);
    let gone = app.call(&app.request("get-contact", json!({"id": id})).expect("valid"), None).await;
    match gone {
        Err(RuntimeError::NotFound { app, operation, status: 404, message }) => {
            assert_eq!((app.as_str(), operation.as_str()), ("qobrix", "get-contact"));
            assert!(message.contains(&id), "Qobrix's words at /errors/0: {message}");
        }
        other => panic!("not found expected: {other:?}"),
    }
    let trashed = app
        .call(&app.request("get-contact", json!({"id": id, "trashed": true})).expect("valid"), None)
        .await
        .expect("a soft-deleted contact is still there");
    assert!(trashed["trashed"].is_string(), "{trashed}");

    let stats = admin(&sandbox, "stats").await;
    for (operation, statuses) in stats["requests"].as_object().expect("requests by operation") {
        for status in statuses.as_object().expect("by status").keys() {
            let expected =
                status.starts_with('2') || (operation == "get-contact" && status == "404");
            assert!(expected, "{operation} answered {status}: {stats}");
        }
    }
}

#[tokio::test]
async fn qobrix_refusals_name_the_app_the_operation_and_the_field_and_change_nothing() {
    let sandbox = start("qobrix", AppSandboxConfig::default()).await;
    let app = client(&sandbox, local());

    // A required field missing: refused before anything is sent.
    let error = app
        .request("create-task", json!({"subject": "Call back", "status": "new"}))
        .expect_err("no priorities");
    assert_eq!(error.to_string(), "qobrix.create-task: priorities: is required");
    let error = app
        .request(
            "create-task",
            json!({"subject": "Call back", "status": "new", "priorities": "urgent"}),
        )
        .expect_err("not one of the values");
    assert!(error.to_string().starts_with("qobrix.create-task: priorities:"), "{error}");
    assert_eq!(admin(&sandbox, "stats").await["requests"], json!({}), "nothing was sent");

    // Qobrix's own refusal (400 {"errors": [...]}): a search it cannot parse.
    let request = app.request("list-tasks", json!({"search": "subject ~ 'x'"})).expect("a string");
    let error = app.call(&request, None).await.expect_err("refused by Qobrix");
    match &error {
        RuntimeError::Invalid { app, operation, status: 400, message } => {
            assert_eq!((app.as_str(), operation.as_str()), ("qobrix", "list-tasks"));
            assert!(message.starts_with("search:"), "the field, in Qobrix's words: {message}");
        }
        other => panic!("invalid expected: {other:?}"),
    }
    assert!(!ghl_client::Error::from(error).is_retryable());

    // A comment under a contact that does not exist: Qobrix's 404, nothing made.
    let request = app
        .request(
            "create-contact-comment",
            json!({"id": "no-such-contact", "content": "x", "related_model": "Contacts", "related_id": "no-such-contact"}),
        )
        .expect("valid");
    let error = app.call(&request, Some("n1")).await.expect_err("no parent");
    assert!(matches!(error, RuntimeError::NotFound { status: 404, .. }), "{error:?}");

    // A wrong key, and a revoked one (Qobrix's keys do not expire; a deleted one is refused
    // the same way): reconnect, not retried.
    let mut wrong = sandbox.info.credentials.clone();
    wrong.insert("api_key".into(), "sk_revoked".into());
    let revoked = client_with(&sandbox, &wrong, local());
    let error = revoked.check().await.expect_err("refused");
    match &error {
        RuntimeError::Reconnect { app, operation, status: Some(401), message } => {
            assert_eq!((app.as_str(), operation.as_str()), ("qobrix", "list-contacts"));
            assert_eq!(message, "The credentials are not valid", "Qobrix's /errors/0");
        }
        other => panic!("reconnect expected: {other:?}"),
    }
    assert!(matches!(ghl_client::Error::from(error), ghl_client::Error::ReconnectNeeded { .. }));
    assert_eq!(requests(&sandbox, "list-contacts").await["401"], 1, "a key is not retried");
    let records = sandbox.shared.rest.as_ref().expect("REST");
    assert!(records.records("/tasks").is_empty() && records.records("/contacts").is_empty());
    assert_eq!(admin(&sandbox, "stats").await["effects"], json!({}), "nothing changed");
}

#[tokio::test]
async fn qobrix_creates_under_faults_are_found_by_a_search_expression_never_twinned() {
    let rule = FaultRule {
        reset: 0.04,
        internal_error: 0.04,
        unavailable: 0.04,
        reset_after: 0.1,
        ..FaultRule::default()
    };
    let config = AppSandboxConfig {
        faults: FaultConfig {
            default: FaultRule::default(),
            operations: [
                ("create-contact".to_owned(), rule.clone()),
                ("create-contact-comment".to_owned(), rule),
            ]
            .into(),
        },
        rate_limits: Some(Vec::new()),
        seed: 7,
        ..AppSandboxConfig::default()
    };
    let sandbox = start("qobrix", config).await;
    let app = client(&sandbox, unlimited());
    let made: Vec<Value> = futures_util::stream::iter(0..60)
        .map(|n| {
            let app = app.clone();
            async move {
                let input = json!({"first_name": format!("Contact {n}"), "email": format!("c\"{n}@x.test")});
                let request = app.request("create-contact", input).expect("valid");
                app.call(&request, Some(&format!("create-{n}"))).await
            }
        })
        .buffer_unordered(6)
        .try_collect()
        .await
        .expect("every create succeeds or is found");
    let rest = sandbox.shared.rest.as_ref().expect("REST");
    let records = rest.records("/contacts");
    assert_eq!(records.len(), 60, "exactly one contact per create");
    let answered: BTreeSet<&str> = made.iter().filter_map(|r| r["id"].as_str()).collect();
    let stored: BTreeSet<&str> =
        records.iter().filter_map(|r| r.get("id").and_then(Value::as_str)).collect();
    assert_eq!(answered, stored, "each call answered its own record");

    let parent = made[0]["id"].as_str().expect("an id").to_owned();
    for n in 0..20 {
        let input = json!({"id": parent, "content": format!("note {n}"), "related_model": "Contacts", "related_id": parent});
        let request = app.request("create-contact-comment", input).expect("valid");
        app.call(&request, Some(&format!("note-{n}"))).await.expect("made or found");
    }
    assert_eq!(rest.records(&format!("/contacts/{parent}/comments")).len(), 20, "no twin comment");
    let faults = admin(&sandbox, "stats").await["faults"].clone();
    assert!(faults["reset_after"].as_u64().unwrap_or(0) > 0, "some answers were lost: {faults}");
    let lookups = requests(&sandbox, "list-contacts").await;
    assert!(
        lookups.get("200").copied().unwrap_or(0) > 0,
        "lost creates were looked up: {lookups:?}"
    );
}
