//! Where the spec is incomplete the sandbox follows the live API (docs/spec-choices.md): what
//! the official SDK sends is accepted, every refusal is JSON in HighLevel's words, and the
//! deprecated list's page numbers advance.

use serde_json::{json, Value};

use crate::support::{send, TestSandbox};

fn api(sandbox: &TestSandbox, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
    sandbox
        .http
        .request(method, sandbox.url(path))
        .bearer_auth(sandbox.token())
        .header("Version", "2021-07-28")
}

#[tokio::test]
async fn update_accepts_company_name_type_keyword_and_ssn_as_the_live_api_does() {
    let sandbox = TestSandbox::start().await;
    let id = sandbox.create_contact(json!({ "firstName": "Sdk" })).await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let updated = sandbox
        .call(
            "update-contact",
            &[("contactId", &id)],
            Some(json!({
                "companyName": "Difference Engines", "type": "customer",
                "keyword": "spring-fair", "ssn": "078-05-1120",
            })),
        )
        .await;
    assert_eq!(updated.status, 200, "{:?}", updated.body);

    let read =
        sandbox.call("get-contact", &[("contactId", &id)], None).await.body["contact"].clone();
    assert_eq!(read["companyName"], "Difference Engines");
    assert_eq!(read["type"], "customer");
    assert!(
        read.get("keyword").is_none() && read.get("ssn").is_none(),
        "kept but never answered, as live: {read}"
    );
    let stored = sandbox.stored_contact(&id).await.body;
    assert_eq!(stored["unlisted"], json!({ "keyword": "spring-fair", "ssn": "078-05-1120" }));

    let refused = sandbox
        .call("update-contact", &[("contactId", &id)], Some(json!({ "gender": "female" })))
        .await;
    assert_eq!(refused.status, 422);
    assert_eq!(refused.body["message"], json!(["property gender should not exist"]));
}

#[tokio::test]
async fn notes_take_the_title_color_and_pinned_the_spec_declares() {
    let sandbox = TestSandbox::start().await;
    let id = sandbox.create_contact(json!({ "firstName": "Noted" })).await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let created = sandbox
        .call(
            "create-note",
            &[("contactId", &id)],
            Some(json!({ "body": "Called back", "title": "Follow-up", "color": "#FFAA00", "pinned": true })),
        )
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let note_id = created.body["note"]["id"].as_str().expect("note id").to_owned();
    let read = sandbox.call("get-note", &[("contactId", &id), ("id", &note_id)], None).await.body
        ["note"]
        .clone();
    assert_eq!(
        (&read["title"], &read["color"], &read["pinned"]),
        (&json!("Follow-up"), &json!("#FFAA00"), &json!(true))
    );
    let unpinned = sandbox
        .call(
            "update-note",
            &[("contactId", &id), ("id", &note_id)],
            Some(json!({ "pinned": false })),
        )
        .await;
    assert_eq!(unpinned.status, 200, "{:?}", unpinned.body);
    assert_eq!(unpinned.body["note"]["pinned"], false);
    assert_eq!(unpinned.body["note"]["title"], "Follow-up");
}

#[tokio::test]
async fn custom_fields_take_field_value_or_field_value_and_need_only_an_id() {
    let sandbox = TestSandbox::start().await;
    let location = sandbox
        .admin(reqwest::Method::GET, &format!("/locations/{}", sandbox.location()), None)
        .await
        .body;
    let field_id = location["customFields"][0]["id"].as_str().expect("a custom field").to_owned();
    let id = sandbox
        .create_contact(
            json!({ "customFields": [{ "id": field_id, "fieldValue": "from the SDK" }] }),
        )
        .await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let value_of = |contact: &Value| {
        contact["customFields"]
            .as_array()
            .and_then(|fields| fields.iter().find(|field| field["id"] == field_id.as_str()))
            .map(|field| field["value"].clone())
    };
    let read =
        sandbox.call("get-contact", &[("contactId", &id)], None).await.body["contact"].clone();
    assert_eq!(value_of(&read), Some(json!("from the SDK")));

    let only_id = sandbox
        .call(
            "update-contact",
            &[("contactId", &id)],
            Some(json!({ "customFields": [{ "id": field_id }] })),
        )
        .await;
    assert_eq!(only_id.status, 200, "the spec requires only id: {:?}", only_id.body);
    assert_eq!(value_of(&only_id.body["contact"]), Some(json!("from the SDK")), "left as it was");

    let snake = sandbox
        .call(
            "update-contact",
            &[("contactId", &id)],
            Some(json!({ "customFields": [{ "id": field_id, "field_value": "from the spec" }] })),
        )
        .await;
    assert_eq!(value_of(&snake.body["contact"]), Some(json!("from the spec")));

    for (entry, message) in [
        (json!({ "field_value": "x" }), "customFields.0.id should not be empty"),
        (
            json!({ "id": field_id, "colour": "x" }),
            "customFields.0.property colour should not exist",
        ),
    ] {
        let refused = sandbox
            .call("update-contact", &[("contactId", &id)], Some(json!({ "customFields": [entry] })))
            .await;
        assert_eq!(refused.status, 422);
        assert_eq!(refused.body["message"], json!([message]));
    }
}

