//! Contacts: CRUD, upsert and duplicate rules, list paging, by business, duplicate lookup.

use std::collections::HashSet;

use serde_json::json;

use crate::support::TestSandbox;

#[tokio::test]
async fn created_contact_is_stored_readable_and_announced() {
    let sandbox = TestSandbox::start().await;
    let before = sandbox.effects().await;
    let created = sandbox
        .create_contact(json!({
            "firstName": "Ada", "lastName": "Lovelace", "email": "Ada@Example.com",
            "phone": "+1 555 010 9999", "tags": ["VIP ", "vip", "lead"], "companyName": "Analytical Engines",
            "customFields": [{ "key": "contact.budget", "field_value": 250000 }],
        }))
        .await;
    let id = created["id"].as_str().expect("id");
    assert_eq!(created["name"], "Ada Lovelace");
    assert_eq!(created["emailLowerCase"], "ada@example.com");
    assert_eq!(created["tags"], json!(["vip", "lead"]));
    assert!(created["dateAdded"].as_str().is_some_and(|date| date.ends_with('Z')));

    let read = sandbox.call("get-contact", &[("contactId", id)], None).await;
    assert_eq!(read.status, 200);
    assert_eq!(read.body["contact"]["companyName"], "Analytical Engines");
    assert_eq!(read.body["contact"]["customFields"][0]["value"], "250000");

    let after = sandbox.effects().await;
    assert_eq!(
        after.get("contact.created").copied().unwrap_or(0),
        before.get("contact.created").copied().unwrap_or(0) + 1
    );
    let events =
        sandbox.admin(reqwest::Method::GET, "/webhooks?type=ContactCreate", None).await.body;
    let event =
        events["events"].as_array().and_then(|events| events.last()).expect("an event").clone();
    assert_eq!(event["payload"]["id"], id);
    assert_eq!(event["payload"]["type"], "ContactCreate");
    assert_eq!(event["payload"]["locationId"], sandbox.location());
    assert!(event["payload"]["webhookId"].is_string() && event["payload"]["timestamp"].is_string());
}

#[tokio::test]
async fn update_changes_given_fields_and_null_clears_one() {
    let sandbox = TestSandbox::start().await;
    let created = sandbox
        .create_contact(json!({ "firstName": "Grace", "lastName": "Hopper", "city": "Arlington" }))
        .await;
    let id = created["id"].as_str().expect("id");
    let updated = sandbox
        .call(
            "update-contact",
            &[("contactId", id)],
            Some(json!({ "lastName": "Murray", "city": null, "dnd": true })),
        )
        .await;
    assert_eq!(updated.status, 200, "{:?}", updated.body);
    assert_eq!(updated.body["succeded"], true);
    let stored = sandbox.stored_contact(id).await.body["contact"].clone();
    assert_eq!(stored["name"], "Grace Murray");
    assert_eq!(stored["firstName"], "Grace");
    assert!(stored.get("city").is_none(), "null clears the field: {stored}");
    assert_eq!(stored["dnd"], true);
    assert!(stored["dateUpdated"].as_str() > created["dateUpdated"].as_str().or(Some("")));
    let types: Vec<String> = sandbox.admin(reqwest::Method::GET, "/webhooks", None).await.body
        ["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|event| event["type"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(
        types.contains(&"ContactUpdate".to_owned())
            && types.contains(&"ContactDndUpdate".to_owned()),
        "{types:?}"
    );
}

#[tokio::test]
async fn deleted_contact_is_gone_with_its_tasks() {
    let sandbox = TestSandbox::start().await;
    let id = sandbox.create_contact(json!({ "firstName": "Temp" })).await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    sandbox
        .call(
            "create-task",
            &[("contactId", &id)],
            Some(json!({ "title": "t", "dueDate": "2026-12-01T10:00:00Z", "completed": false })),
        )
        .await;
    let deleted = sandbox.call("delete-contact", &[("contactId", &id)], None).await;
    assert_eq!(deleted.status, 200);
    assert_eq!(deleted.body["succeded"], true);
    let read = sandbox.call("get-contact", &[("contactId", &id)], None).await;
    assert_eq!(read.status, 400);
    assert_eq!(read.body["message"], format!("Contact with id {id} not found"));
    assert_eq!(sandbox.call("get-all-tasks", &[("contactId", &id)], None).await.status, 400);
    assert_eq!(sandbox.call("delete-contact", &[("contactId", &id)], None).await.status, 400);
}

