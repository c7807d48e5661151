//! Bad input gets HighLevel's 4xx and changes nothing; no input makes the sandbox fail.

use rand::{Rng, SeedableRng};
use serde_json::json;

use crate::support::{send, TestSandbox};

fn request(sandbox: &TestSandbox, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
    sandbox
        .http
        .request(method, sandbox.url(path))
        .bearer_auth(sandbox.token())
        .header("Version", "2021-07-28")
}

#[tokio::test]
async fn malformed_or_mistyped_bodies_get_400_or_422_and_change_nothing() {
    let sandbox = TestSandbox::start().await;
    let contact = sandbox.create_contact(json!({ "firstName": "Stable" })).await;
    let id = contact["id"].as_str().expect("id").to_owned();
    let before = sandbox.stats().await["effects"].clone();
    let location = sandbox.location().to_owned();

    let malformed = send(
        request(&sandbox, reqwest::Method::POST, "/contacts/")
            .header("content-type", "application/json")
            .body("{\"firstName\": "),
    )
    .await;
    assert_eq!(malformed.status, 400);
    assert_eq!(malformed.body["statusCode"], 400);

    let array =
        send(request(&sandbox, reqwest::Method::POST, "/contacts/").json(&json!([1, 2]))).await;
    assert_eq!(array.status, 422);

    let mistyped = sandbox
        .call("create-contact", &[], Some(json!({ "locationId": location, "firstName": 5 })))
        .await;
    assert_eq!(mistyped.status, 422);
    assert!(
        mistyped.body["message"][0].as_str().is_some_and(|m| m.contains("firstName")),
        "{:?}",
        mistyped.body
    );

    let unknown = sandbox
        .call(
            "update-contact",
            &[("contactId", &id)],
            Some(json!({ "gender": "x", "colour": "red" })),
        )
        .await;
    assert_eq!(unknown.status, 422);
    assert_eq!(
        unknown.body["message"],
        json!(["property colour should not exist", "property gender should not exist"])
    );
    assert_eq!(unknown.body["error"], "Unprocessable Entity");

    let no_location = sandbox.call("create-contact", &[], Some(json!({ "firstName": "x" }))).await;
    assert_eq!(no_location.status, 422);
    assert_eq!(no_location.body["message"], json!(["locationId should not be empty"]));

    let bad_email = sandbox
        .call("update-contact", &[("contactId", &id)], Some(json!({ "email": "not-an-email" })))
        .await;
    assert_eq!(bad_email.status, 422);

    let huge = "x".repeat(2 * 1024 * 1024);
    let too_large = send(
        request(&sandbox, reqwest::Method::POST, "/contacts/")
            .json(&json!({ "locationId": location, "firstName": huge })),
    )
    .await;
    assert_eq!(too_large.status, 413);

    assert_eq!(sandbox.stats().await["effects"], before, "nothing changed");
    assert_eq!(sandbox.stored_contact(&id).await.body["contact"]["firstName"], "Stable");
}

#[tokio::test]
async fn missing_version_or_token_and_unknown_ids_are_refused() {
    let sandbox = TestSandbox::start().await;
    let location = sandbox.location().to_owned();
    let no_version = send(
        sandbox
            .http
            .get(sandbox.url("/contacts/"))
            .query(&[("locationId", &location)])
            .bearer_auth(sandbox.token()),
    )
    .await;
    assert_eq!(no_version.status, 400);
    assert_eq!(no_version.body["message"], "Version header was not found");
    let old_version = send(
        sandbox
            .http
            .get(sandbox.url("/contacts/"))
            .query(&[("locationId", &location)])
            .bearer_auth(sandbox.token())
            .header("Version", "1999-01-01"),
    )
    .await;
    assert_eq!(old_version.status, 400);
    let no_token = send(
        sandbox
            .http
            .get(sandbox.url("/contacts/"))
            .query(&[("locationId", &location)])
            .header("Version", "2021-07-28"),
    )
    .await;
    assert_eq!(no_token.status, 401);
    assert_eq!(no_token.body["message"], "Invalid token: access token is invalid");
    let forged =
        sandbox.call_as("pit-forged", "get-contacts", &[("locationId", &location)], None).await;
    assert_eq!(forged.status, 401);

    let unknown = sandbox.call("get-contact", &[("contactId", "doesNotExist0000000")], None).await;
    assert_eq!(unknown.status, 400);
    assert_eq!(unknown.body["message"], "Contact with id doesNotExist0000000 not found");
    let contact = sandbox.create_contact(json!({ "firstName": "Real" })).await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    assert_eq!(
        sandbox.call("get-task", &[("contactId", &contact), ("taskId", "nope")], None).await.status,
        400
    );
    assert_eq!(
        sandbox
            .call(
                "update-note",
                &[("contactId", &contact), ("id", "nope")],
                Some(json!({ "body": "b" }))
            )
            .await
            .status,
        400
    );
    assert_eq!(
        sandbox
            .call("edit-appointment", &[("eventId", "nope")], Some(json!({ "title": "t" })))
            .await
            .status,
        400
    );
}

#[tokio::test]
async fn random_bodies_never_make_the_sandbox_fail() {
    let sandbox = TestSandbox::start_with(|config| config.rate_limits.burst = 100_000).await;
    let contact = sandbox.create_contact(json!({ "firstName": "Fuzz" })).await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let targets = [
        (reqwest::Method::POST, "/contacts/".to_owned()),
        (reqwest::Method::PUT, format!("/contacts/{contact}")),
        (reqwest::Method::POST, "/contacts/search".to_owned()),
        (reqwest::Method::POST, "/contacts/upsert".to_owned()),
        (reqwest::Method::POST, format!("/contacts/{contact}/tasks")),
        (reqwest::Method::POST, "/calendars/events/appointments".to_owned()),
        (reqwest::Method::POST, "/contacts/bulk/tags/update/add".to_owned()),
    ];
    let fragments = [
        "{",
        "}",
        "[",
        "]",
        "\"locationId\"",
        ":",
        ",",
        "null",
        "1e999",
        "-1",
        "\"\"",
        "true",
        "\"tags\"",
        "{\"a\":",
        "\u{0}",
        "\"\\ud800\"",
    ];
    let mut refused = 0;
    for round in 0..300 {
        let body: String = (0..rng.gen_range(0..12))
            .map(|_| fragments[rng.gen_range(0..fragments.len())])
            .collect();
        let (method, path) = &targets[round % targets.len()];
        let reply = send(
            request(&sandbox, method.clone(), path)
                .header("content-type", "application/json")
                .body(body.clone()),
        )
        .await;
        assert!(reply.status < 500, "{method} {path} with {body:?} answered {}", reply.status);
        refused += usize::from((400..500).contains(&reply.status));
    }
    assert!(refused > 250, "most random bodies are refused ({refused} of 300)");
    let location = sandbox.location().to_owned();
    assert_eq!(sandbox.call("get-contacts", &[("locationId", &location)], None).await.status, 200);
}
