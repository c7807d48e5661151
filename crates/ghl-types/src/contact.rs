//! Contacts: the stored record as HighLevel returns it, and the body of create, update and upsert.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A contact as `GET /contacts/{id}` returns it (GetContectByIdSchema and CreateContactSchema).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Contact {
    pub id: String,
    pub location_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name_lower_case: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name_lower_case: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_name_lower_case: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_lower_case: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company_name: Option<String>,
    #[serde(default)]
    pub dnd: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dnd_settings: Option<DndSettings>,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub contact_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assigned_to: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address1: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub website: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_of_birth: Option<String>,
    /// ISO-8601 with milliseconds, UTC (`2021-11-26T12:41:02.193Z`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_added: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_updated: Option<String>,
    #[serde(default)]
    pub custom_fields: Vec<CustomFieldValue>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub business_id: Option<String>,
    #[serde(default)]
    pub followers: Vec<String>,
    /// Fields this version does not know, kept so that nothing is lost on a read-modify-write.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A custom field value as HighLevel returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomFieldValue {
    pub id: String,
    pub value: Value,
}

/// Do-not-disturb settings per channel (DndSettingsSchema).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DndSettings {
    #[serde(rename = "Call", default, skip_serializing_if = "Option::is_none")]
    pub call: Option<DndSetting>,
    #[serde(rename = "Email", default, skip_serializing_if = "Option::is_none")]
    pub email: Option<DndSetting>,
    #[serde(rename = "SMS", default, skip_serializing_if = "Option::is_none")]
    pub sms: Option<DndSetting>,
    #[serde(rename = "WhatsApp", default, skip_serializing_if = "Option::is_none")]
    pub whatsapp: Option<DndSetting>,
    #[serde(rename = "GMB", default, skip_serializing_if = "Option::is_none")]
    pub gmb: Option<DndSetting>,
    #[serde(rename = "FB", default, skip_serializing_if = "Option::is_none")]
    pub fb: Option<DndSetting>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DndSetting {
    pub status: DndStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DndStatus {
    Active,
    Inactive,
    Permanent,
}

/// The body of create (CreateContactDto), update (UpdateContactDto) and upsert
/// (UpsertContactDto). Which of these fields an operation accepts is the spec's business:
/// the sandbox rejects the others by name. `Some(None)` is an explicit `null` (clear the field).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContactInput {
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "crate::present")]
    pub first_name: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "crate::present")]
    pub last_name: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "crate::present")]
    pub name: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "crate::present")]
    pub email: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gender: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "crate::present")]
    pub phone: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "crate::present")]
    pub address1: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "crate::present")]
    pub city: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "crate::present")]
    pub state: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "crate::present")]
    pub website: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "crate::present")]
    pub timezone: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dnd: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dnd_settings: Option<DndSettings>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inbound_dnd_settings: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_fields: Option<Vec<CustomFieldInput>>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "crate::present")]
    pub source: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "crate::present")]
    pub date_of_birth: Option<Option<Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "crate::present")]
    pub company_name: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "crate::present")]
    pub assigned_to: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_new_if_duplicate_allowed: Option<bool>,
    /// `lead` or `customer`; accepted by the live update although UpdateContactDto lacks it
    /// (highlevel-api-docs issue 314), as are `keyword` and `ssn`.
    #[serde(
        default,
        rename = "type",
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::present"
    )]
    pub contact_type: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "crate::present")]
    pub keyword: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "crate::present")]
    pub ssn: Option<Option<String>>,
}

/// A custom field in a request: by `id` or by `key`, with a string, number, array or object value
/// under `field_value` (the spec) or `fieldValue` (the official SDK). The value may be left out
/// (the spec requires only `id`); `null` is a value that clears the field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomFieldInput {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(
        default,
        alias = "fieldValue",
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::present"
    )]
    pub field_value: Option<Value>,
}
