//! The checks themselves: they must catch what HighLevel would refuse.

use ghl_sandbox::{Sandbox, SandboxConfig};
use ghl_spec_check::{check_request, find_operation, start_validating_proxy};
use serde_json::json;

fn headers() -> Vec<(String, String)> {
    vec![("Version".into(), "2021-07-28".into()), ("Authorization".into(), "Bearer t".into())]
}

fn create(body: serde_json::Value) -> Result<&'static str, Vec<String>> {
    check_request("POST", "/contacts/", &[], &headers(), Some(&body))
}

fn query(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[test]
fn a_valid_request_passes_and_each_violation_is_named() {
    assert_eq!(create(json!({ "locationId": "l", "firstName": "Ada" })), Ok("create-contact"));
    let unknown =
        create(json!({ "locationId": "l", "colour": "red" })).expect_err("unknown property");
    assert!(unknown.iter().any(|v| v.contains("colour")), "{unknown:?}");
    let missing = create(json!({ "firstName": "Ada" })).expect_err("locationId required");
    assert!(missing.iter().any(|v| v.contains("locationId")), "{missing:?}");
    let mistyped =
        create(json!({ "locationId": "l", "tags": "vip" })).expect_err("tags is an array");
    assert!(mistyped.iter().any(|v| v.contains("tags")), "{mistyped:?}");

    let no_version = check_request("GET", "/contacts/abc", &[], &headers()[1..], None);
    assert!(no_version.expect_err("Version").iter().any(|v| v.contains("Version")));
    let unknown_param = check_request(
        "GET",
        "/contacts/",
        &query(&[("locationId", "l"), ("colour", "x")]),
        &headers(),
        None,
    );
    assert!(unknown_param.expect_err("unknown query").iter().any(|v| v.contains("colour")));
    let missing_param = check_request("GET", "/contacts/", &[], &headers(), None);
    assert!(missing_param.expect_err("locationId").iter().any(|v| v.contains("locationId")));
    assert!(check_request("GET", "/nowhere", &[], &headers(), None).is_err());
}

#[test]
fn static_segments_win_over_parameters() {
    let id = |method, path| find_operation(method, path).map(|op| op.id);
    assert_eq!(id("POST", "/contacts/search"), Some("search-contacts-advanced"));
    assert_eq!(id("GET", "/contacts/search/duplicate"), Some("get-duplicate-contact"));
    assert_eq!(
        id("DELETE", "/contacts/x/campaigns/removeAll"),
        Some("remove-contact-from-every-campaign")
    );
    assert_eq!(id("DELETE", "/contacts/x/campaigns/c1"), Some("remove-contact-from-campaign"));
    assert_eq!(id("GET", "/contacts/abc"), Some("get-contact"));
}

#[tokio::test]
async fn the_proxy_forwards_and_reports_violations() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let shutdown = tokio_util::sync::CancellationToken::new();
    let config = SandboxConfig { contacts: 5, ..SandboxConfig::default() };
    let sandbox = Sandbox::start(config, listener, shutdown.clone()).await.expect("sandbox");
    let (proxy, report) = start_validating_proxy(sandbox.info.base_url.clone()).await;
    let http = reqwest::Client::new();
    let get = |query: String| {
        http.get(format!("{proxy}/contacts/?{query}"))
            .bearer_auth(&sandbox.info.private_integration_token)
            .header("Version", "2021-07-28")
            .send()
    };
    let good = get(format!("locationId={}", sandbox.info.location_id)).await.expect("answer");
    assert_eq!(good.status(), 200);
    assert!(good.headers().contains_key("x-ratelimit-remaining"), "headers are forwarded");
    report.assert_clean();
    let bad =
        get(format!("locationId={}&colour=red", sandbox.info.location_id)).await.expect("answer");
    assert_eq!(bad.status(), 200, "forwarded all the same");
    assert_eq!(report.violations().len(), 1);
    assert_eq!(report.checked(), 2);
    shutdown.cancel();
}
