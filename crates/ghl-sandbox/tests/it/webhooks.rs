//! Webhook delivery: signed with both schemes (checked with the openssl CLI, not the
//! sandbox's code), retried only on 429 unless told otherwise, sometimes duplicated.

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::support::{TestSandbox, TIMEOUT};

struct Delivery {
    headers: HeaderMap,
    body: Bytes,
}

/// A webhook receiver on 127.0.0.1 that answers `statuses` in turn (then the last one forever).
async fn receiver(statuses: Vec<u16>) -> (url::Url, mpsc::UnboundedReceiver<Delivery>) {
    let (sender, deliveries) = mpsc::unbounded_channel();
    let calls = Arc::new(AtomicUsize::new(0));
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let call = calls.fetch_add(1, Ordering::SeqCst);
            let status = statuses.get(call).or(statuses.last()).copied().unwrap_or(200);
            let _ = sender.send(Delivery { headers, body });
            async move { StatusCode::from_u16(status).unwrap_or(StatusCode::OK) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = url::Url::parse(&format!("http://{}/hook", listener.local_addr().expect("addr")))
        .expect("url");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, deliveries)
}

async fn next(deliveries: &mut mpsc::UnboundedReceiver<Delivery>) -> Delivery {
    tokio::time::timeout(TIMEOUT, deliveries.recv())
        .await
        .expect("a delivery in time")
        .expect("receiver open")
}

async fn quiet(deliveries: &mut mpsc::UnboundedReceiver<Delivery>, wait: Duration) -> bool {
    tokio::time::timeout(wait, deliveries.recv()).await.is_err()
}

/// Verifies with `openssl`: RSA-SHA256 with the PEM key, Ed25519 with the SPKI key.
fn openssl_verifies(
    dir: &std::path::Path,
    body: &[u8],
    rsa_pem: &str,
    ed25519_spki: &str,
    headers: &HeaderMap,
) -> (bool, bool) {
    let write = |name: &str, bytes: &[u8]| {
        let path = dir.join(name);
        std::fs::write(&path, bytes).expect("write");
        path
    };
    let decode = |name: &str| {
        STANDARD.decode(headers[name].to_str().expect("header")).expect("base64 signature")
    };
    let body_file = write("body.json", body);
    let rsa_key = write("rsa.pem", rsa_pem.as_bytes());
    let rsa_sig = write("rsa.sig", &decode("x-wh-signature"));
    let ed_key = write(
        "ed.pem",
        format!("-----BEGIN PUBLIC KEY-----\n{ed25519_spki}\n-----END PUBLIC KEY-----\n")
            .as_bytes(),
    );
    let ed_sig = write("ed.sig", &decode("x-ghl-signature"));
    let rsa = Command::new("openssl")
        .args(["dgst", "-sha256", "-verify"])
        .arg(&rsa_key)
        .arg("-signature")
        .arg(&rsa_sig)
        .arg(&body_file)
        .output()
        .expect("openssl runs");
    let ed = Command::new("openssl")
        .args(["pkeyutl", "-verify", "-pubin", "-rawin", "-inkey"])
        .arg(&ed_key)
        .arg("-in")
        .arg(&body_file)
        .arg("-sigfile")
        .arg(&ed_sig)
        .output()
        .expect("openssl runs");
    (rsa.status.success(), ed.status.success())
}

#[tokio::test]
async fn events_are_signed_with_both_schemes_over_the_bytes_sent() {
    let (url, mut deliveries) = receiver(vec![200]).await;
    let sandbox = TestSandbox::start_with(|config| config.webhooks.urls = vec![url]).await;
    let created = sandbox
        .create_contact(json!({ "firstName": "Signed", "email": "signed@example.com" }))
        .await;
    let delivery = next(&mut deliveries).await;
    let event: Value = serde_json::from_slice(&delivery.body).expect("json body");
    assert_eq!(event["type"], "ContactCreate");
    assert_eq!(event["id"], created["id"]);
    assert_eq!(event["email"], "signed@example.com");
    assert_eq!(delivery.body, serde_json::to_vec(&event).expect("compact"), "compact JSON is sent");

    let keys = &sandbox.info.webhook_public_keys;
    let dir = tempfile::tempdir().expect("tempdir");
    assert_eq!(
        openssl_verifies(
            dir.path(),
            &delivery.body,
            &keys.rsa_pem,
            &keys.ed25519,
            &delivery.headers
        ),
        (true, true)
    );
    let mut tampered = delivery.body.to_vec();
    tampered[10] ^= 1;
    assert_eq!(
        openssl_verifies(dir.path(), &tampered, &keys.rsa_pem, &keys.ed25519, &delivery.headers),
        (false, false)
    );
}

