//! Times as a REST app writes them: each resource's creation and modification fields are
//! stamped in the time format of the poll that lists it (RFC 3339 text, or milliseconds or
//! seconds since the epoch as JSON integers), a poll's `since` is read in that format, and a
//! record's time is read back as an instant to compare and sort.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use ghl_apps::triggers::TimeFormat;
use ghl_apps::Manifest;
use serde_json::Value;

/// The time fields of one resource's records and how they are written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamps {
    pub created: String,
    pub modified: String,
    pub format: TimeFormat,
}

impl Default for Stamps {
    fn default() -> Self {
        Self {
            created: "created_at".into(),
            modified: "updated_at".into(),
            format: TimeFormat::Rfc3339,
        }
    }
}

impl Stamps {
    /// The stamps of every resource a poll lists (`resource_of` maps an operation to the
    /// resource it lists), and those of the other resources: the first poll's, else
    /// `created_at`/`updated_at` in RFC 3339.
    pub fn of(
        manifest: &Manifest,
        resource_of: impl Fn(&str) -> Option<String>,
    ) -> (BTreeMap<String, Stamps>, Stamps) {
        let stamps = |poll: &ghl_apps::triggers::Poll| Stamps {
            created: poll.created.clone().unwrap_or_else(|| "created_at".into()),
            modified: poll.modified.clone(),
            format: poll.time_format,
        };
        let by_resource = manifest
            .triggers
            .polls
            .iter()
            .filter_map(|poll| Some((resource_of(&poll.operation)?, stamps(poll))))
            .collect();
        let default = manifest.triggers.polls.first().map(stamps).unwrap_or_default();
        (by_resource, default)
    }

    /// Whether updates change the modified field: not where it is the creation time (a poll
    /// of new records only).
    pub fn modified_on_update(&self) -> bool {
        self.modified != self.created
    }

    /// `time` written in the format.
    pub fn write(&self, time: DateTime<Utc>) -> Value {
        match self.format {
            TimeFormat::Rfc3339 => Value::String(time.to_rfc3339_opts(SecondsFormat::Millis, true)),
            TimeFormat::EpochMillis => Value::from(time.timestamp_millis()),
            TimeFormat::EpochSeconds => Value::from(time.timestamp()),
        }
    }

    /// A time given as text (a query parameter) in the format, as milliseconds since the
    /// epoch.
    pub fn parse_text(&self, text: &str) -> Option<i64> {
        match self.format {
            TimeFormat::Rfc3339 => {
                DateTime::parse_from_rfc3339(text).ok().map(|time| time.timestamp_millis())
            }
            TimeFormat::EpochMillis => text.trim().parse().ok(),
            TimeFormat::EpochSeconds => {
                text.trim().parse::<i64>().ok().and_then(|secs| secs.checked_mul(1000))
            }
        }
    }

    /// A record's time value (text or number, as the format writes it) as milliseconds since
    /// the epoch.
    pub fn read(&self, value: &Value) -> Option<i64> {
        match value {
            Value::String(text) => self.parse_text(text),
            Value::Number(number) => {
                let number = number.as_i64()?;
                match self.format {
                    TimeFormat::EpochSeconds => number.checked_mul(1000),
                    TimeFormat::EpochMillis | TimeFormat::Rfc3339 => Some(number),
                }
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn stamps(format: TimeFormat) -> Stamps {
        Stamps { format, ..Stamps::default() }
    }

    #[test]
    fn each_format_writes_and_reads_back_the_same_instant() {
        let time = Utc.timestamp_millis_opt(1_767_312_245_123).single().expect("a valid time");
        let rfc = stamps(TimeFormat::Rfc3339);
        assert_eq!(rfc.write(time), Value::String("2026-01-02T00:04:05.123Z".into()));
        assert_eq!(rfc.read(&rfc.write(time)), Some(1_767_312_245_123));
        let millis = stamps(TimeFormat::EpochMillis);
        assert_eq!(millis.write(time), Value::from(1_767_312_245_123_i64));
        assert_eq!(millis.parse_text("1767312245123"), Some(1_767_312_245_123));
        let secs = stamps(TimeFormat::EpochSeconds);
        assert_eq!(secs.write(time), Value::from(1_767_312_245_i64));
        assert_eq!(secs.read(&secs.write(time)), Some(1_767_312_245_000));
        assert_eq!(millis.parse_text("2026-01-02T00:04:05Z"), None, "not in the format");
    }
}