#[tokio::test]
async fn location_refuses_duplicate_email_or_phone_and_names_the_match() {
    let sandbox = TestSandbox::start().await;
    let first = sandbox
        .create_contact(
            json!({ "firstName": "Once", "email": "once@example.com", "phone": "+15550001111" }),
        )
        .await;
    let count = sandbox.effects().await.get("contact.created").copied();
    for (field, duplicate) in [
        ("email", json!({ "email": "ONCE@example.com" })),
        ("phone", json!({ "phone": "+1 (555) 000-1111" })),
    ] {
        let mut body = json!({ "locationId": sandbox.location() });
        body.as_object_mut()
            .expect("object")
            .extend(duplicate.as_object().expect("object").clone());
        let reply = sandbox.call("create-contact", &[], Some(body)).await;
        assert_eq!(reply.status, 400, "{:?}", reply.body);
        assert_eq!(reply.body["message"], "This location does not allow duplicated contacts.");
        assert_eq!(reply.body["meta"]["contactId"], first["id"]);
        assert_eq!(reply.body["meta"]["matchingField"], field);
    }
    assert_eq!(
        sandbox.effects().await.get("contact.created").copied(),
        count,
        "a refused create creates nothing"
    );
}

#[tokio::test]
async fn location_allowing_duplicates_creates_a_second_contact() {
    let sandbox = TestSandbox::start_with(|config| config.allow_duplicates = true).await;
    let a = sandbox.create_contact(json!({ "email": "twin@example.com" })).await;
    let b = sandbox.create_contact(json!({ "email": "twin@example.com" })).await;
    assert_ne!(a["id"], b["id"]);
}

#[tokio::test]
async fn upsert_creates_then_updates_by_email_and_keeps_others_phone() {
    let sandbox = TestSandbox::start().await;
    let location = sandbox.location().to_owned();
    let created = sandbox
        .call(
            "upsert-contact",
            &[],
            Some(json!({ "locationId": location, "email": "up@example.com", "firstName": "Up" })),
        )
        .await;
    assert_eq!(created.status, 200, "{:?}", created.body);
    assert_eq!(created.body["new"], true);
    let id = created.body["contact"]["id"].clone();
    let other = sandbox.create_contact(json!({ "phone": "+15559990000" })).await;

    // Email matches the first contact, phone the other: the first is updated, the phone ignored.
    let updated = sandbox
        .call(
            "upsert-contact",
            &[],
            Some(json!({ "locationId": location, "email": "up@example.com", "phone": "+15559990000", "lastName": "Dated" })),
        )
        .await;
    assert_eq!(updated.status, 200);
    assert_eq!(updated.body["new"], false);
    assert_eq!(updated.body["contact"]["id"], id);
    assert_eq!(updated.body["contact"]["lastName"], "Dated");
    assert!(updated.body["contact"].get("phone").is_none());
    assert!(updated.body["traceId"].is_string());
    let other_now = sandbox.stored_contact(other["id"].as_str().expect("id")).await.body;
    assert_eq!(other_now["contact"]["phone"], "+15559990000");
}

