//! Qonto (apps/qonto/manifest.yaml) through the runtime against its sandbox: bad
//! credentials, a missing required field and Qonto's own validation each refused naming the
//! app, the operation and the field, with nothing changed; pages walked until
//! `meta.next_page` is null; the connection's bank account filled in; and a create whose
//! answers are lost never made twice although Qonto keeps no natural key unique.

use futures_util::{StreamExt, TryStreamExt};
use ghl_app_runtime::{Connection, Credentials, ManifestClient, RuntimeError};
use ghl_app_sandbox::AppSandboxConfig;
use ghl_sandbox_kit::{FaultConfig, FaultRule};
use serde_json::{json, Value};

use crate::support::{self, client, client_with, fast_retry, local, requests, start, unlimited};

fn clients(sandbox: &ghl_app_sandbox::AppSandbox) -> Vec<ghl_app_sandbox::rest::Record> {
    sandbox.shared.rest.as_ref().expect("REST").records("/v2/clients")
}

/// A client of the sandbox naming its main bank account as the connection's account.
fn with_account(sandbox: &ghl_app_sandbox::AppSandbox) -> ManifestClient {
    let manifest = std::sync::Arc::new(sandbox.shared.manifest.clone());
    let connection = Connection {
        base_url: Some(url::Url::parse(&sandbox.info.base_url).expect("the sandbox's URL")),
        account: sandbox.info.account.clone(),
        credentials: Credentials::values(
            sandbox.info.credentials.iter().map(|(name, value)| (name.as_str(), value.as_str())),
        ),
    };
    ManifestClient::new(manifest, connection, local(), fast_retry()).expect("a client")
}

#[tokio::test]
async fn a_wrong_secret_key_is_a_reconnect_error_in_qontos_words_and_changes_nothing() {
    let sandbox = start("qonto", AppSandboxConfig::default()).await;
    let mut wrong = sandbox.info.credentials.clone();
    wrong.insert("secret_key".into(), "not-the-secret".into());
    let app = client_with(&sandbox, &wrong, local());
    let error = app.check().await.expect_err("refused");
    match &error {
        RuntimeError::Reconnect { app, operation, status: Some(401), message } => {
            assert_eq!((app.as_str(), operation.as_str()), ("qonto", "get-organization"));
            assert_eq!(message, "The credentials are not valid", "errors[0].detail");
        }
        other => panic!("reconnect expected: {other:?}"),
    }
    assert!(error.to_string().contains("reconnect qonto"), "{error}");
    assert!(!error.to_string().contains("not-the-secret"), "no secret shown: {error}");
    let create = app
        .request("create-client", json!({"kind": "company", "name": "Acme"}))
        .expect("valid input");
    let error = app.call(&create, Some("c1")).await.expect_err("refused");
    assert!(
        matches!(&error, RuntimeError::Reconnect { operation, .. } if operation == "create-client")
    );
    assert!(clients(&sandbox).is_empty(), "nothing was made");
    assert_eq!(requests(&sandbox, "create-client").await["401"], 1, "a bad key is not retried");
}

#[tokio::test]
async fn a_missing_kind_is_refused_before_anything_is_sent() {
    let sandbox = start("qonto", AppSandboxConfig::default()).await;
    let app = client(&sandbox, local());
    let error = app.request("create-client", json!({"name": "Acme"})).expect_err("no kind");
    assert_eq!(error.to_string(), "qonto.create-client: kind: is required");
    let error = app
        .request("update-transaction", json!({"id": "t-1"}))
        .expect_err("attachment_required is the body");
    assert_eq!(error.to_string(), "qonto.update-transaction: attachment_required: is required");
    assert_eq!(support::admin(&sandbox, "stats").await["requests"], json!({}), "nothing was sent");
}

