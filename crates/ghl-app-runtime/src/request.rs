//! A step's input checked against an operation and split into the parts of an HTTP
//! request: path parameters (each declared, required, of its type), query parameters,
//! and the body (typed `fields` with the required ones, or the body's JSON schema). A field
//! that is missing, unknown or of the wrong type is refused here, naming the app, the
//! operation and the field, before anything is sent.

use std::collections::BTreeMap;

use ghl_apps::manifest::{Field, FieldType, Fields};
use ghl_apps::place::{Param, Place};
use ghl_apps::Operation;
use serde_json::{Map, Value};
use url::Url;

use crate::error::RuntimeError;

/// One request of an operation, ready to send (and to send again, the same, on a retry).
/// Its Debug output hides the URL when the URL is a credential (Slack's, a webhook's).
#[derive(Clone, PartialEq)]
pub struct Request {
    /// The operation's name in the manifest.
    pub operation: String,
    /// The full URL, path filled, without the query.
    pub url: Url,
    /// Whether the URL is the connection's secret.
    pub url_is_secret: bool,
    /// Query parameters, in order (a list value repeats its name).
    pub query: Vec<(String, String)>,
    /// Header parameters (an account given as `header:NAME`, a paging cursor).
    pub headers: Vec<(String, String)>,
    /// The JSON body, for operations that have one.
    pub body: Option<Value>,
    /// The input the request was made from, by name (recovery reads the body's keys and the
    /// parent parameter from it).
    pub input: Map<String, Value>,
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let url: &dyn std::fmt::Debug =
            if self.url_is_secret { &"[redacted]" } else { &self.url.as_str() };
        f.debug_struct("Request")
            .field("operation", &self.operation)
            .field("url", url)
            .field("query", &self.query)
            .field("headers", &self.headers)
            .field("body", &self.body)
            .finish_non_exhaustive()
    }
}

impl Request {
    /// Sets a parameter where it goes (paging, lookups): the query's value is replaced, a
    /// body field set, a header replaced. Path parameters are fixed once the URL is made.
    pub fn set(&mut self, param: &Param, value: &Value) {
        match param.place {
            Place::Query => {
                self.query.retain(|(name, _)| *name != param.name);
                push_query(&mut self.query, &param.name, value);
            }
            Place::Body => {
                let body = self.body.get_or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(fields) = body {
                    fields.insert(param.name.clone(), value.clone());
                }
            }
            Place::Header => {
                self.headers.retain(|(name, _)| !name.eq_ignore_ascii_case(&param.name));
                self.headers.push((param.name.clone(), text(value)));
            }
            Place::Path => {}
        }
        self.input.insert(param.name.clone(), value.clone());
    }

    /// Removes a parameter by name from the query and the body.
    pub fn unset(&mut self, name: &str) {
        self.query.retain(|(key, _)| key != name);
        if let Some(Value::Object(fields)) = &mut self.body {
            fields.remove(name);
        }
        self.input.remove(name);
    }

    /// The value a parameter has in this request, if set.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.input.get(name)
    }
}

/// A value as it is written in a query string or a header.
pub(crate) fn text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

fn push_query(query: &mut Vec<(String, String)>, name: &str, value: &Value) {
    match value {
        Value::Array(items) => {
            query.extend(items.iter().map(|item| (name.to_owned(), text(item))));
        }
        Value::Null => {}
        other => query.push((name.to_owned(), text(other))),
    }
}

/// What `build` needs to know besides the operation and the input.
pub(crate) struct Context<'a> {
    pub app: &'a str,
    pub base: &'a Url,
    pub account: Option<&'a str>,
    /// Whether the base URL is the connection's secret.
    pub url_is_secret: bool,
    /// The body's compiled JSON schema, when the operation has one.
    pub schema: Option<&'a jsonschema::Validator>,
}

