//! Webhook events HighLevel sends (docs/webhook-events) and how they are signed.

use serde::{Deserialize, Serialize};

/// Ed25519 signature of the raw body, base64.
pub const HEADER_GHL_SIGNATURE: &str = "x-ghl-signature";
/// RSA PKCS#1 v1.5 SHA-256 signature of the raw body, base64 (legacy).
pub const HEADER_WH_SIGNATURE: &str = "x-wh-signature";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventType {
    ContactCreate,
    ContactUpdate,
    ContactDelete,
    ContactTagUpdate,
    ContactDndUpdate,
    NoteCreate,
    NoteUpdate,
    NoteDelete,
    TaskCreate,
    TaskComplete,
    TaskDelete,
    AppointmentCreate,
    AppointmentUpdate,
    AppointmentDelete,
}

impl EventType {
    pub const ALL: [EventType; 14] = [
        Self::ContactCreate,
        Self::ContactUpdate,
        Self::ContactDelete,
        Self::ContactTagUpdate,
        Self::ContactDndUpdate,
        Self::NoteCreate,
        Self::NoteUpdate,
        Self::NoteDelete,
        Self::TaskCreate,
        Self::TaskComplete,
        Self::TaskDelete,
        Self::AppointmentCreate,
        Self::AppointmentUpdate,
        Self::AppointmentDelete,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ContactCreate => "ContactCreate",
            Self::ContactUpdate => "ContactUpdate",
            Self::ContactDelete => "ContactDelete",
            Self::ContactTagUpdate => "ContactTagUpdate",
            Self::ContactDndUpdate => "ContactDndUpdate",
            Self::NoteCreate => "NoteCreate",
            Self::NoteUpdate => "NoteUpdate",
            Self::NoteDelete => "NoteDelete",
            Self::TaskCreate => "TaskCreate",
            Self::TaskComplete => "TaskComplete",
            Self::TaskDelete => "TaskDelete",
            Self::AppointmentCreate => "AppointmentCreate",
            Self::AppointmentUpdate => "AppointmentUpdate",
            Self::AppointmentDelete => "AppointmentDelete",
        }
    }

    /// The fields of the event's payload, from its schema in HighLevel's webhook docs: the
    /// top-level fields, and one level into objects (`appointment.id`).
    pub fn fields(self) -> Vec<String> {
        schema_fields(self.doc())
    }

    /// The example payload of HighLevel's webhook docs (the `json` block under `Example`),
    /// its `type` this event's (the appointment update and delete pages copy the create's).
    pub fn example(self) -> Option<serde_json::Value> {
        let (_, rest) = self.doc().split_once("Example")?;
        let (_, rest) = rest.split_once("```json")?;
        let (block, _) = rest.split_once("```")?;
        let mut example: serde_json::Value = serde_json::from_str(block).ok()?;
        if let Some(kind) = example.get_mut("type") {
            *kind = serde_json::Value::from(self.as_str());
        }
        Some(example)
    }

    /// The event's page of HighLevel's webhook docs, embedded.
    fn doc(self) -> &'static str {
        match self {
            Self::ContactCreate => {
                include_str!("../../../specs/highlevel/docs/webhook-events/ContactCreate.md")
            }
            Self::ContactUpdate => {
                include_str!("../../../specs/highlevel/docs/webhook-events/ContactUpdate.md")
            }
            Self::ContactDelete => {
                include_str!("../../../specs/highlevel/docs/webhook-events/ContactDelete.md")
            }
            Self::ContactTagUpdate => {
                include_str!("../../../specs/highlevel/docs/webhook-events/ContactTagUpdate.md")
            }
            Self::ContactDndUpdate => {
                include_str!("../../../specs/highlevel/docs/webhook-events/ContactDndUpdate.md")
            }
            Self::NoteCreate => {
                include_str!("../../../specs/highlevel/docs/webhook-events/NoteCreate.md")
            }
            Self::NoteUpdate => {
                include_str!("../../../specs/highlevel/docs/webhook-events/NoteUpdate.md")
            }
            Self::NoteDelete => {
                include_str!("../../../specs/highlevel/docs/webhook-events/NoteDelete.md")
            }
            Self::TaskCreate => {
                include_str!("../../../specs/highlevel/docs/webhook-events/TaskCreate.md")
            }
            Self::TaskComplete => {
                include_str!("../../../specs/highlevel/docs/webhook-events/TaskComplete.md")
            }
            Self::TaskDelete => {
                include_str!("../../../specs/highlevel/docs/webhook-events/TaskDelete.md")
            }
            Self::AppointmentCreate => {
                include_str!("../../../specs/highlevel/docs/webhook-events/AppointmentCreate.md")
            }
            Self::AppointmentUpdate => {
                include_str!("../../../specs/highlevel/docs/webhook-events/AppointmentUpdate.md")
            }
            Self::AppointmentDelete => {
                include_str!("../../../specs/highlevel/docs/webhook-events/AppointmentDelete.md")
            }
        }
    }
}

/// The fields of the `json json_schema` block of a webhook doc.
fn schema_fields(doc: &str) -> Vec<String> {
    doc.split_once("```json json_schema")
        .and_then(|(_, rest)| rest.split_once("```"))
        .and_then(|(block, _)| serde_json::from_str::<serde_json::Value>(block).ok())
        .map(|schema| crate::spec_rules::fields_two_deep(&schema, &schema))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::EventType;

    #[test]
    fn every_event_has_the_example_of_its_docs_page() {
        for event in EventType::ALL {
            let example = event.example().unwrap_or_else(|| panic!("{event:?}: no example"));
            assert_eq!(example["type"], event.as_str());
            assert!(example["locationId"].is_string(), "{event:?}: {example}");
        }
    }
}