#[tokio::test]
async fn qontos_own_validation_is_invalid_naming_the_field_and_changes_nothing() {
    let sandbox = start("qonto", AppSandboxConfig::default()).await;
    let app = client(&sandbox, local());
    for (input, field) in [
        (json!({"kind": "company", "email": "a@x.test"}), "name"),
        (json!({"kind": "individual", "first_name": "Ada"}), "last_name"),
    ] {
        let request = app.request("create-client", input).expect("valid for the manifest");
        let error = app.call(&request, Some(field)).await.expect_err("refused by Qonto");
        match &error {
            RuntimeError::Invalid { app, operation, status: 422, message } => {
                assert_eq!((app.as_str(), operation.as_str()), ("qonto", "create-client"));
                assert!(message.starts_with(&format!("{field} can't be blank")), "{message}");
            }
            other => panic!("invalid expected: {other:?}"),
        }
        assert!(error.to_string().starts_with("qonto.create-client: refused as invalid (422)"));
    }
    assert!(clients(&sandbox).is_empty(), "nothing was made");
    let error = app
        .call(&app.request("list-transactions", json!({})).expect("valid"), None)
        .await
        .expect_err("no bank account");
    assert!(
        matches!(&error, RuntimeError::Invalid { status: 400, message, .. } if message.contains("bank_account_id")),
        "{error:?}"
    );
}

#[tokio::test]
async fn pages_are_walked_until_next_page_is_null_and_the_account_names_the_bank_account() {
    let sandbox = start("qonto", AppSandboxConfig::default()).await;
    let app = with_account(&sandbox);
    for n in 0..5 {
        let input = json!({"kind": "company", "name": format!("Acme {n}")});
        app.call(&app.request("create-client", input).expect("valid"), Some(&format!("c{n}")))
            .await
            .expect("made");
    }
    let before = requests(&sandbox, "list-clients").await.get("200").copied().unwrap_or(0);
    let listed: Vec<Value> =
        app.records("list-clients", json!({"per_page": 2})).try_collect().await.expect("pages");
    assert_eq!(listed.len(), 5);
    let after = requests(&sandbox, "list-clients").await["200"];
    assert_eq!(after - before, 3, "pages of 2, 2 and 1: next_page 2, 3, then null");

    let transactions: Vec<Value> =
        app.records("list-transactions", json!({})).try_collect().await.expect("the account's");
    let account = sandbox.info.account.clone().expect("a bank account");
    assert!(!transactions.is_empty());
    assert!(transactions.iter().all(|t| t["bank_account_id"] == account.as_str()));
}

#[tokio::test]
async fn creates_whose_answers_are_lost_are_found_by_email_and_never_made_twice() {
    let rule = FaultRule { reset_after: 0.3, internal_error: 0.1, ..FaultRule::default() };
    let config = AppSandboxConfig {
        faults: FaultConfig {
            default: FaultRule::default(),
            operations: [("create-client".to_owned(), rule)].into(),
        },
        rate_limits: Some(Vec::new()),
        seed: 7,
        ..AppSandboxConfig::default()
    };
    let sandbox = start("qonto", config).await;
    let app = client(&sandbox, unlimited());
    let made: Vec<Value> = futures_util::stream::iter(0..40)
        .map(|n| {
            let app = app.clone();
            async move {
                let input = json!({
                    "kind": "company", "name": format!("Client {n}"),
                    "email": format!("c{n}@x.test"),
                });
                let request = app.request("create-client", input).expect("valid");
                app.call(&request, Some(&format!("create-{n}"))).await
            }
        })
        .buffer_unordered(4)
        .try_collect()
        .await
        .expect("every create succeeds or is found");
    let records = clients(&sandbox);
    assert_eq!(records.len(), 40, "exactly one client per create");
    let answered: std::collections::BTreeSet<&str> =
        made.iter().filter_map(|r| r["id"].as_str()).collect();
    assert_eq!(answered.len(), 40, "each call answered its own client");
    let faults = support::admin(&sandbox, "stats").await["faults"].clone();
    assert!(faults["reset_after"].as_u64().unwrap_or(0) > 0, "answers were lost: {faults}");
}
