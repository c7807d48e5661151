//! Retryability decided in one place: what an answer means for the caller, and how long to
//! wait before trying again (exponential backoff with full jitter, `Retry-After` honoured).

use std::time::Duration;

use rand::Rng;
use serde_json::Value;

use crate::error::Error;

#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts per call, the first included.
    pub max_attempts: u32,
    /// First backoff ceiling; it doubles each attempt up to `max_delay`.
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// Give up when the next wait would take the call past this.
    pub max_total: Duration,
    /// Timeout of one HTTP request.
    pub request_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 8,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(20),
            max_total: Duration::from_secs(120),
            request_timeout: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// Full jitter: a uniform wait between zero and the attempt's ceiling, but never less
    /// than the server's `Retry-After`.
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let ceiling = self
            .base_delay
            .saturating_mul(2u32.saturating_pow(attempt.min(16)))
            .min(self.max_delay);
        let jittered = ceiling.mul_f64(rand::thread_rng().gen_range(0.0..=1.0));
        retry_after.map_or(jittered, |after| after.max(jittered))
    }
}

/// What one attempt's answer asks for.
pub enum Outcome {
    Done(Value),
    /// Try again; `ambiguous` when the request may have taken effect (5xx, timeout, reset).
    Retry {
        retry_after: Option<Duration>,
        status: Option<u16>,
        why: String,
        ambiguous: bool,
    },
    /// 401: refresh the token once and try again.
    Refresh {
        message: String,
    },
    Fail(Error),
}

/// Classifies an HTTP answer.
pub fn classify(
    operation: &str,
    status: u16,
    retry_after: Option<Duration>,
    body: Value,
) -> Outcome {
    let message = message_of(&body);
    let fail = |error| Outcome::Fail(error);
    match status {
        200..=299 => Outcome::Done(body),
        401 if message.contains("scope") => {
            fail(Error::Unauthorized { operation: operation.into(), message })
        }
        401 => Outcome::Refresh { message },
        403 => fail(Error::Forbidden { operation: operation.into(), message }),
        429 => Outcome::Retry { retry_after, status: Some(429), why: message, ambiguous: false },
        500..=599 => {
            Outcome::Retry { retry_after, status: Some(status), why: message, ambiguous: true }
        }
        400 if body.pointer("/meta/contactId").is_some() => fail(Error::Duplicate {
            operation: operation.into(),
            contact_id: text_at(&body, "/meta/contactId"),
            matching_field: text_at(&body, "/meta/matchingField"),
        }),
        400 if message.to_lowercase().contains("not found") => {
            fail(Error::NotFound { operation: operation.into(), message })
        }
        400 | 413 | 422 => fail(Error::Validation {
            operation: operation.into(),
            status,
            messages: messages_of(&body),
        }),
        _ => fail(Error::Permanent { operation: operation.into(), status, message }),
    }
}

fn text_at(body: &Value, pointer: &str) -> String {
    body.pointer(pointer).and_then(Value::as_str).unwrap_or_default().to_owned()
}

/// HighLevel's `message`: a string, or a list of strings for 422.
pub fn messages_of(body: &Value) -> Vec<String> {
    match body.get("message") {
        Some(Value::String(message)) => vec![message.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| item.as_str().map_or_else(|| item.to_string(), str::to_owned))
            .collect(),
        _ => match body {
            Value::String(text) => vec![text.chars().take(200).collect()],
            Value::Null => Vec::new(),
            other => vec![other.to_string().chars().take(200).collect()],
        },
    }
}

pub fn message_of(body: &Value) -> String {
    messages_of(body).join("; ")
}
