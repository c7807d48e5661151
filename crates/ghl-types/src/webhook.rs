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
}
