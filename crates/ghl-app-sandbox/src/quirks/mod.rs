//! What an app's sandbox does that its manifest cannot say (its quirks), one module per
//! app, chosen by the manifest's app id in one place (`of`). Every hook has a default that
//! is the generic REST sandbox's behaviour, so an app without quirks needs nothing here.

pub mod qobrix;

use axum::http::StatusCode;
use ghl_apps::Manifest;
use serde_json::Value;

use crate::rest::Record;

/// What a delete does to a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deletion {
    /// Gone for good.
    Remove,
    /// Kept, marked deleted (a soft delete): the hook changed it.
    Keep,
}

/// One page of a list, for an app whose answer describes its paging.
#[derive(Debug, Clone, Copy)]
pub struct PageInfo {
    /// 1-based.
    pub page: u64,
    pub limit: u64,
    /// Records matching the request, on every page.
    pub count: u64,
}

/// The hooks of an app's quirks.
pub trait Quirks: Send + Sync {
    /// The status of a refused body or parameter.
    fn invalid_status(&self) -> StatusCode {
        StatusCode::UNPROCESSABLE_ENTITY
    }

    /// Query parameters the quirks read themselves (no list filters records by them).
    fn list_params(&self) -> &[&str] {
        &[]
    }

    /// Whether a request with `query` sees `record` (a soft-deleted record is hidden).
    fn visible(&self, record: &Record, query: &[(String, String)]) -> bool {
        let _ = (record, query);
        true
    }

    /// What a delete with `query` does to `record`.
    fn delete(&self, record: &mut Record, query: &[(String, String)], now: &str) -> Deletion {
        let _ = (record, query, now);
        Deletion::Remove
    }

    /// Completes a new record of `resource` before it is stored, given the resource's
    /// records so far.
    fn on_create(&self, resource: &str, records: &[Record], record: &mut Record) {
        let _ = (resource, records, record);
    }

    /// Adds what the app's list answer says about its paging.
    fn page(&self, answer: &mut Value, page: PageInfo) {
        let _ = (answer, page);
    }

    /// The record a webhook `event` carries about a change from `before` to `after`, or
    /// `None` when the app sends no such event for this change.
    fn event(&self, event: &str, before: Option<&Record>, after: &Record) -> Option<Record> {
        let _ = (event, before);
        Some(after.clone())
    }

    /// Gives a webhook body its last touches (the app's own time field).
    fn webhook_body(&self, body: &mut Value) {
        let _ = body;
    }
}

/// The generic REST sandbox, as is.
pub struct Plain;

impl Quirks for Plain {}

/// The quirks of the manifest's app.
pub fn of(manifest: &Manifest) -> Box<dyn Quirks> {
    match manifest.app.as_str() {
        "qobrix" => Box::new(qobrix::Qobrix),
        _ => Box::new(Plain),
    }
}
