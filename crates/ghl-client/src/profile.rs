//! What the client core needs to know about one app, given to it as a value: the headers
//! every call carries, how the app's refusals read, how its rate-limit headers read and when
//! its daily quota resets, and what its token endpoint wants besides OAuth's own fields.
//! The execute loop, the budget and the retry logic know no app by name; [`HighLevel`] is the
//! profile of HighLevel.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ghl_types::operations::Api;
use ghl_types::rate_limit as limits;
use ghl_types::Operation;
use reqwest::header::{HeaderMap, HeaderName};
use serde_json::Value;

use crate::error::Error;
use crate::rate_budget::Observation;
use crate::retry::Wait;

/// One app's ways, as the client core needs them.
pub trait AppProfile: Send + Sync {
    /// Headers every call of `operation` carries, besides `Authorization` and `Accept`.
    /// Borrowed, not built: the execute loop asks for them on every request.
    fn headers(&self, operation: &Operation) -> &[(&'static str, &'static str)];

    /// A 401 that a refresh cannot cure (a token without the scope, say): the error to give
    /// at once. `None` refreshes the token once and tries again.
    fn unauthorized(&self, operation: &str, body: &Value) -> Option<Error>;

    /// The typed error for an answer the retry logic calls refused (a 4xx other than 401,
    /// 408 and 429).
    fn refusal(&self, operation: &str, status: u16, body: &Value) -> Error;

    /// A neutral reading of what an answer says about the rate limits.
    fn observe(
        &self,
        status: u16,
        headers: &HeaderMap,
        round_trip: Duration,
        now: SystemTime,
    ) -> Observation;

    /// Form fields the token endpoint wants besides OAuth's own.
    fn token_form(&self) -> Vec<(&'static str, &'static str)>;
}

/// HighLevel's profile: the `Version` header per API, `message`/`meta` error bodies, the
/// `X-RateLimit-*` headers, a daily quota that resets at UTC midnight, `user_type=Location`.
#[derive(Debug, Clone, Copy)]
pub struct HighLevel {
    /// The daily quota's day: it resets at each multiple of this since the Unix epoch (one
    /// day: UTC midnight). Tests against a sandbox with a shorter day shorten it too.
    pub quota_day: Duration,
}

impl Default for HighLevel {
    fn default() -> Self {
        Self { quota_day: Duration::from_secs(86_400) }
    }
}

impl HighLevel {
    /// When the daily quota counted at `now` resets: the end of `now`'s quota day.
    pub fn quota_resets_at(&self, now: SystemTime) -> SystemTime {
        let day = self.quota_day.as_millis().max(1);
        let since_epoch = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis();
        let next = (since_epoch / day + 1) * day;
        UNIX_EPOCH + Duration::from_millis(u64::try_from(next).unwrap_or(u64::MAX))
    }
}

// HighLevel's rate-limit headers as `HeaderName`s made at compile time: looking a header up
// by `&str` parses and checks the name again on every answer.
const LIMIT_DAILY: HeaderName = HeaderName::from_static(limits::HEADER_LIMIT_DAILY);
const DAILY_REMAINING: HeaderName = HeaderName::from_static(limits::HEADER_DAILY_REMAINING);
const MAX: HeaderName = HeaderName::from_static(limits::HEADER_MAX);
const INTERVAL_MILLISECONDS: HeaderName =
    HeaderName::from_static(limits::HEADER_INTERVAL_MILLISECONDS);
const REMAINING: HeaderName = HeaderName::from_static(limits::HEADER_REMAINING);

const CONTACTS_HEADERS: &[(&str, &str)] = &[("Version", ghl_types::CONTACTS_API_VERSION)];
const CALENDARS_HEADERS: &[(&str, &str)] = &[("Version", ghl_types::CALENDARS_API_VERSION)];

fn header<T: std::str::FromStr>(headers: &HeaderMap, name: &HeaderName) -> Option<T> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

impl AppProfile for HighLevel {
    fn headers(&self, operation: &Operation) -> &[(&'static str, &'static str)] {
        match operation.api {
            Api::Contacts => CONTACTS_HEADERS,
            Api::Calendars => CALENDARS_HEADERS,
        }
    }

    fn unauthorized(&self, operation: &str, body: &Value) -> Option<Error> {
        let message = message_of(body);
        message
            .contains("scope")
            .then(|| Error::Unauthorized { operation: operation.into(), message })
    }

    fn refusal(&self, operation: &str, status: u16, body: &Value) -> Error {
        let operation = operation.to_owned();
        let message = message_of(body);
        match status {
            403 => Error::Forbidden { operation, message },
            400 if body.pointer("/meta/contactId").is_some() => Error::Duplicate {
                operation,
                contact_id: text_at(body, "/meta/contactId"),
                matching_field: text_at(body, "/meta/matchingField"),
            },
            400 if message.to_lowercase().contains("not found") => {
                Error::NotFound { operation, message }
            }
            400 | 413 | 422 => Error::Validation { operation, status, messages: messages_of(body) },
            _ => Error::Permanent { operation, status, message },
        }
    }

