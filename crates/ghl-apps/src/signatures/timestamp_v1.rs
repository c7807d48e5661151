//! The `t=...,v1=...` scheme: one header holds the Unix time the delivery was signed at and
//! the hex HMAC-SHA256 of `{t}.{raw body}` under the shared secret, as
//! `t=1764576000,v1=bc2d...`. Qonto signs its webhooks so (`X-Qonto-Signature`, 5 minutes'
//! tolerance: docs.qonto.com, webhooks troubleshooting, in specs/partners/NOTES.md §3);
//! Stripe's `Stripe-Signature` has the same form. A header may carry several `v1` (a
//! secret being rolled); one matching any key passes. Other versions are skipped.

use hmac::Mac;

use super::shared_secret::{hex, mac, unhex};
use super::{check_window, SigningKey, VerifyError};

const TIME: &str = "t";
const VERSION: &str = "v1";

/// The header's value for a body signed at `timestamp`.
pub fn sign(key: &SigningKey, timestamp: i64, body: &[u8]) -> String {
    let signed_at = timestamp.to_string();
    let tag = mac(key, Some(&signed_at), body).finalize().into_bytes();
    format!("{TIME}={signed_at},{VERSION}={}", hex(&tag))
}

/// Verifies a delivery whose `header` (named for the errors) has the value `value`: its
/// `t` within `tolerance_secs` of `now`, and one of its `v1` made with one of `keys`.
pub fn verify(
    keys: &[SigningKey],
    header: &str,
    value: Option<&str>,
    body: &[u8],
    now: i64,
    tolerance_secs: u64,
) -> Result<(), VerifyError> {
    let value = value.ok_or_else(|| VerifyError::MissingHeader(header.to_owned()))?;
    let parts: Vec<(&str, &str)> =
        value.split(',').filter_map(|part| part.trim().split_once('=')).collect();
    let bad_timestamp = || VerifyError::NoTimePart { header: header.to_owned() };
    let signed_at = parts
        .iter()
        .find(|(name, _)| *name == TIME)
        .map(|(_, text)| *text)
        .ok_or_else(bad_timestamp)?;
    let seconds: i64 = signed_at.parse().map_err(|_| bad_timestamp())?;
    check_window(seconds, now, tolerance_secs)?;
    let candidates: Vec<Vec<u8>> = parts
        .iter()
        .filter(|(name, _)| *name == VERSION)
        .filter_map(|(_, text)| unhex(&text.to_ascii_lowercase()))
        .collect();
    let matched = keys.iter().any(|key| {
        let mac = mac(key, Some(signed_at), body);
        candidates.iter().any(|candidate| mac.clone().verify_slice(candidate).is_ok())
    });
    if matched {
        Ok(())
    } else {
        Err(VerifyError::NoMatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "X-Qonto-Signature";
    const BODY: &[u8] = br#"{"id":"evt_1","type":"v1/clients"}"#;

    fn key(text: &str) -> SigningKey {
        SigningKey::from_bytes(text.as_bytes().to_vec())
    }

    #[test]
    fn signs_the_timestamp_dot_body_as_a_known_hmac() {
        // Python: hmac.new(b"qonto-webhook-secret", b"1764576000." + BODY, sha256).hexdigest()
        let value = sign(&key("qonto-webhook-secret"), 1_764_576_000, BODY);
        assert_eq!(
            value,
            "t=1764576000,v1=bc2df723d55be738d79e552287f2f7a4392aee0651b63278aabc52a5e877ce1b"
        );
        let keys = [key("qonto-webhook-secret")];
        assert_eq!(verify(&keys, HEADER, Some(&value), BODY, 1_764_576_000, 300), Ok(()));
        let spaced = value.replace(',', ", ").to_ascii_uppercase().replace("T=", "t=");
        let spaced = spaced.replace("V1=", "v1=");
        assert_eq!(verify(&keys, HEADER, Some(&spaced), BODY, 1_764_576_000, 300), Ok(()));
    }

    #[test]
    fn a_forged_stale_or_malformed_delivery_is_refused() {
        let keys = [key("secret")];
        let value = sign(&keys[0], 1_000, BODY);
        assert_eq!(verify(&keys, HEADER, Some(&value), BODY, 1_300, 300), Ok(()));
        assert!(matches!(
            verify(&keys, HEADER, Some(&value), BODY, 1_301, 300),
            Err(VerifyError::TooOld { age_secs: 301, .. })
        ));
        assert_eq!(
            verify(&keys, HEADER, Some(&value), b"{}", 1_000, 300),
            Err(VerifyError::NoMatch),
            "another body"
        );
        assert_eq!(
            verify(&[key("other")], HEADER, Some(&value), BODY, 1_000, 300),
            Err(VerifyError::NoMatch),
            "another secret"
        );
        let moved = value.replace("t=1000", "t=1001");
        assert_eq!(
            verify(&keys, HEADER, Some(&moved), BODY, 1_000, 300),
            Err(VerifyError::NoMatch),
            "the timestamp is signed"
        );
        assert_eq!(
            verify(&keys, HEADER, None, BODY, 1_000, 300),
            Err(VerifyError::MissingHeader(HEADER.into()))
        );
        let untimed = value.replace("t=1000,", "");
        assert!(matches!(
            verify(&keys, HEADER, Some(&untimed), BODY, 1_000, 300),
            Err(VerifyError::NoTimePart { .. })
        ));
    }

    #[test]
    fn any_v1_of_the_header_may_match_any_key() {
        let (old, new) = (key("old"), key("new"));
        let signed_new = sign(&new, 1_000, BODY);
        let new_v1 = signed_new.split_once(",v1=").map(|(_, v1)| v1).unwrap_or_default();
        let both = format!("{},v1={new_v1},v0=ignored", sign(&old, 1_000, BODY));
        assert_eq!(
            verify(std::slice::from_ref(&old), HEADER, Some(&both), BODY, 1_000, 300),
            Ok(())
        );
        assert_eq!(
            verify(std::slice::from_ref(&new), HEADER, Some(&both), BODY, 1_000, 300),
            Ok(())
        );
        assert_eq!(verify(&[key("x"), new], HEADER, Some(&signed_new), BODY, 1_000, 300), Ok(()));
    }
}
