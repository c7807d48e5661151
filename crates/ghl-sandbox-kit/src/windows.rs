//! Rate limits as sliding windows: at most `requests` in any `per` (the strictest reading of
//! "N per second"), several windows at once (Teams' connector: 4 per second and 60 per 30
//! seconds...), counted per key (a credential, a webhook URL). A refused request is not
//! counted.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

/// At most `requests` in any `per_ms` milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Window {
    pub requests: u32,
    pub per_ms: u64,
}

/// The request is over a window; it may be retried after this long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    pub window: Window,
    pub retry_after: Duration,
}

/// What is left of the strictest window after a request was counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Left {
    pub window: Window,
    pub remaining: u32,
    /// When the oldest counted request leaves the window.
    pub reset_after: Duration,
}

fn limiting(windows: Vec<Window>) -> Vec<Window> {
    windows.into_iter().filter(|window| window.requests > 0 && window.per_ms > 0).collect()
}

pub struct Windows {
    windows: Mutex<Vec<Window>>,
    sent: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl Windows {
    /// Windows with no request or no length are ignored (no limit).
    pub fn new(windows: Vec<Window>) -> Self {
        Self { windows: Mutex::new(limiting(windows)), sent: Mutex::new(HashMap::new()) }
    }

    pub fn windows(&self) -> Vec<Window> {
        self.windows.lock().clone()
    }

    /// Replaces the windows and forgets every count.
    pub fn set(&self, windows: Vec<Window>) {
        *self.windows.lock() = limiting(windows);
        self.sent.lock().clear();
    }

    /// Counts one request under `key`, or refuses it without counting. `None`: no window.
    pub fn acquire(&self, key: &str) -> Result<Option<Left>, Refused> {
        self.acquire_at(key, Instant::now())
    }

    fn acquire_at(&self, key: &str, now: Instant) -> Result<Option<Left>, Refused> {
        let windows = self.windows();
        let Some(longest) = windows.iter().map(|w| w.per_ms).max() else {
            return Ok(None);
        };
        let mut sent = self.sent.lock();
        let recent = sent.entry(key.to_owned()).or_default();
        // Kept in order (a request timed just before another's may take the lock after it),
        // so the requests inside a window are a suffix, found by halving.
        let now = recent.back().map_or(now, |last| now.max(*last));
        let longest = Duration::from_millis(longest);
        while recent.front().is_some_and(|at| now.duration_since(*at) >= longest) {
            recent.pop_front();
        }
        let mut strictest: Option<Left> = None;
        let mut refused: Option<Refused> = None;
        for window in windows {
            let per = Duration::from_millis(window.per_ms);
            let first_inside = recent.partition_point(|at| now.duration_since(*at) >= per);
            let count = u32::try_from(recent.len() - first_inside).unwrap_or(u32::MAX);
            let oldest = recent.get(first_inside).copied().unwrap_or(now);
            let reset_after = per.saturating_sub(now.duration_since(oldest));
            if count >= window.requests {
                if refused.is_none_or(|r| reset_after > r.retry_after) {
                    refused = Some(Refused { window, retry_after: reset_after });
                }
                continue;
            }
            let remaining = window.requests - count - 1;
            if strictest.is_none_or(|s| remaining < s.remaining) {
                strictest = Some(Left { window, remaining, reset_after });
            }
        }
        if let Some(refused) = refused {
            return Err(refused);
        }
        recent.push_back(now);
        Ok(strictest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_strictest_window_refuses_and_says_when_to_retry() {
        let windows = Windows::new(vec![
            Window { requests: 2, per_ms: 1_000 },
            Window { requests: 3, per_ms: 10_000 },
        ]);
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        assert_eq!(windows.acquire_at("a", at(0)).map(|l| l.map(|l| l.remaining)), Ok(Some(1)));
        assert!(windows.acquire_at("a", at(100)).is_ok());
        let refused = windows.acquire_at("a", at(200)).expect_err("two in a second are the most");
        assert_eq!(refused.retry_after, Duration::from_millis(800));
        // Another key has its own count.
        assert!(windows.acquire_at("b", at(200)).is_ok());
        // The second window is the one left once a second passed.
        assert!(windows.acquire_at("a", at(1_000)).is_ok());
        let refused =
            windows.acquire_at("a", at(2_500)).expect_err("three in ten seconds are the most");
        assert_eq!(refused.window.per_ms, 10_000);
        assert_eq!(refused.retry_after, Duration::from_millis(7_500));
    }

    #[test]
    fn no_window_means_no_limit() {
        let windows = Windows::new(vec![Window { requests: 0, per_ms: 1_000 }]);
        for _ in 0..100 {
            assert_eq!(windows.acquire("a"), Ok(None));
        }
    }
}
