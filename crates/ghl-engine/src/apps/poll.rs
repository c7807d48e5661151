//! What a `poll` trigger (and a reconciliation poll) reads from an app, as data: the list
//! operation, where its records, ids and times are, how times are written, and how a page
//! asks for records changed since a time, oldest first. A manifest's `triggers.polls` entry
//! is one of these; what an app's API needs beyond the data (HighLevel's search body, the
//! `searchAfter` position a searched contact carries) is an [`App`](super::App) method
//! (`poll_input`, `poll_position`). Paging is the app's client's (`AppClient::records`).

use chrono::DateTime;
use ghl_apps::template::Template;
use ghl_store::Timestamp;
use serde_json::{Map, Value};

/// A source a `poll` trigger can watch (`poll: {source: highlevel.contacts}`).
#[derive(Debug, Clone, PartialEq)]
pub struct PollSource {
    /// `contacts`: flows name it `<app>.contacts`.
    pub name: String,
    pub summary: String,
    /// The operation (of the app's) that lists the records; its client pages it when it
    /// can, otherwise one call is one poll.
    pub operation: String,
    /// Where the records are in an answer (a JSON pointer: `/contacts`), for a list read in
    /// one call.
    pub records: String,
    /// The record's id field.
    pub id: String,
    /// The record's last-modified time field (what `poll` triggers follow).
    pub modified: String,
    /// The record's creation time field (what reconciliation polls follow), if it has one.
    pub created: Option<String>,
    /// How times are written in records and in the `since` of a page.
    pub time_format: TimeFormat,
    /// How a page asks for records since a time, oldest first.
    pub query: PollQuery,
    /// The fields of a polled record, for the catalog.
    pub record_fields: Vec<String>,
}

impl PollSource {
    /// A source listing records with `operation`, found at `records` in its answer, by `id`
    /// and `modified` (RFC 3339 times); it asks for no time and no order until told.
    pub fn new(
        name: impl Into<String>,
        operation: impl Into<String>,
        records: impl Into<String>,
        id: impl Into<String>,
        modified: impl Into<String>,
    ) -> Self {
        Self {
            name: name.into(),
            summary: String::new(),
            operation: operation.into(),
            records: records.into(),
            id: id.into(),
            modified: modified.into(),
            created: None,
            time_format: TimeFormat::Rfc3339,
            query: PollQuery::default(),
            record_fields: Vec::new(),
        }
    }

    /// The default page input: `since` in the source's time format, the sort asked for and
    /// the page size, each in the input field the query names.
    pub fn page_input(&self, page: &PageRequest<'_>) -> Value {
        let mut input = Map::new();
        if let Some(field) = &self.query.since {
            let since = self.time_format.write(page.since);
            let since = match &self.query.since_template {
                None => since,
                Some(template) => {
                    let as_written = match &since {
                        Value::String(text) => text.clone(),
                        other => other.to_string(),
                    };
                    template.fill_time(page.since.to_datetime(), &as_written).into()
                }
            };
            input.insert(field.clone(), since);
        }
        if let Some(sort) = &self.query.sort {
            input.insert(sort.field.clone(), sort.value.clone().into());
        }
        if let Some(field) = &self.query.limit {
            input.insert(field.clone(), page.limit.into());
        }
        Value::Object(input)
    }

    /// The time of a poll position `[time, id]`: an RFC 3339 date, or a number in the
    /// source's epoch unit (milliseconds unless its times are epoch seconds).
    pub fn position_time(&self, position: &[Value]) -> Option<Timestamp> {
        match position.first()? {
            Value::Number(number) => {
                let number = number.as_i64()?;
                match self.time_format {
                    TimeFormat::EpochSeconds => Some(Timestamp::from_millis(number * 1000)),
                    TimeFormat::Rfc3339 | TimeFormat::EpochMillis => {
                        Some(Timestamp::from_millis(number))
                    }
                }
            }
            Value::String(text) => {
                DateTime::parse_from_rfc3339(text).ok().map(|time| Timestamp::from(time.to_utc()))
            }
            _ => None,
        }
    }
}

