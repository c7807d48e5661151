//! The JSON body extractor of the API routes: size limit, JSON syntax (400), the spec's
//! property whitelist and required list (422, every problem named), then types (422).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, MatchedPath, Request};
use axum::http::StatusCode;
use ghl_types::Operation;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::ApiError;
use crate::Shared;

/// A validated body: the typed value and the raw object it came from (to tell an absent
/// field from a `null` one).
pub struct Body<T> {
    pub value: T,
    pub raw: Value,
}

impl<T: DeserializeOwned> FromRequest<Arc<Shared>> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, shared: &Arc<Shared>) -> Result<Self, Self::Rejection> {
        let operation = request
            .extensions()
            .get::<MatchedPath>()
            .and_then(|path| find_operation(request.method().as_str(), path.as_str()));
        let bytes = Bytes::from_request(request, shared).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::with_status(StatusCode::PAYLOAD_TOO_LARGE, "request entity too large")
            } else {
                ApiError::bad_request(format!("could not read the request body: {rejection}"))
            }
        })?;
        parse(&bytes, operation, shared)
    }
}

pub fn find_operation(method: &str, path: &str) -> Option<&'static Operation> {
    ghl_types::OPERATIONS
        .iter()
        .find(|operation| operation.method == method && operation.path == path)
}

fn parse<T: DeserializeOwned>(
    bytes: &[u8],
    operation: Option<&Operation>,
    shared: &Shared,
) -> Result<Body<T>, ApiError> {
    let raw: Value = if bytes.iter().all(u8::is_ascii_whitespace) {
        Value::Object(Default::default())
    } else {
        serde_json::from_slice(bytes)
            .map_err(|err| ApiError::bad_request(format!("Invalid JSON in request body: {err}")))?
    };
    let Value::Object(fields) = &raw else {
        return Err(ApiError::unprocessable(vec!["request body must be a JSON object".into()]));
    };
    let rule =
        operation.and_then(|op| op.request_schema).and_then(|name| shared.body_rules.get(name));
    if let Some(rule) = rule {
        let mut problems: Vec<String> = fields
            .keys()
            .filter(|key| !rule.properties.contains(key))
            .map(|key| format!("property {key} should not exist"))
            .collect();
        problems.extend(
            rule.required
                .iter()
                .filter(|key| match fields.get(key.as_str()) {
                    None => true,
                    Some(value) => value.is_null() && !rule.nullable.contains(key),
                })
                .map(|key| format!("{key} should not be empty")),
        );
        if !problems.is_empty() {
            return Err(ApiError::unprocessable(problems));
        }
    }
    let value = serde_path_to_error::deserialize(&raw).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        let message = if path == "." { inner.to_string() } else { format!("{path}: {inner}") };
        ApiError::unprocessable(vec![message])
    })?;
    Ok(Body { value, raw })
}
