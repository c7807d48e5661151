//! Answers in the app's own shapes: a REST app's error body built from the manifest's
//! `errors.message` / `errors.code` places, a messaging app's one plain-text word, and the
//! answers of injected faults.

use std::time::Duration;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use ghl_apps::place::ValueAt;
use ghl_sandbox_kit::{DropConnection, Fault};
use serde_json::{Map, Value};

use crate::{Kind, Shared};

/// Puts `value` at a JSON pointer of `document`, making the objects on the way, or the
/// arrays where a token is an index into one (`/errors/0/detail`); `""` replaces the
/// document.
pub fn set(document: &mut Value, pointer: &str, value: Value) {
    let mut at = document;
    for token in pointer.split('/').skip(1) {
        let token = token.replace("~1", "/").replace("~0", "~");
        let index = token.parse::<usize>().ok().filter(|_| !at.is_object());
        if let Some(index) = index {
            if !at.is_array() {
                *at = Value::Array(Vec::new());
            }
            let Value::Array(items) = at else { unreachable!("made an array just above") };
            if items.len() <= index {
                items.resize(index + 1, Value::Null);
            }
            at = &mut items[index];
            continue;
        }
        if !at.is_object() {
            *at = Value::Object(Map::new());
        }
        let Value::Object(object) = at else { unreachable!("made an object just above") };
        at = object.entry(token).or_insert(Value::Null);
    }
    *at = value;
}

/// A plain-text answer (Slack's `ok` and error codes, Teams' `1`).
pub fn text(status: StatusCode, body: impl Into<String>) -> Response {
    (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body.into()).into_response()
}

/// An error of the app with its code and message, where its manifest says they go, and
/// `extra` values at their pointers (a duplicate's existing id).
pub fn error(
    shared: &Shared,
    status: StatusCode,
    code: &str,
    message: &str,
    extra: &[(&str, Value)],
) -> Response {
    let errors = &shared.manifest.errors;
    if shared.kind != Kind::Rest || matches!(errors.code, Some(ValueAt::Text)) {
        return text(status, code);
    }
    let mut body = Value::Object(Map::new());
    let mut placed = false;
    for (at, value) in [(&errors.message, message), (&errors.code, code)] {
        if let Some(ValueAt::Body(pointer)) = at {
            set(&mut body, pointer.as_str(), Value::String(value.to_owned()));
            placed = true;
        }
    }
    if !placed {
        set(&mut body, "/error", Value::String(message.to_owned()));
    }
    for (pointer, value) in extra {
        set(&mut body, pointer, value.clone());
    }
    shared.quirks.error(&mut body, status, &mut shared.rng.lock());
    (status, axum::Json(body)).into_response()
}

/// The answer of an injected fault, in the app's shape; a reset drops the connection.
pub fn fault(shared: &Shared, fault: Fault, retry_after_secs: u64) -> Response {
    match fault {
        Fault::Reset | Fault::ResetAfter => {
            let mut response = StatusCode::INTERNAL_SERVER_ERROR.into_response();
            response.extensions_mut().insert(DropConnection);
            response
        }
        Fault::TooManyRequests => too_many(shared, Duration::from_secs(retry_after_secs)),
        Fault::InternalError => match shared.kind {
            // Slack's documented 500.
            Kind::Slack => text(StatusCode::INTERNAL_SERVER_ERROR, "rollup_error"),
            _ => error(
                shared,
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "Internal server error",
                &[],
            ),
        },
        // A proxy's page, as any app behind a load balancer answers.
        Fault::BadGateway => (
            StatusCode::BAD_GATEWAY,
            [(header::CONTENT_TYPE, "text/html")],
            "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center></body></html>",
        )
            .into_response(),
        Fault::Unavailable => error(
            shared,
            StatusCode::SERVICE_UNAVAILABLE,
            "service_unavailable",
            "Service unavailable",
            &[],
        ),
        Fault::Slow(_) => StatusCode::OK.into_response(),
    }
}

/// 429 with `Retry-After` in whole seconds (at least 1).
pub fn too_many(shared: &Shared, retry_after: Duration) -> Response {
    let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
    let mut response = error(
        shared,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        "Too many requests; retry after the Retry-After header's seconds",
        &[],
    );
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
    response
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::set;

    #[test]
    fn a_pointer_makes_objects_and_arrays_on_the_way() {
        let mut body = Value::Null;
        set(&mut body, "/errors/0/detail", json!("name is required"));
        set(&mut body, "/errors/0/code", json!("blank"));
        set(&mut body, "/meta/next_page", json!(2));
        assert_eq!(
            body,
            json!({"errors": [{"detail": "name is required", "code": "blank"}], "meta": {"next_page": 2}})
        );
        let mut keyed = json!({"0": "an object keeps its keys"});
        set(&mut keyed, "/0", json!("still an object"));
        assert_eq!(keyed, json!({"0": "still an object"}));
    }
}