/// How a page of a poll asks for what it wants, in the list operation's input fields (the
/// operation's own split puts each in the path, the query or the body).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PollQuery {
    /// The field asking for records modified at or after a time; without one, the list
    /// answers from its start and the dedup keys drop what was seen.
    pub since: Option<String>,
    /// When `since` is an expression the app parses (`modified >= "{time}"`): the template
    /// the time is written into.
    pub since_template: Option<Template>,
    /// How to ask for the oldest first, if the list is not in that order already.
    pub sort: Option<PollSort>,
    /// The field giving the page size.
    pub limit: Option<String>,
}

/// An input field and the value that asks for the oldest first (`sort: updated_at`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollSort {
    pub field: String,
    pub value: String,
}

/// How an app writes times.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TimeFormat {
    /// `2026-01-02T03:04:05.000Z`.
    #[default]
    Rfc3339,
    /// Milliseconds since the Unix epoch.
    EpochMillis,
    /// Seconds since the Unix epoch.
    EpochSeconds,
}

impl TimeFormat {
    /// `time` as the app writes it.
    pub fn write(self, time: Timestamp) -> Value {
        match self {
            Self::Rfc3339 => time.to_rfc3339().into(),
            Self::EpochMillis => time.as_millis().into(),
            Self::EpochSeconds => time.as_millis().div_euclid(1000).into(),
        }
    }
}

/// What one page of a poll asks for: records whose `by` time is at or after `since`, oldest
/// first, `limit` at a time.
#[derive(Debug, Clone)]
pub struct PageRequest<'a> {
    /// The record's time field the poll follows (a source's `modified` or `created`).
    pub by: &'a str,
    pub since: Timestamp,
    pub limit: usize,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// A manifest's poll (since and sort parameters, epoch times) is expressed as data.
    #[test]
    fn a_page_asks_in_the_fields_the_query_names_and_the_source_s_time_format() {
        let source = PollSource {
            time_format: TimeFormat::EpochSeconds,
            query: PollQuery {
                since: Some("modified_since".into()),
                sort: Some(PollSort { field: "sort".into(), value: "updated_at".into() }),
                since_template: None,
                limit: Some("per_page".into()),
            },
            ..PollSource::new("items", "list-items", "/data", "id", "updated_at")
        };
        let since = Timestamp::from_millis(1_700_000_000_500);
        let page = PageRequest { by: "updated_at", since, limit: 100 };
        assert_eq!(
            source.page_input(&page),
            json!({ "modified_since": 1_700_000_000, "sort": "updated_at", "per_page": 100 })
        );
        assert_eq!(
            source.position_time(&[json!(1_700_000_000), json!("i-1")]),
            Some(Timestamp::from_millis(1_700_000_000_000))
        );
        let expression = PollSource {
            query: PollQuery {
                since: Some("search".into()),
                since_template: Some(
                    Template::try_from(
                        "modified >= \"{time:%Y-%m-%dT%H:%M:%S}\" and x == \"{time}\"".to_owned(),
                    )
                    .expect("a template"),
                ),
                ..PollQuery::default()
            },
            ..PollSource::new("items", "list-items", "/data", "id", "modified")
        };
        assert_eq!(
            expression.page_input(&page),
            json!({ "search": "modified >= \"2023-11-14T22:13:20\" and x == \"2023-11-14T22:13:20.500Z\"" }),
            "an expression parameter carries the time in its template"
        );
        let rfc = PollSource::new("items", "list-items", "/data", "id", "updated_at");
        assert_eq!(
            rfc.position_time(&[json!("2023-11-14T22:13:20.500Z")]),
            Some(since),
            "RFC 3339 dates are read whatever the format"
        );
        assert_eq!(rfc.position_time(&[json!(1_700_000_000_500_i64)]), Some(since));
    }
}
