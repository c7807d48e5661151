//! How an app's refusals read: where its error message and code are, and which statuses,
//! codes or texts mean "not found", "duplicate", "invalid", "retry later", "reconnect",
//! "forbidden" or "gone". The runtime's one classifier applies the manifest's rules first,
//! then the defaults below, so every app's errors reach the same typed outcomes.

use serde::{Deserialize, Serialize};

use crate::place::ValueAt;

/// `errors:` of a manifest.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorRules {
    /// Where a refusal's message is (`/error/message`, or `text` for a plain-text body).
    #[serde(default)]
    pub message: Option<ValueAt>,
    /// Where its machine-readable code is (`/errors/0/code`, or `text`).
    #[serde(default)]
    pub code: Option<ValueAt>,
    /// Checked in order; the first that matches decides.
    #[serde(default)]
    pub rules: Vec<ErrorRule>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorRule {
    /// The statuses it applies to (any, when empty). Note that a 2xx answer can be a
    /// refusal too (Teams' legacy connector throttles with a 200 whose text says 429).
    #[serde(default, deserialize_with = "one_or_many")]
    pub status: Vec<u16>,
    /// The error code it applies to (see `errors.code`).
    #[serde(default)]
    pub code: Option<String>,
    /// A text the body must contain.
    #[serde(default)]
    pub text_contains: Option<String>,
    pub means: ErrorMeaning,
}

/// What an app's refusal means for the caller: each is a different thing to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorMeaning {
    /// The record is not there.
    NotFound,
    /// The record already exists (a create's natural key collides).
    Duplicate,
    /// The request is wrong; retrying it as is cannot help (the message says what).
    Invalid,
    /// Try again later (honouring `Retry-After` when the answer has it).
    Retry,
    /// The credentials are bad or expired: the connection needs reconnecting.
    Reconnect,
    /// The credentials are good but may not do this (a missing scope or permission).
    Forbidden,
    /// The destination is gone for good (an archived channel, a removed webhook).
    Gone,
}

impl ErrorMeaning {
    /// What a status means when no rule of the manifest matched.
    pub fn default_for(status: u16) -> Option<Self> {
        Some(match status {
            401 => Self::Reconnect,
            403 => Self::Forbidden,
            404 => Self::NotFound,
            409 => Self::Duplicate,
            410 => Self::Gone,
            408 | 425 | 429 | 500..=599 => Self::Retry,
            400..=499 => Self::Invalid,
            _ => return None,
        })
    }
}

fn one_or_many<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<u16>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged, expecting = "a status (404) or a list of statuses ([500, 502])")]
    enum OneOrMany {
        One(u16),
        Many(Vec<u16>),
    }
    Ok(match OneOrMany::deserialize(deserializer)? {
        OneOrMany::One(status) => vec![status],
        OneOrMany::Many(statuses) => statuses,
    })
}
