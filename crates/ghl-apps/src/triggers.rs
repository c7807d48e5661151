//! What starts a flow from an app: its webhooks (how a delivery is verified, what its event
//! type and dedup id are) and its polls (which list operation finds new or changed records,
//! by which modified-since field, in which time format and order).

use serde::{Deserialize, Serialize};

use crate::place::{Param, Pointer, ValueAt};

/// `triggers:` of a manifest.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Triggers {
    #[serde(default)]
    pub webhooks: Option<Webhooks>,
    #[serde(default)]
    pub polls: Vec<Poll>,
}

/// The app's webhooks, delivered to the connector's `/webhooks/{app}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Webhooks {
    #[serde(deserialize_with = "crate::tagged::kind")]
    pub signature: Signature,
    /// Where a delivery says its event type (`/type`, `header:X-Event`).
    pub event_type: ValueAt,
    /// Where a delivery carries its id, stable across the app's retries: two deliveries with
    /// the same id are one event.
    pub dedup_id: ValueAt,
    /// Where a delivery names the account it is about, if the app has accounts.
    #[serde(default)]
    pub account: Option<ValueAt>,
    /// Where the record is in a delivery's body (`/data`); a flow's `.trigger` is it.
    #[serde(default)]
    pub record: Pointer,
    pub events: Vec<WebhookEvent>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookEvent {
    /// The event type as deliveries name it (`item.created`).
    pub name: String,
    pub title: String,
    /// A poll that finds what this event is about when its delivery was lost (paired as
    /// the flow's reconciliation poll).
    #[serde(default)]
    pub reconciled_by: Option<String>,
}

/// How a webhook delivery proves it comes from the app (the secret is the connection's).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "scheme", rename_all = "snake_case", deny_unknown_fields)]
pub enum Signature {
    /// Standard Webhooks: `webhook-id`, `webhook-timestamp`, `webhook-signature: v1,...`.
    StandardWebhooks {
        #[serde(default = "five_minutes")]
        tolerance_secs: u64,
    },
    /// An HMAC-SHA256 of the body (or of `{timestamp}.{body}`) with a shared secret, in one
    /// header.
    HmacSha256(HmacScheme),
    /// Unsigned: the URL's secret path is the only protection; say so to the user.
    None,
}

fn five_minutes() -> u64 {
    300
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HmacScheme {
    /// The header holding the signature (`X-Signature`).
    pub header: String,
    pub encoding: Encoding,
    /// Text before the signature in the header (`sha256=`).
    #[serde(default)]
    pub prefix: String,
    #[serde(default)]
    pub signed: SignedContent,
    /// The header holding the Unix time the delivery was signed at (required when the
    /// timestamp is signed).
    #[serde(default)]
    pub timestamp_header: Option<String>,
    #[serde(default = "five_minutes")]
    pub tolerance_secs: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    Hex,
    Base64,
}

/// What bytes the HMAC covers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignedContent {
    /// The raw body.
    #[default]
    Body,
    /// `{timestamp}.{raw body}`, the timestamp from `timestamp_header`.
    TimestampDotBody,
}

/// A poll: new or changed records found by a list operation, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Poll {
    /// Flows name it `<app>.<name>`.
    pub name: String,
    pub title: String,
    /// A read operation listing the records (its `response.record` and `response.id` say
    /// where they and their ids are).
    pub operation: String,
    /// The record's last-modified field (what the poll follows).
    pub modified: String,
    /// The record's creation field (what a reconciliation poll follows), if it has one.
    #[serde(default)]
    pub created: Option<String>,
    pub time_format: TimeFormat,
    /// The parameter that asks only for records modified at or after a time; without one,
    /// every page is read and older records are skipped.
    #[serde(default)]
    pub since: Option<Param>,
    /// How to ask for the oldest first, if the list is not in that order already.
    #[serde(default)]
    pub sort: Option<Sort>,
}

/// How times are written in records and in `since`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeFormat {
    /// `2026-01-02T03:04:05Z`.
    Rfc3339,
    /// Milliseconds since the Unix epoch (Nozbe).
    EpochMillis,
    /// Seconds since the Unix epoch.
    EpochSeconds,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sort {
    pub param: Param,
    /// The value asking for oldest-modified first (`updated_at`, `modified:asc`).
    pub value: String,
}
