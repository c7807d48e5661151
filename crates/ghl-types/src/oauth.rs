//! OAuth 2.0 token endpoint shapes (apps/oauth.json) and the scopes the Contacts API uses.

use serde::{Deserialize, Serialize};

pub const SCOPE_CONTACTS_READONLY: &str = "contacts.readonly";
pub const SCOPE_CONTACTS_WRITE: &str = "contacts.write";
pub const SCOPE_EVENTS_READONLY: &str = "calendars/events.readonly";
pub const SCOPE_EVENTS_WRITE: &str = "calendars/events.write";

/// The response of `POST /oauth/token` (GetAccessCodeSuccessfulResponseDto).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: String,
    pub expires_in: u64,
    pub refresh_token: String,
    pub scope: String,
    pub user_type: UserType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location_id: Option<String>,
    pub company_id: String,
    pub user_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_bulk_installation: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum UserType {
    Location,
    Company,
}

/// The form body of `POST /oauth/token`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TokenRequest {
    pub client_id: String,
    pub client_secret: String,
    pub grant_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_uri: Option<String>,
}
