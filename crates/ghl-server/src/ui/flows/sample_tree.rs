//! The fields a mapping can pick, as a tree of buttons: the trigger's sample (each field with
//! its sample value) and the earlier steps' outputs. A button carries the field's jq path
//! (`.trigger.contact.email`, `.steps[0].task.id`); the page's script puts it in the field
//! being edited.

use maud::{html, Markup};
use serde_json::Value;

/// How deep the tree goes into a sample, and how many fields it shows at most.
const MAX_DEPTH: usize = 4;
const MAX_NODES: usize = 200;

/// The jq path of `key` under `path`: `.a.b`, or `.a["odd key"]`.
fn child_path(path: &str, key: &str) -> String {
    let plain = key.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if plain {
        format!("{path}.{key}")
    } else {
        format!("{path}[{}]", serde_json::to_string(key).unwrap_or_default())
    }
}

/// A sample value, short, as the tree shows it beside its field.
fn shown(value: &Value) -> String {
    let text = match value {
        Value::Object(fields) => format!("{{{} fields}}", fields.len()),
        Value::Array(items) => format!("[{} items]", items.len()),
        other => other.to_string(),
    };
    match text.char_indices().nth(40) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

/// The tree of `.trigger` from its sample.
pub(crate) fn trigger_tree(sample: &Value) -> Markup {
    let mut budget = MAX_NODES;
    html! {
        ul.tree { (children(".trigger", sample, 0, &mut budget)) }
    }
}

fn children(path: &str, value: &Value, depth: usize, budget: &mut usize) -> Markup {
    let entries: Vec<(String, &Value)> = match value {
        Value::Object(fields) => {
            fields.iter().map(|(key, value)| (child_path(path, key), value)).collect()
        }
        Value::Array(items) => {
            items.first().map(|first| (format!("{path}[0]"), first)).into_iter().collect()
        }
        _ => Vec::new(),
    };
    html! {
        @for (child, value) in entries {
            @if *budget > 0 {
                ({ *budget -= 1; node(&child, value, depth, budget) })
            }
        }
    }
}

fn node(path: &str, value: &Value, depth: usize, budget: &mut usize) -> Markup {
    let nested = matches!(value, Value::Object(_) | Value::Array(_)) && depth + 1 < MAX_DEPTH;
    html! {
        li {
            button.pick type="button" data-path=(path) { code { (path) } }
            " " span.sample { (shown(value)) }
            @if nested { ul { (children(path, value, depth + 1, budget)) } }
        }
    }
}

/// The output fields of the steps before this one (`.steps[0].task.id`), by step.
pub(crate) fn steps_tree(earlier: &[(String, Vec<String>)]) -> Markup {
    html! {
        @for (index, (name, fields)) in earlier.iter().enumerate() {
            @if !fields.is_empty() {
                p.hint { "Step " (index + 1) " (" (name) ") gives:" }
                ul.tree {
                    @for field in fields {
                        @let path = format!(".steps[{index}].{field}");
                        li { button.pick type="button" data-path=(path) { code { (path) } } }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_field_s_path_is_jq_for_any_key() {
        assert_eq!(child_path(".trigger", "email"), ".trigger.email");
        assert_eq!(child_path(".trigger", "first name"), r#".trigger["first name"]"#);
        assert_eq!(child_path(".trigger", "2fa"), r#".trigger["2fa"]"#);
    }

    #[test]
    fn the_tree_of_a_sample_names_each_field_by_its_path() {
        let sample = serde_json::json!({ "contact": { "email": "a@b.c" }, "tags": ["x"] });
        let tree = trigger_tree(&sample).into_string();
        for path in [".trigger.contact", ".trigger.contact.email", ".trigger.tags[0]"] {
            assert!(tree.contains(&format!("data-path=\"{path}\"")), "{path} in {tree}");
        }
    }
}
