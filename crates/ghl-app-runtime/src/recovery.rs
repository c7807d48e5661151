//! Finding the record a write made when its answer was lost, as its `write:` says, so it
//! is never repeated blindly: a `natural_key` create is looked up by the first key its body
//! has (or, without one, the newest record made since the call whose `fallback.fields`
//! equal the body's); a `child_of` create is the newest of its parent's children made since
//! the call whose `matching` fields equal the body's; and a duplicate refusal that names
//! the existing record (`duplicate.id_at`) after an ambiguous attempt is the proof that the
//! attempt made it.

use std::time::SystemTime;

use chrono::DateTime;
use ghl_apps::place::{Pointer, ValueAt};
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
                && made_since(record, created.as_deref(), since)
        }),
        created.as_deref(),
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
    let fits = |record: &Value| {
        child.matching.iter().all(|field| match body.get(field) {
            None => true,
            Some(wanted) if child.same_instant.contains(field) => {
                same_instant(record.get(field), wanted)
            }
            Some(wanted) => record.get(field) == Some(wanted),
        }) && made_since(record, created.as_deref(), since)
    };
    Ok(newest(records.into_iter().filter(fits), created.as_deref()))
}

/// The records a read answers, at `records` or the operation's own record place.
async fn list(
    client: &ManifestClient,
    operation: &str,
    input: Value,
    records: Option<&Pointer>,
) -> Result<Vec<Value>, RuntimeError> {
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

/// The records' creation-time field, as the manifest's polls name it.
fn created_field(client: &ManifestClient) -> Option<String> {
    client.manifest().triggers.polls.iter().find_map(|poll| poll.created.clone())
}

fn instant(value: Option<&Value>) -> Option<DateTime<chrono::FixedOffset>> {
    value.and_then(Value::as_str).and_then(|text| DateTime::parse_from_rfc3339(text).ok())
}

fn same_instant(found: Option<&Value>, wanted: &Value) -> bool {
    match (instant(found), instant(Some(wanted))) {
        (Some(found), Some(wanted)) => found == wanted,
        _ => found == Some(wanted),
    }
}

/// Whether a record was made at or after `since` (any record, when its creation time is
/// not known).
fn made_since(record: &Value, created: Option<&str>, since: SystemTime) -> bool {
    let Some(field) = created else { return true };
    match instant(record.get(field)) {
        Some(at) => SystemTime::from(at) >= since,
        None => true,
    }
}

/// The newest record by its creation time, else the last listed.
fn newest(records: impl Iterator<Item = Value>, created: Option<&str>) -> Option<Value> {
    let mut records: Vec<Value> = records.collect();
    if let Some(field) = created {
        records.sort_by_key(|record| instant(record.get(field)));
    }
    records.pop()
}
