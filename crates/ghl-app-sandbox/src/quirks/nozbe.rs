//! Nozbe (api4, specs/partners/nozbe-openapi.json and NOTES.md §2, §0): 16-character ids;
//! `author_id` and the read-only times the vendor's models require (`last_activity_at` of a
//! task, `last_event_at` of a project), and only the time fields each resource has; `PUT`
//! changes the fields given; a refused body is a 400 (the only error status the file
//! declares); `DELETE /comments/{id}` answers the comment; lists filter by any field with
//! bracket operators and the literal `null` (`ended_at=null`, `due_at[max]=...`), `sortBy`
//! and `fields` are not filters. The sandbox's choices where the sources are UNCONFIRMED:
//! the `Api-Version` header is required (the vendor's client always sends it), and the
//! token is accepted raw only (no `apikey ` prefix).

use std::cmp::Ordering;

use axum::http::{HeaderMap, StatusCode};
use ghl_sandbox_kit::ids;
use rand_chacha::ChaCha8Rng;
use serde_json::Value;

use super::{Quirks, Refusal};
use crate::rest::Record;

pub struct Nozbe;

/// The time fields the vendor's model of each resource has (beside the generic stamps).
fn time_fields(resource: &str) -> &'static [&'static str] {
    match resource {
        "/tasks" => &["created_at", "last_modified", "last_activity_at"],
        "/comments" => &["created_at"],
        "/projects" => &["created_at", "last_event_at"],
        _ => &[],
    }
}

/// Drops the generic stamps a resource's model does not have (a tag has no times).
fn keep_own_times(resource: &str, record: &mut Record) {
    let own = time_fields(resource);
    for stamp in ["created_at", "last_modified"] {
        if !own.contains(&stamp) {
            record.remove(stamp);
        }
    }
}

impl Quirks for Nozbe {
    fn refuse(&self, headers: &HeaderMap) -> Option<Refusal> {
        if headers.get("api-version").is_none() {
            return Some(Refusal {
                status: StatusCode::BAD_REQUEST,
                code: "api_version_missing",
                message: "Send the Api-Version header (Api-Version: current)".into(),
            });
        }
        None
    }

    /// The vendor models' bounds: names of 1 to 255 characters, times of 0 or more.
    fn check(&self, resource: &str, record: &Record) -> Result<(), String> {
        if let Some(Value::String(name)) = record.get("name") {
            let length = name.chars().count();
            if resource != "/projects" && !(1..=255).contains(&length) {
                return Err(format!("name must have 1 to 255 characters, not {length}"));
            }
        }
        for field in ["due_at", "ended_at", "remind_at", "time_needed", "time_spent"] {
            if resource == "/reminders" && field == "remind_at" {
                continue; // a relative reminder counts back from the due time
            }
            if let Some(number) = record.get(field).and_then(Value::as_i64) {
                if number < 0 {
                    return Err(format!("{field} must be 0 or more, not {number}"));
                }
            }
        }
        Ok(())
    }

    fn new_id(&self, rng: &mut ChaCha8Rng) -> String {
        ids::new_secret(rng, "", 16)
    }

    fn created(&self, resource: &str, _records: &[Record], record: &mut Record, account: &str) {
        let author: String = account.chars().take(16).collect();
        let created = record.get("created_at").cloned().unwrap_or(Value::Null);
        match resource {
            "/tasks" => {
                record.insert("author_id".into(), author.into());
                record.insert("last_activity_at".into(), created);
            }
            "/comments" => {
                record.insert("author_id".into(), author.into());
            }
            "/projects" => {
                record.insert("author_id".into(), author.into());
                record.insert("last_event_at".into(), created);
            }
            _ => {}
        }
        keep_own_times(resource, record);
    }

    fn updated(&self, resource: &str, record: &mut Record) {
        let now = Value::from(chrono::Utc::now().timestamp_millis());
        match resource {
            "/tasks" => {
                record.insert("last_activity_at".into(), now);
            }
            "/comments" => {
                record.insert("edited_at".into(), now);
            }
            "/projects" => {
                record.insert("last_event_at".into(), now);
            }
            _ => {}
        }
        keep_own_times(resource, record);
    }

    fn put_merges(&self) -> bool {
        true
    }

    fn invalid_status(&self) -> StatusCode {
        StatusCode::BAD_REQUEST
    }

    fn delete_answers_record(&self, resource: &str) -> bool {
        resource == "/comments"
    }

    fn matches(&self, record: &Record, name: &str, value: &str) -> Option<bool> {
        if matches!(name, "sortBy" | "fields" | "resolve_ids") {
            return Some(true);
        }
        let (field, operator) = match name.split_once('[') {
            Some((field, rest)) => (field, rest.strip_suffix(']').unwrap_or(rest)),
            None => (name, "eq"),
        };
        let found = record.get(field).unwrap_or(&Value::Null);
        let order = compare(found, value);
        Some(match operator {
            "eq" => order == Some(Ordering::Equal),
            "ne" | "neq" => order != Some(Ordering::Equal),
            "gt" => order == Some(Ordering::Greater),
            "gte" | "ge" | "min" => matches!(order, Some(Ordering::Greater | Ordering::Equal)),
            "lt" => order == Some(Ordering::Less),
            "lte" | "le" | "max" => matches!(order, Some(Ordering::Less | Ordering::Equal)),
            _ => false,
        })
    }
}

/// A record's value against a filter's text: `null` is the literal null (a missing field is
/// null), numbers compare as numbers, booleans and text as written.
fn compare(found: &Value, wanted: &str) -> Option<Ordering> {
    match (found, wanted) {
        (Value::Null, "null") => Some(Ordering::Equal),
        (Value::Null, _) | (_, "null") => None,
        (Value::Number(number), _) => number.as_f64()?.partial_cmp(&wanted.parse::<f64>().ok()?),
        (Value::Bool(flag), _) => (flag.to_string() == wanted).then_some(Ordering::Equal),
        (Value::String(text), _) => Some(text.as_str().cmp(wanted)),
        _ => None,
    }
}
