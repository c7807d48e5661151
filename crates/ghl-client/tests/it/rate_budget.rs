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
