//! What an app's sandbox does that its manifest cannot say: one module per app, each an
//! implementation of [`Quirks`] whose every method defaults to the generic REST sandbox's
//! behaviour. The generic sandbox asks [`of`] the app's quirks at each point where apps
//! differ (ids, seeded records, natural-key uniqueness, list filters, page metadata, error
//! bodies and statuses, webhook envelopes and which changes send one, soft deletes, record
//! versions, a request answered its own way, app-side activity).

pub mod bqe_core;
pub mod nozbe;
pub mod qobrix;
pub mod qonto;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use ghl_apps::Operation;
use ghl_sandbox_kit::ids;
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

use crate::rest::{Record, Rest};
use crate::Shared;

/// An app's refusal of a request (its status, error code and message), answered in the
/// app's error shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

/// What a delete does to a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deletion {
    /// Gone for good.
    Remove,
    /// Kept, marked deleted (a soft delete): the hook changed it.
    Keep,
}

/// A numbered page of a list, as answered.
#[derive(Debug, Clone, Copy)]
pub struct Page {
    /// The page's number (from `first`).
    pub number: u64,
    pub limit: u64,
    /// Records matching the request, on every page.
    pub total: u64,
    pub first: u64,
}

/// What a declared query parameter of a list does to its records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    /// The record's field equals the value (any of the values, when it is given several times).
    Equals(String),
    /// The record's time field is at or after the value (an RFC 3339 time).
    From(String),
    /// The record's time field is at or before the value.
    To(String),
    /// Changes nothing here (an embedding, a format).
    Ignore,
}

impl Filter {
    /// The generic reading of a parameter: JSON:API's `filter[field]`, else the field named
    /// as the parameter.
    pub fn generic(name: &str) -> Self {
        let field = name.strip_prefix("filter[").and_then(|rest| rest.strip_suffix(']'));
        Self::Equals(field.unwrap_or(name).to_owned())
    }

    /// Whether `record` passes for the parameter's `values`.
    pub fn keeps(&self, record: &Record, values: &[&str]) -> bool {
        let time = |field: &str| {
            record
                .get(field)
                .and_then(Value::as_str)
                .and_then(|text| chrono::DateTime::parse_from_rfc3339(text).ok())
        };
        let bound = |value: &str| chrono::DateTime::parse_from_rfc3339(value).ok();
        match self {
            Self::Ignore => true,
            Self::Equals(field) => values.iter().any(|value| match record.get(field) {
                Some(Value::String(text)) => text == value,
                Some(other) => serde_json::from_str::<Value>(value).ok().as_ref() == Some(other),
                None => false,
            }),
            Self::From(field) => values.iter().all(|value| match (time(field), bound(value)) {
                (Some(at), Some(from)) => at >= from,
                _ => false,
            }),
            Self::To(field) => values.iter().all(|value| match (time(field), bound(value)) {
                (Some(at), Some(to)) => at <= to,
                _ => false,
            }),
        }
    }
}

/// An app's departures from the generic REST sandbox.
pub trait Quirks: Send + Sync {
    /// A new record's id.
    fn new_id(&self, rng: &mut ChaCha8Rng) -> String {
        ids::new_id(rng)
    }

    /// Records the app holds from the start (what its API only reads).
    fn seed(&self, _rest: &Rest, _rng: &mut ChaCha8Rng) {}

    /// Whether the natural keys of a create are unique on the app's side (a second record
    /// with one is refused with a 409).
    fn unique_natural_keys(&self) -> bool {
        true
    }

    /// What a declared query parameter of a list does.
    fn filter(&self, name: &str) -> Filter {
        Filter::generic(name)
    }

    /// Before the generic handling, after auth and rate limits: an answer of the app's own,
    /// or `None` to go on (with the query perhaps rewritten).
    fn prepare(
        &self,
        _shared: &Shared,
        _operation: &Operation,
        _query: &mut Vec<(String, String)>,
        _body: &Bytes,
    ) -> Option<Response> {
        None
    }