#[tokio::test]
async fn every_documented_event_type_is_emitted() {
    let (url, mut deliveries) = receiver(vec![200]).await;
    let sandbox = TestSandbox::start_with(|config| config.webhooks.urls = vec![url]).await;
    let contact = sandbox
        .create_contact(json!({ "firstName": "All", "email": "all@example.com" }))
        .await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let c = contact.as_str();
    sandbox
        .call(
            "update-contact",
            &[("contactId", c)],
            Some(json!({ "lastName": "Events", "dnd": true })),
        )
        .await;
    sandbox.call("add-tags", &[("contactId", c)], Some(json!({ "tags": ["t"] }))).await;
    let note =
        sandbox.call("create-note", &[("contactId", c)], Some(json!({ "body": "n" }))).await.body
            ["note"]["id"]
            .as_str()
            .expect("note")
            .to_owned();
    sandbox
        .call("update-note", &[("contactId", c), ("id", &note)], Some(json!({ "body": "m" })))
        .await;
    sandbox.call("delete-note", &[("contactId", c), ("id", &note)], None).await;
    let task = sandbox
        .call(
            "create-task",
            &[("contactId", c)],
            Some(json!({ "title": "t", "dueDate": "2026-12-01T00:00:00Z", "completed": false })),
        )
        .await
        .body["task"]["id"]
        .as_str()
        .expect("task")
        .to_owned();
    sandbox
        .call(
            "update-task-completed",
            &[("contactId", c), ("taskId", &task)],
            Some(json!({ "completed": true })),
        )
        .await;
    sandbox.call("delete-task", &[("contactId", c), ("taskId", &task)], None).await;
    let location = sandbox.location().to_owned();
    let event = sandbox
        .call("create-appointment", &[], Some(json!({ "calendarId": sandbox.info.calendar_id, "locationId": location, "contactId": c, "startTime": "2026-12-01T10:00:00Z" })))
        .await
        .body["id"]
        .as_str()
        .expect("event")
        .to_owned();
    sandbox
        .call("edit-appointment", &[("eventId", &event)], Some(json!({ "title": "moved" })))
        .await;
    sandbox.call("delete-event", &[("eventId", &event)], None).await;
    sandbox.call("delete-contact", &[("contactId", c)], None).await;

    let mut seen = std::collections::BTreeSet::new();
    while seen.len() < ghl_types::EventType::ALL.len() {
        let delivery = next(&mut deliveries).await;
        let event: Value = serde_json::from_slice(&delivery.body).expect("json");
        assert_eq!(event["locationId"], location);
        assert!(event["webhookId"].is_string() && event["timestamp"].is_string());
        seen.insert(event["type"].as_str().expect("type").to_owned());
    }
    let all: std::collections::BTreeSet<String> =
        ghl_types::EventType::ALL.iter().map(|t| t.as_str().to_owned()).collect();
    assert_eq!(seen, all);
}

#[tokio::test]
async fn delivery_is_retried_on_429_only_by_default() {
    let (url, mut deliveries) = receiver(vec![429, 200, 500]).await;
    let sandbox = TestSandbox::start_with(|config| {
        config.webhooks.urls = vec![url];
        config.webhooks.retry_delay = Duration::from_millis(50);
    })
    .await;
    sandbox.create_contact(json!({ "firstName": "Retry" })).await;
    let first = next(&mut deliveries).await;
    let second = next(&mut deliveries).await;
    assert_eq!(first.body, second.body, "the same event is redelivered after a 429");
    sandbox.create_contact(json!({ "firstName": "Lost" })).await;
    let failed = next(&mut deliveries).await;
    assert!(String::from_utf8_lossy(&failed.body).contains("Lost"));
    assert!(
        quiet(&mut deliveries, Duration::from_millis(500)).await,
        "a 500 is final, as with HighLevel"
    );
    let webhooks = sandbox.stats().await["webhooks"].clone();
    assert_eq!(webhooks["delivered"], 1);
    assert_eq!(webhooks["failed"], 1);
}

