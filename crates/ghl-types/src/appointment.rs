//! Appointments (calendar events): CalendarEventDTO as read, AppointmentCreateSchema and
//! AppointmentEditSchema as written.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
/// Read leniently: a field HighLevel leaves out reads as empty.
#[serde(rename_all = "camelCase", default)]
pub struct CalendarEvent {
    pub id: String,
    pub title: String,
    pub calendar_id: String,
    pub location_id: String,
    pub contact_id: String,
    pub group_id: String,
    pub appointment_status: String,
    pub assigned_user_id: String,
    pub users: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meeting_location_type: Option<String>,
    #[serde(default)]
    pub is_recurring: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rrule: Option<String>,
    pub start_time: String,
    pub end_time: String,
    pub date_added: String,
    pub date_updated: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The body of create-appointment and edit-appointment.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppointmentInput {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meeting_location_type: Option<MeetingLocationType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meeting_location_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub override_location_config: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub appointment_status: Option<AppointmentStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assigned_user_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore_date_range: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_notify: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore_free_slot_validation: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rrule: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calendar_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MeetingLocationType {
    Custom,
    Zoom,
    Gmeet,
    Phone,
    Address,
    MsTeams,
    Google,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AppointmentStatus {
    New,
    Confirmed,
    Cancelled,
    Showed,
    Noshow,
    Invalid,
}

impl AppointmentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Confirmed => "confirmed",
            Self::Cancelled => "cancelled",
            Self::Showed => "showed",
            Self::Noshow => "noshow",
            Self::Invalid => "invalid",
        }
    }
}

impl MeetingLocationType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Custom => "custom",
            Self::Zoom => "zoom",
            Self::Gmeet => "gmeet",
            Self::Phone => "phone",
            Self::Address => "address",
            Self::MsTeams => "ms_teams",
            Self::Google => "google",
        }
    }
}
