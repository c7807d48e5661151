//! HighLevel's rate limits per app and location: at most `burst` requests in any `interval`
//! (a sliding window of the kit, the strictest reading of "100 per 10 seconds") and `daily` per quota
//! day (a UTC day unless configured shorter; the admin API can also end the day at once).

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ghl_sandbox_kit::{Window, Windows};

use parking_lot::Mutex;

use crate::config::RateLimits;

pub struct RateLimiter {
    limits: Mutex<RateLimits>,
    /// The quota day; days are numbered from the Unix epoch.
    day: Duration,
    /// The burst window per (app, location), on the kit's sliding windows.
    burst: Windows,
    days: Mutex<HashMap<(String, String), DayCount>>,
}

struct DayCount {
    day: u128,
    count: u32,
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

fn burst_window(limits: RateLimits) -> Vec<Window> {
    vec![Window { requests: limits.burst, per_ms: limits.interval_ms }]
}

impl RateLimiter {
    pub fn new(limits: RateLimits, day: Duration) -> Self {
        let day = day.max(Duration::from_millis(1));
        Self {
            limits: Mutex::new(limits),
            day,
            burst: Windows::new(burst_window(limits)),
            days: Mutex::new(HashMap::new()),
        }
    }

    /// Ends the quota day now: every daily count starts again.
    pub fn new_day(&self) {
        for count in self.days.lock().values_mut() {
            count.count = 0;
        }
    }

    /// The current quota day's number, and how long until it ends.
    fn today(&self) -> (u128, Duration) {
        let day = self.day.as_millis();
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_millis();
        let left = day - now % day;
        (now / day, Duration::from_millis(u64::try_from(left).unwrap_or(u64::MAX)))
    }

    pub fn limits(&self) -> RateLimits {
        *self.limits.lock()
    }

    pub fn set_limits(&self, limits: RateLimits) {
        *self.limits.lock() = limits;
        self.burst.set(burst_window(limits));
        self.days.lock().clear();
    }

    /// Counts one request of `app` at `location`, or refuses it without counting.
    pub fn acquire(&self, app: &str, location: &str) -> Result<Budget, OverLimit> {
        let limits = self.limits();
        let (today, day_left) = self.today();
        let mut days = self.days.lock();
        let count = days
            .entry((app.to_owned(), location.to_owned()))
            .or_insert(DayCount { day: today, count: 0 });
        if count.day != today {
            *count = DayCount { day: today, count: 0 };
        }
        let budget = |remaining: u32, day_count: u32| Budget {
            limits,
            remaining,
            daily_remaining: limits.daily.saturating_sub(day_count),
        };
        if count.count >= limits.daily {
            return Err(OverLimit { budget: budget(0, count.count), retry_after: day_left });
        }
        match self.burst.acquire(&format!("{app}\0{location}")) {
            Err(refused) => {
                Err(OverLimit { budget: budget(0, count.count), retry_after: refused.retry_after })
            }
            Ok(left) => {
                count.count += 1;
                let remaining = left.map_or(limits.burst, |left| left.remaining);
                Ok(budget(remaining, count.count))
            }
        }
    }
}
