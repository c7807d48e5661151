//! Fault injection: 429 with Retry-After, 5xx, dropped connections before and after the
//! effect, per operation or global, changeable at run time.

use serde_json::json;

use crate::support::TestSandbox;

async fn set_faults(sandbox: &TestSandbox, faults: serde_json::Value) {
    let reply = sandbox.admin(reqwest::Method::PUT, "/faults", Some(faults)).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
}

#[tokio::test]
async fn injected_statuses_have_highlevel_shapes() {
    let sandbox = TestSandbox::start().await;
    let location = sandbox.location().to_owned();
    set_faults(&sandbox, json!({ "default": { "429": 1.0, "retry_after_secs": 7 } })).await;
    let limited = sandbox.call("get-contacts", &[("locationId", &location)], None).await;
    assert_eq!(limited.status, 429);
    assert_eq!(limited.headers["retry-after"], "7");
    set_faults(&sandbox, json!({ "default": { "500": 1.0 } })).await;
    assert_eq!(sandbox.call("get-contacts", &[("locationId", &location)], None).await.status, 500);
    set_faults(&sandbox, json!({ "default": { "503": 1.0 } })).await;
    assert_eq!(sandbox.call("get-contacts", &[("locationId", &location)], None).await.status, 503);
    set_faults(&sandbox, json!({ "default": { "502": 1.0 } })).await;
    let gateway = sandbox
        .http
        .get(sandbox.url("/contacts/"))
        .query(&[("locationId", &location)])
        .bearer_auth(sandbox.token())
        .header("Version", "2021-07-28")
        .send()
        .await
        .expect("answer");
    assert_eq!(gateway.status(), 502);
    assert!(
        gateway.text().await.expect("text").contains("<html>"),
        "a proxy's HTML page, not JSON"
    );
    set_faults(&sandbox, json!({})).await;
    assert_eq!(sandbox.call("get-contacts", &[("locationId", &location)], None).await.status, 200);
    assert_eq!(sandbox.stats().await["faults"], json!({ "429": 1, "500": 1, "502": 1, "503": 1 }));
}

#[tokio::test]
async fn reset_before_changes_nothing_and_reset_after_changes_but_does_not_answer() {
    let sandbox = TestSandbox::start().await;
    let body = |name: &str| json!({ "locationId": sandbox.location(), "firstName": name });
    let create = |name: &str| {
        sandbox
            .http
            .post(sandbox.url("/contacts/"))
            .bearer_auth(sandbox.token())
            .header("Version", "2021-07-28")
            .json(&body(name))
            .send()
    };
    set_faults(&sandbox, json!({ "operations": { "create-contact": { "reset": 1.0 } } })).await;
    assert!(create("Before").await.is_err(), "the connection is dropped");
    assert_eq!(sandbox.effects().await.get("contact.created"), None);

    set_faults(&sandbox, json!({ "operations": { "create-contact": { "reset_after": 1.0 } } }))
        .await;
    assert!(create("After").await.is_err());
    assert_eq!(
        sandbox.effects().await.get("contact.created"),
        Some(&1),
        "the contact exists though the caller saw an error"
    );
    let location = sandbox.location().to_owned();
    let found =
        sandbox.call("get-contacts", &[("locationId", &location), ("query", "After")], None).await;
    assert_eq!(found.body["contacts"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        sandbox.call("get-contacts", &[("locationId", &location)], None).await.status,
        200,
        "other operations are untouched"
    );
}

#[tokio::test]
async fn a_share_of_faults_hits_about_that_share() {
    let sandbox = TestSandbox::start_with(|config| config.rate_limits.burst = 10_000).await;
    set_faults(&sandbox, json!({ "default": { "500": 0.2 } })).await;
    let location = sandbox.location().to_owned();
    let mut failed = 0;
    for _ in 0..400 {
        if sandbox
            .call("get-contacts", &[("locationId", &location), ("limit", "1")], None)
            .await
            .status
            == 500
        {
            failed += 1;
        }
    }
    assert!((40..=120).contains(&failed), "{failed} of 400 at a 20 % share");
}

#[tokio::test]
async fn slow_answers_delay_but_still_answer() {
    let sandbox = TestSandbox::start().await;
    set_faults(&sandbox, json!({ "default": { "slow": 1.0, "slow_ms": 300 } })).await;
    let location = sandbox.location().to_owned();
    let quick_client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_millis(100))
        .build()
        .expect("client");
    let timed_out = quick_client
        .get(sandbox.url("/contacts/"))
        .query(&[("locationId", &location)])
        .bearer_auth(sandbox.token())
        .header("Version", "2021-07-28")
        .send()
        .await;
    assert!(timed_out.is_err_and(|err| err.is_timeout()));
    assert_eq!(sandbox.call("get-contacts", &[("locationId", &location)], None).await.status, 200);
}

#[tokio::test]
async fn invalid_fault_configuration_is_refused() {
    let sandbox = TestSandbox::start().await;
    for bad in [
        json!({ "default": { "500": 1.5 } }),
        json!({ "default": { "teapot": 0.1 } }),
        json!([1, 2]),
    ] {
        let reply = sandbox.admin(reqwest::Method::PUT, "/faults", Some(bad)).await;
        assert_eq!(reply.status, 400);
        assert!(reply.body["message"].is_string());
    }
    assert_eq!(
        sandbox.admin(reqwest::Method::GET, "/faults", None).await.body["default"]["500"],
        0.0
    );
}