#[tokio::test]
async fn list_pages_through_every_contact_once_in_date_order() {
    let sandbox = TestSandbox::start_with(|config| config.contacts = 57).await;
    let location = sandbox.location().to_owned();
    let mut seen = Vec::new();
    let mut cursor: Option<(String, String)> = None;
    loop {
        let mut params = vec![("locationId", location.as_str()), ("limit", "10")];
        let cursor_values = cursor.clone();
        if let Some((after, after_id)) = &cursor_values {
            params.push(("startAfter", after));
            params.push(("startAfterId", after_id));
        }
        let page = sandbox.call("get-contacts", &params, None).await;
        assert_eq!(page.status, 200, "{:?}", page.body);
        assert_eq!(page.body["meta"]["total"], 57);
        let contacts = page.body["contacts"].as_array().expect("contacts").clone();
        seen.extend(contacts.iter().map(|contact| {
            (
                contact["dateAdded"].as_str().unwrap_or_default().to_owned(),
                contact["id"].as_str().unwrap_or_default().to_owned(),
            )
        }));
        match (page.body["meta"]["startAfter"].as_i64(), page.body["meta"]["startAfterId"].as_str())
        {
            (Some(after), Some(id)) => cursor = Some((after.to_string(), id.to_owned())),
            _ => break,
        }
    }
    assert_eq!(seen.len(), 57);
    assert_eq!(seen.iter().map(|(_, id)| id).collect::<HashSet<_>>().len(), 57);
    assert!(seen.windows(2).all(|pair| pair[0] <= pair[1]), "dateAdded order");
}

#[tokio::test]
async fn list_query_filters_and_limit_is_bounded() {
    let sandbox = TestSandbox::start().await;
    sandbox.create_contact(json!({ "firstName": "Zebulon", "lastName": "Quixote" })).await;
    let location = sandbox.location().to_owned();
    let found = sandbox
        .call("get-contacts", &[("locationId", &location), ("query", "quixote")], None)
        .await;
    assert_eq!(found.body["contacts"].as_array().map(Vec::len), Some(1));
    let too_many =
        sandbox.call("get-contacts", &[("locationId", &location), ("limit", "101")], None).await;
    assert_eq!(too_many.status, 422);
}

#[tokio::test]
async fn duplicate_lookup_finds_by_email_then_phone() {
    let sandbox = TestSandbox::start().await;
    let created = sandbox
        .create_contact(json!({ "email": "dup@example.com", "phone": "+15551234567" }))
        .await;
    let location = sandbox.location().to_owned();
    let by_email = sandbox
        .call(
            "get-duplicate-contact",
            &[("locationId", &location), ("email", "DUP@example.com")],
            None,
        )
        .await;
    assert_eq!(by_email.status, 200);
    assert_eq!(by_email.body["contact"]["id"], created["id"]);
    let by_phone = sandbox
        .call(
            "get-duplicate-contact",
            &[("locationId", &location), ("number", "+15551234567")],
            None,
        )
        .await;
    assert_eq!(by_phone.body["contact"]["id"], created["id"]);
    let none = sandbox
        .call(
            "get-duplicate-contact",
            &[("locationId", &location), ("email", "nobody@example.com")],
            None,
        )
        .await;
    assert!(none.body["contact"].is_null());
}

#[tokio::test]
async fn bulk_business_sets_and_by_business_lists() {
    let sandbox = TestSandbox::start().await;
    let a = sandbox.create_contact(json!({ "firstName": "Biz" })).await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let b = sandbox.create_contact(json!({ "firstName": "Ness" })).await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let location = sandbox.location().to_owned();
    let set = sandbox
        .call(
            "add-remove-contact-from-business",
            &[],
            Some(json!({ "locationId": location, "ids": [a, b], "businessId": "biz123" })),
        )
        .await;
    assert_eq!(set.status, 200, "{:?}", set.body);
    assert_eq!(set.body["success"], true);
    let listed = sandbox
        .call(
            "get-contacts-by-businessId",
            &[("businessId", "biz123"), ("locationId", &location)],
            None,
        )
        .await;
    assert_eq!(listed.status, 200);
    assert_eq!(listed.body["count"], 2);
    let cleared = sandbox
        .call(
            "add-remove-contact-from-business",
            &[],
            Some(json!({ "locationId": location, "ids": [a], "businessId": null })),
        )
        .await;
    assert_eq!(cleared.status, 200);
    let listed = sandbox
        .call(
            "get-contacts-by-businessId",
            &[("businessId", "biz123"), ("locationId", &location)],
            None,
        )
        .await;
    assert_eq!(listed.body["count"], 1);
}