/// Checks `input` against `operation` and makes the request.
pub(crate) fn build(
    context: &Context<'_>,
    operation: &Operation,
    input: Value,
) -> Result<Request, RuntimeError> {
    let refuse = |field: &str, problem: String| RuntimeError::Input {
        app: context.app.to_owned(),
        operation: operation.name.clone(),
        field: field.to_owned(),
        problem,
    };
    let mut input = match input {
        Value::Object(map) => map,
        Value::Null => Map::new(),
        other => {
            return Err(refuse("(input)", format!("the input must be an object, not {other}")))
        }
    };
    if let (Some(account), Some(param)) = (context.account, &operation.account) {
        input.entry(param.name.clone()).or_insert_with(|| Value::String(account.to_owned()));
    }
    let mut path = BTreeMap::new();
    let mut query = Vec::new();
    let mut headers = Vec::new();
    let mut body = Map::new();
    for (name, value) in &input {
        if let Some(field) = operation.path_params.get(name) {
            check_type(field, value).map_err(|problem| refuse(name, problem))?;
            path.insert(name.clone(), text(value));
        } else if let Some(field) = operation.query.get(name) {
            check_type(field, value).map_err(|problem| refuse(name, problem))?;
            push_query(&mut query, name, value);
        } else if operation.account.as_ref().is_some_and(|param| param.name == *name) {
            let param = operation.account.as_ref().map(|param| param.place);
            match param {
                Some(Place::Header) => headers.push((name.clone(), text(value))),
                Some(Place::Body) => {
                    body.insert(name.clone(), value.clone());
                }
                _ => push_query(&mut query, name, value),
            }
        } else if let Some(declared) = &operation.body {
            if let Some(field) = declared.fields.get(name) {
                check_type(field, value).map_err(|problem| refuse(name, problem))?;
            } else if !declared.declares(name) {
                return Err(refuse(name, unknown(operation)));
            }
            body.insert(name.clone(), value.clone());
        } else {
            return Err(refuse(name, unknown(operation)));
        }
    }
    for name in operation.path_params.names().chain(operation.query.required()) {
        if !input.contains_key(name) {
            return Err(refuse(name, "is required".into()));
        }
    }
    if let Some(declared) = &operation.body {
        required(&declared.fields, &body).map_err(|name| refuse(&name, "is required".into()))?;
    }
    let body = operation.body.as_ref().map(|_| Value::Object(body));
    if let (Some(schema), Some(body)) = (context.schema, &body) {
        if let Some(error) = schema.iter_errors(body).next() {
            let at = error.instance_path().to_string();
            let field = at.trim_start_matches('/').split('/').next().unwrap_or_default();
            let field = if field.is_empty() { "(body)" } else { field };
            return Err(refuse(field, error.to_string()));
        }
    }
    let url = fill_path(context, operation, &path)?;
    let url_is_secret = context.url_is_secret;
    Ok(Request {
        operation: operation.name.clone(),
        url,
        url_is_secret,
        query,
        headers,
        body,
        input,
    })
}

fn unknown(operation: &Operation) -> String {
    let mut known: Vec<&str> =
        operation.path_params.names().chain(operation.query.names()).collect();
    if let Some(body) = &operation.body {
        known.extend(body.fields.names());
    }
    format!("is not a parameter of this operation (it takes {})", known.join(", "))
}

fn required(fields: &Fields, body: &Map<String, Value>) -> Result<(), String> {
    for name in fields.required() {
        if body.get(name).is_none_or(|value| value.is_null() || *value == "") {
            return Err(name.to_owned());
        }
    }
    Ok(())
}

