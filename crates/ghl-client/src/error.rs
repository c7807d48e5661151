//! The client's errors, by what the caller should do about them.

use std::time::{Duration, SystemTime};

use crate::retry::Wait;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Still rate-limited when the retry budget ran out; try again after `retry_after`.
    #[error("{operation}: rate limited; retry after {retry_after:?}")]
    RateLimited { operation: String, retry_after: Duration },
    /// The location's daily request quota is spent: checkpoint and resume at `resets_at`.
    #[error("daily request quota exhausted; it resets at {}", httpdate::fmt_http_date(*resets_at))]
    DailyQuotaExhausted { resets_at: SystemTime },
    /// The connection must be authorised again (refresh token revoked or expired, app
    /// uninstalled, location inactive). Retrying will not help.
    #[error("reconnect needed: {reason}")]
    ReconnectNeeded { reason: String },
    /// 401 that a refresh did not cure, or a token without the scope the operation needs.
    #[error("{operation}: unauthorized: {message}")]
    Unauthorized { operation: String, message: String },
    /// 403: the token does not reach this location.
    #[error("{operation}: forbidden: {message}")]
    Forbidden { operation: String, message: String },
    /// The record does not exist (HighLevel answers 400 "... not found" for unknown ids).
    #[error("{operation}: not found: {message}")]
    NotFound { operation: String, message: String },
    /// The location refuses a duplicate contact; `contact_id` is the existing one.
    #[error("{operation}: duplicate of contact {contact_id} (by {matching_field})")]
    Duplicate { operation: String, contact_id: String, matching_field: String },
    /// The request was refused as invalid (HighLevel's messages kept).
    #[error("{operation}: invalid request ({status}): {}", messages.join("; "))]
    Validation { operation: String, status: u16, messages: Vec<String> },
    /// Transient failures (5xx, timeouts, dropped connections) outlasted the retries.
    #[error("{operation}: failed after retries: {message}")]
    Transient { operation: String, status: Option<u16>, message: String },
    /// Any other refusal; retrying will not help.
    #[error("{operation}: failed ({status}): {message}")]
    Permanent { operation: String, status: u16, message: String },
    /// A write that cannot be repeated safely got no clear answer: it may or may not have
    /// taken effect, and it is not sent again. `message` names the app and the operation
    /// and says what to check. Retrying will not help; a person must look.
    #[error("{message}")]
    OutcomeUnknown { operation: String, status: Option<u16>, message: String },
    /// The OAuth `state` that came back is not the one sent: a forged or stale redirect.
    #[error("OAuth state mismatch: the authorization response was not for this request")]
    StateMismatch,
    /// The call could not even be formed (unknown operation, missing parameter, bad URL).
    #[error("invalid call: {0}")]
    InvalidCall(String),
}

impl Error {
    /// Whether the same call may succeed later without any change.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::RateLimited { .. } | Self::DailyQuotaExhausted { .. } | Self::Transient { .. }
        )
    }

    /// When the same call may succeed, if the other side said so (a rate limit, a spent
    /// daily quota): a wait, not a failure.
    pub fn wait(&self) -> Option<Wait> {
        match self {
            Self::RateLimited { retry_after, .. } => Some(Wait::For(*retry_after)),
            Self::DailyQuotaExhausted { resets_at } => Some(Wait::Until(*resets_at)),
            _ => None,
        }
    }

    /// The HTTP status behind the error, where there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::RateLimited { .. } | Self::DailyQuotaExhausted { .. } => Some(429),
            Self::Unauthorized { .. } | Self::ReconnectNeeded { .. } => Some(401),
            Self::Forbidden { .. } => Some(403),
            Self::NotFound { .. } | Self::Duplicate { .. } => Some(400),
            Self::Validation { status, .. } | Self::Permanent { status, .. } => Some(*status),
            Self::Transient { status, .. } | Self::OutcomeUnknown { status, .. } => *status,
            Self::StateMismatch | Self::InvalidCall(_) => None,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
