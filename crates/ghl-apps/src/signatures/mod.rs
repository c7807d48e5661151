//! Webhook signatures, one module per scheme: Standard Webhooks (what our outgoing webhooks
//! sign with, and what a manifest's `standard_webhooks` deliveries are verified with), a
//! plain shared-secret HMAC-SHA256, and the `t=...,v1=...` header (Qonto's, Stripe's). All
//! compare in constant time and check the signed
//! timestamp against a tolerance window around a `now` the caller gives (the clock is the
//! caller's, so verification is testable and deterministic).

pub mod shared_secret;
pub mod standard_webhooks;
pub mod timestamp_v1;

use std::fmt;

/// Why a delivery's signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("the delivery has no `{0}` header")]
    MissingHeader(String),
    #[error("the `{header}` header is not a Unix time in seconds")]
    BadTimestamp { header: String },
    #[error("the delivery was signed {age_secs} s ago; at most {tolerance_secs} s are accepted (a replay, or a clock far off)")]
    TooOld { age_secs: i64, tolerance_secs: u64 },
    #[error("the delivery is signed {ahead_secs} s in the future; at most {tolerance_secs} s are accepted (a clock far off)")]
    TooNew { ahead_secs: i64, tolerance_secs: u64 },
    #[error("no signature of the delivery matches its body with the connection's secret")]
    NoMatch,
    #[error("the `{header}` header has no `t=` Unix time in seconds")]
    NoTimePart { header: String },
}

/// A webhook signing secret: the key bytes, never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKey(Vec<u8>);

impl SigningKey {
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningKey([redacted])")
    }
}

/// Refuses a signed Unix time outside `now ± tolerance_secs` (exactly `tolerance_secs` off
/// passes, as in the reference libraries).
pub(crate) fn check_window(
    signed_at: i64,
    now: i64,
    tolerance_secs: u64,
) -> Result<(), VerifyError> {
    let tolerance = i64::try_from(tolerance_secs).unwrap_or(i64::MAX);
    let age = now.saturating_sub(signed_at);
    if age > tolerance {
        return Err(VerifyError::TooOld { age_secs: age, tolerance_secs });
    }
    let ahead = signed_at.saturating_sub(now);
    if ahead > tolerance {
        return Err(VerifyError::TooNew { ahead_secs: ahead, tolerance_secs });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_holds_at_its_edges_and_at_extreme_times() {
        assert_eq!(check_window(1_000, 1_300, 300), Ok(()));
        assert_eq!(check_window(1_300, 1_000, 300), Ok(()));
        assert!(matches!(check_window(1_000, 1_301, 300), Err(VerifyError::TooOld { .. })));
        assert!(matches!(check_window(1_301, 1_000, 300), Err(VerifyError::TooNew { .. })));
        assert!(matches!(check_window(i64::MAX, i64::MIN, 300), Err(VerifyError::TooNew { .. })));
        assert!(matches!(check_window(i64::MIN, i64::MAX, 300), Err(VerifyError::TooOld { .. })));
        assert_eq!(check_window(0, i64::MAX, u64::MAX), Ok(()));
    }
}
