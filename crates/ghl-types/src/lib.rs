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
pub mod search;
pub mod task;
pub mod webhook;

pub use appointment::{AppointmentInput, CalendarEvent};
pub use contact::{
    Contact, ContactInput, CustomFieldInput, CustomFieldValue, DndSetting, DndSettings,
};
pub use error::{ErrorBody, ErrorMessage};
pub use note::{Note, NoteInput};
pub use operations::{Operation, OPERATIONS};
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
