//! Finding the record a write made when its answer was lost, as its `write:` says, so it
//! is never repeated blindly: a `natural_key` create is looked up by the first key its body
//! has (or, without one, the newest record made since the call whose `fallback.fields`
//! equal the body's); a `child_of` create is the newest of its parent's children made since
//! the call whose `matching` fields equal the body's; and a duplicate refusal that names
//! the existing record (`duplicate.id_at`) after an ambiguous attempt is the proof that the
//! attempt made it.

use std::time::{SystemTime, UNIX_EPOCH};

use chrono::DateTime;
use futures_util::TryStreamExt;
use ghl_apps::place::{Pointer, ValueAt};
use ghl_apps::triggers::TimeFormat;
use ghl_apps::writes::{ChildOf, NaturalKey, Write};
use ghl_apps::Operation;
use serde_json::{json, Map, Value};

use crate::answer::Answer;
use crate::client::ManifestClient;
use crate::error::RuntimeError;
use crate::request::Request;

/// The existing record's id a duplicate refusal names, where `write.duplicate.id_at` says.
pub(crate) fn duplicate_id(operation: Option<&Operation>, answer: &Answer) -> Option<String> {
    let Some(Write::NaturalKey(NaturalKey { duplicate: Some(proof), .. })) =
        operation.and_then(|operation| operation.write.as_ref())
    else {
        return None;
    };
    match answer.at(&ValueAt::Body(proof.id_at.clone()))? {
        Value::String(id) => Some(id),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// After an ambiguous attempt, the app refused the create as a duplicate: the record it
/// names (read by the proof's operation), or else the one the keys find.
pub(crate) async fn refused_twin(
    client: &ManifestClient,
    operation: &Operation,
    request: &Request,
    answer: &Answer,
    since: SystemTime,
) -> Result<Option<Value>, RuntimeError> {
    if let (Some(Write::NaturalKey(NaturalKey { duplicate: Some(proof), .. })), Some(id)) =
        (&operation.write, duplicate_id(Some(operation), answer))
    {
        let read = client.request(&proof.read, json!({ proof.read_id.name.clone(): id }))?;
        let answer = Box::pin(client.read(&read)).await?;
        return client.record(&proof.read, &answer).map(Some);
    }
    find_created(client, operation, request, since).await
}

/// The record `request` made, if it exists (reads only).
pub(crate) async fn find_created(
    client: &ManifestClient,
    operation: &Operation,
    request: &Request,
    since: SystemTime,
) -> Result<Option<Value>, RuntimeError> {
    let body = match &request.body {
        Some(Value::Object(body)) => body.clone(),
        _ => Map::new(),
    };
    match &operation.write {
        Some(Write::NaturalKey(key)) => by_natural_key(client, key, &body, since).await,
        Some(Write::ChildOf(child)) => child_of(client, child, request, &body, since).await,
        _ => Ok(None),
    }
}

async fn by_natural_key(
    client: &ManifestClient,
    key: &NaturalKey,
    body: &Map<String, Value>,
    since: SystemTime,
) -> Result<Option<Value>, RuntimeError> {
    let present = key.keys.iter().find_map(|matching| {
        body.get(&matching.field)
            .filter(|value| !value.is_null() && **value != "")
            .map(|value| (matching, value))
    });
    if let Some((matching, value)) = present {
        let param = match &matching.template {
            Some(template) => Value::String(template.fill_value(value)),
            None => value.clone(),
        };
        let records = list(
            client,
            &key.lookup,
            json!({ matching.param.name.clone(): param }),
            key.records.as_ref(),
        )
        .await?;
        // The app's filter is not trusted alone: the record must hold the key.
        return Ok(records.into_iter().find(|record| record.get(&matching.field) == Some(value)));
    }
    let Some(fallback) = &key.fallback else { return Ok(None) };
    let records = list(client, &fallback.search, json!({}), None).await?;
    let created = created_field(client);
    Ok(newest(
        records.into_iter().filter(|record| {
            fallback.fields.iter().all(|field| record.get(field) == body.get(field))
                && made_since(record, created.as_ref(), since)
        }),
        created.as_ref(),
    ))
}

async fn child_of(
    client: &ManifestClient,
    child: &ChildOf,
    request: &Request,
    body: &Map<String, Value>,
    since: SystemTime,
) -> Result<Option<Value>, RuntimeError> {
    let Some(parent) = request.get(&child.parent.name) else { return Ok(None) };
    let records =
        list(client, &child.list, json!({ child.parent.name.clone(): parent }), None).await?;
    let created = created_field(client);
    let format = created.as_ref().map_or(TimeFormat::Rfc3339, |(_, format)| *format);
    let fits = |record: &Value| {
        child.matching.iter().all(|field| match body.get(field) {
            None => true,
            Some(wanted) if child.same_instant.contains(field) => {
                same_instant(record.get(field), wanted, format)
            }
            Some(wanted) => record.get(field) == Some(wanted),
        }) && made_since(record, created.as_ref(), since)
    };
    Ok(newest(records.into_iter().filter(fits), created.as_ref()))
}

/// The records a read answers, at `records` or the operation's own record place; a list
/// with paging is read to its last page (the record looked for is the newest, and the
/// first page of a parent with many children may not hold it).
async fn list(
    client: &ManifestClient,
    operation: &str,
    input: Value,
    records: Option<&Pointer>,
) -> Result<Vec<Value>, RuntimeError> {
    if records.is_none() && client.operation(operation)?.paging.is_some() {
        return client.records(operation, input).try_collect().await;
    }
    let request = client.request(operation, input)?;
    let answer = Box::pin(client.read(&request)).await?;
    let found = match records {
        Some(pointer) => answer.json.as_ref().and_then(|json| pointer.find(json)).cloned(),
        None => Some(client.record(operation, &answer)?),
    };
    Ok(match found {
        Some(Value::Array(records)) => records,
        Some(Value::Null) | None => Vec::new(),
        Some(record) => vec![record],
    })
}

/// The records' creation-time field and how times are written, as the manifest's polls
/// name them.
fn created_field(client: &ManifestClient) -> Option<(String, TimeFormat)> {
    client
        .manifest()
        .triggers
        .polls
        .iter()
        .find_map(|poll| Some((poll.created.clone()?, poll.time_format)))
}

/// A time value as milliseconds since the epoch: RFC 3339 text, or a number of the
/// format's epoch unit (an app writing epoch times writes them as numbers).
fn instant(value: Option<&Value>, format: TimeFormat) -> Option<i64> {
    match value? {
        Value::String(text) => {
            DateTime::parse_from_rfc3339(text).ok().map(|time| time.timestamp_millis())
        }
        Value::Number(number) => match format {
            TimeFormat::EpochSeconds => number.as_i64()?.checked_mul(1000),
            TimeFormat::EpochMillis | TimeFormat::Rfc3339 => number.as_i64(),
        },
        _ => None,
    }
}

fn same_instant(found: Option<&Value>, wanted: &Value, format: TimeFormat) -> bool {
    match (instant(found, format), instant(Some(wanted), format)) {
        (Some(found), Some(wanted)) => found == wanted,
        _ => found == Some(wanted),
    }
}

/// Whether a record was made at or after `since` (any record, when its creation time is
/// not known). An app writing whole seconds is compared at the second `since` falls in.
fn made_since(record: &Value, created: Option<&(String, TimeFormat)>, since: SystemTime) -> bool {
    let Some((field, format)) = created else { return true };
    let since = since.duration_since(UNIX_EPOCH).map_or(0, |since| since.as_millis());
    let since = i64::try_from(since).unwrap_or(i64::MAX);
    let since = match format {
        TimeFormat::EpochSeconds => since - since.rem_euclid(1000),
        TimeFormat::EpochMillis | TimeFormat::Rfc3339 => since,
    };
    match instant(record.get(field), *format) {
        Some(at) => at >= since,
        None => true,
    }
}

/// The newest record by its creation time, else the last listed.
fn newest(
    records: impl Iterator<Item = Value>,
    created: Option<&(String, TimeFormat)>,
) -> Option<Value> {
    let mut records: Vec<Value> = records.collect();
    if let Some((field, format)) = created {
        records.sort_by_key(|record| instant(record.get(field), *format));
    }
    records.pop()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// An app writing epoch milliseconds (Nozbe): a record made before the call is not the
    /// one the call made, and the newest is found by its number.
    #[test]
    fn creation_times_in_epoch_millis_bound_the_search() {
        let created = ("created_at".to_owned(), TimeFormat::EpochMillis);
        let since = UNIX_EPOCH + Duration::from_millis(1_767_225_600_500);
        let before = json!({"created_at": 1_767_225_600_499_i64});
        let after = json!({"created_at": 1_767_225_600_500_i64});
        assert!(!made_since(&before, Some(&created), since));
        assert!(made_since(&after, Some(&created), since));
        let later = json!({"created_at": 1_767_225_601_000_i64});
        let found = newest([later.clone(), after].into_iter(), Some(&created));
        assert_eq!(found, Some(later));
        let seconds = ("created".to_owned(), TimeFormat::EpochSeconds);
        let same_second = json!({"created": 1_767_225_600_i64});
        assert!(made_since(&same_second, Some(&seconds), since), "whole seconds round down");
        assert!(same_instant(Some(&json!(5)), &json!(5), TimeFormat::EpochMillis));
    }
}
