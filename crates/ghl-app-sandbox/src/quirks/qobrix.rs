//! Qobrix's quirks (specs/partners/NOTES.md §1, `specs/partners/qobrix-openapi-v2.yaml`): a
//! refused request is a 400 (the spec declares no 422); a delete is soft (it stamps
//! `trashed`, and lists and reads hide trashed records unless asked `trashed=true`; a delete
//! with `trashed=true` purges); every main record has an integer `ref`, counted per
//! resource; a list answers `pagination {page_count, current_page, has_next_page,
//! has_prev_page, count, limit}`; and its webhooks carry `{event_time, context, data}` with
//! only the fields each event's schema lists, a status change only when the status changed.

use axum::http::StatusCode;
use serde_json::{json, Value};

use super::{Deletion, Page, Quirks};
use crate::rest::Record;

pub struct Qobrix;

/// Whether the request asks for trashed records (`trashed=true` or `1`).
fn asks_trashed(query: &[(String, String)]) -> bool {
    query.iter().any(|(name, value)| name == "trashed" && matches!(value.as_str(), "true" | "1"))
}

fn is_trashed(record: &Record) -> bool {
    record.get("trashed").is_some_and(|value| !value.is_null())
}

/// `record` with only `fields` (those it has).
fn only(record: &Record, fields: &[&str]) -> Record {
    fields
        .iter()
        .filter_map(|field| record.get(*field).map(|value| ((*field).to_owned(), value.clone())))
        .collect()
}

impl Quirks for Qobrix {
    fn invalid_status(&self) -> StatusCode {
        StatusCode::BAD_REQUEST
    }

    fn list_params(&self) -> &[&str] {
        &["trashed"]
    }

    fn visible(&self, record: &Record, query: &[(String, String)]) -> bool {
        !is_trashed(record) || asks_trashed(query)
    }

    fn delete(&self, record: &mut Record, query: &[(String, String)], now: &str) -> Deletion {
        if asks_trashed(query) {
            return Deletion::Remove;
        }
        record.insert("trashed".into(), Value::String(now.to_owned()));
        record.insert("modified".into(), Value::String(now.to_owned()));
        Deletion::Keep
    }

    fn created(&self, resource: &str, records: &[Record], record: &mut Record, _account: &str) {
        // Main resources (`/contacts`) number their records; comments (under a parent) do not.
        if resource.matches('/').count() == 1 {
            let last = records.iter().filter_map(|other| other.get("ref")?.as_i64()).max();
            record.insert("ref".into(), json!(last.unwrap_or(0) + 1));
        }
    }

    fn page(&self, answer: &mut Value, page: &Page) {
        let limit = page.limit.max(1);
        let page_count = page.total.div_ceil(limit);
        let current = page.number - page.first + 1;
        answer["pagination"] = json!({
            "page_count": page_count,
            "current_page": current,
            "has_next_page": current < page_count,
            "has_prev_page": current > 1,
            "count": page.total,
            "limit": limit,
        });
    }

    fn event(&self, event: &str, before: Option<&Record>, after: &Record) -> Option<Record> {
        Some(match event {
            "lead_created" => only(after, &["id", "ref", "enquiry_date", "virtual_contact_name"]),
            "lead_status_changed" => {
                let old = before.and_then(|before| before.get("status")).cloned();
                let new = after.get("status").cloned();
                if old == new {
                    return None;
                }
                let mut data = only(after, &["id", "ref", "enquiry_date"]);
                data.insert("new_status".into(), new.unwrap_or(Value::Null));
                data.insert("old_status".into(), old.unwrap_or(Value::Null));
                data
            }
            "property_changed" => {
                only(after, &["id", "name", "ref", "sale_rent", "list_selling_price_amount"])
            }
            "project_changed" => only(after, &["id", "name", "ref", "website_status"]),
            _ => after.clone(),
        })
    }

    fn webhook(&self, body: &mut Value, _account_id: &str) {
        if let Some(body) = body.as_object_mut() {
            let time = body.remove("timestamp").unwrap_or_else(|| crate::rest::now().into());
            body.insert("event_time".into(), time);
        }
    }
}
