//! Bounds on the documents the engine parses, checked before or while they are parsed: a flow
//! file's size, nesting and node count (libyaml's work grows with the square of the nesting,
//! and an alias repeats a whole subtree), and a JSON sample's size.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// The largest flow file, in bytes.
pub const MAX_FLOW_BYTES: usize = 64 * 1024;
/// How deep YAML collections may nest in a flow file (a flow needs 6 levels or so).
pub const MAX_YAML_NESTING: usize = 24;
/// How many `[` and `{` a flow file may hold, quoted or not: a backstop for the nesting check,
/// which does not follow quotes.
pub const MAX_YAML_BRACKETS: usize = 2_000;
/// How many values (scalars, lists, maps) a flow file may hold once its aliases are expanded.
pub const MAX_YAML_NODES: usize = 20_000;
/// The largest JSON sample (`--sample`), in bytes; serde_json refuses nesting beyond 128.
pub const MAX_SAMPLE_BYTES: usize = 1024 * 1024;

/// Why a document was refused, and the line to point at.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub line: usize,
    pub reason: String,
}

/// Checks a flow file's size and nesting by one pass over its lines, before any YAML parser
/// sees it, then counts its values with aliases expanded (libyaml's events are linear once
/// the nesting is bounded).
pub fn check_flow_document(text: &str) -> Result<(), Refusal> {
    if text.len() > MAX_FLOW_BYTES {
        let reason =
            format!("the flow file is {} bytes; at most {MAX_FLOW_BYTES} are allowed", text.len());
        return Err(Refusal { line: 1, reason });
    }
    check_nesting(text)?;
    let budget = NodeBudget { left: std::cell::Cell::new(MAX_YAML_NODES) };
    // A syntax error is left to the real parse, which says it with its line.
    if let Err(err) = budget.walk(serde_norway::Deserializer::from_str(text)) {
        if budget.left.get() == 0 {
            let line = err.location().map_or(1, |location| location.line());
            let reason = format!(
                "the flow file holds more than {MAX_YAML_NODES} values (counting what its \
                 aliases repeat); a flow needs far fewer"
            );
            return Err(Refusal { line, reason });
        }
    }
    Ok(())
}

/// Block nesting (indentation, `- ` items) plus flow nesting (brackets, followed across lines
/// without regard to quotes: balanced brackets in a quoted jq expression cost nothing).
fn check_nesting(text: &str) -> Result<(), Refusal> {
    let mut indents: Vec<usize> = Vec::new();
    let mut brackets = 0usize;
    let mut total_brackets = 0usize;
    for (index, line) in text.lines().enumerate() {
        let content = line.trim_start_matches([' ', '-']);
        if line.trim().is_empty() || content.starts_with('#') {
            continue;
        }
        let prefix = &line[..line.len() - content.len()];
        let indent = prefix.len();
        while indents.last().is_some_and(|open| *open >= indent) {
            indents.pop();
        }
        indents.push(indent);
        let items = prefix.matches('-').count();
        let mut deepest = brackets;
        for c in content.chars() {
            match c {
                '[' | '{' => {
                    brackets += 1;
                    total_brackets += 1;
                    deepest = deepest.max(brackets);
                }
                ']' | '}' => brackets = brackets.saturating_sub(1),
                _ => {}
            }
        }
        let line = index + 1;
        if indents.len() + items + deepest > MAX_YAML_NESTING {
            let reason = format!(
                "the YAML nests more than {MAX_YAML_NESTING} levels deep; a flow needs far fewer"
            );
            return Err(Refusal { line, reason });
        }
        if total_brackets > MAX_YAML_BRACKETS {
            let reason = format!("the flow file holds more than {MAX_YAML_BRACKETS} `[` and `{{`");
            return Err(Refusal { line, reason });
        }
    }
    Ok(())
}

/// Walks any YAML value and fails once it has seen `left` values.
struct NodeBudget {
    left: std::cell::Cell<usize>,
}

impl NodeBudget {
    fn walk<'de, D: Deserializer<'de>>(&self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }

    fn spend<E: de::Error>(&self) -> Result<(), E> {
        match self.left.get().checked_sub(1) {
            Some(left) if left > 0 => {
                self.left.set(left);
                Ok(())
            }
            _ => {
                self.left.set(0);
                Err(E::custom("too many values"))
            }
        }
    }
}

