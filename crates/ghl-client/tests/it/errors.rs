//! Errors say what the caller should do.

use ghl_client::Error;
use ghl_types::ContactInput;
use serde_json::json;

use crate::support::TestSandbox;

#[tokio::test]
async fn refusals_are_typed_with_highlevels_message() {
    let sandbox = TestSandbox::start().await;
    let client = sandbox.client();
    let missing = client.contact("nope0000000000000000").await.expect_err("unknown id");
    assert!(
        matches!(&missing, Error::NotFound { operation, message } if operation == "get-contact" && message.contains("not found")),
        "{missing:?}"
    );
    assert!(!missing.is_retryable());

    let input = ContactInput { email: Some(Some("twin@example.com".into())), ..Default::default() };
    let first = client.create_contact(&input).await.expect("first");
    let twin = client.create_contact(&input).await.expect_err("duplicate");
    assert!(
        matches!(&twin, Error::Duplicate { contact_id, matching_field, .. } if *contact_id == first.id && matching_field == "email"),
        "{twin:?}"
    );

    let invalid = client
        .call("update-contact", &[("contactId", &first.id)], Some(&json!({ "gender": "x" })))
        .await
        .expect_err("invalid");
    assert!(
        matches!(&invalid, Error::Validation { status: 422, messages, .. } if messages == &["property gender should not exist"]),
        "{invalid:?}"
    );
    let sent_on_purpose = sandbox.report.take();
    assert_eq!(sent_on_purpose.len(), 1, "the proxy saw the invalid body: {sent_on_purpose:?}");

    let other =
        sandbox.admin_send(reqwest::Method::POST, "/locations", json!({ "contacts": 1 })).await;
    let forbidden = client
        .call("get-contacts", &[("locationId", other["location_id"].as_str().expect("id"))], None)
        .await
        .expect_err("403");
    assert!(matches!(forbidden, Error::Forbidden { .. }));
}

#[tokio::test]
async fn a_bad_private_token_is_unauthorized_without_retrying() {
    let sandbox = TestSandbox::start().await;
    let config = ghl_client::ClientConfig::new(
        sandbox.api_url.parse().expect("url"),
        ghl_client::Credentials::PrivateToken("pit-wrong".into()),
        sandbox.info.location_id.clone(),
    );
    let client = ghl_client::Client::new(config).expect("client");
    let error = client.list_contacts(&[]).await.expect_err("401");
    assert!(matches!(error, Error::Unauthorized { .. }));
    assert_eq!(sandbox.stats().await["requests"]["get-contacts"]["401"], 1, "asked once");
}

#[test]
fn secrets_never_show_in_debug_output() {
    let credentials = ghl_client::Secret::new("pit-very-secret".to_owned());
    assert_eq!(format!("{credentials:?} {credentials}"), "[redacted] [redacted]");
}
