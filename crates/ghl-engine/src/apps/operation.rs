//! An operation of an app as the engine knows it, whatever the app: what a step of it sends
//! (method, path template and its parameters, query parameters, whether it takes a body),
//! what it needs and does (scopes, whether it writes, the events it causes, the field the
//! connection fills in), and what the catalog lists of it (its fields). Each app builds its
//! operations once, as data (HighLevel from its operation table, a manifest app from its
//! YAML); flows, the catalog, the interpreter and the front ends read only this, and an
//! app's client is handed the same value to send.

use std::fmt;

use reqwest::Method;
use serde_json::{json, Value};

/// One operation of an app (`highlevel.create-task`), built once when the app is.
#[derive(Debug, Clone, PartialEq)]
pub struct OperationSpec {
    /// Its id within its app (`create-task`): flows name it `<app>.<id>`.
    pub id: String,
    /// One line for people (`Create Task`).
    pub summary: String,
    pub method: Method,
    /// The path template (`/contacts/{contactId}/tasks`) and its parameters.
    pub path: PathTemplate,
    /// The query parameters it takes.
    pub query: Vec<String>,
    /// Whether it takes a JSON body (sent, `{}` at least, even when a step sets no field).
    pub body: bool,
    /// The scopes a connection needs for it (an OAuth connection's flows are checked).
    pub scopes: Vec<String>,
    /// Whether calling it changes anything: a write is recorded as an effect and never
    /// repeated blindly; a read is retried freely.
    pub writes: bool,
    /// Whether a write whose outcome is unknown (the connector stopped, or the connection
    /// dropped, between sending it and recording its answer) may be sent again. Not a write
    /// its app can neither deduplicate nor look up (a chat message): that one is held for a
    /// person to check, never repeated on a guess.
    pub repeatable: bool,
    /// The webhook events of its app a successful call causes: what recognises the echo of
    /// a flow's own write, and what `flows apply` warns about when a flow triggers itself.
    pub causes: Vec<String>,
    /// The input field the connection fills in with its account where a step does not set
    /// it (HighLevel's `locationId`): never required of a flow.
    pub account: Option<String>,
    /// What a step of it may set and gets back, as the catalog lists it.
    pub fields: OperationFields,
}

impl OperationSpec {
    /// An operation at `method` `path`: a write unless the method is safe, no query
    /// parameters, no body, no scope, no events; its fields are its path parameters
    /// (required). The app sets the rest.
    pub fn new(id: impl Into<String>, method: Method, path: impl Into<String>) -> Self {
        let path = PathTemplate::new(path);
        let fields = OperationFields {
            input: path.params().to_vec(),
            required: path.params().to_vec(),
            output: Vec::new(),
            any_input: false,
        };
        let writes = !method.is_safe();
        Self {
            id: id.into(),
            summary: String::new(),
            method,
            path,
            query: Vec::new(),
            body: false,
            scopes: Vec::new(),
            writes,
            repeatable: true,
            causes: Vec::new(),
            account: None,
            fields,
        }
    }

    /// Whether calling it changes nothing (safe to retry blindly).
    pub fn is_read(&self) -> bool {
        !self.writes
    }

    /// Whether a write of it causes `event`.
    pub fn causes(&self, event: &str) -> bool {
        self.causes.iter().any(|caused| caused == event)
    }

    /// A step's input as the operation takes it: path and query fields become parameters,
    /// the rest the body (none when nothing is left and the operation takes none).
    pub fn split_input(&self, input: Value) -> RequestParts {
        let Value::Object(mut fields) = input else { return (Vec::new(), None) };
        let text = |value: Value| match value {
            Value::String(text) => text,
            other => other.to_string(),
        };
        let mut params = Vec::new();
        for name in self.path.params().iter().chain(&self.query) {
            if let Some(value) = fields.remove(name) {
                params.push((name.clone(), text(value)));
            }
        }
        if fields.is_empty() {
            return (params, self.body.then(|| json!({})));
        }
        (params, Some(Value::Object(fields)))
    }
}

/// A step's request as an operation takes it: path and query parameters, and the body.
pub type RequestParts = (Vec<(String, String)>, Option<Value>);

/// What a step of an operation may set and gets back, as the catalog lists it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OperationFields {
    /// Fields the step's `input` may set.
    pub input: Vec<String>,
    /// Fields the step must set (less the one the connection fills in).
    pub required: Vec<String>,
    /// Fields of the answer, as later steps read them.
    pub output: Vec<String>,
    /// Whether the input may set fields beyond `input`: a body whose schema lists no
    /// properties takes any (the outgoing webhook's body is the step's whole input).
    pub any_input: bool,
}

/// A path template (`/contacts/{contactId}/tasks`) with its `{name}` parameters, read once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathTemplate {
    text: String,
    params: Vec<String>,
}

impl PathTemplate {
    pub fn new(text: impl Into<String>) -> Self {
        let text = text.into();
        let params = text
            .split('/')
            .filter_map(|segment| segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(str::to_owned)
            .collect();
        Self { text, params }
    }

    /// The template as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Its parameters, in order.
    pub fn params(&self) -> &[String] {
        &self.params
    }
}

impl fmt::Display for PathTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// How an app's client is asked to make one call, beyond the request itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallOptions<'a> {
    /// The write's intent key: the same for every attempt of one step of one run, across
    /// retries and restarts (the interpreter's effect key, `<run>:<step>`); `None` for reads
    /// and calls outside a run. An app whose API can will send it as an idempotency key
    /// (Standard Webhooks' `webhook-id`); HighLevel's API takes none.
    pub intent: Option<&'a str>,
    /// The first attempt spends the request [`AppClient::reserve`](super::AppClient::reserve)
    /// took from the budget, instead of waiting for one.
    pub reserved: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_parameters_are_read_once_from_the_template() {
        let path = PathTemplate::new("/contacts/{contactId}/tasks/{taskId}");
        assert_eq!(path.params(), ["contactId", "taskId"]);
        assert_eq!(path.to_string(), "/contacts/{contactId}/tasks/{taskId}");
        let spec =
            OperationSpec::new("get-task", Method::GET, "/contacts/{contactId}/tasks/{taskId}");
        assert!(spec.is_read());
        assert_eq!(spec.fields.required, ["contactId", "taskId"]);
        assert!(!OperationSpec::new("create-task", Method::POST, "/tasks").is_read());
    }

    #[test]
    fn input_splits_into_parameters_and_body() {
        let spec = OperationSpec {
            query: vec!["limit".into()],
            body: true,
            ..OperationSpec::new("create-task", Method::POST, "/contacts/{contactId}/tasks")
        };
        let (params, body) =
            spec.split_input(json!({ "contactId": "c-1", "limit": 5, "title": "Call" }));
        assert_eq!(params, [("contactId".into(), "c-1".into()), ("limit".into(), "5".into())]);
        assert_eq!(body, Some(json!({ "title": "Call" })));
        let (_, body) = spec.split_input(json!({ "contactId": "c-1" }));
        assert_eq!(body, Some(json!({})), "an operation that takes a body gets one");
        let read = OperationSpec::new("get", Method::GET, "/contacts/{contactId}");
        assert_eq!(read.split_input(json!({ "contactId": "c-1" })).1, None);
    }
}
