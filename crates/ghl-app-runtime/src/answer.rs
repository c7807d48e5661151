//! An app's answer and what it means: the manifest's error rules first (they apply to 2xx
//! answers too: Teams' legacy connector throttles with a 200), then the defaults by status;
//! the message and the code where `errors:` says they are; the rate-limit headers read into
//! ghl-client's neutral `Observation`; and the record where `response:` says it is.

use std::time::{Duration, SystemTime};

use ghl_apps::error_rules::{ErrorMeaning, ErrorRule, ErrorRules};
use ghl_apps::manifest::{Operation, ResponseFormat};
use ghl_apps::place::ValueAt;
use ghl_apps::rate_limit::{RateLimit, ResetFormat};
use ghl_client::{Observation, Wait};
use reqwest::header::HeaderMap;
use serde_json::Value;

/// One HTTP answer, read once.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
    /// The body as JSON, when it is JSON.
    pub json: Option<Value>,
}

impl Answer {
    pub fn new(status: u16, headers: HeaderMap, bytes: &[u8]) -> Self {
        let text = String::from_utf8_lossy(bytes).into_owned();
        let json = serde_json::from_slice(bytes).ok();
        Self { status, headers, text, json }
    }

    /// A header's value as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }

    /// The value at a place of the answer, as JSON.
    pub fn at(&self, place: &ValueAt) -> Option<Value> {
        match place {
            ValueAt::Body(pointer) => {
                self.json.as_ref().and_then(|json| pointer.find(json)).cloned()
            }
            ValueAt::Header(name) => self.header(name).map(|text| Value::String(text.to_owned())),
            ValueAt::Text => Some(Value::String(self.text.trim().to_owned())),
        }
    }

    fn at_text(&self, place: Option<&ValueAt>) -> Option<String> {
        match self.at(place?)? {
            Value::String(text) if !text.is_empty() => Some(text),
            Value::Null | Value::String(_) => None,
            other => Some(other.to_string()),
        }
    }

    /// The app's message for a refusal: at `errors.message`, else the body (shortened).
    pub fn message(&self, rules: &ErrorRules) -> String {
        self.at_text(rules.message.as_ref()).unwrap_or_else(|| {
            let text: String = self.text.trim().chars().take(300).collect();
            if text.is_empty() {
                format!("HTTP {} with no body", self.status)
            } else {
                text
            }
        })
    }

    /// The app's error code, at `errors.code`.
    pub fn code(&self, rules: &ErrorRules) -> Option<String> {
        self.at_text(rules.code.as_ref())
    }
}

/// What an answer asks of the caller.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// A success.
    Done,
    /// A refusal with its meaning.
    Refused(ErrorMeaning),
    /// Try again: `throttled` when the app limits us (not an attempt that may have taken
    /// effect), `ambiguous` when the request may have taken effect (5xx).
    Retry { ambiguous: bool, throttled: bool },
}

fn matches(rule: &ErrorRule, answer: &Answer, code: Option<&str>) -> bool {
    (rule.status.is_empty() || rule.status.contains(&answer.status))
        && rule.code.as_deref().is_none_or(|wanted| code == Some(wanted))
        && rule.text_contains.as_deref().is_none_or(|text| answer.text.contains(text))
}

/// The manifest's rules first, then the defaults by status; a 2xx no rule refuses is done
/// when it is one of the operation's success statuses.
pub fn classify(rules: &ErrorRules, operation: &Operation, answer: &Answer) -> Outcome {
    let code = answer.code(rules);
    let meaning = rules
        .rules
        .iter()
        .find(|rule| matches(rule, answer, code.as_deref()))
        .map(|rule| rule.means)
        .or_else(|| ErrorMeaning::default_for(answer.status));
    match meaning {
        Some(ErrorMeaning::Retry) => Outcome::Retry {
            ambiguous: (500..=599).contains(&answer.status),
            throttled: !(500..=599).contains(&answer.status) && answer.status != 408,
        },
        Some(meaning) => Outcome::Refused(meaning),
        None if (200..300).contains(&answer.status) => {
            let expected = &operation.response.status;
            if expected.is_empty() || expected.contains(&answer.status) {
                Outcome::Done
            } else {
                Outcome::Refused(ErrorMeaning::Invalid)
            }
        }
        // 1xx/3xx: not an answer the manifest describes.
        None => Outcome::Refused(ErrorMeaning::Invalid),
    }
}

