//! Validates response bodies against the official spec's response schemas, with a JSON Schema
//! validator that is not the sandbox's code. OpenAPI 3.0 `nullable` is turned into a
//! `["type", "null"]` union, and the common error schemas are merged in.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::{json, Map, Value};

const CONTACTS: &str = include_str!("../../../specs/highlevel/apps/contacts.json");
const CALENDARS: &str = include_str!("../../../specs/highlevel/apps/calendars.json");
const OAUTH: &str = include_str!("../../../specs/highlevel/apps/oauth.json");
const COMMON: &str = include_str!("../../../specs/highlevel/common/common-schemas.json");

struct Spec {
    document: Value,
    /// operationId -> (path, method)
    operations: HashMap<String, Value>,
}

fn specs() -> &'static Vec<Spec> {
    static SPECS: OnceLock<Vec<Spec>> = OnceLock::new();
    SPECS.get_or_init(|| {
        let common: Value = serde_json::from_str(COMMON).expect("common schemas parse");
        [CONTACTS, CALENDARS, OAUTH]
            .iter()
            .map(|text| {
                let text = text.replace(
                    "../common/common-schemas.json#/components/schemas/",
                    "#/components/schemas/",
                );
                let mut document: Value = serde_json::from_str(&text).expect("spec parses");
                if let (Some(Value::Object(schemas)), Some(Value::Object(shared))) = (
                    document.pointer_mut("/components/schemas").map(Value::take),
                    common.pointer("/components/schemas").cloned(),
                ) {
                    let mut merged = schemas;
                    merged.extend(shared);
                    if let Some(slot) = document.pointer_mut("/components/schemas") {
                        *slot = Value::Object(merged);
                    }
                }
                nullable_to_union(&mut document);
                settle_contradictions(&mut document);
                let mut operations = HashMap::new();
                if let Some(Value::Object(paths)) = document.get("paths") {
                    for item in paths.values() {
                        if let Value::Object(methods) = item {
                            for operation in methods.values() {
                                if let Some(id) =
                                    operation.get("operationId").and_then(Value::as_str)
                                {
                                    operations.insert(id.to_owned(), operation.clone());
                                }
                            }
                        }
                    }
                }
                Spec { document, operations }
            })
            .collect()
    })
}

/// Where the spec contradicts itself, the choice made (docs/spec-choices.md): CalendarEventDTO
/// types its times as `object`, while AppointmentSchemaResponse, the contacts spec's
/// GetEventSchema and the webhook events type the same times as strings; the sandbox sends
/// ISO-8601 strings.
fn settle_contradictions(document: &mut Value) {
    for field in ["startTime", "endTime", "dateAdded", "dateUpdated"] {
        let pointer = format!("/components/schemas/CalendarEventDTO/properties/{field}");
        if let Some(property) = document.pointer_mut(&pointer) {
            *property = json!({ "type": "string" });
        }
    }
    // The contact DTOs type `dateOfBirth` as `object` but describe string formats
    // (YYYY-MM-DD, MM/DD/YYYY, ...) and give a string example: a string it is.
    for dto in ["CreateContactDto", "UpdateContactDto", "UpsertContactDto"] {
        let pointer = format!("/components/schemas/{dto}/properties/dateOfBirth");
        if let Some(property) = document.pointer_mut(&pointer) {
            *property = json!({ "type": ["string", "null"] });
        }
    }
}

fn nullable_to_union(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if map.get("nullable") == Some(&Value::Bool(true)) {
                if let Some(Value::String(kind)) = map.get("type").cloned() {
                    map.insert("type".into(), json!([kind, "null"]));
                }
            }
            map.values_mut().for_each(nullable_to_union);
        }
        Value::Array(items) => items.iter_mut().for_each(nullable_to_union),
        _ => {}
    }
}

type Validators = Mutex<HashMap<(String, String), Option<Arc<jsonschema::Validator>>>>;

