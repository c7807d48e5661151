//! After a create whose answer was lost (timeout, dropped connection, 5xx), look for the
//! record before trying again, so that a retry never creates a second contact, task, note
//! or appointment. Each lookup is a read, itself retried as reads are.

use std::time::SystemTime;

use ghl_types::Operation;
use serde_json::{json, Value};

use crate::error::Result;
use crate::{Client, Params};

/// The answer the create would have given, if the record it meant to create exists.
pub(crate) async fn find_created(
    client: &Client,
    operation: &Operation,
    params: &Params<'_>,
    body: Option<&Value>,
    since: SystemTime,
) -> Result<Option<Value>> {
    let Some(body) = body else { return Ok(None) };
    let param = |name: &str| params.iter().find(|(key, _)| *key == name).map(|(_, value)| *value);
    match operation.id {
        "create-contact" => find_contact(client, body).await,
        "create-task" => {
            let Some(contact) = param("contactId") else {
                return Ok(None);
            };
            let tasks =
                Box::pin(client.call("get-all-tasks", &[("contactId", contact)], None)).await?;
            let found = newest_match(&tasks["tasks"], since, |task| {
                same(task, body, "title")
                    && same_time(task, body, "dueDate")
                    && same(task, body, "body")
            });
            Ok(found.map(|task| json!({ "task": task })))
        }
        "create-note" => {
            let Some(contact) = param("contactId") else {
                return Ok(None);
            };
            let notes =
                Box::pin(client.call("get-all-notes", &[("contactId", contact)], None)).await?;
            let found = newest_match(&notes["notes"], since, |note| same(note, body, "body"));
            Ok(found.map(|note| json!({ "note": note })))
        }
        "create-appointment" => {
            let Some(contact) = body.get("contactId").and_then(Value::as_str) else {
                return Ok(None);
            };
            let events = Box::pin(client.call(
                "get-appointments-for-contact",
                &[("contactId", contact)],
                None,
            ))
            .await?;
            let found = newest_match(&events["events"], since, |event| {
                same(event, body, "calendarId") && same_time(event, body, "startTime")
            });
            Ok(found)
        }
        _ => Ok(None),
    }
}

/// A contact is found by the location's duplicate rule: email, then phone.
async fn find_contact(client: &Client, body: &Value) -> Result<Option<Value>> {
    let location = body.get("locationId").and_then(Value::as_str).unwrap_or(client.location_id());
    let mut params = vec![("locationId", location)];
    if let Some(email) = body.get("email").and_then(Value::as_str) {
        params.push(("email", email));
    }
    if let Some(phone) = body.get("phone").and_then(Value::as_str) {
        params.push(("number", phone));
    }
    if params.len() == 1 {
        // Without email or phone nothing identifies the contact: HighLevel would accept a twin,
        // and so a retry could too. Look for one made since the call began, by name.
        let mut filters = Vec::new();
        for field in ["firstName", "lastName", "companyName"] {
            if let Some(value) = body.get(field).and_then(Value::as_str) {
                filters.push(json!({ "field": field, "operator": "eq", "value": value }));
            }
        }
        if filters.is_empty() {
            return Ok(None);
        }
        let search = json!({ "locationId": location, "pageLimit": 20, "filters": filters,
                              "sort": [{ "field": "dateAdded", "direction": "desc" }] });
        let found = Box::pin(client.call("search-contacts-advanced", &[], Some(&search))).await?;
        let first = found["contacts"].as_array().and_then(|contacts| contacts.first()).cloned();
        return Ok(first.map(|mut contact| {
            if let Value::Object(fields) = &mut contact {
                fields.remove("searchAfter");
            }
            json!({ "contact": contact })
        }));
    }
    let found = Box::pin(client.call("get-duplicate-contact", &params, None)).await?;
    Ok(found
        .get("contact")
        .filter(|contact| contact.is_object())
        .map(|contact| json!({ "contact": contact })))
}

/// The contact a refused duplicate names, as create-contact would have answered it.
pub(crate) async fn created_contact(client: &Client, contact_id: &str) -> Result<Value> {
    let found = Box::pin(client.call("get-contact", &[("contactId", contact_id)], None)).await?;
    Ok(json!({ "contact": found["contact"] }))
}

fn same(record: &Value, body: &Value, field: &str) -> bool {
    match body.get(field) {
        None | Some(Value::Null) => true,
        Some(wanted) => record.get(field) == Some(wanted),
    }
}

/// Times compare as instants: `2026-12-01T10:00:00Z` is `2026-12-01T10:00:00.000Z`.
fn same_time(record: &Value, body: &Value, field: &str) -> bool {
    let instant = |value: Option<&Value>| value.and_then(Value::as_str).and_then(millis);
    match body.get(field) {
        None | Some(Value::Null) => true,
        Some(wanted) => {
            instant(Some(wanted)).is_some() && instant(Some(wanted)) == instant(record.get(field))
        }
    }
}

/// The last record matching, among those not known to predate the call.
fn newest_match(
    records: &Value,
    since: SystemTime,
    matches: impl Fn(&Value) -> bool,
) -> Option<Value> {
    let since_ms =
        since.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0);
    records
        .as_array()?
        .iter()
        .rfind(|record| {
            let added = record.get("dateAdded").and_then(Value::as_str).and_then(millis);
            matches(record) && added.is_none_or(|added| added >= since_ms)
        })
        .cloned()
}

/// Milliseconds since the epoch of an RFC 3339 time (UTC `Z` or an offset).
fn millis(text: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(text.trim()).ok().map(|time| time.timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::millis;

    #[test]
    fn rfc3339_times_compare_as_instants() {
        assert_eq!(millis("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(millis("2026-12-01T10:00:00Z"), millis("2026-12-01T10:00:00.000Z"));
        assert_eq!(millis("2026-12-01T11:00:00+01:00"), millis("2026-12-01T10:00:00Z"));
        assert_eq!(millis("2021-11-26T12:41:02.193Z"), Some(1_637_930_462_193));
        assert_eq!(millis("yesterday"), None);
    }
}
