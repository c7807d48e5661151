//! Expression parameters: a parameter whose value is an expression the app parses (Qobrix's
//! `search=modified >= "2026-01-01T00:00:00"`, BQE CORE's `where=lastUpdated >= '...'`), written
//! in a manifest as a template with one placeholder: `{time}` / `{time:FMT}` in a poll's
//! `since` (the poll's time format, or chrono's strftime `FMT` in UTC), `{value}` in a
//! natural-key lookup (the body's key, quoted safely). Parsed once, here; the engine fills
//! `since`, the runtime fills lookups, and the app sandbox parses what comes back.

use std::fmt;

use chrono::format::{Item, StrftimeItems};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::place::Param;

/// One piece of a template.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Part {
    Text(String),
    /// `{time}` (the poll's own time format) or `{time:FMT}` (strftime, UTC).
    Time(Option<String>),
    /// `{value}`: a natural key's value.
    Value,
}

/// An expression template, as written (`modified >= "{time:%Y-%m-%dT%H:%M:%S}"`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(into = "String")]
pub struct Template {
    text: String,
    parts: Vec<Part>,
}

/// What a template's placeholders stand for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placeholder {
    Time,
    Value,
}

impl Placeholder {
    fn spelled(self) -> &'static str {
        match self {
            Self::Time => "{time}",
            Self::Value => "{value}",
        }
    }
}

impl Template {
    /// Whether it holds a placeholder of this kind.
    pub fn has(&self, wanted: Placeholder) -> bool {
        self.parts.iter().any(|part| {
            matches!(
                (part, wanted),
                (Part::Time(_), Placeholder::Time) | (Part::Value, Placeholder::Value)
            )
        })
    }

    /// `Ok` when every placeholder is `allowed` and there is at least one; otherwise what to
    /// write instead.
    pub fn expects(&self, allowed: Placeholder) -> Result<(), String> {
        let other = match allowed {
            Placeholder::Time => Placeholder::Value,
            Placeholder::Value => Placeholder::Time,
        };
        if self.has(other) {
            return Err(format!(
                "the template `{}` has {}, which means nothing here; write {}",
                self.text,
                other.spelled(),
                allowed.spelled()
            ));
        }
        if !self.has(allowed) {
            return Err(format!(
                "the template `{}` has no {}: where does the value go?",
                self.text,
                allowed.spelled()
            ));
        }
        Ok(())
    }

    /// The expression for a poll's `since`: `{time}` is `as_written` (the time in the poll's
    /// own format), `{time:FMT}` is `at` in UTC formatted with `FMT`.
    pub fn fill_time(&self, at: DateTime<Utc>, as_written: &str) -> String {
        self.fill(|part, out| match part {
            Part::Time(None) => out.push_str(as_written),
            Part::Time(Some(format)) => out.push_str(&at.format(format).to_string()),
            _ => {}
        })
    }

    /// The expression for a natural-key lookup: `{value}` is `value`, a string's `\`, `"`
    /// and `'` escaped with a backslash (so it cannot end its quotes), anything else as JSON.
    pub fn fill_value(&self, value: &Value) -> String {
        let text = match value {
            Value::String(text) => escape(text),
            other => other.to_string(),
        };
        self.fill(|part, out| {
            if *part == Part::Value {
                out.push_str(&text);
            }
        })
    }

    fn fill(&self, mut placeholder: impl FnMut(&Part, &mut String)) -> String {
        let mut out = String::with_capacity(self.text.len() + 24);
        for part in &self.parts {
            match part {
                Part::Text(text) => out.push_str(text),
                other => placeholder(other, &mut out),
            }
        }
        out
    }
}

/// `\`, `"` and `'` escaped with a backslash.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '\\' | '"' | '\'') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

