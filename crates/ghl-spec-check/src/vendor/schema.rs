//! Schemas of a vendor file as the checks need them: OpenAPI 3.0's dialect turned into JSON
//! Schema (`nullable`, boolean `exclusiveMinimum`), and an object schema flattened into its
//! properties, required names and types (`$ref` followed, `allOf` merged, `anyOf`/`oneOf`
//! united with only what every branch requires).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Map, Value};

use super::VendorSpec;

/// An object schema, flattened.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Flat {
    pub properties: BTreeMap<String, Property>,
    pub required: BTreeSet<String>,
    /// Whether it lists no properties and takes any (`{type: object}`,
    /// `additionalProperties: true`).
    pub open: bool,
    /// Its JSON types (`object`, `array`, `null`...); empty when it says none.
    pub types: BTreeSet<String>,
    /// An array's item schema.
    pub items: Option<Value>,
}

/// One property of an object schema.
#[derive(Debug, Clone, PartialEq)]
pub struct Property {
    /// Its schema, `$ref` followed.
    pub schema: Value,
    /// Only in answers: a request does not send it.
    pub read_only: bool,
    /// Its JSON types; empty when it says none.
    pub types: BTreeSet<String>,
}

impl Flat {
    /// The properties a request may send: every one not read-only.
    pub fn writable(&self) -> BTreeSet<String> {
        self.properties
            .iter()
            .filter(|(_, property)| !property.read_only)
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// The required names a request must send: read-only ones are required in answers only
    /// (OpenAPI: "readOnly ... SHOULD NOT be sent as part of the request").
    pub fn required_in_requests(&self) -> BTreeSet<String> {
        self.required
            .iter()
            .filter(|name| !self.properties.get(*name).is_some_and(|property| property.read_only))
            .cloned()
            .collect()
    }
}

pub(super) fn flatten(spec: &VendorSpec, schema: &Value) -> Flat {
    let mut flat = Flat::default();
    merge_into(spec, schema, &mut flat, 0);
    let takes_any =
        spec.resolve(schema).get("additionalProperties").is_none_or(|extra| extra != false);
    flat.open = flat.properties.is_empty()
        && takes_any
        && (flat.types.is_empty() || flat.types.contains("object"));
    flat
}

fn merge_into(spec: &VendorSpec, schema: &Value, flat: &mut Flat, depth: usize) {
    if depth > 16 {
        return;
    }
    let schema = spec.resolve(schema);
    flat.types.extend(types_of(schema));
    if let Some(items) = schema.get("items") {
        flat.items = Some(items.clone());
    }
    if let Some(Value::Object(properties)) = schema.get("properties") {
        for (name, property) in properties {
            let resolved = spec.resolve(property);
            let mut inner = Flat::default();
            merge_into(spec, property, &mut inner, depth + 1);
            let read_only = [property, resolved].iter().any(|value| read_only(spec, value));
            flat.properties.insert(
                name.clone(),
                Property { schema: resolved.clone(), read_only, types: inner.types },
            );
        }
    }
    if let Some(Value::Array(names)) = schema.get("required") {
        flat.required.extend(names.iter().filter_map(Value::as_str).map(str::to_owned));
    }
    for part in schema.get("allOf").and_then(Value::as_array).into_iter().flatten() {
        merge_into(spec, part, flat, depth + 1);
    }
    for key in ["anyOf", "oneOf"] {
        let Some(branches) = schema.get(key).and_then(Value::as_array) else { continue };
        let mut common: Option<BTreeSet<String>> = None;
        for branch in branches {
            let mut inner = Flat::default();
            merge_into(spec, branch, &mut inner, depth + 1);
            flat.types.extend(inner.types);
            if flat.items.is_none() {
                flat.items = inner.items;
            }
            for (name, property) in inner.properties {
                flat.properties.entry(name).or_insert(property);
            }
            common = Some(match common {
                None => inner.required,
                Some(so_far) => so_far.intersection(&inner.required).cloned().collect(),
            });
        }
        flat.required.extend(common.unwrap_or_default());
    }
}

/// Whether a property schema says `readOnly` (itself, or in an `allOf` part).
fn read_only(spec: &VendorSpec, schema: &Value) -> bool {
    schema.get("readOnly") == Some(&Value::Bool(true))
        || schema
            .get("allOf")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .any(|part| spec.resolve(part).get("readOnly") == Some(&Value::Bool(true)))
}

fn types_of(schema: &Value) -> BTreeSet<String> {
    match schema.get("type") {
        Some(Value::String(kind)) => BTreeSet::from([kind.clone()]),
        Some(Value::Array(kinds)) => {
            kinds.iter().filter_map(Value::as_str).map(str::to_owned).collect()
        }
        _ => BTreeSet::new(),
    }
}

/// The schema found by following a JSON pointer into an answer: object properties by name,
/// array items by any index. `""` is the answer itself.
pub(super) fn at_pointer(spec: &VendorSpec, flat: &Flat, pointer: &str) -> Option<Flat> {
    let mut at = flat.clone();
    for token in pointer.split('/').skip(1) {
        let token = token.replace("~1", "/").replace("~0", "~");
        let next = match at.properties.get(&token) {
            Some(property) => property.schema.clone(),
            None if token.parse::<usize>().is_ok() => at.items.clone()?,
            None => return None,
        };
        at = flatten(spec, &next);
    }
    Some(at)
}

/// Turns OpenAPI 3.0's schema dialect into JSON Schema, in place: `nullable: true` adds
/// `null` to the type (or, beside a `$ref`/`allOf` without a type, becomes `anyOf` with
/// `{type: null}`), and a boolean `exclusiveMinimum`/`exclusiveMaximum` becomes the number.
pub(super) fn openapi_30_to_json_schema(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.values_mut().for_each(openapi_30_to_json_schema);
            exclusive_bounds(map);
            if map.get("nullable") == Some(&Value::Bool(true)) {
                map.remove("nullable");
                match map.get("type").cloned() {
                    Some(Value::String(kind)) => {
                        map.insert("type".into(), json!([kind, "null"]));
                    }
                    Some(_) => {}
                    None => {
                        let rest = Value::Object(std::mem::take(map));
                        map.insert("anyOf".into(), json!([rest, { "type": "null" }]));
                    }
                }
                if let Some(Value::Array(values)) = map.get_mut("enum") {
                    if !values.contains(&Value::Null) {
                        values.push(Value::Null);
                    }
                }
            } else if map.get("nullable") == Some(&Value::Bool(false)) {
                map.remove("nullable");
            }
        }
        Value::Array(items) => items.iter_mut().for_each(openapi_30_to_json_schema),
        _ => {}
    }
}

fn exclusive_bounds(map: &mut Map<String, Value>) {
    for (exclusive, bound) in [("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")] {
        match map.get(exclusive) {
            Some(Value::Bool(true)) => {
                if let Some(limit) = map.remove(bound) {
                    map.insert(exclusive.into(), limit);
                } else {
                    map.remove(exclusive);
                }
            }
            Some(Value::Bool(false)) => {
                map.remove(exclusive);
            }
            _ => {}
        }
    }
}
