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
    let rule = operation.and_then(|op| shared.body_rules.for_operation(op));
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
        let path: Vec<String> = err.path().iter().map(ToString::to_string).collect();
        ApiError::unprocessable(vec![class_validator_message(&path, &err.into_inner().to_string())])
    })?;
    Ok(Body { value, raw })
}

/// A type error in class-validator's words, as HighLevel's NestJS answers it: `email must be a
/// string`, `each value in tags must be a string`, `customFields.0.property foo should not
/// exist`, `customFields.0.id should not be empty`.
fn class_validator_message(path: &[String], serde_message: &str) -> String {
    let dotted = |segments: &[String]| -> String {
        segments
            .iter()
            .map(|segment| segment.trim_start_matches('[').trim_end_matches(']'))
            .collect::<Vec<_>>()
            .join(".")
    };
    let within = |name: &str| -> String {
        // serde names the object for unknown and missing fields, sometimes the field too.
        let parent = match path.last() {
            Some(last) if last == name => &path[..path.len() - 1],
            _ => path,
        };
        let parent = dotted(parent);
        if parent.is_empty() {
            String::new()
        } else {
            format!("{parent}.")
        }
    };
    let quoted = |marker: &str| -> Option<String> {
        let rest = serde_message.split_once(marker)?.1;
        rest.split('`').next().map(str::to_owned)
    };
    if let Some(name) = quoted("unknown field `") {
        return format!("{}property {name} should not exist", within(&name));
    }
    if let Some(name) = quoted("missing field `") {
        return format!("{}{name} should not be empty", within(&name));
    }
    let field = dotted(path);
    if let Some((_, allowed)) = serde_message.split_once("expected one of ") {
        return format!(
            "{field} must be one of the following values: {}",
            allowed.replace('`', "")
        );
    }
    let expected = serde_message.rsplit_once("expected ").map_or("", |(_, expected)| expected);
    let in_array = path.last().is_some_and(|last| last.starts_with('['));
    let subject = match (in_array, path.len()) {
        (true, length) if length > 1 => format!("each value in {}", dotted(&path[..length - 1])),
        _ => field.clone(),
    };
    match expected {
        "a string" | "a borrowed string" => format!("{subject} must be a string"),
        "a boolean" => format!("{subject} must be a boolean value"),
        "a sequence" => format!("{field} must be an array"),
        "i64" | "u64" | "f64" | "i32" | "u32" | "a number" => {
            format!("{subject} must be a number conforming to the specified constraints")
        }
        other if other.starts_with("struct") || other.starts_with("a map") => {
            format!("nested property {field} must be either object or array")
        }
        _ if field.is_empty() => serde_message.to_owned(),
        _ => format!("{field} is invalid: {serde_message}"),
    }
}
