//! Checks a request against the spec: which operation it is, its query parameters, its
//! `Version` and `Authorization` headers, and its JSON body.

use ghl_types::{Operation, OPERATIONS};
use serde_json::Value;

use crate::schemas::{body_required, needs_token, query_parameters, request_body_violations};

/// The operation a concrete request path is, by method and path template; a static segment
/// wins over a parameter (`/contacts/search` is the search, not a contact id).
pub fn find_operation(method: &str, path: &str) -> Option<&'static Operation> {
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    OPERATIONS
        .iter()
        .filter(|operation| operation.method.eq_ignore_ascii_case(method))
        .filter_map(|operation| {
            let template: Vec<&str> = operation.path.trim_end_matches('/').split('/').collect();
            if template.len() != segments.len() {
                return None;
            }
            let mut statics = 0;
            for (expected, actual) in template.iter().zip(&segments) {
                if expected.starts_with('{') {
                    if actual.is_empty() {
                        return None;
                    }
                } else if expected == actual {
                    statics += 1;
                } else {
                    return None;
                }
            }
            Some((statics, operation))
        })
        .max_by_key(|(statics, _)| *statics)
        .map(|(_, operation)| operation)
}

/// The operation id of a valid request, or every way it breaks the spec.
pub fn check_request(
    method: &str,
    path: &str,
    query: &[(String, String)],
    headers: &[(String, String)],
    body: Option<&Value>,
) -> Result<&'static str, Vec<String>> {
    let Some(operation) = find_operation(method, path) else {
        return Err(vec![format!("{method} {path} is no operation of the spec")]);
    };
    let header = |name: &str| {
        headers.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    };
    let mut violations = Vec::new();
    if header("version").is_none_or(str::is_empty) {
        violations.push("header Version is missing".to_owned());
    }
    if needs_token(operation.id)
        && !header("authorization").is_some_and(|value| value.starts_with("Bearer "))
    {
        violations.push("header Authorization: Bearer is missing".to_owned());
    }
    let parameters = query_parameters(operation.id);
    for (name, _) in query {
        if !parameters.iter().any(|(known, _)| known == name) {
            violations.push(format!("query parameter {name} is not in the spec"));
        }
    }
    for (name, required) in &parameters {
        if *required && !query.iter().any(|(given, _)| given == name) {
            violations.push(format!("required query parameter {name} is missing"));
        }
    }
    match body {
        Some(body) => violations.extend(request_body_violations(operation.id, body)),
        None if body_required(operation.id) => {
            violations.push("the request body is required".to_owned())
        }
        None => {}
    }
    if violations.is_empty() {
        Ok(operation.id)
    } else {
        Err(violations
            .into_iter()
            .map(|violation| format!("{}: {violation}", operation.id))
            .collect())
    }
}
