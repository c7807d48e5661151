//! The outgoing webhook (apps/webhook/manifest.yaml, `webhook.send`) through the runtime
//! against the sandbox's receiver: signed per Standard Webhooks (checked by the receiver
//! and again by the reference crate, `standardwebhooks`), `webhook-id` the caller's intent
//! on every attempt, retries under faults making one message per id, a gone receiver.

use std::collections::BTreeSet;

use ghl_app_runtime::RuntimeError;
use ghl_app_sandbox::AppSandboxConfig;
use ghl_sandbox_kit::{FaultConfig, FaultRule};
use serde_json::{json, Value};

use crate::support::{admin, admin_put, client, local, start, unlimited};

fn deliveries(listed: &Value) -> Vec<Value> {
    listed["deliveries"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn a_sent_message_is_signed_and_verifies_with_the_reference_verifier() {
    let sandbox = start("webhook", AppSandboxConfig::default()).await;
    let webhook = client(&sandbox, local());
    let body = json!({"event": "deal.won", "deal": {"id": "d1", "amount": 1200}});
    let request = webhook.request("send", body.clone()).expect("valid");
    assert_eq!(
        webhook.call(&request, Some("msg_run42_step3")).await.expect("delivered"),
        Value::Null
    );

    let delivered = deliveries(&admin(&sandbox, "deliveries").await);
    assert_eq!(delivered.len(), 1, "the receiver verified and recorded it");
    let delivery = &delivered[0];
    assert_eq!(delivery["webhook_id"], "msg_run42_step3", "webhook-id is the intent");
    assert_eq!(delivery["body"], body);
    let signature = delivery["signature"].as_str().expect("a signature");
    assert!(signature.starts_with("v1,"), "{signature}");

    // The reference implementation of the specification agrees.
    let secret = &sandbox.info.credentials["secret"];
    let verifier = standardwebhooks::Webhook::new(secret).expect("a whsec_ secret");
    let mut headers = http::HeaderMap::new();
    let header = |text: &str| http::HeaderValue::from_str(text).expect("a header value");
    headers.insert("webhook-id", header("msg_run42_step3"));
    headers.insert("webhook-timestamp", header(&delivery["timestamp"].to_string()));
    headers.insert("webhook-signature", header(signature));
    let raw = delivery["raw"].as_str().expect("the raw body");
    verifier.verify(raw.as_bytes(), &headers).expect("the reference verifier accepts it");

    let error = webhook.request("send", json!(["not", "an", "object"])).expect_err("an object");
    assert!(error.to_string().starts_with("webhook.send: "), "{error}");
}

#[tokio::test]
async fn under_faults_every_message_arrives_with_its_own_id_on_every_retry() {
    let rule = FaultRule { internal_error: 0.2, reset_after: 0.3, ..FaultRule::default() };
    let config = AppSandboxConfig {
        faults: FaultConfig {
            default: FaultRule::default(),
            operations: [("send".to_owned(), rule)].into(),
        },
        seed: 5,
        ..AppSandboxConfig::default()
    };
    let sandbox = start("webhook", config).await;
    let webhook = client(&sandbox, unlimited());
    let intents: Vec<String> = (0..20).map(|n| format!("msg_{n}")).collect();
    for intent in &intents {
        let request = webhook.request("send", json!({ "n": intent })).expect("valid");
        webhook.call(&request, Some(intent)).await.expect("delivered in the end");
    }
    let delivered = deliveries(&admin(&sandbox, "deliveries").await);
    let ids: BTreeSet<&str> = delivered.iter().filter_map(|d| d["webhook_id"].as_str()).collect();
    assert_eq!(ids, intents.iter().map(String::as_str).collect(), "one id per message, the intent");
    let repeats: Vec<&Value> = delivered.iter().filter(|d| d["repeat"] == true).collect();
    assert!(!repeats.is_empty(), "some answers were lost after delivery and the message resent");
    for repeat in repeats {
        let id = &repeat["webhook_id"];
        let same: Vec<&Value> = delivered.iter().filter(|d| d["webhook_id"] == *id).collect();
        assert!(same.iter().all(|d| d["body"] == same[0]["body"]), "a retry is the same message");
    }
    let stats = admin(&sandbox, "stats").await;
    assert_eq!(stats["effects"]["message.received"], 20, "a receiver deduplicating by id sees 20");
}

#[tokio::test]
async fn a_receiver_that_is_gone_is_a_gone_error() {
    let sandbox = start("webhook", AppSandboxConfig::default()).await;
    let webhook = client(&sandbox, local());
    let receiver =
        admin(&sandbox, "receivers").await["receivers"][0]["id"].as_str().expect("id").to_owned();
    admin_put(&sandbox, &format!("receivers/{receiver}"), json!({"refuse": 410})).await;
    let request = webhook.request("send", json!({"n": 1})).expect("valid");
    let error = webhook.call(&request, Some("m")).await.expect_err("gone");
    assert!(matches!(error, RuntimeError::Gone { status: 410, .. }), "{error:?}");

    let wrong = [
        ("url".to_owned(), sandbox.info.credentials["url"].clone()),
        ("secret".to_owned(), "whsec_d3Jvbmcgc2VjcmV0IGtleSBieXRlcw==".to_owned()),
    ]
    .into();
    admin_put(&sandbox, &format!("receivers/{receiver}"), json!({"refuse": null})).await;
    let forged = crate::support::client_with(&sandbox, &wrong, local());
    let error =
        forged.call(&forged.request("send", json!({"n": 2})).expect("valid"), Some("m2")).await;
    assert!(matches!(error, Err(RuntimeError::Reconnect { status: Some(401), .. })), "{error:?}");
}
