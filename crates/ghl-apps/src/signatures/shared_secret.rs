//! The plain shared-secret scheme many apps use: an HMAC-SHA256 of the raw body (or of
//! `{timestamp}.{raw body}`) under a shared secret, hex or base64, in one header, perhaps
//! after a prefix (`sha256=`). What varies between apps is data (`HmacScheme` in the
//! manifest); the computation and the constant-time comparison are here once.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::{check_window, SigningKey, VerifyError};
use crate::triggers::{Encoding, HmacScheme, SignedContent};

pub(super) fn mac(key: &SigningKey, timestamp: Option<&str>, body: &[u8]) -> Hmac<Sha256> {
    let mut mac = match Hmac::<Sha256>::new_from_slice(key.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC accepts keys of any length"),
    };
    if let Some(timestamp) = timestamp {
        mac.update(timestamp.as_bytes());
        mac.update(b".");
    }
    mac.update(body);
    mac
}

pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

pub(super) fn unhex(text: &str) -> Option<Vec<u8>> {
    let pairs = text.as_bytes().chunks_exact(2);
    if !pairs.remainder().is_empty() {
        return None;
    }
    pairs
        .map(|pair| {
            std::str::from_utf8(pair).ok().and_then(|pair| u8::from_str_radix(pair, 16).ok())
        })
        .collect()
}

/// The signature header's value for a body (`timestamp` when the scheme signs one).
pub fn sign(key: &SigningKey, scheme: &HmacScheme, timestamp: Option<i64>, body: &[u8]) -> String {
    let timestamp = match scheme.signed {
        SignedContent::Body => None,
        SignedContent::TimestampDotBody => timestamp.map(|t| t.to_string()),
    };
    let tag = mac(key, timestamp.as_deref(), body).finalize().into_bytes();
    let encoded = match scheme.encoding {
        Encoding::Hex => hex(&tag),
        Encoding::Base64 => STANDARD.encode(tag),
    };
    format!("{}{encoded}", scheme.prefix)
}

/// Verifies a delivery: `signature` is the scheme's header value, `timestamp` its
/// timestamp header's (when it signs one), checked against `now`.
pub fn verify(
    key: &SigningKey,
    scheme: &HmacScheme,
    signature: Option<&str>,
    timestamp: Option<&str>,
    body: &[u8],
    now: i64,
) -> Result<(), VerifyError> {
    let signature = signature.ok_or_else(|| VerifyError::MissingHeader(scheme.header.clone()))?;
    let timestamp = match scheme.signed {
        SignedContent::Body => None,
        SignedContent::TimestampDotBody => {
            let header = scheme.timestamp_header.clone().unwrap_or_default();
            let text = timestamp.ok_or_else(|| VerifyError::MissingHeader(header.clone()))?;
            let signed_at: i64 =
                text.trim().parse().map_err(|_| VerifyError::BadTimestamp { header })?;
            check_window(signed_at, now, scheme.tolerance_secs)?;
            Some(text.trim())
        }
    };
    let encoded =
        signature.trim().strip_prefix(scheme.prefix.as_str()).ok_or(VerifyError::NoMatch)?;
    let given = match scheme.encoding {
        Encoding::Hex => unhex(&encoded.to_ascii_lowercase()),
        Encoding::Base64 => STANDARD.decode(encoded).ok(),
    }
    .ok_or(VerifyError::NoMatch)?;
    mac(key, timestamp, body).verify_slice(&given).map_err(|_| VerifyError::NoMatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scheme(encoding: Encoding, signed: SignedContent) -> HmacScheme {
        HmacScheme {
            header: "X-Signature".into(),
            encoding,
            prefix: "sha256=".into(),
            signed,
            timestamp_header: Some("X-Timestamp".into()),
            tolerance_secs: 300,
        }
    }

    #[test]
    fn matches_a_known_hmac() {
        // HMAC-SHA256("key", "The quick brown fox jumps over the lazy dog"), RFC 4231-style
        // well-known value.
        let key = SigningKey::from_bytes(b"key".to_vec());
        let body = b"The quick brown fox jumps over the lazy dog";
        let hex_scheme = scheme(Encoding::Hex, SignedContent::Body);
        assert_eq!(
            sign(&key, &hex_scheme, None, body),
            "sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
        );
        let header = sign(&key, &hex_scheme, None, body);
        assert_eq!(verify(&key, &hex_scheme, Some(&header), None, body, 0), Ok(()));
        let upper = header.to_ascii_uppercase().replace("SHA256=", "sha256=");
        assert_eq!(verify(&key, &hex_scheme, Some(&upper), None, body, 0), Ok(()));
        assert_eq!(
            verify(&key, &hex_scheme, Some(&header), None, b"The quick brown fox", 0),
            Err(VerifyError::NoMatch)
        );
        let other = SigningKey::from_bytes(b"other".to_vec());
        assert_eq!(
            verify(&other, &hex_scheme, Some(&header), None, body, 0),
            Err(VerifyError::NoMatch)
        );
        assert_eq!(
            verify(&key, &hex_scheme, None, None, body, 0),
            Err(VerifyError::MissingHeader("X-Signature".into()))
        );
    }

    #[test]
    fn a_signed_timestamp_is_held_to_the_window() {
        let key = SigningKey::from_bytes(b"secret".to_vec());
        let timed = scheme(Encoding::Base64, SignedContent::TimestampDotBody);
        let header = sign(&key, &timed, Some(1_000), b"{}");
        assert_eq!(verify(&key, &timed, Some(&header), Some("1000"), b"{}", 1_300), Ok(()));
        assert!(matches!(
            verify(&key, &timed, Some(&header), Some("1000"), b"{}", 1_301),
            Err(VerifyError::TooOld { age_secs: 301, .. })
        ));
        assert_eq!(
            verify(&key, &timed, Some(&header), Some("1001"), b"{}", 1_000),
            Err(VerifyError::NoMatch),
            "the timestamp is part of what is signed"
        );
        assert!(matches!(
            verify(&key, &timed, Some(&header), None, b"{}", 1_000),
            Err(VerifyError::MissingHeader(name)) if name == "X-Timestamp"
        ));
    }
}