/// The record (or records) of a success answer, where `response:` says.
pub fn record(operation: &Operation, answer: &Answer) -> Result<Value, String> {
    match operation.response.format {
        ResponseFormat::Empty => Ok(Value::Null),
        ResponseFormat::Text => Ok(Value::String(answer.text.clone())),
        ResponseFormat::Json => {
            let Some(json) = &answer.json else {
                if answer.text.trim().is_empty() {
                    return Ok(Value::Null);
                }
                return Err("the body is not JSON".into());
            };
            operation
                .response
                .record
                .find(json)
                .cloned()
                .ok_or_else(|| format!("no record at {} of the answer", operation.response.record))
        }
    }
}

/// What a `Retry-After` style header says: seconds or an HTTP date.
fn wait_of(text: &str) -> Option<Wait> {
    let text = text.trim();
    match text.parse::<u64>() {
        Ok(seconds) => Some(Wait::For(Duration::from_secs(seconds))),
        Err(_) => httpdate::parse_http_date(text).ok().map(Wait::Until),
    }
}

/// When the app asks us to come back: its retry-after header, else (on a 429) when its
/// window resets.
pub fn retry_after(limit: Option<&RateLimit>, answer: &Answer) -> Option<Wait> {
    let headers = limit.map(|limit| &limit.headers);
    let name = headers.map_or("Retry-After", |headers| headers.retry_after.as_str());
    if let Some(wait) = answer.header(name).and_then(wait_of) {
        return Some(wait);
    }
    let headers = headers?;
    let reset = answer.header(headers.reset.as_deref()?)?.trim().parse::<u64>().ok()?;
    Some(match headers.reset_format {
        ResetFormat::DeltaSeconds => Wait::For(Duration::from_secs(reset)),
        ResetFormat::EpochSeconds => {
            Wait::Until(SystemTime::UNIX_EPOCH + Duration::from_secs(reset))
        }
        ResetFormat::EpochMillis => {
            Wait::Until(SystemTime::UNIX_EPOCH + Duration::from_millis(reset))
        }
    })
}

/// The answer's rate-limit headers as ghl-client's neutral observation; `throttled` when
/// the app limited us (a 429, or a rule saying so of another status).
pub fn observe(
    limit: Option<&RateLimit>,
    answer: &Answer,
    throttled: bool,
    round_trip: Duration,
) -> Observation {
    let number = |name: &Option<String>| {
        name.as_deref().and_then(|name| answer.header(name)).and_then(|v| v.trim().parse().ok())
    };
    let headers = limit.map(|limit| &limit.headers);
    Observation {
        status: if throttled { 429 } else { answer.status },
        limit: headers.and_then(|h| number(&h.limit)),
        remaining: headers.and_then(|h| number(&h.remaining)),
        retry_after: if throttled { retry_after(limit, answer) } else { None },
        round_trip,
        ..Observation::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped(app: &str) -> ghl_apps::Manifest {
        let manifests = ghl_apps::builtin::manifests().expect("the shipped manifests load");
        manifests.into_iter().find(|m| m.app == app).expect("shipped")
    }

    fn answer(status: u16, body: &str) -> Answer {
        Answer::new(status, HeaderMap::new(), body.as_bytes())
    }

    #[test]
    fn rules_then_defaults_decide_for_any_status() {
        let slack = shipped("slack");
        let post = slack.operation("post-message").expect("post");
        let cases = [
            (200, "ok", Outcome::Done),
            (400, "invalid_payload", Outcome::Refused(ErrorMeaning::Invalid)),
            (410, "channel_is_archived", Outcome::Refused(ErrorMeaning::Gone)),
            (429, "rate_limited", Outcome::Retry { ambiguous: false, throttled: true }),
            (500, "rollup_error", Outcome::Retry { ambiguous: true, throttled: false }),
        ];
        for (status, body, wanted) in cases {
            assert_eq!(classify(&slack.errors, post, &answer(status, body)), wanted, "{body}");
        }
        let teams = shipped("teams");
        let legacy = teams.operation("post-message-card").expect("legacy");
        let throttled = answer(200, "Microsoft Teams endpoint returned HTTP error 429");
        assert_eq!(
            classify(&teams.errors, legacy, &throttled),
            Outcome::Retry { ambiguous: false, throttled: true },
            "a 200 whose text says 429"
        );
    }

    #[test]
    fn the_message_is_where_the_manifest_says() {
        let app = shipped("your-app");
        let refused = answer(
            422,
            r#"{"error": {"code": "validation_failed", "message": "name is required"}}"#,
        );
        assert_eq!(refused.message(&app.errors), "name is required");
        assert_eq!(refused.code(&app.errors).as_deref(), Some("validation_failed"));
        assert_eq!(answer(502, "").message(&app.errors), "HTTP 502 with no body");
    }
}
