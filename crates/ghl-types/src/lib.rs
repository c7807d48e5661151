//! HighLevel API types shared by the sandbox and the client, so the two never drift apart.
//! Wire shapes only (serde, no IO): field names are the official spec's (camelCase), and
//! records keep fields they do not know in `extra` so a read-modify-write loses nothing.

pub mod appointment;
pub mod contact;
pub mod error;
pub mod note;
pub mod oauth;
pub mod operations;
pub mod rate_limit;
pub mod remedy;
pub mod search;
pub mod spec_rules;
pub mod task;
pub mod webhook;

pub use appointment::{AppointmentInput, CalendarEvent};
pub use contact::{
    Contact, ContactInput, CustomFieldInput, CustomFieldValue, DndSetting, DndSettings,
};
pub use error::{ErrorBody, ErrorMessage};
pub use note::{Note, NoteInput};
pub use operations::{Operation, OPERATIONS};
pub use remedy::Remedy;
pub use search::{SearchBody, SearchFilter, SearchSort};
pub use task::{Task, TaskInput};
pub use webhook::EventType;

/// The `Version` header every Contacts API call carries.
pub const CONTACTS_API_VERSION: &str = "2021-07-28";
/// The `Version` header of the Calendars API.
pub const CALENDARS_API_VERSION: &str = "2021-04-15";
/// Where the real HighLevel API lives.
pub const PRODUCTION_BASE_URL: &str = "https://services.leadconnectorhq.com";

/// Deserialises a field that is present (even as `null`) into `Some`, so that with
/// `#[serde(default)]` an absent field is `None` and an explicit `null` is `Some(None)`.
pub fn present<'de, T, D>(deserializer: D) -> Result<Option<T>, D::Error>
where
    T: serde::Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    T::deserialize(deserializer).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_table_covers_the_contacts_api_and_the_appointment_operations() {
        let contacts = OPERATIONS.iter().filter(|op| op.api == operations::Api::Contacts).count();
        let calendars = OPERATIONS.iter().filter(|op| op.api == operations::Api::Calendars).count();
        assert_eq!((contacts, calendars), (32, 5));
        let mut ids: Vec<_> = OPERATIONS.iter().map(|op| op.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), OPERATIONS.len(), "operation ids are unique");
        assert!(Operation::find("get-contact").is_some_and(Operation::is_read));
        assert!(Operation::find("create-contact").is_some_and(|op| !op.is_read()));
    }

    #[test]
    fn contact_input_tells_absent_from_null() {
        let input: ContactInput =
            serde_json::from_str(r#"{"firstName": null, "lastName": "Lovelace"}"#).expect("parses");
        assert_eq!(input.first_name, Some(None), "null: clear the field");
        assert_eq!(input.last_name, Some(Some("Lovelace".into())));
        assert_eq!(input.email, None, "absent: leave the field");
    }

    #[test]
    fn contact_keeps_fields_it_does_not_know() {
        let text = r#"{"id":"c1","locationId":"l1","tags":[],"customFields":[],"followers":[],"dnd":false,"newField":{"a":1}}"#;
        let contact: Contact = serde_json::from_str(text).expect("parses");
        assert_eq!(contact.extra["newField"], serde_json::json!({"a": 1}));
        let again: serde_json::Value = serde_json::to_value(&contact).expect("serialises");
        assert_eq!(again["newField"], serde_json::json!({"a": 1}));
    }

    #[test]
    fn token_response_uses_oauth_and_highlevel_field_names() {
        let text = r#"{"access_token":"a","token_type":"Bearer","expires_in":86399,"refresh_token":"r",
            "scope":"contacts.readonly","userType":"Location","locationId":"l","companyId":"c","userId":"u"}"#;
        let token: oauth::TokenResponse = serde_json::from_str(text).expect("parses");
        assert_eq!(token.user_type, oauth::UserType::Location);
        assert_eq!(token.location_id.as_deref(), Some("l"));
    }
}
