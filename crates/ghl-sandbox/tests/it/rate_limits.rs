//! Rate limits per app and location, with HighLevel's headers.

use ghl_sandbox::RateLimits;
use serde_json::json;

use crate::support::TestSandbox;

fn header(reply: &crate::support::Reply, name: &str) -> u64 {
    reply
        .headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("header {name}"))
}

#[tokio::test]
async fn burst_limit_answers_429_with_retry_after_and_counts_down_headers() {
    let sandbox = TestSandbox::start_with(|config| {
        config.rate_limits = RateLimits { burst: 5, interval_ms: 60_000, daily: 1000 }
    })
    .await;
    let location = sandbox.location().to_owned();
    for expected_remaining in (0..5).rev() {
        let reply =
            sandbox.call("get-contacts", &[("locationId", &location), ("limit", "1")], None).await;
        assert_eq!(reply.status, 200);
        assert_eq!(header(&reply, "x-ratelimit-remaining"), expected_remaining);
        assert_eq!(header(&reply, "x-ratelimit-max"), 5);
        assert_eq!(header(&reply, "x-ratelimit-interval-milliseconds"), 60_000);
        assert_eq!(header(&reply, "x-ratelimit-limit-daily"), 1000);
    }
    let limited =
        sandbox.call("get-contacts", &[("locationId", &location), ("limit", "1")], None).await;
    assert_eq!(limited.status, 429);
    assert_eq!(limited.body["statusCode"], 429);
    let retry_after = header(&limited, "retry-after");
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert_eq!(header(&limited, "x-ratelimit-remaining"), 0);
    assert_eq!(
        header(&limited, "x-ratelimit-daily-remaining"),
        995,
        "a refused request is not counted"
    );
    assert_eq!(sandbox.stats().await["rateLimited"], 1);

    let other = sandbox
        .admin(reqwest::Method::POST, "/locations", Some(json!({ "contacts": 1 })))
        .await
        .body;
    let other_token = other["private_integration_token"].as_str().expect("token");
    let other_location = other["location_id"].as_str().expect("location");
    let elsewhere =
        sandbox.call_as(other_token, "get-contacts", &[("locationId", other_location)], None).await;
    assert_eq!(elsewhere.status, 200, "each location has its own budget");
}

#[tokio::test]
async fn daily_limit_is_enforced() {
    let sandbox = TestSandbox::start_with(|config| {
        config.rate_limits = RateLimits { burst: 100, interval_ms: 10_000, daily: 3 }
    })
    .await;
    let location = sandbox.location().to_owned();
    for _ in 0..3 {
        assert_eq!(
            sandbox.call("get-contacts", &[("locationId", &location)], None).await.status,
            200
        );
    }
    let limited = sandbox.call("get-contacts", &[("locationId", &location)], None).await;
    assert_eq!(limited.status, 429);
    assert_eq!(header(&limited, "x-ratelimit-daily-remaining"), 0);
    assert!(header(&limited, "retry-after") > 0);

    let ended = sandbox.admin(reqwest::Method::POST, "/rate-limits/new-day", None).await;
    assert_eq!(ended.status, 200);
    let next_day = sandbox.call("get-contacts", &[("locationId", &location)], None).await;
    assert_eq!(next_day.status, 200, "a new day, a new quota");
    assert_eq!(header(&next_day, "x-ratelimit-daily-remaining"), 2);
}

#[tokio::test]
async fn a_short_quota_day_says_when_it_ends() {
    let sandbox = TestSandbox::start_with(|config| {
        config.rate_limits = RateLimits { burst: 100, interval_ms: 10_000, daily: 1 };
        config.quota_day = std::time::Duration::from_secs(600);
    })
    .await;
    let location = sandbox.location().to_owned();
    assert_eq!(sandbox.call("get-contacts", &[("locationId", &location)], None).await.status, 200);
    let limited = sandbox.call("get-contacts", &[("locationId", &location)], None).await;
    assert_eq!(limited.status, 429);
    let retry_after = header(&limited, "retry-after");
    assert!((1..=600).contains(&retry_after), "within the 600 s day: {retry_after}");
}

#[tokio::test]
async fn limits_can_be_changed_at_run_time_and_bad_ones_are_refused() {
    let sandbox = TestSandbox::start().await;
    let bad = sandbox
        .admin(
            reqwest::Method::PUT,
            "/rate-limits",
            Some(json!({ "burst": 0, "interval_ms": 1, "daily": 1 })),
        )
        .await;
    assert_eq!(bad.status, 400);
    let set = sandbox
        .admin(
            reqwest::Method::PUT,
            "/rate-limits",
            Some(json!({ "burst": 2000, "interval_ms": 10000, "daily": 4000000 })),
        )
        .await;
    assert_eq!(set.status, 200);
    let location = sandbox.location().to_owned();
    let reply = sandbox.call("get-contacts", &[("locationId", &location)], None).await;
    assert_eq!(header(&reply, "x-ratelimit-max"), 2000);
}