    /// A list answer completed with the app's page metadata.
    fn page(&self, _answer: &mut Value, _page: &Page) {}

    /// An error body completed in the app's shape.
    fn error(&self, _body: &mut Value, _status: StatusCode, _rng: &mut ChaCha8Rng) {}

    /// The id of a new webhook delivery (kept across its retries).
    fn delivery_id(&self, rng: &mut ChaCha8Rng) -> String {
        format!("msg_{}", ids::new_id(rng))
    }

    /// A webhook body completed in the app's envelope; `account_id` is the sandbox's account.
    fn webhook(&self, _body: &mut Value, _account_id: &str) {}

    /// Changes made on the app's side, not through its API (a card payment): asked for with
    /// `POST /_sandbox/activity`; answers what was done.
    fn activity(&self, _shared: &Shared) -> Value {
        json!({ "changed": 0 })
    }

    /// The status of a refused body or parameter.
    fn invalid_status(&self) -> StatusCode {
        StatusCode::UNPROCESSABLE_ENTITY
    }

    /// Query parameters the quirks read themselves (no list filters records by them).
    fn list_params(&self) -> &[&str] {
        &[]
    }

    /// Whether a request with `query` sees `record` (a soft-deleted record is hidden).
    fn visible(&self, _record: &Record, _query: &[(String, String)]) -> bool {
        true
    }

    /// What a delete with `query` does to `record`.
    fn delete(&self, _record: &mut Record, _query: &[(String, String)], _now: &str) -> Deletion {
        Deletion::Remove
    }

    /// The record a webhook `event` carries about a change from `before` to `after`, or
    /// `None` when the app sends no such event for this change.
    fn event(&self, _event: &str, _before: Option<&Record>, after: &Record) -> Option<Record> {
        Some(after.clone())
    }

    /// An update checked against the stored record before anything changes.
    fn check_update(&self, _stored: &Record, _changes: &Record) -> Result<(), Refusal> {
        Ok(())
    }

    /// A request the app refuses whoever sends it (a header it requires), checked before
    /// the credentials.
    fn refuse(&self, _headers: &HeaderMap) -> Option<Refusal> {
        None
    }

    /// A refusal of a written record the manifest's types cannot express (a length, a
    /// minimum), naming the field.
    fn check(&self, _resource: &str, _record: &Record) -> Result<(), String> {
        Ok(())
    }

    /// What the app fills in on a new record of `resource` (`/tasks`, a child collection's
    /// `/contacts/c-1/comments`) besides its id and times, before it is stored and answered:
    /// given the resource's records so far and the sandbox's account (the credentials'
    /// owner).
    fn created(&self, _resource: &str, _records: &[Record], _record: &mut Record, _account: &str) {}

    /// What the app changes on an updated record besides its modification time, before it
    /// is stored and answered.
    fn updated(&self, _resource: &str, _record: &mut Record) {}

    /// Whether a `PUT` changes only the fields it gives (else it replaces the record).
    fn put_merges(&self) -> bool {
        false
    }

    /// Whether a `DELETE` of a `resource` record answers the deleted record.
    fn delete_answers_record(&self, _resource: &str) -> bool {
        false
    }

    /// Whether `record` passes the list parameter `name=value`; `None` leaves it to the
    /// generic filter.
    fn matches(&self, _record: &Record, _name: &str, _value: &str) -> Option<bool> {
        None
    }
}

/// The generic REST sandbox: no quirk.
pub struct Generic;

impl Quirks for Generic {}

/// The quirks of `app`.
pub fn of(app: &str) -> &'static dyn Quirks {
    match app {
        "qonto" => &qonto::Qonto,
        "bqe-core" => &bqe_core::BQE_CORE,
        "nozbe" => &nozbe::Nozbe,
        "qobrix" => &qobrix::Qobrix,
        _ => &Generic,
    }
}
