//! Locations are tenants: a token for one never sees another's data. Also the admin API's
//! "as a person in HighLevel" changes, and seed determinism.

use serde_json::json;

use crate::support::TestSandbox;

#[tokio::test]
async fn a_token_never_reaches_another_locations_data() {
    let sandbox = TestSandbox::start().await;
    let mine = sandbox
        .create_contact(json!({ "firstName": "Mine", "email": "mine@example.com" }))
        .await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let other = sandbox
        .admin(reqwest::Method::POST, "/locations", Some(json!({ "name": "Other", "contacts": 3 })))
        .await;
    assert_eq!(other.status, 201);
    let other_token = other.body["private_integration_token"].as_str().expect("token").to_owned();
    let other_location = other.body["location_id"].as_str().expect("location").to_owned();
    let my_location = sandbox.location().to_owned();

    let read = sandbox.call_as(&other_token, "get-contact", &[("contactId", &mine)], None).await;
    assert_eq!(read.status, 400, "another location's contact is as unknown as no contact");
    let update = sandbox
        .call_as(
            &other_token,
            "update-contact",
            &[("contactId", &mine)],
            Some(json!({ "firstName": "Stolen" })),
        )
        .await;
    assert_eq!(update.status, 400);
    let list =
        sandbox.call_as(&other_token, "get-contacts", &[("locationId", &my_location)], None).await;
    assert_eq!(list.status, 403);
    assert_eq!(list.body["message"], "The token does not have access to this location.");
    let create = sandbox
        .call_as(
            &other_token,
            "create-contact",
            &[],
            Some(json!({ "locationId": my_location, "firstName": "Intruder" })),
        )
        .await;
    assert_eq!(create.status, 403);
    let search = sandbox
        .call_as(
            &other_token,
            "search-contacts-advanced",
            &[],
            Some(json!({ "locationId": other_location, "pageLimit": 100 })),
        )
        .await;
    assert_eq!(search.body["total"], 3);
    let duplicate = sandbox
        .call_as(
            &other_token,
            "get-duplicate-contact",
            &[("locationId", &other_location), ("email", "mine@example.com")],
            None,
        )
        .await;
    assert!(duplicate.body["contact"].is_null());
    assert_eq!(sandbox.stored_contact(&mine).await.body["contact"]["firstName"], "Mine");
}

#[tokio::test]
async fn changes_made_inside_highlevel_emit_webhooks_without_a_token() {
    let sandbox = TestSandbox::start().await;
    let reply = crate::support::send(
        sandbox
            .http
            .post(sandbox.url(&format!("/_sandbox/as-user/{}/contacts/", sandbox.location())))
            .json(&json!({ "locationId": sandbox.location(), "firstName": "Typed", "lastName": "In" })),
    )
    .await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    let events =
        sandbox.admin(reqwest::Method::GET, "/webhooks?type=ContactCreate", None).await.body;
    assert_eq!(events["events"][0]["payload"]["name"], "Typed In");
    let stats = sandbox.stats().await;
    assert!(stats["requests"].get("create-contact").is_none(), "not counted as an API request");
}

#[tokio::test]
async fn the_same_seed_gives_the_same_data() {
    let first_ids = |sandbox: TestSandbox| async move {
        let location = sandbox.location().to_owned();
        let page =
            sandbox.call("get-contacts", &[("locationId", &location), ("limit", "5")], None).await;
        (location, page.body["contacts"].clone())
    };
    let a = first_ids(TestSandbox::start_with(|config| config.seed = 42).await).await;
    let b = first_ids(TestSandbox::start_with(|config| config.seed = 42).await).await;
    let c = first_ids(TestSandbox::start_with(|config| config.seed = 43).await).await;
    assert_eq!(a, b);
    assert_ne!(a.1, c.1);
}

#[tokio::test]
async fn seeded_location_has_related_records() {
    let sandbox = TestSandbox::start_with(|config| config.contacts = 200).await;
    let location = sandbox
        .admin(reqwest::Method::GET, &format!("/locations/{}", sandbox.location()), None)
        .await
        .body;
    assert_eq!(location["contacts"], 200);
    for kind in ["tasks", "notes", "appointments"] {
        assert!(location[kind].as_u64().is_some_and(|count| count > 10), "{kind}: {location}");
    }
}