#[tokio::test]
async fn type_errors_are_worded_as_highlevel_words_them() {
    let sandbox = TestSandbox::start().await;
    let id = sandbox.create_contact(json!({ "firstName": "Typed" })).await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    for (body, message) in [
        (json!({ "firstName": 5 }), "firstName must be a string"),
        (json!({ "dnd": "yes" }), "dnd must be a boolean value"),
        (json!({ "tags": "vip" }), "tags must be an array"),
        (json!({ "tags": ["vip", 7] }), "each value in tags must be a string"),
    ] {
        let refused = sandbox.call("update-contact", &[("contactId", &id)], Some(body)).await;
        assert_eq!(refused.status, 422);
        assert_eq!(refused.body["message"], json!([message]));
    }
    let location = sandbox.location().to_owned();
    for (limit, message) in [
        ("abc", "limit must be a number conforming to the specified constraints"),
        ("0", "limit must not be less than 1"),
        ("101", "limit must not be greater than 100"),
    ] {
        let refused = sandbox
            .call("get-contacts", &[("locationId", &location), ("limit", limit)], None)
            .await;
        assert_eq!(refused.status, 422);
        assert_eq!(refused.body["message"], json!([message]));
    }
}

#[tokio::test]
async fn unknown_routes_wrong_methods_and_bad_queries_answer_json() {
    let sandbox = TestSandbox::start().await;
    let unknown = send(api(&sandbox, reqwest::Method::GET, "/contacts/abc/nothing-here")).await;
    assert_eq!(unknown.status, 404);
    assert_eq!(
        unknown.body,
        json!({ "statusCode": 404, "message": "Cannot GET /contacts/abc/nothing-here", "error": "Not Found" })
    );

    let wrong_method = send(api(&sandbox, reqwest::Method::PATCH, "/contacts/abc")).await;
    assert_eq!(wrong_method.status, 405);
    assert_eq!(
        wrong_method.body,
        json!({ "statusCode": 405, "message": "Cannot PATCH /contacts/abc", "error": "Method Not Allowed" })
    );
    assert!(wrong_method.headers.contains_key("allow"));

    let bad_query = send(sandbox.http.get(sandbox.url("/_sandbox/webhooks?limit=lots"))).await;
    assert_eq!(bad_query.status, 400);
    assert_eq!(bad_query.body["statusCode"], 400);
    assert!(
        bad_query.body["message"].as_str().is_some_and(|message| message.contains("limit")),
        "{:?}",
        bad_query.body
    );

    let admin_unknown = send(sandbox.http.delete(sandbox.url("/_sandbox/nothing"))).await;
    assert_eq!(admin_unknown.status, 404);
    assert_eq!(admin_unknown.body["message"], "Cannot DELETE /_sandbox/nothing");
}

#[tokio::test]
async fn list_pages_number_themselves_as_they_advance() {
    let sandbox = TestSandbox::start().await; // 20 seeded contacts
    let location = sandbox.location().to_owned();
    let mut params =
        vec![("locationId".to_owned(), location.clone()), ("limit".into(), "8".into())];
    let mut pages = Vec::new();
    let mut seen = 0;
    loop {
        let borrowed: Vec<(&str, &str)> =
            params.iter().map(|(name, value)| (name.as_str(), value.as_str())).collect();
        let reply = sandbox.call("get-contacts", &borrowed, None).await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        let meta = reply.body["meta"].clone();
        seen += reply.body["contacts"].as_array().map_or(0, Vec::len);
        pages.push((
            meta["currentPage"].clone(),
            meta["nextPage"].clone(),
            meta["prevPage"].clone(),
        ));
        let (Some(after), Some(after_id)) =
            (meta["startAfter"].as_i64(), meta["startAfterId"].as_str())
        else {
            break;
        };
        params = vec![
            ("locationId".into(), location.clone()),
            ("limit".into(), "8".into()),
            ("startAfter".into(), after.to_string()),
            ("startAfterId".into(), after_id.to_owned()),
        ];
        assert!(pages.len() < 10, "paging ends");
    }
    assert_eq!(seen, 20);
    assert_eq!(
        pages,
        vec![
            (json!(1), json!(2), Value::Null),
            (json!(2), json!(3), json!(1)),
            (json!(3), Value::Null, json!(2)),
        ]
    );
}