#[tokio::test]
async fn optional_redelivery_on_any_failure_and_duplicates() {
    let (url, mut deliveries) = receiver(vec![500, 503, 200]).await;
    let sandbox = TestSandbox::start_with(|config| {
        config.webhooks.urls = vec![url];
        config.webhooks.retry_delay = Duration::from_millis(20);
        config.webhooks.retry_on_any_failure = true;
        config.webhooks.duplicate_share = 1.0;
    })
    .await;
    sandbox.create_contact(json!({ "firstName": "Twice" })).await;
    let mut ids = Vec::new();
    for _ in 0..4 {
        let delivery = next(&mut deliveries).await;
        let event: Value = serde_json::from_slice(&delivery.body).expect("json");
        ids.push(event["webhookId"].as_str().expect("id").to_owned());
    }
    assert!(
        ids.windows(2).all(|pair| pair[0] == pair[1]),
        "a duplicate carries the same webhookId"
    );
    let webhooks = sandbox.stats().await["webhooks"].clone();
    assert_eq!(webhooks["duplicated"], 1);
    assert_eq!(webhooks["delivered"], 2);
}

/// Waits, under the test timeout, until the sandbox's webhook counters satisfy `done`.
async fn until_counts(sandbox: &TestSandbox, done: impl Fn(&Value) -> bool) -> Value {
    tokio::time::timeout(TIMEOUT, async {
        loop {
            let counts = sandbox.stats().await["webhooks"].clone();
            if done(&counts) {
                return counts;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("webhook counters in time")
}

#[tokio::test]
async fn a_retry_after_429_resends_the_identical_signed_bytes() {
    let (url, mut deliveries) = receiver(vec![429, 429, 200]).await;
    let sandbox = TestSandbox::start_with(|config| {
        config.webhooks.urls = vec![url];
        config.webhooks.retry_delay = Duration::from_millis(30);
    })
    .await;
    sandbox.create_contact(json!({ "firstName": "Again" })).await;
    let attempts =
        [next(&mut deliveries).await, next(&mut deliveries).await, next(&mut deliveries).await];
    for retry in &attempts[1..] {
        assert_eq!(retry.body, attempts[0].body, "same bytes, original timestamp included");
        for header in ["x-wh-signature", "x-ghl-signature"] {
            assert_eq!(retry.headers[header], attempts[0].headers[header], "{header}");
        }
    }
    let keys = &sandbox.info.webhook_public_keys;
    let dir = tempfile::tempdir().expect("tempdir");
    let last = &attempts[2];
    assert_eq!(
        openssl_verifies(dir.path(), &last.body, &keys.rsa_pem, &keys.ed25519, &last.headers),
        (true, true),
        "a retry still verifies"
    );
    let counts = until_counts(&sandbox, |counts| counts["delivered"] == 1).await;
    assert_eq!((counts["attempts"].clone(), counts["retried"].clone()), (json!(3), json!(2)));
}

#[tokio::test]
async fn a_receiver_that_keeps_answering_429_gets_the_configured_retries_then_none() {
    let (url, mut deliveries) = receiver(vec![429]).await;
    let sandbox = TestSandbox::start_with(|config| {
        config.webhooks.urls = vec![url];
        config.webhooks.retry_delay = Duration::from_millis(10);
        config.webhooks.max_attempts = 4; // 3 retries
    })
    .await;
    sandbox.create_contact(json!({ "firstName": "Busy" })).await;
    let counts = until_counts(&sandbox, |counts| counts["failed"] == 1).await;
    assert_eq!((counts["attempts"].clone(), counts["retried"].clone()), (json!(4), json!(3)));
    let mut received = 0;
    while deliveries.try_recv().is_ok() {
        received += 1;
    }
    assert_eq!(received, 4, "the first attempt and 3 retries");
}

#[tokio::test]
async fn a_target_added_at_run_time_receives_the_signed_events_of_later_changes() {
    let sandbox = TestSandbox::start().await;
    sandbox.create_contact(json!({ "firstName": "Before" })).await;
    let (url, mut deliveries) = receiver(vec![200]).await;

    let added = sandbox
        .admin(reqwest::Method::POST, "/webhooks", Some(json!({ "url": url.as_str() })))
        .await;
    assert_eq!(added.status, 201, "{:?}", added.body);
    assert_eq!(added.body["url"], url.as_str());
    let target_id = added.body["id"].as_str().expect("target id").to_owned();
    let again = sandbox
        .admin(reqwest::Method::POST, "/webhook-targets", Some(json!({ "url": url.as_str() })))
        .await;
    assert_eq!((again.status, &again.body["id"]), (200, &json!(target_id)), "added once");
    let listed = sandbox.admin(reqwest::Method::GET, "/webhook-targets", None).await.body;
    assert_eq!(listed["targets"], json!([{ "id": target_id, "url": url.as_str() }]));

    let after = sandbox.create_contact(json!({ "firstName": "After" })).await;
    let delivery = next(&mut deliveries).await;
    let event: Value = serde_json::from_slice(&delivery.body).expect("json");
    assert_eq!(event["id"], after["id"], "the change before the target was added is not sent");
    let keys = &sandbox.info.webhook_public_keys;
    let dir = tempfile::tempdir().expect("tempdir");
    assert_eq!(
        openssl_verifies(
            dir.path(),
            &delivery.body,
            &keys.rsa_pem,
            &keys.ed25519,
            &delivery.headers
        ),
        (true, true)
    );

    let removed = sandbox
        .admin(reqwest::Method::DELETE, &format!("/webhook-targets/{target_id}"), None)
        .await;
    assert_eq!(removed.status, 204);
    let (other, mut other_deliveries) = receiver(vec![200]).await;
    sandbox.admin(reqwest::Method::POST, "/webhooks", Some(json!({ "url": other.as_str() }))).await;
    sandbox.create_contact(json!({ "firstName": "Removed" })).await;
    next(&mut other_deliveries).await;
    assert!(
        quiet(&mut deliveries, Duration::from_millis(300)).await,
        "a removed target gets nothing"
    );
    let unknown = sandbox.admin(reqwest::Method::DELETE, "/webhook-targets/target-99", None).await;
    assert_eq!((unknown.status, &unknown.body["statusCode"]), (404, &json!(404)));
}

#[tokio::test]
async fn a_bad_webhook_target_is_refused_with_json() {
    let sandbox = TestSandbox::start().await;
    for body in
        [json!({ "url": "not a url" }), json!({ "url": "ftp://example.com/hook" }), json!({})]
    {
        let refused = sandbox.admin(reqwest::Method::POST, "/webhooks", Some(body.clone())).await;
        assert_eq!(refused.status, 400, "{body}");
        assert_eq!(refused.body["statusCode"], 400);
        assert!(
            refused.body["message"].as_str().is_some_and(|message| message.contains("url")),
            "{:?}",
            refused.body
        );
    }
    let listed = sandbox.admin(reqwest::Method::GET, "/webhook-targets", None).await.body;
    assert_eq!(listed["targets"], json!([]));
}

#[tokio::test]
async fn signing_keys_derive_from_the_seed() {
    let start = |seed: u64| {
        TestSandbox::start_with(move |config| {
            config.seed = seed;
            config.signing_keys = None;
        })
    };
    let (first, second, other) = (start(11).await, start(11).await, start(12).await);
    let derived = ghl_sandbox::SigningKeys::derive(11).expect("keys");
    let keys = |sandbox: &TestSandbox| {
        let keys = &sandbox.info.webhook_public_keys;
        (keys.rsa_pem.clone(), keys.ed25519.clone())
    };
    assert_eq!(keys(&first), keys(&second));
    assert_eq!(
        keys(&first),
        (derived.rsa_public_pem().to_owned(), derived.ed25519_public_spki_base64()),
        "generated afresh from the seed, not only cached"
    );
    let (rsa, ed25519) = keys(&other);
    assert!(rsa != keys(&first).0 && ed25519 != keys(&first).1, "another seed, other keys");

    let info = first.admin(reqwest::Method::GET, "/info", None).await.body;
    assert_eq!(info["webhook_public_keys"]["ed25519"], keys(&first).1);
    assert_eq!(info["webhook_public_keys"]["rsa_pem"], keys(&first).0);
}