impl<'de> DeserializeSeed<'de> for &NodeBudget {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        self.walk(deserializer)
    }
}

macro_rules! scalars {
    ($($method:ident: $type:ty),*) => {
        $(fn $method<E: de::Error>(self, _: $type) -> Result<(), E> { self.spend() })*
    };
}

impl<'de> Visitor<'de> for &NodeBudget {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    scalars!(visit_bool: bool, visit_i64: i64, visit_u64: u64, visit_i128: i128,
        visit_u128: u128, visit_f64: f64, visit_str: &str, visit_bytes: &[u8]);

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.spend()
    }

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.spend()
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        self.walk(deserializer)
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        self.walk(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.spend()?;
        while seq.next_element_seed(self)?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        self.spend()?;
        while map.next_key_seed(self)?.is_some() {
            map.next_value_seed(self)?;
        }
        Ok(())
    }
}

/// Parses a JSON sample (`--sample FILE`): at most `MAX_SAMPLE_BYTES`, nested at most 128 deep
/// (serde_json's own limit).
pub fn parse_json_sample(text: &str) -> Result<serde_json::Value, SampleError> {
    if text.len() > MAX_SAMPLE_BYTES {
        return Err(SampleError::TooLarge(text.len()));
    }
    serde_json::from_str(text).map_err(SampleError::NotJson)
}

/// Why a JSON sample is refused.
#[derive(Debug, thiserror::Error)]
pub enum SampleError {
    #[error("the sample is {0} bytes; at most {MAX_SAMPLE_BYTES} are allowed")]
    TooLarge(usize),
    /// Not JSON, or nested deeper than serde_json's 128 levels.
    #[error("not JSON: {0}")]
    NotJson(#[source] serde_json::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_or_repeated_yaml_is_refused_before_it_is_parsed() {
        let flow_map = format!("{}1{}", "{a: ".repeat(5_000), "}".repeat(5_000));
        let error = check_flow_document(&flow_map).expect_err("deep flow mapping");
        assert!(error.reason.contains("nests more than 24"), "{error:?}");
        let over_lines = "[\n".repeat(100);
        assert!(check_flow_document(&over_lines).is_err(), "nesting is followed across lines");
        let items = "- ".repeat(100);
        assert!(check_flow_document(&items).is_err(), "`- - -` nests too");
        let mut block = String::new();
        for depth in 0..40 {
            block.push_str(&format!("{}a{depth}:\n", " ".repeat(depth)));
        }
        let error = check_flow_document(&block).expect_err("deep block mapping");
        assert_eq!(error.line, 25, "{error:?}");
        // Quoted closers cannot hide nesting beyond the bracket backstop.
        let hidden = "{a: '}', b: ".repeat(3_000);
        let error = check_flow_document(&hidden).expect_err("hidden nesting");
        assert!(error.reason.contains("2000"), "{error:?}");
        let big = format!("name: x\ndescription: '{}'\n", "x".repeat(MAX_FLOW_BYTES));
        let error = check_flow_document(&big).expect_err("too large");
        assert!(error.reason.contains("at most 65536 are allowed"), "{error:?}");
    }

    #[test]
    fn aliases_count_what_they_repeat() {
        let list = format!("[{}]", vec!["1"; 500].join(", "));
        let mut text = format!("a: &a {list}\nb: [");
        text.push_str(&vec!["*a"; 100].join(", "));
        text.push_str("]\n");
        let error = check_flow_document(&text).expect_err("alias bomb");
        assert!(error.reason.contains("more than 20000 values"), "{error:?}");
        let once = format!("a: &a {list}\nb: *a\n");
        check_flow_document(&once).expect("an alias used once is fine");
    }

    #[test]
    fn samples_are_bounded() {
        assert!(parse_json_sample(&" ".repeat(MAX_SAMPLE_BYTES + 1)).is_err());
        let deep = format!("{}{}", "[".repeat(1_000), "]".repeat(1_000));
        let error = parse_json_sample(&deep).expect_err("too deep").to_string();
        assert!(error.contains("recursion limit"), "{error}");
        assert!(parse_json_sample(r#"{"id": "c1"}"#).is_ok());
    }
}
