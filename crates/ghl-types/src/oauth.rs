//! OAuth 2.0 token endpoint shapes (apps/oauth.json) and the scopes the Contacts API uses.

use serde::{Deserialize, Serialize};

pub const SCOPE_CONTACTS_READONLY: &str = "contacts.readonly";
pub const SCOPE_CONTACTS_WRITE: &str = "contacts.write";
pub const SCOPE_EVENTS_READONLY: &str = "calendars/events.readonly";
pub const SCOPE_EVENTS_WRITE: &str = "calendars/events.write";

/// The response of `POST /oauth/token` (GetAccessCodeSuccessfulResponseDto): the OAuth fields
/// are snake_case, HighLevel's own are camelCase.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: String,
    pub expires_in: u64,
    pub refresh_token: String,
    pub scope: String,
    #[serde(rename = "userType")]
    pub user_type: UserType,
    #[serde(rename = "locationId", default, skip_serializing_if = "Option::is_none")]
    pub location_id: Option<String>,
    #[serde(rename = "companyId")]
    pub company_id: String,
    #[serde(rename = "userId")]
    pub user_id: String,
    #[serde(rename = "isBulkInstallation", default, skip_serializing_if = "Option::is_none")]
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
