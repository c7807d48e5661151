//! Retry decisions in one place, for every app and every caller (the execute loop, the token
//! endpoint, `http.request` steps, the engine's run retries): what an HTTP answer asks for
//! ([`classify`] → [`Verdict`]), when the other side said to come back ([`Wait`], parsed from
//! `Retry-After` by [`retry_after`]), and how long to back off otherwise ([`Backoff`]).

use std::time::{Duration, SystemTime};

use rand::Rng;
use reqwest::header::{HeaderMap, RETRY_AFTER};

/// When the other side said to come back. A wait is not a failure: whoever retries later
/// does not count it as an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// After this long (a `Retry-After` in seconds, a rate-limit window).
    For(Duration),
    /// At this time (a daily quota's reset, a `Retry-After` date).
    Until(SystemTime),
}

impl Wait {
    /// The time to come back, seen from `now`.
    pub fn until(self, now: SystemTime) -> SystemTime {
        match self {
            Self::For(wait) => now + wait,
            Self::Until(at) => at,
        }
    }

    /// How long is left to wait, seen from `now` (zero once the time has come).
    pub fn remaining(self, now: SystemTime) -> Duration {
        match self {
            Self::For(wait) => wait,
            Self::Until(at) => at.duration_since(now).unwrap_or_default(),
        }
    }
}

/// An answer's `Retry-After`: delay-seconds or an HTTP date (RFC 9110 §10.2.3).
pub fn retry_after(headers: &HeaderMap) -> Option<Wait> {
    let text = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    match text.parse::<u64>() {
        Ok(seconds) => Some(Wait::For(Duration::from_secs(seconds))),
        Err(_) => httpdate::parse_http_date(text).ok().map(Wait::Until),
    }
}

/// Exponential backoff with full jitter: attempt `n` waits a uniform time between zero and
/// `base · 2ⁿ` (at most `max`), and never less than what the other side asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub base: Duration,
    pub max: Duration,
}

impl Backoff {
    pub const fn new(base: Duration, max: Duration) -> Self {
        Self { base, max }
    }

    /// The ceiling of attempt `attempt`'s wait (from 1).
    pub fn ceiling(&self, attempt: u32) -> Duration {
        self.base.saturating_mul(2u32.saturating_pow(attempt.min(16))).min(self.max)
    }

    /// How long to wait before attempt `attempt + 1`, never sooner than `at_least`.
    pub fn delay(&self, attempt: u32, at_least: Option<Duration>) -> Duration {
        let jittered = self.ceiling(attempt).mul_f64(rand::thread_rng().gen_range(0.0..=1.0));
        at_least.map_or(jittered, |asked| asked.max(jittered))
    }
}

/// The client's limits on one call's retries.
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
    pub fn backoff(&self) -> Backoff {
        Backoff::new(self.base_delay, self.max_delay)
    }

    /// See [`Backoff::delay`].
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        self.backoff().delay(attempt, retry_after)
    }
}

/// What one attempt's answer asks of the caller, for any app. What a refusal means in detail
/// (a duplicate, a missing scope) is the app's to say; see [`crate::profile::AppProfile`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// 2xx.
    Done,
    /// A transient failure (5xx, 408, a dropped connection): back off and try again.
    /// `ambiguous` when the request may have taken effect.
    Retry { after: Option<Wait>, ambiguous: bool },
    /// 429: the other side limits us; come back when it says (a wait, not a failure).
    Throttled { after: Option<Wait> },
    /// 401: refresh the credentials once and try again.
    Refresh,
    /// Any other answer: sending it again as it is cannot succeed.
    Refused,
}

/// What an HTTP status asks for; `after` is the answer's `Retry-After`.
pub fn classify(status: u16, after: Option<Wait>) -> Verdict {
    match status {
        200..=299 => Verdict::Done,
        401 => Verdict::Refresh,
        408 => Verdict::Retry { after, ambiguous: false },
        429 => Verdict::Throttled { after },
        500..=599 => Verdict::Retry { after, ambiguous: true },
        _ => Verdict::Refused,
    }
}

/// A request that got no answer: retried; ambiguous unless it was refused at connect time
/// (then it was never sent).
pub fn classify_transport(error: &reqwest::Error) -> Verdict {
    Verdict::Retry { after: None, ambiguous: !error.is_connect() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(value: &str) -> HeaderMap {
        let mut map = HeaderMap::new();
        map.insert(RETRY_AFTER, value.parse().expect("header value"));
        map
    }

    #[test]
    fn retry_after_is_seconds_or_a_date() {
        assert_eq!(retry_after(&headers(" 7 ")), Some(Wait::For(Duration::from_secs(7))));
        let date = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_428_000);
        let text = httpdate::fmt_http_date(date);
        assert_eq!(retry_after(&headers(&text)), Some(Wait::Until(date)));
        assert_eq!(retry_after(&headers("soon")), None);
        assert_eq!(retry_after(&HeaderMap::new()), None);
    }

    #[test]
    fn a_wait_knows_what_is_left() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(100);
        let later = Wait::Until(now + Duration::from_secs(5));
        assert_eq!(later.remaining(now), Duration::from_secs(5));
        assert_eq!(Wait::Until(SystemTime::UNIX_EPOCH).remaining(now), Duration::ZERO);
        assert_eq!(Wait::For(Duration::from_secs(3)).until(now), now + Duration::from_secs(3));
    }

    #[test]
    fn backoff_grows_to_its_ceiling_and_honours_the_other_side() {
        let backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        assert_eq!(backoff.ceiling(1), Duration::from_millis(200));
        assert_eq!(backoff.ceiling(3), Duration::from_millis(800));
        assert_eq!(backoff.ceiling(30), Duration::from_secs(1));
        for attempt in 1..10 {
            assert!(backoff.delay(attempt, None) <= backoff.ceiling(attempt));
            let asked = Duration::from_secs(5);
            assert!(backoff.delay(attempt, Some(asked)) >= asked);
        }
    }

    #[test]
    fn statuses_are_classified_for_any_app() {
        let after = Some(Wait::For(Duration::from_secs(2)));
        assert_eq!(classify(201, None), Verdict::Done);
        assert_eq!(classify(401, None), Verdict::Refresh);
        assert_eq!(classify(429, after), Verdict::Throttled { after });
        assert_eq!(classify(503, after), Verdict::Retry { after, ambiguous: true });
        assert_eq!(classify(408, None), Verdict::Retry { after: None, ambiguous: false });
        for refused in [400, 403, 404, 409, 413, 422] {
            assert_eq!(classify(refused, None), Verdict::Refused, "{refused}");
        }
    }
}
