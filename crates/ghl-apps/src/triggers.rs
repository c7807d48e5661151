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
    /// Where a delivery says its event type (`/type`, `header:X-Event`), or the places
    /// whose values, joined by `.`, name it (`[/type, /data/event]`).
    pub event_type: EventType,
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

/// Where a delivery names its event: one place, or several whose values joined by `.` are
/// its name (Qonto says `type: v1/clients` and `data.event: created`: `v1/clients.created`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum EventType {
    One(ValueAt),
    Joined(Vec<ValueAt>),
}

impl<'de> Deserialize<'de> for EventType {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        #[derive(Deserialize)]
        #[serde(untagged, expecting = "a place (`/type`, `header:X-Event`) or a list of places")]
        enum Raw {
            One(String),
            Joined(Vec<String>),
        }
        let place = |text: String| ValueAt::try_from(text).map_err(D::Error::custom);
        match Raw::deserialize(deserializer)? {
            Raw::One(text) => place(text).map(Self::One),
            Raw::Joined(texts) => {
                texts.into_iter().map(place).collect::<Result<_, _>>().map(Self::Joined)
            }
        }
    }
}

impl From<ValueAt> for EventType {
    fn from(place: ValueAt) -> Self {
        Self::One(place)
    }
}

impl EventType {
    pub fn places(&self) -> &[ValueAt] {
        match self {
            Self::One(place) => std::slice::from_ref(place),
            Self::Joined(places) => places,
        }
    }

    /// A delivery's event name from the value at each place (`None` if one is missing).
    pub fn read(&self, at: impl Fn(&ValueAt) -> Option<String>) -> Option<String> {
        let parts: Option<Vec<String>> = self.places().iter().map(at).collect();
        parts.map(|parts| parts.join("."))
    }

    /// An event name's value for each place, in order (the last places take the last
    /// `.`-separated parts); `None` if the name has too few parts.
    pub fn split<'a>(&self, name: &'a str) -> Option<Vec<(&ValueAt, &'a str)>> {
        let places = self.places();
        let mut parts: Vec<&str> = name.rsplitn(places.len().max(1), '.').collect();
        parts.reverse();
        if parts.len() != places.len() || parts.iter().any(|part| part.is_empty()) {
            return None;
        }
        Some(places.iter().zip(parts).collect())
    }
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
    /// `{header}: t={unix seconds},v1={hex HMAC-SHA256 of "{t}.{raw body}"}` under a shared
    /// secret (Qonto's `X-Qonto-Signature`; Stripe's header has the same form).
    TimestampV1 {
        header: String,
        #[serde(default = "five_minutes")]
        tolerance_secs: u64,
    },
}

impl Signature {
    /// Whether deliveries are signed with a secret the app gives each subscription (a
    /// connection's `webhook_secret`).
    pub fn shared_secret(&self) -> bool {
        !matches!(self, Self::None)
    }
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
    fn an_event_type_read_from_several_places_is_their_values_joined() {
        let joined: EventType = serde_norway::from_str("[/type, /data/event]").expect("places");
        let body = serde_json::json!({"type": "v1/clients", "data": {"event": "created"}});
        let at = |place: &ValueAt| match place {
            ValueAt::Body(pointer) => {
                pointer.find(&body).and_then(|v| v.as_str()).map(str::to_owned)
            }
            _ => None,
        };
        assert_eq!(joined.read(at).as_deref(), Some("v1/clients.created"));
        let parts = joined.split("v1/clients.created").expect("two parts");
        let values: Vec<&str> = parts.iter().map(|(_, value)| *value).collect();
        assert_eq!(values, ["v1/clients", "created"]);
        assert!(joined.split("created").is_none(), "one part for two places");
        let one: EventType = serde_norway::from_str("header:X-Event").expect("a place");
        assert_eq!(one.split("a.b").map(|parts| parts.len()), Some(1));
        let wrong = serde_norway::from_str::<EventType>("type").expect_err("not a place");
        assert!(wrong.to_string().contains("not a place"), "{wrong}");
    }

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
