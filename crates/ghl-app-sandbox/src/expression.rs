//! The search expressions an app's list takes in one parameter (Qobrix's `search`, BQE CORE's
//! `where`), as far as the manifests' templates write them: `field OP literal`, joined by
//! `and` / `AND`. `OP` is `==`, `=`, `!=`, `>=`, `<=`, `>` or `<`; a literal is quoted
//! (`'...'` or `"..."`, `\` escaping the next character), a number, `true`, `false` or
//! `null`. Two times are compared as instants, a time without a zone being UTC; numbers as
//! numbers, other text as text.

use std::cmp::Ordering;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde_json::{Map, Number, Value};

/// A parsed expression: every comparison must hold.
#[derive(Debug, Clone, PartialEq)]
pub struct Expression(Vec<Comparison>);

#[derive(Debug, Clone, PartialEq)]
struct Comparison {
    /// A field of the record; `a.b` reaches into an object.
    field: String,
    op: Op,
    literal: Literal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Ge,
    Le,
    Gt,
    Lt,
}

#[derive(Debug, Clone, PartialEq)]
enum Literal {
    Text(String),
    Number(Number),
    Bool(bool),
    Null,
}

impl Expression {
    /// Parses `text`; the error says where and what was expected.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut parser = Parser { text, at: 0 };
        let mut comparisons = vec![parser.comparison()?];
        loop {
            parser.skip_space();
            if parser.at == text.len() {
                return Ok(Self(comparisons));
            }
            let word = parser.word();
            if !word.eq_ignore_ascii_case("and") {
                return Err(parser.expected("`and` or the end", word));
            }
            comparisons.push(parser.comparison()?);
        }
    }

    /// Whether `record` satisfies every comparison.
    pub fn matches(&self, record: &Map<String, Value>) -> bool {
        self.0.iter().all(|comparison| comparison.holds(record))
    }
}

impl Comparison {
    fn holds(&self, record: &Map<String, Value>) -> bool {
        let mut parts = self.field.split('.');
        let first = parts.next().and_then(|name| record.get(name));
        let value = parts.fold(first, |value, name| value.and_then(|value| value.get(name)));
        let value = value.unwrap_or(&Value::Null);
        match self.order(value) {
            Some(order) => match self.op {
                Op::Eq => order == Ordering::Equal,
                Op::Ne => order != Ordering::Equal,
                Op::Ge => order != Ordering::Less,
                Op::Le => order != Ordering::Greater,
                Op::Gt => order == Ordering::Greater,
                Op::Lt => order == Ordering::Less,
            },
            // Values of different kinds are only ever unequal.
            None => self.op == Op::Ne,
        }
    }

    /// How the record's value compares with the literal, if they are of one kind.
    fn order(&self, value: &Value) -> Option<Ordering> {
        match (value, &self.literal) {
            (Value::Null, Literal::Null) => Some(Ordering::Equal),
            (Value::Bool(value), Literal::Bool(literal)) => Some(value.cmp(literal)),
            (Value::Number(value), Literal::Number(literal)) => {
                value.as_f64()?.partial_cmp(&literal.as_f64()?)
            }
            (Value::String(value), Literal::Text(literal)) => {
                match (instant(value), instant(literal)) {
                    (Some(value), Some(literal)) => Some(value.cmp(&literal)),
                    _ => Some(value.as_str().cmp(literal.as_str())),
                }
            }
            _ => None,
        }
    }
}

/// A time as an instant: RFC 3339, or a date and time (or a date) without a zone, read as
/// UTC.
pub fn instant(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Some(time.to_utc());
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(time) = NaiveDateTime::parse_from_str(text, format) {
            return Some(time.and_utc());
        }
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|date| date.and_hms_opt(0, 0, 0))
        .map(|time| time.and_utc())
}

