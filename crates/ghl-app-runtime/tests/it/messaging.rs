//! Slack and Teams through the runtime against their sandboxes: posts, their error codes as
//! typed errors, their 429s retried, and a post whose outcome is unknown not sent again.

use ghl_app_runtime::RuntimeError;
use ghl_app_sandbox::AppSandboxConfig;
use ghl_sandbox_kit::{FaultConfig, FaultRule, Window};
use serde_json::{json, Value};

use crate::support::{admin, admin_put, client, client_with, local, requests, start, unlimited};

async fn slack_hook(sandbox: &ghl_app_sandbox::AppSandbox) -> String {
    admin(sandbox, "hooks").await["hooks"][0]["id"].as_str().expect("a hook").to_owned()
}

#[tokio::test]
async fn slack_posts_and_its_error_codes_become_typed_errors() {
    let sandbox = start("slack", AppSandboxConfig::default()).await;
    let slack = client(&sandbox, local());
    let post = slack.request("post-message", json!({"text": "Deal won: *Acme*"})).expect("valid");
    let url = &sandbox.info.credentials["url"];
    let secret = url.rsplit('/').next().expect("the hook's secret");
    assert!(!format!("{post:?}").contains(secret), "the hook URL is a secret: {post:?}");
    assert_eq!(slack.call(&post, Some("m1")).await.expect("posted"), json!("ok"));
    let posts = admin(&sandbox, "posts").await;
    assert_eq!(posts["posts"][0]["body"]["text"], "Deal won: *Acme*");

    let error = slack.request("post-message", json!({"username": "bot"})).expect_err("schema");
    assert!(error.to_string().starts_with("slack.post-message: "), "{error}");

    let hook = slack_hook(&sandbox).await;
    for (code, gone) in [("channel_is_archived", true), ("invalid_payload", false)] {
        admin_put(&sandbox, &format!("hooks/{hook}"), json!({ "refuse": code })).await;
        let error = slack.call(&post, Some("m2")).await.expect_err("refused");
        match (&error, gone) {
            (RuntimeError::Gone { status: 410, message, .. }, true)
            | (RuntimeError::Invalid { status: 400, message, .. }, false) => {
                assert_eq!(message, code)
            }
            _ => panic!("{code}: {error:?}"),
        }
        assert!(!error.is_retryable());
    }
}

#[tokio::test]
async fn slack_429s_are_retried_after_retry_after() {
    let config = AppSandboxConfig {
        rate_limits: Some(vec![Window { requests: 1, per_ms: 1_000 }]),
        ..AppSandboxConfig::default()
    };
    let sandbox = start("slack", config).await;
    let slack = client(&sandbox, unlimited());
    for n in 0..3 {
        let post = slack
            .request("post-message", json!({ "text": format!("message {n}") }))
            .expect("valid");
        slack.call(&post, Some(&format!("m{n}"))).await.expect("posted after the wait");
    }
    assert_eq!(admin(&sandbox, "posts").await["posts"].as_array().map(Vec::len), Some(3));
    let limited = admin(&sandbox, "stats").await["rateLimited"].as_u64().expect("a count");
    assert!((1..=2).contains(&limited), "each 429 waited out, not hammered: {limited}");
}

#[tokio::test]
async fn a_slack_post_whose_answer_is_lost_is_not_sent_again() {
    let config = AppSandboxConfig {
        faults: FaultConfig {
            default: FaultRule::default(),
            operations: [(
                "post-message".to_owned(),
                FaultRule { reset_after: 1.0, ..FaultRule::default() },
            )]
            .into(),
        },
        ..AppSandboxConfig::default()
    };
    let sandbox = start("slack", config).await;
    let slack = client(&sandbox, local());
    let post = slack.request("post-message", json!({"text": "once"})).expect("valid");
    let error = slack.call(&post, Some("m1")).await.expect_err("outcome unknown");
    assert!(matches!(error, RuntimeError::OutcomeUnknown { .. }), "{error:?}");
    assert!(!error.is_retryable(), "the engine must not repeat it either");
    assert!(error.to_string().contains("not sent again"), "{error}");
    assert_eq!(
        admin(&sandbox, "posts").await["posts"].as_array().map(Vec::len),
        Some(1),
        "it did arrive, once"
    );
    assert_eq!(
        requests(&sandbox, "post-message").await.values().sum::<u64>(),
        1,
        "one attempt only"
    );
}

#[tokio::test]
async fn teams_takes_an_adaptive_card_and_a_message_card_and_its_throttling_200_is_retried() {
    let config = AppSandboxConfig {
        rate_limits: Some(vec![Window { requests: 1, per_ms: 1_000 }]),
        ..AppSandboxConfig::default()
    };
    let sandbox = start("teams", config).await;
    let teams = client(&sandbox, local());
    let card = json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "content": {"type": "AdaptiveCard", "version": "1.4", "body": [{"type": "TextBlock", "text": "Hi"}]}
        }]
    });
    let request = teams.request("post-adaptive-card", card).expect("valid");
    assert_eq!(teams.call(&request, Some("c1")).await.expect("202"), Value::Null);
    let error = teams
        .request("post-adaptive-card", json!({"type": "message", "attachments": []}))
        .expect_err("schema");
    assert!(error.to_string().starts_with("teams.post-adaptive-card: attachments: "), "{error}");

    let legacy = [("url".to_owned(), sandbox.info.credentials["legacy_url"].clone())].into();
    let connector = client_with(&sandbox, &legacy, local());
    for n in 0..2 {
        let card = json!({"@type": "MessageCard", "summary": "s", "text": format!("card {n}")});
        let request = connector.request("post-message-card", card).expect("valid");
        assert_eq!(
            connector.call(&request, Some(&format!("l{n}"))).await.expect("posted"),
            json!("1")
        );
    }
    assert!(
        admin(&sandbox, "stats").await["rateLimited"].as_u64().unwrap_or(0) >= 1,
        "the second card met the connector's '200 HTTP error 429' and was retried"
    );
    assert_eq!(admin(&sandbox, "posts").await["posts"].as_array().map(Vec::len), Some(3));
}