/// Whether `value` is of the field's type and among its values.
fn check_type(field: &Field, value: &Value) -> Result<(), String> {
    if value.is_null() {
        return if field.required { Err("is required".into()) } else { Ok(()) };
    }
    let fits = match field.kind {
        FieldType::String => value.is_string(),
        FieldType::Integer => value.is_i64() || value.is_u64(),
        FieldType::Number => value.is_number(),
        FieldType::Boolean => value.is_boolean(),
        FieldType::Object => value.is_object(),
        FieldType::Array => value.is_array(),
        FieldType::DateTime => {
            value.as_str().is_some_and(|text| chrono::DateTime::parse_from_rfc3339(text).is_ok())
        }
    };
    if !fits {
        let kind = match field.kind {
            FieldType::String => "a string",
            FieldType::Integer => "an integer",
            FieldType::Number => "a number",
            FieldType::Boolean => "true or false",
            FieldType::Object => "an object",
            FieldType::Array => "a list",
            FieldType::DateTime => "an RFC 3339 time (2026-01-31T09:00:00Z)",
        };
        return Err(format!("must be {kind}, not {value}"));
    }
    if let Some(allowed) = &field.one_of {
        if !allowed.contains(value) {
            let list: Vec<String> = allowed.iter().map(Value::to_string).collect();
            return Err(format!("must be one of {}, not {value}", list.join(", ")));
        }
    }
    Ok(())
}

/// The base URL with the operation's path, each `{name}` replaced by its value as one
/// percent-encoded segment part.
fn fill_path(
    context: &Context<'_>,
    operation: &Operation,
    values: &BTreeMap<String, String>,
) -> Result<Url, RuntimeError> {
    let mut url = context.base.clone();
    let segments: Vec<String> = operation
        .path
        .split('/')
        .filter(|segment| !segment.is_empty())
        .map(|segment| {
            let mut filled = segment.to_owned();
            for (name, value) in values {
                filled = filled.replace(&format!("{{{name}}}"), value);
            }
            filled
        })
        .collect();
    if !segments.is_empty() {
        let Ok(mut path) = url.path_segments_mut() else {
            return Err(RuntimeError::Connection {
                app: context.app.to_owned(),
                problem: format!("has a base URL that cannot take a path ({})", context.base),
            });
        };
        path.pop_if_empty().extend(segments);
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn your_app() -> ghl_apps::Manifest {
        let manifests = ghl_apps::builtin::manifests().expect("the shipped manifests load");
        manifests.into_iter().find(|m| m.app == "your-app").expect("shipped")
    }

    fn context(base: &Url) -> Context<'_> {
        Context { app: "your-app", base, account: None, url_is_secret: false, schema: None }
    }

    #[test]
    fn input_is_split_into_path_query_and_body() {
        let manifest = your_app();
        let base = Url::parse("http://127.0.0.1:9/v1").expect("url");
        let update = manifest.operation("update-contact").expect("update");
        let input = serde_json::json!({"id": "a b/c", "name": "Ada"});
        let request = build(&context(&base), update, input).expect("fits");
        assert_eq!(request.url.as_str(), "http://127.0.0.1:9/v1/contacts/a%20b%2Fc");
        assert_eq!(request.body, Some(serde_json::json!({"name": "Ada"})));
        let list = manifest.operation("list-contacts").expect("list");
        let request = build(&context(&base), list, serde_json::json!({"limit": 5})).expect("fits");
        assert_eq!(request.query, [("limit".to_owned(), "5".to_owned())]);
    }

    #[test]
    fn a_missing_unknown_or_mistyped_field_is_named() {
        let manifest = your_app();
        let base = Url::parse("http://127.0.0.1:9/v1").expect("url");
        let create = manifest.operation("create-contact").expect("create");
        let cases = [
            (
                serde_json::json!({"email": "a@x.test"}),
                "your-app.create-contact: name: is required",
            ),
            (serde_json::json!({"name": 5}), "your-app.create-contact: name: must be a string"),
            (serde_json::json!({"name": "A", "nmae": "B"}), "nmae: is not a parameter"),
        ];
        for (input, wanted) in cases {
            let error = build(&context(&base), create, input).expect_err("refused");
            assert!(error.to_string().contains(wanted), "{error}");
        }
        let list = manifest.operation("list-contacts").expect("list");
        let error = build(&context(&base), list, serde_json::json!({"sort": "name"}))
            .expect_err("not in the enum");
        assert!(error.to_string().contains("sort: must be one of"), "{error}");
    }
}
