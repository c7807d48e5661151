//! The request-body rules of the official spec files (embedded at build time): which properties each
//! body schema allows and requires; and the fields of each operation's answer. HighLevel's validation is whitelist-strict, so the sandbox
//! takes its whitelists from the spec itself rather than from a copy that could drift.

use std::collections::HashMap;

use std::sync::OnceLock;

use serde_json::Value;

use crate::operations::Api;

const CONTACTS_SPEC: &str = include_str!("../../../specs/highlevel/apps/contacts.json");
const CALENDARS_SPEC: &str = include_str!("../../../specs/highlevel/apps/calendars.json");

/// Properties the live API accepts beyond a body schema of the spec, with the report that
/// shows it (docs/spec-choices.md): the spec is incomplete there, the live API is the truth.
pub const LIVE_ADDITIONS: &[(&str, &[&str])] = &[
    // highlevel-api-docs issue 314: the live PUT accepts these; the official SDK sends companyName.
    ("UpdateContactDto", &["companyName", "type", "keyword", "ssn"]),
];

#[derive(Debug, Clone, Default)]
pub struct BodyRule {
    pub properties: Vec<String>,
    pub required: Vec<String>,
    /// Properties the spec marks `nullable`: `null` counts as given for them.
    pub nullable: Vec<String>,
}

/// The rules per spec file: a schema name can mean different things in two files (calendars.json
/// has its own, shorter `NotesDTO`), so an operation's schema is looked up in its own file.
#[derive(Debug, Default)]
pub struct BodyRules(HashMap<(Api, String), BodyRule>);

/// The rules, parsed once per process.
pub fn body_rules() -> &'static BodyRules {
    static RULES: OnceLock<BodyRules> = OnceLock::new();
    RULES.get_or_init(BodyRules::load)
}

impl BodyRules {
    pub fn load() -> Self {
        let mut rules = HashMap::new();
        for (api, text) in [(Api::Contacts, CONTACTS_SPEC), (Api::Calendars, CALENDARS_SPEC)] {
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
                    (api, name.clone()),
                    BodyRule {
                        properties: names("properties"),
                        required: names("required"),
                        nullable,
                    },
                );
            }
        }
        for (schema, properties) in LIVE_ADDITIONS {
            if let Some(rule) = rules.get_mut(&(Api::Contacts, (*schema).to_owned())) {
                rule.properties.extend(properties.iter().map(|name| (*name).to_owned()));
            }
        }
        Self(rules)
    }

    /// The rule of a Contacts API body schema (or, failing that, a Calendars one); `None` where
    /// the spec leaves the body schema empty. Prefer [`BodyRules::for_operation`].
    pub fn get(&self, schema: &str) -> Option<&BodyRule> {
        [Api::Contacts, Api::Calendars]
            .into_iter()
            .find_map(|api| self.0.get(&(api, schema.to_owned())))
            .filter(|rule| !rule.properties.is_empty())
    }

    /// The rule of an operation's request body, from the operation's own spec file.
    pub fn for_operation(&self, operation: &crate::Operation) -> Option<&BodyRule> {
        let schema = operation.request_schema?;
        self.0.get(&(operation.api, schema.to_owned())).filter(|rule| !rule.properties.is_empty())
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
    fn update_contact_accepts_what_the_live_api_accepts() {
        let rules = BodyRules::load();
        let update = rules.get("UpdateContactDto").expect("rule");
        for name in ["companyName", "type", "keyword", "ssn", "firstName"] {
            assert!(update.properties.iter().any(|p| p == name), "{name}");
        }
        assert!(!update.properties.iter().any(|p| p == "gender" || p == "locationId"));
    }

    #[test]
    fn each_operation_reads_its_body_rule_from_its_own_spec_file() {
        let rules = BodyRules::load();
        let create_note = crate::Operation::find("create-note").expect("operation");
        let note = rules.for_operation(create_note).expect("rule");
        for name in ["body", "title", "color", "pinned"] {
            assert!(note.properties.iter().any(|p| p == name), "{name}: {:?}", note.properties);
        }
        assert_eq!(rules.get("NotesDTO").map(|rule| rule.properties.len()), Some(5));
    }

    #[test]
    fn every_webhook_event_lists_its_fields() {
        for event in crate::EventType::ALL {
            let fields = event.fields();
            assert!(fields.iter().any(|field| field == "locationId"), "{event:?}: {fields:?}");
        }
    }
}
