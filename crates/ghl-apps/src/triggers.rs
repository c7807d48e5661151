//! What starts a flow from an app: its webhooks (how a delivery is verified, what its event
//! type and dedup id are) and its polls (which list operation finds new or changed records,
//! by which modified-since field, in which time format and order).

use serde::{Deserialize, Serialize};

use crate::place::{Param, Pointer, ValueAt};
use crate::template::TemplatedParam;

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
    /// the same id are one event. Several places (`[/context, /data/id, /event_time]`) make
    /// one id together, for apps whose deliveries carry no id of their own.
    pub dedup_id: DedupId,
    /// Where a delivery names the account it is about, if the app has accounts.
    #[serde(default)]
    pub account: Option<ValueAt>,
    /// Where the record is in a delivery's body (`/data`); a flow's `.trigger` is it.
    #[serde(default)]
    pub record: Pointer,
    pub events: Vec<WebhookEvent>,
}

/// The places a delivery's id is read from: one, or several joined with `:`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(into = "Vec<ValueAt>")]
pub struct DedupId(Vec<ValueAt>);

impl DedupId {
    pub fn places(&self) -> &[ValueAt] {
        &self.0
    }

    /// The id of a delivery, `read` reading each place: every place must hold a value.
    pub fn read(&self, mut read: impl FnMut(&ValueAt) -> Option<String>) -> Option<String> {
        let parts: Option<Vec<String>> = self.0.iter().map(&mut read).collect();
        parts.map(|parts| parts.join(":"))
    }
}

impl From<DedupId> for Vec<ValueAt> {
    fn from(id: DedupId) -> Self {
        id.0
    }
}

impl<'de> Deserialize<'de> for DedupId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = DedupId;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a place (`header:webhook-id`, `/id`) or a list of places")
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<DedupId, E> {
                ValueAt::try_from(text.to_owned()).map(|at| DedupId(vec![at])).map_err(E::custom)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<DedupId, A::Error> {
                let mut places = Vec::new();
                while let Some(place) = seq.next_element::<ValueAt>()? {
                    places.push(place);
                }
                if places.is_empty() {
                    return Err(serde::de::Error::custom("`dedup_id` lists no place"));
                }
                Ok(DedupId(places))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
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
    /// every page is read and older records are skipped. With a `template`, the parameter
    /// is an expression the app parses and the time goes in its `{time}`.
    #[serde(default)]
    pub since: Option<TemplatedParam>,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dedup_id_is_one_place_or_several_joined() {
        let one: DedupId = serde_norway::from_str("header:webhook-id").expect("one place");
        assert_eq!(one.places(), [ValueAt::Header("webhook-id".into())]);
        let several: DedupId =
            serde_norway::from_str("[/context, /data/id, /event_time]").expect("three places");
        let body = serde_json::json!({"context": "lead_created", "data": {"id": "l-1"}, "event_time": "t"});
        let read = |place: &ValueAt| match place {
            ValueAt::Body(pointer) => {
                pointer.find(&body).and_then(|v| v.as_str()).map(str::to_owned)
            }
            _ => None,
        };
        assert_eq!(several.read(read).as_deref(), Some("lead_created:l-1:t"));
        let partial: DedupId = serde_norway::from_str("[/context, /missing]").expect("two places");
        assert_eq!(partial.read(read), None, "every place must hold a value");
        assert!(serde_norway::from_str::<DedupId>("[]").is_err());
        assert!(serde_norway::from_str::<DedupId>("[context]").is_err());
    }
}
