//! The request-body rules of the official spec files (embedded at build time): which properties each
//! body schema allows and requires; and the fields of each operation's answer. HighLevel's validation is whitelist-strict, so the sandbox
//! takes its whitelists from the spec itself rather than from a copy that could drift.

use std::collections::HashMap;

use std::sync::OnceLock;

use serde_json::Value;

const CONTACTS_SPEC: &str = include_str!("../../../specs/highlevel/apps/contacts.json");
const CALENDARS_SPEC: &str = include_str!("../../../specs/highlevel/apps/calendars.json");

#[derive(Debug, Clone, Default)]
pub struct BodyRule {
    pub properties: Vec<String>,
    pub required: Vec<String>,
    /// Properties the spec marks `nullable`: `null` counts as given for them.
    pub nullable: Vec<String>,
}

#[derive(Debug, Default)]
pub struct BodyRules(HashMap<String, BodyRule>);

/// The rules, parsed once per process.
pub fn body_rules() -> &'static BodyRules {
    static RULES: OnceLock<BodyRules> = OnceLock::new();
    RULES.get_or_init(BodyRules::load)
}

impl BodyRules {
    pub fn load() -> Self {
        let mut rules = HashMap::new();
        for text in [CONTACTS_SPEC, CALENDARS_SPEC] {
            let Ok(spec) = serde_json::from_str::<Value>(text) else {
                continue;
            };
            let Some(schemas) = spec.pointer("/components/schemas").and_then(Value::as_object)
            else {
                continue;
            };
            for (name, schema) in schemas {
                let names = |key: &str| -> Vec<String> {
                    match schema.get(key) {
                        Some(Value::Object(map)) => map.keys().cloned().collect(),
                        Some(Value::Array(items)) => {
                            items.iter().filter_map(Value::as_str).map(str::to_owned).collect()
                        }
                        _ => Vec::new(),
                    }
                };
                let nullable = schema
                    .get("properties")
                    .and_then(Value::as_object)
                    .into_iter()
                    .flatten()
                    .filter(|(_, property)| property.get("nullable") == Some(&Value::Bool(true)))
                    .map(|(name, _)| name.clone())
                    .collect();
                rules.insert(
                    name.clone(),
                    BodyRule {
                        properties: names("properties"),
                        required: names("required"),
                        nullable,
                    },
                );
            }
        }
        Self(rules)
    }

    /// The rule of a body schema; `None` where the spec leaves the body schema empty.
    pub fn get(&self, schema: &str) -> Option<&BodyRule> {
        self.0.get(schema).filter(|rule| !rule.properties.is_empty())
    }
}

/// The fields of an operation's success answer, from its response schema in the spec: the
/// top-level fields, and one level into those that are objects (`task.id`, `task.title`).
pub fn response_fields(operation: &crate::Operation) -> Vec<String> {
    static SPECS: OnceLock<Vec<Value>> = OnceLock::new();
    let specs = SPECS.get_or_init(|| {
        [CONTACTS_SPEC, CALENDARS_SPEC]
            .iter()
            .filter_map(|text| serde_json::from_str(text).ok())
            .collect()
    });
    let method = operation.method.to_ascii_lowercase();
    for spec in specs {
        let Some(paths) = spec.get("paths") else { continue };
        let Some(answer) =
            paths.get(operation.path).and_then(|path| path.get(&method)).and_then(|op| {
                op.pointer(&format!(
                    "/responses/{}/content/application~1json/schema",
                    operation.success_status
                ))
            })
        else {
            continue;
        };
        return fields_two_deep(spec, answer);
    }
    Vec::new()
}

/// The fields of `schema` and one level into those that are objects, following local `$ref`s
/// into `spec`.
pub(crate) fn fields_two_deep(spec: &Value, schema: &Value) -> Vec<String> {
    let mut fields = Vec::new();
    for (name, property) in properties(spec, schema) {
        fields.push(name.clone());
        let nested = properties(spec, property);
        fields.extend(nested.into_iter().map(|(field, _)| format!("{name}.{field}")));
    }
    fields
}

/// The properties of a schema, following a local `$ref` (directly or through `allOf`).
fn properties<'a>(spec: &'a Value, schema: &'a Value) -> Vec<(&'a String, &'a Value)> {
    let resolved = match schema.get("$ref").and_then(Value::as_str) {
        Some(reference) => reference.strip_prefix('#').and_then(|pointer| spec.pointer(pointer)),
        None => match schema.pointer("/allOf/0") {
            Some(first) => return properties(spec, first),
            None => Some(schema),
        },
    };
    resolved
        .and_then(|schema| schema.get("properties"))
        .and_then(Value::as_object)
        .map(|map| map.iter().collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_list_their_fields_one_level_deep() {
        let create_task = crate::Operation::find("create-task").expect("operation");
        let fields = response_fields(create_task);
        assert!(fields.contains(&"task".to_owned()), "{fields:?}");
        assert!(fields.contains(&"task.id".to_owned()), "{fields:?}");
        let get_contact = crate::Operation::find("get-contact").expect("operation");
        assert!(response_fields(get_contact).contains(&"contact.email".to_owned()));
    }

    #[test]
    fn every_webhook_event_lists_its_fields() {
        for event in crate::EventType::ALL {
            let fields = event.fields();
            assert!(fields.iter().any(|field| field == "locationId"), "{event:?}: {fields:?}");
        }
    }
}
