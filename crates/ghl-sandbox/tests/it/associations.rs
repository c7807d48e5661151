//! Tags, followers, campaigns, workflows and bulk tags.

use serde_json::json;

use crate::support::TestSandbox;

#[tokio::test]
async fn tags_are_added_once_removed_and_announced() {
    let sandbox = TestSandbox::start().await;
    let contact = sandbox.create_contact(json!({ "tags": ["lead"] })).await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let added = sandbox
        .call("add-tags", &[("contactId", &contact)], Some(json!({ "tags": ["VIP", "lead"] })))
        .await;
    assert_eq!(added.status, 201, "{:?}", added.body);
    assert_eq!(added.body["tags"], json!(["lead", "vip"]));
    let removed = sandbox
        .call("remove-tags", &[("contactId", &contact)], Some(json!({ "tags": ["lead"] })))
        .await;
    assert_eq!(removed.status, 200);
    assert_eq!(removed.body["tags"], json!(["vip"]));
    let unchanged = sandbox
        .call("remove-tags", &[("contactId", &contact)], Some(json!({ "tags": ["absent"] })))
        .await;
    assert_eq!(unchanged.body["tags"], json!(["vip"]));
    let tag_events =
        sandbox.admin(reqwest::Method::GET, "/webhooks?type=ContactTagUpdate", None).await.body;
    assert_eq!(
        tag_events["events"].as_array().map(Vec::len),
        Some(2),
        "an unchanged list emits nothing"
    );
    assert_eq!(sandbox.stored_contact(&contact).await.body["contact"]["tags"], json!(["vip"]));
}

#[tokio::test]
async fn followers_are_added_and_removed() {
    let sandbox = TestSandbox::start().await;
    let contact = sandbox.create_contact(json!({ "firstName": "F" })).await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let added = sandbox
        .call(
            "add-followers-contact",
            &[("contactId", &contact)],
            Some(json!({ "followers": ["u1", "u2"] })),
        )
        .await;
    assert_eq!(added.status, 201);
    assert_eq!(added.body["followersAdded"], json!(["u1", "u2"]));
    let again = sandbox
        .call(
            "add-followers-contact",
            &[("contactId", &contact)],
            Some(json!({ "followers": ["u2", "u3"] })),
        )
        .await;
    assert_eq!(again.body["followersAdded"], json!(["u3"]));
    let removed = sandbox
        .call(
            "remove-followers-contact",
            &[("contactId", &contact)],
            Some(json!({ "followers": ["u1", "zz"] })),
        )
        .await;
    assert_eq!(removed.status, 200);
    assert_eq!(removed.body["followersRemoved"], json!(["u1"]));
    assert_eq!(removed.body["followers"], json!(["u2", "u3"]));
}

#[tokio::test]
async fn campaigns_and_workflows_enrol_only_known_ids() {
    let sandbox = TestSandbox::start().await;
    let contact = sandbox.create_contact(json!({ "firstName": "C" })).await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let location = sandbox
        .admin(reqwest::Method::GET, &format!("/locations/{}", sandbox.location()), None)
        .await
        .body;
    let campaign = location["campaigns"][0].as_str().expect("campaign").to_owned();
    let campaign2 = location["campaigns"][1].as_str().expect("campaign").to_owned();
    let workflow = location["workflows"][0].as_str().expect("workflow").to_owned();

    let add = sandbox
        .call(
            "add-contact-to-campaign",
            &[("contactId", &contact), ("campaignId", &campaign)],
            Some(json!({})),
        )
        .await;
    assert_eq!(add.status, 201, "{:?}", add.body);
    sandbox
        .call(
            "add-contact-to-campaign",
            &[("contactId", &contact), ("campaignId", &campaign2)],
            Some(json!({})),
        )
        .await;
    let unknown = sandbox
        .call(
            "add-contact-to-campaign",
            &[("contactId", &contact), ("campaignId", "nope")],
            Some(json!({})),
        )
        .await;
    assert_eq!(unknown.status, 400);
    let removed = sandbox
        .call(
            "remove-contact-from-campaign",
            &[("contactId", &contact), ("campaignId", &campaign)],
            None,
        )
        .await;
    assert_eq!(removed.status, 200);
    assert_eq!(sandbox.stored_contact(&contact).await.body["campaigns"], json!([campaign2]));
    let all =
        sandbox.call("remove-contact-from-every-campaign", &[("contactId", &contact)], None).await;
    assert_eq!(all.status, 200);
    assert_eq!(sandbox.stored_contact(&contact).await.body["campaigns"], json!([]));

    let enrolled = sandbox
        .call(
            "add-contact-to-workflow",
            &[("contactId", &contact), ("workflowId", &workflow)],
            Some(json!({ "eventStartTime": "2026-12-01T10:00:00Z" })),
        )
        .await;
    assert_eq!(enrolled.status, 200, "{:?}", enrolled.body);
    assert_eq!(sandbox.stored_contact(&contact).await.body["workflows"], json!([workflow]));
    let left = sandbox
        .call(
            "delete-contact-from-workflow",
            &[("contactId", &contact), ("workflowId", &workflow)],
            Some(json!({})),
        )
        .await;
    assert_eq!(left.status, 200);
    assert_eq!(sandbox.stored_contact(&contact).await.body["workflows"], json!([]));
}

#[tokio::test]
async fn bulk_tags_add_and_remove_report_per_contact() {
    let sandbox = TestSandbox::start().await;
    let a = sandbox.create_contact(json!({ "firstName": "A" })).await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let b = sandbox.create_contact(json!({ "firstName": "B", "tags": ["old"] })).await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let location = sandbox.location().to_owned();
    let added = sandbox
        .call(
            "create-association",
            &[("type", "add")],
            Some(
                json!({ "contacts": [a, b, "missing"], "tags": ["Promo"], "locationId": location }),
            ),
        )
        .await;
    assert_eq!(added.status, 201, "{:?}", added.body);
    assert_eq!(added.body["errorCount"], 1);
    assert_eq!(added.body["succeded"], false);
    assert_eq!(sandbox.stored_contact(&b).await.body["contact"]["tags"], json!(["old", "promo"]));
    let cleared = sandbox
        .call("create-association", &[("type", "remove")], Some(json!({ "contacts": [b], "tags": [], "locationId": location, "removeAllTags": true })))
        .await;
    assert_eq!(cleared.body["succeded"], true);
    assert_eq!(sandbox.stored_contact(&b).await.body["contact"]["tags"], json!([]));
    let bad_type = sandbox
        .call(
            "create-association",
            &[("type", "toggle")],
            Some(json!({ "contacts": [a], "tags": ["x"], "locationId": location })),
        )
        .await;
    assert_eq!(bad_type.status, 422);
}
