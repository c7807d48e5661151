//! After a create whose answer was lost (timeout, dropped connection, 5xx), look for the
//! record before trying again, so that a retry never creates a second contact, task, note
//! or appointment. Each lookup is a read, itself retried as reads are.

use std::time::SystemTime;

use chrono::{DateTime, Utc};
use ghl_types::operations::{ChildOf, DuplicateRule, LostCreate, Match, NextPage, Paging};
use ghl_types::Operation;
use serde_json::{json, Value};

use crate::error::{Error, Result};
use crate::{Client, Params};

/// The answer the create would have given, if the record it meant to create exists: found
/// the way the operation's row of the table says (`Operation::creates`).
pub(crate) async fn find_created(
    client: &Client,
    operation: &Operation,
    params: &Params<'_>,
    body: Option<&Value>,
    since: SystemTime,
) -> Result<Option<Value>> {
    let Some(body) = body else { return Ok(None) };
    match operation.creates {
        Some(LostCreate::DuplicateRule(rule)) => {
            let tenant = operation.tenant.and_then(|param| param.value_in(params, Some(body)));
            find_unique(client, &rule, tenant, body).await
        }
        Some(LostCreate::Child(child)) => find_child(client, &child, params, body, since).await,
        None => Ok(None),
    }
}

/// The newest of the parent's children since the call began that matches the body.
async fn find_child(
    client: &Client,
    child: &ChildOf,
    params: &Params<'_>,
    body: &Value,
    since: SystemTime,
) -> Result<Option<Value>> {
    let Some(parent) = child.parent.value_in(params, Some(body)) else {
        return Ok(None);
    };
    let children = Box::pin(client.call(child.list, &[(child.parent.name, parent)], None)).await?;
    let found = newest_match(&children[child.records], since, |record| {
        child.matching.iter().all(|rule| match *rule {
            Match::Same(field) => same(record, body, field),
            Match::SameInstant(field) => same_time(record, body, field),
        })
    });
    Ok(found.map(|record| match child.answer {
        Some(field) => json!({ field: record }),
        None => record,
    }))
}

/// A record unique by the tenant's duplicate rule is found by its keys (a contact: email,
/// then phone); without any, by a search for the newest with the same names.
async fn find_unique(
    client: &Client,
    rule: &DuplicateRule,
    tenant: Option<&str>,
    body: &Value,
) -> Result<Option<Value>> {
    let tenant = tenant.unwrap_or(client.location_id());
    let lookup = operation(rule.lookup)?;
    let keys: Vec<(String, String)> = rule
        .keys
        .iter()
        .filter_map(|(field, param)| {
            body.get(*field).and_then(Value::as_str).map(|value| ((*param).into(), value.into()))
        })
        .collect();
    if keys.is_empty() {
        return search_newest(client, rule, tenant, body).await;
    }
    let mut params = Vec::new();
    lookup.fill_tenant(tenant, &mut params, &mut None);
    params.extend(keys);
    let found = Box::pin(client.call_owned(lookup.id, &params, None)).await?;
    Ok(found
        .get(rule.record)
        .filter(|record| record.is_object())
        .map(|record| json!({ rule.record: record })))
}

/// Without a key nothing identifies the record: the app would accept a twin, and so a retry
/// could too. Look for one made since the call began, by its names.
async fn search_newest(
    client: &Client,
    rule: &DuplicateRule,
    tenant: &str,
    body: &Value,
) -> Result<Option<Value>> {
    let search = operation(rule.search)?;
    let mut filters = Vec::new();
    for field in rule.search_fields {
        if let Some(value) = body.get(*field).and_then(Value::as_str) {
            filters.push(json!({ "field": field, "operator": "eq", "value": value }));
        }
    }
    if filters.is_empty() {
        return Ok(None);
    }
    let mut query = Some(json!({ "pageLimit": 20, "filters": filters,
                                 "sort": [{ "field": "dateAdded", "direction": "desc" }] }));
    search.fill_tenant(tenant, &mut Vec::new(), &mut query);
    let found = Box::pin(client.call(search.id, &[], query.as_ref())).await?;
    let Some(paging) = search.paging else { return Ok(None) };
    let first = found[paging.records].as_array().and_then(|records| records.first()).cloned();
    Ok(first.map(|mut record| {
        // The search's paging position is not part of the record the create answers.
        if let (Value::Object(fields), Paging { next: NextPage::RecordCursor { field, .. }, .. }) =
            (&mut record, paging)
        {
            fields.remove(field);
        }
        json!({ rule.record: record })
    }))
}

/// The record a duplicate refusal names, as the create would have answered it.
pub(crate) async fn refused_twin(client: &Client, rule: &DuplicateRule, id: &str) -> Result<Value> {
    let found = Box::pin(client.call(rule.read, &[(rule.read_id, id)], None)).await?;
    Ok(json!({ rule.record: found[rule.record] }))
}

fn operation(id: &str) -> Result<&'static Operation> {
    Operation::find(id).ok_or_else(|| Error::InvalidCall(format!("unknown operation {id}")))
}

fn same(record: &Value, body: &Value, field: &str) -> bool {
    match body.get(field) {
        None | Some(Value::Null) => true,
        Some(wanted) => record.get(field) == Some(wanted),
    }
}

/// Times compare as instants: `2026-12-01T10:00:00Z` is `2026-12-01T10:00:00.000Z`.
fn same_time(record: &Value, body: &Value, field: &str) -> bool {
    let instant = |value: Option<&Value>| value.and_then(Value::as_str).and_then(instant);
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
    // To the millisecond, as the records' times are.
    let since = DateTime::<Utc>::from(since);
    let since = DateTime::from_timestamp_millis(since.timestamp_millis()).unwrap_or(since);
    records
        .as_array()?
        .iter()
        .rfind(|record| {
            let added = record.get("dateAdded").and_then(Value::as_str).and_then(instant);
            matches(record) && added.is_none_or(|added| added >= since)
        })
        .cloned()
}

/// The instant an RFC 3339 time (UTC `Z` or an offset) names.
fn instant(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text.trim()).ok().map(|time| time.to_utc())
}

#[cfg(test)]
mod tests {
    use super::instant;

    #[test]
    fn rfc3339_times_compare_as_instants() {
        let millis = |text| instant(text).map(|time| time.timestamp_millis());
        assert_eq!(millis("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(instant("2026-12-01T10:00:00Z"), instant("2026-12-01T10:00:00.000Z"));
        assert_eq!(instant("2026-12-01T11:00:00+01:00"), instant("2026-12-01T10:00:00Z"));
        assert_eq!(millis("2021-11-26T12:41:02.193Z"), Some(1_637_930_462_193));
        assert_eq!(instant("yesterday"), None);
    }
}
