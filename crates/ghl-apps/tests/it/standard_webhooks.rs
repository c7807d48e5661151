//! The Standard Webhooks scheme against the vectors published with the specification
//! (specs/partners/standard-webhooks/test-vectors.json), and against the reference Rust
//! library's signatures.

use ghl_apps::signatures::standard_webhooks::{
    format_secret, headers, parse_secret, sign, verify, Delivery, SecretError,
    DEFAULT_TOLERANCE_SECS,
};
use ghl_apps::signatures::{SigningKey, VerifyError};
use serde_json::Value;

const VECTORS: &str =
    include_str!("../../../../specs/partners/standard-webhooks/test-vectors.json");

fn vectors() -> Vec<Value> {
    let file: Value = serde_json::from_str(VECTORS).expect("the vectors file is JSON");
    file["vectors"].as_array().expect("a list of vectors").clone()
}

fn text<'a>(vector: &'a Value, key: &str) -> Option<&'a str> {
    vector.get(key).and_then(Value::as_str)
}

/// Checks one vector; returns its name.
fn check_vector(vector: &Value) -> String {
    let name = text(vector, "name").expect("a name").to_owned();
    let expect = text(vector, "expect").expect("an expectation");
    let secrets: Vec<&str> = match (text(vector, "secret"), vector.get("secrets")) {
        (Some(secret), _) => vec![secret],
        (None, Some(Value::Array(secrets))) => secrets.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let keys: Vec<SigningKey> =
        secrets.iter().map(|secret| parse_secret(secret).expect("a usable secret")).collect();
    // A vector about one header gives only that one; the others are filled in so that it is
    // the one at fault (the missing-header vector gives none, as its name says).
    let filler = |value: &'static str| (!expect.contains("missing")).then_some(value);
    let id = text(vector, "webhook-id").or(filler("msg_p5jXN8AQM9LWM0D4loKWxJek"));
    let timestamp = text(vector, "webhook-timestamp");
    let body = text(vector, "body").unwrap_or("").as_bytes();
    // Verified at the signing time unless the vector says when.
    let now = vector["verify_at_unix"]
        .as_i64()
        .or_else(|| timestamp.and_then(|t| t.parse().ok()))
        .unwrap_or(0);

    if let (Some(expected), Some(key)) = (text(vector, "expected_signature"), keys.first()) {
        let signed_at: i64 = timestamp.expect("a timestamp").parse().expect("an integer");
        assert_eq!(sign(key, id.expect("an id"), signed_at, body), expected, "{name}: signing");
    }
    let signature = text(vector, "webhook-signature")
        .or(text(vector, "expected_signature"))
        .or(filler("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="));
    let delivery = Delivery { id, timestamp, signature, body };
    let outcome = verify(&keys, &delivery, now, DEFAULT_TOLERANCE_SECS);
    if expect.starts_with("valid") {
        assert_eq!(outcome, Ok(()), "{name}");
        // Each key of a rotation verifies alone too.
        for key in &keys {
            assert_eq!(verify(std::slice::from_ref(key), &delivery, now, 300), Ok(()), "{name}");
        }
    } else {
        let error = outcome.expect_err(&name);
        let fits = match error {
            VerifyError::MissingHeader(_) => expect.contains("missing"),
            VerifyError::BadTimestamp { .. } => expect.contains("not an integer"),
            VerifyError::TooOld { .. } => expect.contains("too old"),
            VerifyError::TooNew { .. } => expect.contains("too new"),
            VerifyError::NoMatch => {
                expect.contains("no matching signature") || expect.contains("re-serialised")
            }
            VerifyError::NoTimePart { .. } => false,
        };
        assert!(fits, "{name}: expected {expect}, got {error}");
    }
    name
}

#[test]
fn every_published_vector_holds() {
    let names: Vec<String> = vectors().iter().map(check_vector).collect();
    assert_eq!(names.len(), 12, "all vectors were checked: {names:?}");
}

#[test]
fn signing_agrees_with_the_reference_library() {
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let reference = standardwebhooks::Webhook::new(secret).expect("reference secret");
    let key = parse_secret(secret).expect("secret");
    for (index, body) in ["", "{}", "{\"a\": \"é\"}", &"x".repeat(10_000)].iter().enumerate() {
        let id = format!("msg_{index}");
        let timestamp = 1_700_000_000 + index as i64;
        let theirs = reference.sign(&id, timestamp, body.as_bytes()).expect("reference signs");
        assert_eq!(sign(&key, &id, timestamp, body.as_bytes()), theirs);
    }
}

#[test]
fn signed_headers_verify_and_any_change_is_refused() {
    let key = SigningKey::from_bytes((0u8..32).collect());
    let body = br#"{"type":"contact.created","data":{"id":"c1"}}"#;
    let [(_, id), (_, timestamp), (_, signature)] = headers(&key, "msg_1", 1_000, body);
    let delivery =
        Delivery { id: Some(&id), timestamp: Some(&timestamp), signature: Some(&signature), body };
    let keys = [key.clone()];
    assert_eq!(verify(&keys, &delivery, 1_000, 300), Ok(()));
    let other_id = Delivery { id: Some("msg_2"), ..delivery };
    assert_eq!(verify(&keys, &other_id, 1_000, 300), Err(VerifyError::NoMatch));
    let other_time = Delivery { timestamp: Some("1001"), ..delivery };
    assert_eq!(verify(&keys, &other_time, 1_000, 300), Err(VerifyError::NoMatch));
    let other_body = Delivery { body: b"{}", ..delivery };
    assert_eq!(verify(&keys, &other_body, 1_000, 300), Err(VerifyError::NoMatch));
    let garbage = Delivery { signature: Some("v1,not-base64 v1a,xyz nothing"), ..delivery };
    assert_eq!(verify(&keys, &garbage, 1_000, 300), Err(VerifyError::NoMatch));
    assert_eq!(verify(&[], &delivery, 1_000, 300), Err(VerifyError::NoMatch));
    // The secret round-trips through its `whsec_` form, and never prints.
    assert_eq!(parse_secret(&format_secret(&key)), Ok(key.clone()));
    assert_eq!(format!("{key:?}"), "SigningKey([redacted])");
}

#[test]
fn unusable_secrets_are_refused() {
    assert_eq!(parse_secret("whsec_"), Err(SecretError::Empty));
    assert_eq!(parse_secret(""), Err(SecretError::Empty));
    assert!(matches!(parse_secret("whsec_%%%"), Err(SecretError::NotBase64(_))));
}
