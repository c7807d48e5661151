//! A manifest app's incoming webhooks at `/webhooks/your-app`, verified per Standard Webhooks
//! with the `webhook_secret` of Your App's connection (read from the store when the server
//! starts): a signed delivery starts the flow on its event, once though it is delivered
//! twice; a delivery signed with another secret is refused 401 naming the app.

mod support;

use chrono::Utc;
use ghl_apps::signatures::standard_webhooks;
use ghl_engine::apps::AppId;
use ghl_engine::connections::{save, AuthSecret, ConnectionSecret};
use ghl_engine::Apps;
use ghl_store::RunFilter;
use ghl_testkit::sqlite_store;
use serde_json::{json, Value};
use support::Options;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const OTHER: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";

const FLOW: &str = r#"name: your-app contacts
trigger:
  your-app: contact.created
steps:
  - name: log
    action: util.log
    input:
      message: .trigger.name
"#;

#[tokio::test]
async fn a_signed_your_app_webhook_starts_its_flow_once_and_a_forged_one_is_refused() {
    let (store, _db) = sqlite_store().await;
    let auth = AuthSecret::Credentials {
        base_url: Some("http://127.0.0.1:9/v1".into()),
        account: None,
        values: [
            ("api_key".to_owned(), "sk_unused".to_owned()),
            ("webhook_secret".to_owned(), SECRET.to_owned()),
        ]
        .into(),
    };
    let secret = ConnectionSecret { app: AppId::from_static("your-app"), auth };
    save(&store, "your-app", &secret, "").await.expect("connection");
    let running = support::start(
        store,
        Options { apps: Apps::builtin(), flows: &[FLOW], ..Options::default() },
    )
    .await;
    running.until_serving().await;

    let body = serde_json::to_vec(&json!({
        "type": "contact.created", "workspace_id": "ws-1",
        "data": { "id": "c-1", "name": "Ada" },
    }))
    .expect("json");
    let post = |secret: &str, id: &str| {
        let key = standard_webhooks::parse_secret(secret).expect("a whsec_ secret");
        let mut request = running
            .http
            .post(format!("{}/webhooks/your-app", running.server_url))
            .header("content-type", "application/json")
            .body(body.clone());
        for (name, value) in standard_webhooks::headers(&key, id, Utc::now().timestamp(), &body) {
            request = request.header(name, value);
        }
        request
    };
    let first = post(SECRET, "msg_1").send().await.expect("answer");
    assert_eq!(first.status(), 200);
    assert_eq!(first.json::<Value>().await.expect("json"), json!({ "stored": true, "runs": 1 }));
    // Your App retries with a new delivery id: the record makes it the same event.
    let again = post(SECRET, "msg_2").send().await.expect("answer");
    assert_eq!(
        again.json::<Value>().await.expect("json"),
        json!({ "stored": false, "duplicate": true })
    );

    let forged = post(OTHER, "msg_3").send().await.expect("answer");
    assert_eq!(forged.status(), 401);
    let reason = forged.json::<Value>().await.expect("json")["error"].clone();
    let reason = reason.as_str().unwrap_or_default().to_owned();
    assert!(reason.contains("your-app"), "{reason}");
    assert!(!reason.contains(SECRET) && !reason.contains(OTHER), "{reason}");

    // The run is worked by the server's workers: wait (bounded) for it to end.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let runs = running.runs(&RunFilter { limit: 10, ..Default::default() }).await;
        assert_eq!(runs.len(), 1, "one run: {runs:?}");
        if runs[0].status == ghl_store::RunStatus::Done {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the run did not end: {runs:?}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