impl TryFrom<String> for Template {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut rest = text.as_str();
        while let Some(open) = rest.find('{') {
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_owned()));
            }
            let Some(close) = rest[open..].find('}') else {
                return Err(format!("the template `{text}` opens a `{{` it does not close"));
            };
            let inside = &rest[open + 1..open + close];
            parts.push(match inside.split_once(':') {
                None if inside == "time" => Part::Time(None),
                None if inside == "value" => Part::Value,
                Some(("time", format)) => {
                    if format.is_empty()
                        || StrftimeItems::new(format).any(|item| matches!(item, Item::Error))
                    {
                        return Err(format!(
                            "the template `{text}`: `{format}` is not a strftime format (like \
                             `%Y-%m-%dT%H:%M:%S`)"
                        ));
                    }
                    Part::Time(Some(format.to_owned()))
                }
                _ => {
                    return Err(format!(
                        "the template `{text}`: `{{{inside}}}` is not a placeholder; write \
                         `{{time}}`, `{{time:FORMAT}}` or `{{value}}`"
                    ))
                }
            });
            rest = &rest[open + close + 1..];
        }
        if rest.contains('}') {
            return Err(format!("the template `{text}` closes a `}}` it did not open"));
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_owned()));
        }
        Ok(Self { text, parts })
    }
}

impl From<Template> for String {
    fn from(template: Template) -> Self {
        template.text
    }
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// A parameter that may carry an expression template: written `query:updated_since` (the
/// value alone) or `{param: query:search, template: 'modified >= "{time}"'}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct TemplatedParam {
    pub param: Param,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template: Option<Template>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct TemplatedParamForm {
    param: Param,
    #[serde(default)]
    template: Option<Template>,
}

impl<'de> serde::Deserialize<'de> for TemplatedParam {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = TemplatedParam;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "a request parameter like `query:updated_since`, or `{param: query:search, \
                     template: '...'}`",
                )
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<TemplatedParam, E> {
                let param = Param::try_from(text.to_owned()).map_err(E::custom)?;
                Ok(TemplatedParam { param, template: None })
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<TemplatedParam, A::Error> {
                let form = <TemplatedParamForm as serde::Deserialize>::deserialize(
                    serde::de::value::MapAccessDeserializer::new(map),
                )?;
                Ok(TemplatedParam { param: form.param, template: form.template })
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

impl<'de> serde::Deserialize<'de> for Template {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Template::try_from(text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use serde_json::json;

    use super::*;

    fn template(text: &str) -> Template {
        Template::try_from(text.to_owned()).expect("a template")
    }

    #[test]
    fn a_since_template_takes_the_poll_s_format_or_a_strftime_format_in_utc() {
        let at = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).single().expect("a time");
        let own = template("modified >= \"{time}\"");
        assert_eq!(
            own.fill_time(at, "2026-01-02T03:04:05.000Z"),
            "modified >= \"2026-01-02T03:04:05.000Z\""
        );
        let formatted = template("lastUpdated >= '{time:%Y-%m-%dT%H:%M:%S}'");
        assert_eq!(formatted.fill_time(at, "ignored"), "lastUpdated >= '2026-01-02T03:04:05'");
        assert_eq!(formatted.expects(Placeholder::Time), Ok(()));
        assert!(formatted.expects(Placeholder::Value).is_err());
    }

    #[test]
    fn a_key_template_quotes_the_value_so_it_cannot_end_the_literal() {
        let key = template("email == \"{value}\"");
        assert_eq!(key.fill_value(&json!("a@b.example")), "email == \"a@b.example\"");
        assert_eq!(key.fill_value(&json!("x\" or \"1")), "email == \"x\\\" or \\\"1\"");
        assert_eq!(template("ref == {value}").fill_value(&json!(42)), "ref == 42");
        assert!(key.expects(Placeholder::Value).is_ok());
        assert!(key.expects(Placeholder::Time).is_err());
    }

    #[test]
    fn unknown_placeholders_bad_formats_and_stray_braces_are_refused() {
        for (text, says) in [
            ("email == \"{email}\"", "`{email}` is not a placeholder"),
            ("modified >= \"{time:%Q}\"", "not a strftime format"),
            ("modified >= \"{time", "does not close"),
            ("a } b", "did not open"),
        ] {
            let error = Template::try_from(text.to_owned()).expect_err(text);
            assert!(error.contains(says), "{text}: {error}");
        }
    }
}
