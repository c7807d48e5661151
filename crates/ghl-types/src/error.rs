//! HighLevel's error bodies (common-schemas.json): 400 `{statusCode, message}` with a string,
//! 401 with `error`, 422 with an array of messages.

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    pub status_code: u16,
    pub message: ErrorMessage,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Extra detail some errors carry, e.g. the duplicate contact of a refused create.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Value>,
}

/// 400/401/403/404 carry one message; 422 carries a list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ErrorMessage {
    One(String),
    Many(Vec<String>),
}

impl ErrorMessage {
    /// All messages joined, for logs and error displays.
    pub fn text(&self) -> String {
        match self {
            Self::One(message) => message.clone(),
            Self::Many(messages) => messages.join("; "),
        }
    }
}