    fn observe(
        &self,
        status: u16,
        headers: &HeaderMap,
        round_trip: Duration,
        now: SystemTime,
    ) -> Observation {
        let daily_remaining = header::<u64>(headers, &DAILY_REMAINING);
        let retry_after = if status == 429 { crate::retry::retry_after(headers) } else { None };
        // A spent quota resets at the end of the quota day; a 429's `Retry-After` says it
        // more exactly when it comes.
        let daily_resets_at = (daily_remaining == Some(0))
            .then(|| retry_after.map_or_else(|| self.quota_resets_at(now), |wait| wait.until(now)));
        Observation {
            status,
            limit: header::<u32>(headers, &MAX).filter(|limit| *limit > 0),
            interval: header::<u64>(headers, &INTERVAL_MILLISECONDS)
                .filter(|ms| *ms > 0)
                .map(Duration::from_millis),
            remaining: header::<u32>(headers, &REMAINING),
            daily_limit: header::<u64>(headers, &LIMIT_DAILY),
            daily_remaining,
            daily_resets_at,
            retry_after: retry_after.map(|wait| Wait::For(wait.remaining(now))),
            round_trip,
            windows: Vec::new(),
        }
    }

    fn token_form(&self) -> Vec<(&'static str, &'static str)> {
        vec![("user_type", "Location")]
    }
}

fn text_at(body: &Value, pointer: &str) -> String {
    body.pointer(pointer).and_then(Value::as_str).unwrap_or_default().to_owned()
}

/// HighLevel's `message`: a string, or a list of strings for 422.
pub fn messages_of(body: &Value) -> Vec<String> {
    match body.get("message") {
        Some(Value::String(message)) => vec![message.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| item.as_str().map_or_else(|| item.to_string(), str::to_owned))
            .collect(),
        _ => match body {
            Value::String(text) => vec![text.chars().take(200).collect()],
            Value::Null => Vec::new(),
            other => vec![other.to_string().chars().take(200).collect()],
        },
    }
}

pub fn message_of(body: &Value) -> String {
    messages_of(body).join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().expect("header value"));
        }
        map
    }

    #[test]
    fn the_quota_resets_at_the_end_of_the_day() {
        let noon = UNIX_EPOCH + Duration::from_secs(20_000 * 86_400 + 43_200);
        let midnight = UNIX_EPOCH + Duration::from_secs(20_001 * 86_400);
        assert_eq!(HighLevel::default().quota_resets_at(noon), midnight);
        let short = HighLevel { quota_day: Duration::from_secs(10) };
        let at = UNIX_EPOCH + Duration::from_secs(1_003);
        assert_eq!(short.quota_resets_at(at), UNIX_EPOCH + Duration::from_secs(1_010));
    }

    #[test]
    fn rate_limit_headers_become_a_neutral_observation() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000);
        let answer = headers(&[
            (limits::HEADER_MAX, "100"),
            (limits::HEADER_INTERVAL_MILLISECONDS, "10000"),
            (limits::HEADER_REMAINING, "42"),
            (limits::HEADER_DAILY_REMAINING, "0"),
            (limits::HEADER_LIMIT_DAILY, "200000"),
        ]);
        let seen = HighLevel::default().observe(200, &answer, Duration::ZERO, now);
        assert_eq!(seen.limit, Some(100));
        assert_eq!(seen.daily_limit, Some(200_000));
        assert_eq!(seen.interval, Some(Duration::from_secs(10)));
        assert_eq!(seen.remaining, Some(42));
        assert_eq!(seen.daily_resets_at, Some(UNIX_EPOCH + Duration::from_secs(86_400)));
        let refused = headers(&[(limits::HEADER_DAILY_REMAINING, "0"), ("retry-after", "30")]);
        let seen = HighLevel::default().observe(429, &refused, Duration::ZERO, now);
        assert_eq!(seen.daily_resets_at, Some(now + Duration::from_secs(30)));
        assert_eq!(seen.retry_after, Some(Wait::For(Duration::from_secs(30))));
    }

    #[test]
    fn refusals_read_highlevel_bodies() {
        let profile = HighLevel::default();
        let duplicate = serde_json::json!({ "message": "dup", "meta": { "contactId": "c1", "matchingField": "email" } });
        assert!(matches!(
            profile.refusal("create-contact", 400, &duplicate),
            Error::Duplicate { contact_id, .. } if contact_id == "c1"
        ));
        let missing = serde_json::json!({ "message": "Contact not found" });
        assert!(matches!(profile.refusal("get-contact", 400, &missing), Error::NotFound { .. }));
        let scope = serde_json::json!({ "message": "The token is not authorized for this scope." });
        assert!(profile.unauthorized("get-contact", &scope).is_some());
        assert!(profile.unauthorized("get-contact", &serde_json::json!({})).is_none());
    }
}