/// The validator of the schema at `pointer` inside an operation; `None` where the spec gives
/// no schema (or an empty one) there.
fn validator_at(operation_id: &str, pointer: &str) -> Option<Arc<jsonschema::Validator>> {
    static CACHE: OnceLock<Validators> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let key = (operation_id.to_owned(), pointer.to_owned());
    if let Some(found) = cache.lock().expect("validator cache").get(&key) {
        return found.clone();
    }
    let built = specs().iter().find_map(|spec| {
        let schema = spec.operations.get(operation_id)?.pointer(pointer)?;
        if schema.as_object().is_none_or(Map::is_empty) {
            return None;
        }
        let mut root = schema.clone();
        if let Value::Object(map) = &mut root {
            let components = spec.document.get("components").cloned().unwrap_or_default();
            map.insert("components".into(), components);
        }
        Some(Arc::new(jsonschema::validator_for(&root).expect("spec schema compiles")))
    });
    cache.lock().expect("validator cache").insert(key, built.clone());
    built
}

fn validator(operation_id: &str, status: u16) -> Option<Arc<jsonschema::Validator>> {
    validator_at(operation_id, &format!("/responses/{status}/content/application~1json/schema"))
}

const REQUEST_BODY: &str = "/requestBody/content/application~1json/schema";

/// The violations of a request body against the operation's request schema, unknown
/// top-level properties included (HighLevel refuses them though the spec does not say
/// `additionalProperties: false`).
pub(crate) fn request_body_violations(operation_id: &str, body: &Value) -> Vec<String> {
    let Some(validator) = validator_at(operation_id, REQUEST_BODY) else {
        return Vec::new();
    };
    let mut violations: Vec<String> = validator
        .iter_errors(body)
        .map(|error| format!("body: {} at {}", error, error.instance_path()))
        .collect();
    if let (Some(allowed), Value::Object(fields)) = (request_properties(operation_id), body) {
        violations.extend(
            fields
                .keys()
                .filter(|key| !allowed.contains(key))
                .map(|key| format!("body: property {key} is not in the spec")),
        );
    }
    violations
}

/// The properties of the operation's request body schema (following one `$ref`).
fn request_properties(operation_id: &str) -> Option<Vec<String>> {
    specs().iter().find_map(|spec| {
        let mut schema = spec.operations.get(operation_id)?.pointer(REQUEST_BODY)?;
        if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
            schema = spec.document.pointer(reference.strip_prefix('#')?)?;
        }
        let properties = schema.get("properties")?.as_object()?;
        (!properties.is_empty()).then(|| properties.keys().cloned().collect())
    })
}

/// Whether the spec marks the operation's request body `required`.
pub(crate) fn body_required(operation_id: &str) -> bool {
    specs().iter().any(|spec| {
        spec.operations
            .get(operation_id)
            .and_then(|operation| operation.pointer("/requestBody/required"))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    })
}

/// Whether the operation requires a bearer token (it names a security scheme).
pub(crate) fn needs_token(operation_id: &str) -> bool {
    specs().iter().any(|spec| {
        spec.operations
            .get(operation_id)
            .and_then(|operation| operation.get("security"))
            .and_then(Value::as_array)
            .is_some_and(|schemes| !schemes.is_empty())
    })
}

/// The query parameters of an operation: (name, required).
pub(crate) fn query_parameters(operation_id: &str) -> Vec<(String, bool)> {
    specs()
        .iter()
        .find_map(|spec| spec.operations.get(operation_id)?.get("parameters")?.as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter(|parameter| parameter.get("in").and_then(Value::as_str) == Some("query"))
        .filter_map(|parameter| {
            let name = parameter.get("name")?.as_str()?.to_owned();
            Some((name, parameter.get("required").and_then(Value::as_bool).unwrap_or(false)))
        })
        .collect()
}

/// Whether the spec documents this status for the operation at all.
pub fn documents_status(operation_id: &str, status: u16) -> bool {
    specs().iter().any(|spec| {
        spec.operations
            .get(operation_id)
            .and_then(|operation| operation.pointer(&format!("/responses/{status}")))
            .is_some()
    })
}

/// Panics with every violation when `body` does not match the spec's response schema.
pub fn assert_matches_spec(operation_id: &str, status: u16, body: &Value) {
    let Some(validator) = validator(operation_id, status) else {
        return;
    };
    let errors: Vec<String> = validator
        .iter_errors(body)
        .map(|error| format!("{} at {}", error, error.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{operation_id} {status} response violates the spec:\n{}\nbody: {body}",
        errors.join("\n")
    );
}
