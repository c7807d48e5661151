//! Nozbe (apps/nozbe/manifest.yaml) through the runtime against its sandbox: a bad token, a
//! missing field and Nozbe's own refusal each name the app, the operation and the field and
//! change nothing; creates whose answers are lost are found among their parent's children
//! (epoch-millisecond creation times), never made twice.

use std::collections::BTreeSet;

use futures_util::{StreamExt, TryStreamExt};
use ghl_app_runtime::{Checked, RuntimeError};
use ghl_app_sandbox::AppSandboxConfig;
use ghl_sandbox_kit::{FaultConfig, FaultRule};
use serde_json::{json, Value};

use crate::support::{admin, client, client_with, local, requests, start, unlimited};

fn tasks(sandbox: &ghl_app_sandbox::AppSandbox) -> Vec<serde_json::Map<String, Value>> {
    sandbox.shared.rest.as_ref().expect("REST").records("/tasks")
}

#[tokio::test]
async fn a_bad_token_is_a_reconnect_error_and_is_not_retried() {
    let sandbox = start("nozbe", AppSandboxConfig::default()).await;
    assert_eq!(client(&sandbox, local()).check().await.expect("works"), Checked::Works);
    let wrong = [("api_token".to_owned(), "not-the-token".to_owned())].into();
    let app = client_with(&sandbox, &wrong, local());
    let error = app.check().await.expect_err("refused");
    match &error {
        RuntimeError::Reconnect { app, operation, status: Some(401), .. } => {
            assert_eq!((app.as_str(), operation.as_str()), ("nozbe", "list-projects"));
        }
        other => panic!("reconnect expected: {other:?}"),
    }
    assert!(error.to_string().contains("reconnect nozbe"), "{error}");
    let create = app.request("create-task", json!({"name": "Ada", "project_id": "task_me"}));
    let error = app.call(&create.expect("valid"), Some("t")).await.expect_err("refused");
    assert!(matches!(error, RuntimeError::Reconnect { .. }), "{error:?}");
    assert_eq!(requests(&sandbox, "create-task").await["401"], 1, "a token is not retried");
    assert!(tasks(&sandbox).is_empty(), "nothing was made");
}

#[tokio::test]
async fn a_missing_field_is_refused_before_sending_naming_app_operation_and_field() {
    let sandbox = start("nozbe", AppSandboxConfig::default()).await;
    let app = client(&sandbox, local());
    let error = app.request("create-task", json!({"name": "Ada"})).expect_err("no project");
    assert_eq!(error.to_string(), "nozbe.create-task: project_id: is required");
    let error = app.request("complete-task", json!({"id": "x"})).expect_err("no end time");
    assert_eq!(error.to_string(), "nozbe.complete-task: ended_at: is required");
    let error = app
        .request("create-reminder", json!({"task_id": "x", "remind_at": "soon"}))
        .expect_err("a number");
    assert!(error.to_string().starts_with("nozbe.create-reminder: remind_at:"), "{error}");
    assert_eq!(admin(&sandbox, "stats").await["requests"], json!({}), "nothing was sent");
}

#[tokio::test]
async fn nozbe_s_own_refusal_is_invalid_in_its_words_and_changes_nothing() {
    let sandbox = start("nozbe", AppSandboxConfig::default()).await;
    let app = client(&sandbox, local());
    // The type is right (an integer); Nozbe's model says a time is 0 or more.
    let input = json!({"name": "Ada", "project_id": "task_me", "due_at": -1});
    let request = app.request("create-task", input).expect("an integer");
    let error = app.call(&request, Some("a")).await.expect_err("refused by Nozbe");
    match &error {
        RuntimeError::Invalid { app, operation, status: 400, message } => {
            assert_eq!((app.as_str(), operation.as_str()), ("nozbe", "create-task"));
            assert_eq!(message, "due_at must be 0 or more, not -1", "Nozbe's message");
        }
        other => panic!("invalid expected: {other:?}"),
    }
    assert!(error.to_string().starts_with("nozbe.create-task"), "{error}");
    assert_eq!(requests(&sandbox, "create-task").await["400"], 1, "not retried");
    assert!(tasks(&sandbox).is_empty(), "nothing was made");
}

#[tokio::test]
async fn creates_whose_answers_are_lost_are_found_among_the_project_s_tasks_not_made_twice() {
    let rule = FaultRule { reset_after: 0.3, internal_error: 0.05, ..FaultRule::default() };
    let config = AppSandboxConfig {
        faults: FaultConfig {
            default: FaultRule::default(),
            operations: [("create-task".to_owned(), rule)].into(),
        },
        rate_limits: Some(Vec::new()),
        seed: 7,
        ..AppSandboxConfig::default()
    };
    let sandbox = start("nozbe", config).await;
    let app = client(&sandbox, unlimited());
    let project = "PROJECTxxxxxxxx1";
    let made: Vec<Value> = futures_util::stream::iter(0..40)
        .map(|n| {
            let app = app.clone();
            async move {
                let input = json!({"name": format!("Call {n}"), "project_id": project});
                let request = app.request("create-task", input).expect("valid");
                app.call(&request, Some(&format!("task-{n}"))).await
            }
        })
        .buffer_unordered(4)
        .try_collect()
        .await
        .expect("every create succeeds or is found");
    let stored = tasks(&sandbox);
    assert_eq!(stored.len(), 40, "exactly one task per create");
    let names: BTreeSet<&str> =
        stored.iter().filter_map(|task| task.get("name").and_then(Value::as_str)).collect();
    assert_eq!(names.len(), 40, "no twins");
    let answered: BTreeSet<&str> = made.iter().filter_map(|task| task["id"].as_str()).collect();
    assert_eq!(answered.len(), 40, "each call answered its own task");
    let faults = admin(&sandbox, "stats").await["faults"].clone();
    assert!(faults["reset_after"].as_u64().unwrap_or(0) > 0, "answers were lost: {faults}");
}
