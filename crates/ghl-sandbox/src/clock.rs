//! Time as HighLevel writes it (ISO-8601 UTC with milliseconds) and random record ids.

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use rand::Rng;

/// `2021-11-26T12:41:02.193Z`
pub fn iso(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub fn now_iso() -> String {
    iso(Utc::now())
}

pub fn iso_from_millis(millis: i64) -> String {
    Utc.timestamp_millis_opt(millis).single().map(iso).unwrap_or_default()
}

/// Milliseconds since the epoch of an ISO-8601 time, or of a number of milliseconds.
pub fn parse_millis(text: &str) -> Option<i64> {
    if let Ok(millis) = text.parse::<i64>() {
        return Some(millis);
    }
    DateTime::parse_from_rfc3339(text).ok().map(|time| time.timestamp_millis())
}

const ID_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// A 20-character id like HighLevel's (`ocQHyuzHvysMo5N5VsXc`).
pub fn new_id(rng: &mut impl Rng) -> String {
    (0..20).map(|_| ID_ALPHABET[rng.gen_range(0..ID_ALPHABET.len())] as char).collect()
}

/// A random opaque secret of `len` characters (tokens, codes, client secrets).
pub fn new_secret(rng: &mut impl Rng, prefix: &str, len: usize) -> String {
    let body: String =
        (0..len).map(|_| ID_ALPHABET[rng.gen_range(0..ID_ALPHABET.len())] as char).collect();
    format!("{prefix}{body}")
}
