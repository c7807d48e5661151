//! HighLevel's rate limits per app and location: at most `burst` requests in any `interval`
//! (a sliding window, the strictest reading of "100 per 10 seconds") and `daily` per quota
//! day (a UTC day unless configured shorter; the admin API can also end the day at once).

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;

use crate::config::RateLimits;

pub struct RateLimiter {
    limits: Mutex<RateLimits>,
    /// The quota day; days are numbered from the Unix epoch.
    day: Duration,
    windows: Mutex<HashMap<(String, String), Window>>,
}

struct Window {
    recent: VecDeque<Instant>,
    day: u128,
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
    pub fn new(limits: RateLimits, day: Duration) -> Self {
        let day = day.max(Duration::from_millis(1));
        Self { limits: Mutex::new(limits), day, windows: Mutex::new(HashMap::new()) }
    }

    /// Ends the quota day now: every daily count starts again.
    pub fn new_day(&self) {
        for window in self.windows.lock().values_mut() {
            window.day_count = 0;
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
        self.windows.lock().clear();
    }

    /// Counts one request of `app` at `location`, or refuses it without counting.
    pub fn acquire(&self, app: &str, location: &str) -> Result<Budget, OverLimit> {
        let limits = self.limits();
        let interval = Duration::from_millis(limits.interval_ms);
        let now = Instant::now();
        let (today, day_left) = self.today();
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
            return Err(OverLimit {
                budget: budget(in_window, window.day_count),
                retry_after: day_left,
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
