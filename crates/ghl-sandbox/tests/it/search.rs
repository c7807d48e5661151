//! `POST /contacts/search`: filters, groups, sort, page and searchAfter paging.

use std::collections::HashSet;

use serde_json::{json, Value};

use crate::support::TestSandbox;

async fn search(sandbox: &TestSandbox, body: Value) -> Value {
    let mut full = json!({ "locationId": sandbox.location(), "pageLimit": 100 });
    full.as_object_mut().expect("object").extend(body.as_object().expect("object").clone());
    let reply = sandbox.call("search-contacts-advanced", &[], Some(full)).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    reply.body
}

#[tokio::test]
async fn search_after_pages_through_all_matches_once() {
    let sandbox = TestSandbox::start_with(|config| config.contacts = 230).await;
    let mut seen = HashSet::new();
    let mut after: Option<Value> = None;
    loop {
        let mut body =
            json!({ "pageLimit": 50, "sort": [{ "field": "dateAdded", "direction": "asc" }] });
        if let Some(after) = &after {
            body["searchAfter"] = after.clone();
        }
        let page = search(&sandbox, body).await;
        assert_eq!(page["total"], 230);
        let contacts = page["contacts"].as_array().expect("contacts").clone();
        if contacts.is_empty() {
            break;
        }
        for contact in &contacts {
            assert!(
                seen.insert(contact["id"].as_str().expect("id").to_owned()),
                "no contact twice"
            );
        }
        after = Some(contacts.last().expect("last")["searchAfter"].clone());
    }
    assert_eq!(seen.len(), 230);
}

#[tokio::test]
async fn filters_groups_and_query_select_the_right_contacts() {
    let sandbox = TestSandbox::start().await;
    sandbox.create_contact(json!({ "firstName": "Filter", "lastName": "Alpha", "email": "alpha@f.test", "tags": ["gold"], "city": "Oslo" })).await;
    sandbox.create_contact(json!({ "firstName": "Filter", "lastName": "Beta", "email": "beta@f.test", "tags": ["silver"], "city": "Bergen" })).await;
    sandbox
        .create_contact(
            json!({ "firstName": "Filter", "lastName": "Gamma", "email": "gamma@f.test" }),
        )
        .await;
    let names = |page: &Value| -> Vec<String> {
        let mut names: Vec<String> = page["contacts"]
            .as_array()
            .expect("contacts")
            .iter()
            .filter_map(|c| c["lastName"].as_str().map(str::to_owned))
            .collect();
        names.sort();
        names
    };
    let base = json!({ "field": "firstName", "operator": "eq", "value": "filter" });
    let gold = search(
        &sandbox,
        json!({ "filters": [base, { "field": "tags", "operator": "eq", "value": "gold" }] }),
    )
    .await;
    assert_eq!(names(&gold), ["Alpha"]);
    let either = search(&sandbox, json!({ "filters": [base, { "group": "OR", "filters": [
        { "field": "city", "operator": "eq", "value": "Bergen" }, { "field": "tags", "operator": "eq", "value": "gold" } ] }] })).await;
    assert_eq!(names(&either), ["Alpha", "Beta"]);
    let no_tags = search(
        &sandbox,
        json!({ "filters": [base, { "field": "tags", "operator": "not_exists" }] }),
    )
    .await;
    assert_eq!(names(&no_tags), ["Gamma"]);
    let contains = search(
        &sandbox,
        json!({ "filters": [{ "field": "email", "operator": "contains", "value": "@F.TEST" }] }),
    )
    .await;
    assert_eq!(contains["total"], 3);
    let query = search(&sandbox, json!({ "query": "beta@f" })).await;
    assert_eq!(names(&query), ["Beta"]);
    let seeded_range = search(&sandbox, json!({ "filters": [{ "field": "dateAdded", "operator": "range", "value": { "lt": "2025-01-01T00:10:00Z" } }] })).await;
    assert_eq!(seeded_range["total"], 10, "seeded contacts are one a minute from 2025-01-01");
}

#[tokio::test]
async fn page_paging_is_capped_and_bad_bodies_are_refused() {
    let sandbox = TestSandbox::start().await;
    let location = sandbox.location().to_owned();
    let deep = sandbox
        .call(
            "search-contacts-advanced",
            &[],
            Some(json!({ "locationId": location, "pageLimit": 500, "page": 21 })),
        )
        .await;
    assert_eq!(deep.status, 400);
    let too_big = sandbox
        .call(
            "search-contacts-advanced",
            &[],
            Some(json!({ "locationId": location, "pageLimit": 501 })),
        )
        .await;
    assert_eq!(too_big.status, 422);
    let unknown = sandbox
        .call(
            "search-contacts-advanced",
            &[],
            Some(json!({ "locationId": location, "pageLimit": 5, "colour": "red" })),
        )
        .await;
    assert_eq!(unknown.status, 422);
    let long_query = "q".repeat(76);
    let long = sandbox
        .call(
            "search-contacts-advanced",
            &[],
            Some(json!({ "locationId": location, "pageLimit": 5, "query": long_query })),
        )
        .await;
    assert_eq!(long.status, 422);
    let page2 = sandbox
        .call(
            "search-contacts-advanced",
            &[],
            Some(json!({ "locationId": location, "pageLimit": 5, "page": 2 })),
        )
        .await;
    assert_eq!(page2.body["contacts"].as_array().map(Vec::len), Some(5));
}
