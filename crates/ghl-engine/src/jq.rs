//! jq expressions (the `jaq` crates): field mappings, filters and `{{ }}` templates are all
//! jq, evaluated on `{trigger, steps, now}`.

use jaq_core::load::{Arena, File, Loader};
use jaq_core::{Compiler, Ctx, Native, RcIter};
use jaq_json::Val;
use serde_json::Value;

/// A compiled jq program.
pub struct Program {
    filter: jaq_core::Filter<Native<Val>>,
    source: String,
}

impl std::fmt::Debug for Program {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Program({:?})", self.source)
    }
}

impl Program {
    /// Compiles `code`, or says why it is not valid jq.
    pub fn compile(code: &str) -> Result<Self, String> {
        let arena = Arena::default();
        let loader = Loader::new(jaq_std::defs().chain(jaq_json::defs()));
        let modules = loader
            .load(&arena, File { code, path: () })
            .map_err(|errors| format!("invalid jq `{code}`: {}", describe(&errors)))?;
        let filter = Compiler::default()
            .with_funs(jaq_std::funs().chain(jaq_json::funs()))
            .compile(modules)
            .map_err(|errors| {
                format!("invalid jq `{code}`: {} undefined or misused names", errors.len())
            })?;
        Ok(Self { filter, source: code.to_owned() })
    }

    /// The first value the program yields for `input`.
    pub fn first(&self, input: &Value) -> Result<Value, String> {
        let inputs = RcIter::new(core::iter::empty());
        let mut outputs = self.filter.run((Ctx::new([], &inputs), Val::from(input.clone())));
        match outputs.next() {
            Some(Ok(value)) => Ok(Value::from(value)),
            Some(Err(err)) => Err(format!("`{}` failed: {err}", self.source)),
            None => Ok(Value::Null),
        }
    }

    /// A filter's verdict: jq truthiness (anything but `false` and `null`).
    pub fn holds(&self, input: &Value) -> Result<bool, String> {
        Ok(!matches!(self.first(input)?, Value::Null | Value::Bool(false)))
    }
}

fn describe<T: std::fmt::Debug>(errors: &T) -> String {
    let text = format!("{errors:?}");
    text.chars().take(300).collect()
}

/// A text with `{{ expression }}` parts.
#[derive(Debug)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Debug)]
enum Part {
    Text(String),
    Expression(Program),
}

impl Template {
    pub fn compile(text: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("{{") {
            let Some(length) = rest[start + 2..].find("}}") else {
                return Err(format!("unclosed `{{{{` in `{text}`"));
            };
            if start > 0 {
                parts.push(Part::Text(rest[..start].to_owned()));
            }
            parts.push(Part::Expression(Program::compile(
                rest[start + 2..start + 2 + length].trim(),
            )?));
            rest = &rest[start + 2 + length + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_owned()));
        }
        Ok(Self { parts })
    }

    pub fn render(&self, input: &Value) -> Result<String, String> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Expression(program) => match program.first(input)? {
                    Value::String(text) => out.push_str(&text),
                    Value::Null => {}
                    other => out.push_str(&other.to_string()),
                },
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn mappings_filters_and_templates_are_jq() {
        let input = json!({ "trigger": { "firstName": "Ada", "tags": ["vip"] }, "steps": [] });
        let greeting =
            Program::compile(r#""Welcome " + (.trigger.firstName // "there")"#).expect("compiles");
        assert_eq!(greeting.first(&input).expect("runs"), json!("Welcome Ada"));
        let vip = Program::compile(r#".trigger.tags | index("vip") != null"#).expect("compiles");
        assert!(vip.holds(&input).expect("runs"));
        let template =
            Template::compile("Hello {{ .trigger.firstName }}, tags: {{ .trigger.tags | length }}")
                .expect("compiles");
        assert_eq!(template.render(&input).expect("renders"), "Hello Ada, tags: 1");
        assert!(Program::compile(".trigger.(").is_err());
        assert!(Program::compile("nosuchfunction(1)").is_err());
        assert!(Template::compile("Hello {{ .trigger").is_err());
    }
}

#[cfg(test)]
mod null_paths {
    use super::*;
    use serde_json::json;

    /// Unlike jq, jaq refuses to index `null`: a path through a missing record is an error,
    /// and `(path)?` (with `//` for a default) is how a flow says "if there is one".
    #[test]
    fn paths_through_null_need_a_question_mark() {
        let context = json!({ "steps": [null] });
        assert!(Program::compile(".steps[0].task.id").expect("compiles").first(&context).is_err());
        let guarded = Program::compile(r#"(.steps[0].task.id)? // "none""#).expect("compiles");
        assert_eq!(guarded.first(&context).expect("runs"), json!("none"));
        let template = Template::compile("task {{ (.steps[0].task.id)? }}").expect("compiles");
        assert_eq!(template.render(&context).expect("renders"), "task ");
    }
}