struct Parser<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Parser<'a> {
    fn rest(&self) -> &'a str {
        &self.text[self.at..]
    }

    fn skip_space(&mut self) {
        let rest = self.rest();
        self.at += rest.len() - rest.trim_start().len();
    }

    fn expected(&self, what: &str, found: &str) -> String {
        let found = if found.is_empty() { "the end".to_owned() } else { format!("`{found}`") };
        format!("the expression `{}`: at {}, expected {what}, found {found}", self.text, self.at)
    }

    /// Letters, digits, `_` and `.`.
    fn word(&mut self) -> &'a str {
        self.skip_space();
        let rest = self.rest();
        let end = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.' || c == '-' || c == '+'))
            .unwrap_or(rest.len());
        self.at += end;
        &rest[..end]
    }

    fn comparison(&mut self) -> Result<Comparison, String> {
        let field = self.word();
        if field.is_empty() || !field.starts_with(|c: char| c.is_alphabetic() || c == '_') {
            return Err(self.expected("a field name", field));
        }
        self.skip_space();
        let op = [
            ("==", Op::Eq),
            ("!=", Op::Ne),
            (">=", Op::Ge),
            ("<=", Op::Le),
            ("=", Op::Eq),
            (">", Op::Gt),
            ("<", Op::Lt),
        ]
        .into_iter()
        .find(|(spelled, _)| self.rest().starts_with(spelled));
        let Some((spelled, op)) = op else {
            let found = self.rest().chars().take(2).collect::<String>();
            return Err(self.expected("one of == = != >= <= > <", &found));
        };
        self.at += spelled.len();
        let literal = self.literal()?;
        Ok(Comparison { field: field.to_owned(), op, literal })
    }

    fn literal(&mut self) -> Result<Literal, String> {
        self.skip_space();
        let rest = self.rest();
        if let Some(quote) = rest.chars().next().filter(|c| *c == '"' || *c == '\'') {
            let mut text = String::new();
            let mut chars = rest.char_indices().skip(1);
            while let Some((index, c)) = chars.next() {
                match c {
                    '\\' => match chars.next() {
                        Some((_, escaped)) => text.push(escaped),
                        None => break,
                    },
                    c if c == quote => {
                        self.at += index + c.len_utf8();
                        return Ok(Literal::Text(text));
                    }
                    c => text.push(c),
                }
            }
            return Err(self.expected(&format!("a closing {quote}"), ""));
        }
        let word = self.word();
        match word {
            "true" => Ok(Literal::Bool(true)),
            "false" => Ok(Literal::Bool(false)),
            "null" => Ok(Literal::Null),
            _ => match serde_json::from_str::<Value>(word) {
                Ok(Value::Number(number)) => Ok(Literal::Number(number)),
                _ => Err(self.expected("a quoted text, a number, true, false or null", word)),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn record(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    fn holds(expression: &str, value: Value) -> bool {
        Expression::parse(expression).expect(expression).matches(&record(value))
    }

    #[test]
    fn times_are_compared_as_instants_a_zone_less_one_being_utc() {
        let row = json!({ "modified": "2026-01-02T03:04:05.500Z" });
        assert!(holds(r#"modified >= "2026-01-02T03:04:05""#, row.clone()));
        assert!(holds("modified > '2026-01-02T04:04:05+02:00'", row.clone()));
        assert!(!holds(r#"modified >= "2026-01-02T03:04:06""#, row.clone()));
        assert!(holds(r#"modified < "2026-01-03""#, row));
    }

    #[test]
    fn comparisons_join_with_and_in_either_case() {
        let row = json!({ "email": "a@b.example", "ref": 7, "active": true, "trashed": null });
        assert!(holds(r#"email == "a@b.example" and ref >= 7 AND active = true"#, row.clone()));
        assert!(holds("trashed == null and email != 'x'", row.clone()));
        assert!(!holds(r#"email == "a@b.example" and ref > 7"#, row.clone()));
        assert!(!holds(r#"missing == "x""#, row.clone()));
        assert!(holds(r#"missing != "x""#, row.clone()));
        assert!(holds(
            r#"email == "a@b.example\" or \"1""#,
            json!({ "email": "a@b.example\" or \"1" })
        ));
        assert!(!holds(r#"email == "a@b.example\" or \"1""#, row));
    }

    #[test]
    fn a_malformed_expression_says_what_was_expected_where() {
        for (text, says) in [
            ("", "expected a field name"),
            ("email ~ 'x'", "expected one of"),
            ("email == 'x", "a closing '"),
            ("email == x", "a quoted text"),
            ("email == 'x' or ref == 1", "expected `and` or the end"),
        ] {
            let error = Expression::parse(text).expect_err(text);
            assert!(error.contains(says), "{text}: {error}");
        }
    }
}
