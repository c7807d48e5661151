//! Time as HighLevel writes it (ISO-8601 UTC with milliseconds); record ids come from the kit.

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};

/// `2021-11-26T12:41:02.193Z`
pub fn iso(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub fn now_iso() -> String {
    iso(Utc::now())
}

pub fn iso_from_millis(millis: i64) -> String {
    Utc.timestamp_millis_opt(millis).single().map(iso).unwrap_or_default()
}

/// Milliseconds since the epoch of an ISO-8601 time, or of a number of milliseconds.
pub fn parse_millis(text: &str) -> Option<i64> {
    if let Ok(millis) = text.parse::<i64>() {
        return Some(millis);
    }
    DateTime::parse_from_rfc3339(text).ok().map(|time| time.timestamp_millis())
}

pub use ghl_sandbox_kit::ids::{new_id, new_secret};
