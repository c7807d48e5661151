//! The shared budget keeps concurrent tasks under HighLevel's limit: no 429 is earned.

use std::time::Instant;

use futures_util::future::try_join_all;

use crate::support::TestSandbox;

#[tokio::test]
async fn concurrent_tasks_share_one_budget_and_earn_no_429() {
    let sandbox = TestSandbox::start_with(|config| {
        config.rate_limits.burst = 20;
        config.rate_limits.interval_ms = 1000;
    })
    .await;
    let client = sandbox.client();
    let started = Instant::now();
    let calls = (0..70).map(|_| {
        let client = client.clone();
        async move { client.list_contacts(&[("limit", "1")]).await }
    });
    try_join_all(calls).await.expect("all succeed");
    let stats = sandbox.stats().await;
    assert_eq!(stats["rateLimited"], 0, "no request was refused");
    assert_eq!(stats["requests"]["get-contacts"]["200"], 70);
    // 70 requests at 20 per second: the last 10 cannot go before 3 windows have passed.
    assert!(started.elapsed().as_secs_f64() >= 3.0, "the budget held requests back");
}

#[tokio::test]
async fn a_spent_daily_quota_is_refused_before_sending_and_says_when_it_resets() {
    let quota_day = std::time::Duration::from_secs(3_600);
    let sandbox = TestSandbox::start_with(|config| {
        config.rate_limits.daily = 2;
        config.quota_day = quota_day;
    })
    .await;
    let mut config = ghl_client::ClientConfig::new(
        sandbox.api_url.parse().expect("url"),
        ghl_client::Credentials::PrivateToken(
            sandbox.info.private_integration_token.clone().into(),
        ),
        sandbox.info.location_id.clone(),
    );
    let profile = ghl_client::HighLevel { quota_day };
    config.profile = std::sync::Arc::new(profile);
    let client = ghl_client::Client::new(config).expect("client");
    for _ in 0..2 {
        client.list_contacts(&[("limit", "1")]).await.expect("within the quota");
    }
    let now = std::time::SystemTime::now();
    let error = client.list_contacts(&[("limit", "1")]).await.expect_err("quota spent");
    let Some(ghl_client::Wait::Until(resets_at)) = error.wait() else {
        panic!("a quota wait: {error}")
    };
    assert_eq!(resets_at, profile.quota_resets_at(now), "the end of the sandbox's day");
    let stats = sandbox.stats().await;
    assert_eq!(stats["requests"]["get-contacts"]["200"], 2);
    assert_eq!(stats["rateLimited"], 0, "the third was not sent");
}
