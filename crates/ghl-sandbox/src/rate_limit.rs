//! HighLevel's rate limits per app and location: at most `burst` requests in any `interval`
//! (a sliding window, the strictest reading of "100 per 10 seconds") and `daily` per UTC day.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use chrono::{NaiveDate, Utc};
use parking_lot::Mutex;

use crate::config::RateLimits;

pub struct RateLimiter {
    limits: Mutex<RateLimits>,
    windows: Mutex<HashMap<(String, String), Window>>,
}

struct Window {
    recent: VecDeque<Instant>,
    day: NaiveDate,
    day_count: u32,
}

/// What the `X-RateLimit-*` headers report after a request.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    pub limits: RateLimits,
    pub remaining: u32,
    pub daily_remaining: u32,
}

/// The request is over a limit; it may be retried after this long.
#[derive(Debug, Clone, Copy)]
pub struct OverLimit {
    pub budget: Budget,
    pub retry_after: Duration,
}

impl RateLimiter {
    pub fn new(limits: RateLimits) -> Self {
        Self { limits: Mutex::new(limits), windows: Mutex::new(HashMap::new()) }
    }

    pub fn limits(&self) -> RateLimits {
        *self.limits.lock()
    }

    pub fn set_limits(&self, limits: RateLimits) {
        *self.limits.lock() = limits;
        self.windows.lock().clear();
    }

    /// Counts one request of `app` at `location`, or refuses it without counting.
    pub fn acquire(&self, app: &str, location: &str) -> Result<Budget, OverLimit> {
        let limits = self.limits();
        let interval = Duration::from_millis(limits.interval_ms);
        let now = Instant::now();
        let today = Utc::now().date_naive();
        let mut windows = self.windows.lock();
        let window = windows
            .entry((app.to_owned(), location.to_owned()))
            .or_insert_with(|| Window { recent: VecDeque::new(), day: today, day_count: 0 });
        if window.day != today {
            window.day = today;
            window.day_count = 0;
        }
        while window.recent.front().is_some_and(|sent| now.duration_since(*sent) >= interval) {
            window.recent.pop_front();
        }
        let in_window = window.recent.len() as u32;
        let budget = |in_window: u32, day_count: u32| Budget {
            limits,
            remaining: limits.burst.saturating_sub(in_window),
            daily_remaining: limits.daily.saturating_sub(day_count),
        };
        if window.day_count >= limits.daily {
            let tomorrow = today.succ_opt().and_then(|day| day.and_hms_opt(0, 0, 0));
            let until_midnight = tomorrow
                .map(|midnight| (midnight - Utc::now().naive_utc()).num_seconds().max(1) as u64)
                .unwrap_or(1);
            return Err(OverLimit {
                budget: budget(in_window, window.day_count),
                retry_after: Duration::from_secs(until_midnight),
            });
        }
        if in_window >= limits.burst {
            let oldest = window.recent.front().copied().unwrap_or(now);
            return Err(OverLimit {
                budget: budget(in_window, window.day_count),
                retry_after: interval.saturating_sub(now.duration_since(oldest)),
            });
        }
        window.recent.push_back(now);
        window.day_count += 1;
        Ok(budget(in_window + 1, window.day_count))
    }
}
