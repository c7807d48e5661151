//! The request-body rules of the official spec files (embedded at build time): which properties each
//! body schema allows and requires. HighLevel's validation is whitelist-strict, so the sandbox
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
