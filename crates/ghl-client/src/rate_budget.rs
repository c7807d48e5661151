//! The request budget per (app, location): requests wait for room instead of earning a 429.
//! An app allows `burst` requests in any `interval` and a daily quota; the budget starts from
//! defaults (HighLevel's 100 per 10 s) and follows what every answer says through a neutral
//! [`Observation`] (the app's profile reads its own headers into it), so other users of the
//! same budget are accounted for. A spent daily quota is an error that carries its reset.
//!
//! `RateBudget` is an async trait so that several processes can share one budget (a store
//! can implement it on PostgreSQL); `LocalBudget` is shared by every task of a process.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use ghl_types::rate_limit as limits;
use parking_lot::Mutex;
use tokio::time::Instant;

use crate::error::{Error, Result};
use crate::retry::Wait;

/// Whose budget a request spends: HighLevel counts per app and per location.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BudgetKey {
    pub app: String,
    pub location: String,
}

#[async_trait::async_trait]
pub trait RateBudget: Send + Sync {
    /// Waits until one request may be sent, and counts it.
    async fn acquire(&self, key: &BudgetKey) -> Result<()>;
    /// Learns from an answer: the limits, what is left, a 429's `Retry-After`, when a spent
    /// daily quota resets, and how long the request took to be answered.
    async fn observe(&self, key: &BudgetKey, seen: &Observation);
    /// What is left of each budget it knows, for the metrics.
    fn levels(&self) -> Vec<BudgetLevel> {
        Vec::new()
    }
}

/// What one answer said about the limits, in no app's words (an app's profile reads its
/// headers into it).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observation {
    pub status: u16,
    /// Requests allowed per interval.
    pub limit: Option<u32>,
    pub interval: Option<Duration>,
    /// Requests the current interval still allows.
    pub remaining: Option<u32>,
    /// The daily quota (HighLevel's `X-RateLimit-Limit-Daily`).
    pub daily_limit: Option<u64>,
    pub daily_remaining: Option<u64>,
    /// When the daily quota resets, if it is spent.
    pub daily_resets_at: Option<SystemTime>,
    /// A 429's `Retry-After`.
    pub retry_after: Option<Wait>,
    /// From sending the request to its answer.
    pub round_trip: Duration,
    /// Every window the app publishes (a manifest's `rate_limit.windows`), when told: the
    /// shortest becomes the budget's `limit` per `interval`, and each longer one must have
    /// room too for a request to go (Qonto's 1,000 per 10 s *and* 10,000 per 10 min).
    pub windows: Vec<Limit>,
}

/// A published limit: at most `requests` in any `per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub requests: u32,
    pub per: Duration,
}

/// What is left of one budget.
#[derive(Debug, Clone, PartialEq)]
pub struct BudgetLevel {
    pub key: BudgetKey,
    /// Requests the current window still allows.
    pub available: usize,
    pub burst: usize,
    /// The daily quota, once a response has told it.
    pub daily_limit: Option<u64>,
    /// The daily quota left, once a response has told it.
    pub daily_remaining: Option<u64>,
    /// When an answer last told this budget anything (`None`: none has yet).
    pub observed_at: Option<SystemTime>,
}

/// One process's budget, shared by all its tasks (clone the `Arc`).
#[derive(Default)]
pub struct LocalBudget {
    windows: Mutex<HashMap<BudgetKey, Window>>,
}

struct Window {
    burst: usize,
    interval: Duration,
    /// When each request of the current interval was let through.
    sent: VecDeque<Instant>,
    daily_limit: Option<u64>,
    daily_remaining: Option<u64>,
    /// When an answer last told it anything.
    observed_at: Option<SystemTime>,
    /// When the spent daily quota resets: nothing goes out before.
    daily_resets_at: Option<SystemTime>,
    /// Nothing goes out before this (after a 429).
    paused_until: Option<Instant>,
    /// Until a response has told the real limits, one request goes first to learn them
    /// (a location may allow less than the defaults); others wait for it, up to a bound.
    learned: bool,
    probe_sent: Option<Instant>,
    /// The longest recent round trip (decaying): the server counted each request somewhere
    /// between our letting it go and its answer, so a loaded machine or a slow network
    /// widens the margin past the window.
    round_trip: Duration,
    /// The app's longer windows, each with the requests it let through.
    longer: Vec<Longer>,
}

/// A window longer than the budget's interval: its requests are counted apart.
struct Longer {
    limit: Limit,
    sent: VecDeque<Instant>,
}

impl Longer {
    /// The request that frees room in a full window leaves it a little after its `per`:
    /// 2 % later (at least 10 ms), as for the main window, so that the app's count and ours
    /// do not overlap.
    fn horizon(&self) -> Duration {
        self.limit.per + (self.limit.per / 50).max(Duration::from_millis(10))
    }

    /// How long until it has room for one more, if it is full now.
    fn wait(&mut self, now: Instant) -> Option<Duration> {
        let horizon = self.horizon();
        while self.sent.front().is_some_and(|sent| now.duration_since(*sent) >= horizon) {
            self.sent.pop_front();
        }
        let full = self.sent.len() >= self.limit.requests as usize;
        let oldest = self.sent.front().copied().unwrap_or(now);
        full.then(|| (oldest + horizon).saturating_duration_since(now))
    }
}

/// How long others wait for the first response before trusting the defaults.
const PROBE_WAIT: Duration = Duration::from_secs(2);
/// How often a waiting request looks again while the probe is out.
const PROBE_POLL: Duration = Duration::from_millis(5);

impl Default for Window {
    fn default() -> Self {
        Self {
            burst: limits::DEFAULT_BURST as usize,
            interval: Duration::from_millis(limits::DEFAULT_INTERVAL_MS),
            sent: VecDeque::new(),
            daily_limit: None,
            daily_remaining: None,
            observed_at: None,
            daily_resets_at: None,
            paused_until: None,
            learned: false,
            probe_sent: None,
            round_trip: Duration::ZERO,
            longer: Vec::new(),
        }
    }
}

impl Window {
    /// The server counts a request when it arrives, a little after we let it go; waiting
    /// this much longer than the interval keeps the two windows from overlapping: 2 % of the
    /// interval (at least 10 ms), or the recent round trip when longer (at most a tenth of
    /// the interval, so a slow endpoint cannot stall the budget).
    fn margin(&self) -> Duration {
        let floor = (self.interval / 50).max(Duration::from_millis(10));
        floor.max(self.round_trip.min(self.interval / 10))
    }

    fn forget_old(&mut self, now: Instant) {
        let horizon = self.interval + self.margin();
        while self.sent.front().is_some_and(|sent| now.duration_since(*sent) >= horizon) {
            self.sent.pop_front();
        }
    }

    /// Counts a request now, or says how long to wait for room.
    fn try_take(&mut self, now: Instant) -> Result<Option<Duration>> {
        if let Some(resets_at) = self.daily_resets_at {
            if resets_at > SystemTime::now() {
                return Err(Error::DailyQuotaExhausted { resets_at });
            }
            // A new day: the next answer tells the new count.
            self.daily_resets_at = None;
            self.daily_remaining = None;
        }
        if let Some(until) = self.paused_until.filter(|until| *until > now) {
            return Ok(Some(until - now));
        }
        self.paused_until = None;
        if !self.learned {
            match self.probe_sent {
                None => self.probe_sent = Some(now),
                Some(sent) if now.duration_since(sent) < PROBE_WAIT => return Ok(Some(PROBE_POLL)),
                Some(_) => self.learned = true,
            }
        }
        self.forget_old(now);
        let longer_wait = self.longer.iter_mut().filter_map(|window| window.wait(now)).max();
        if let Some(wait) = longer_wait {
            return Ok(Some(wait));
        }
        if self.sent.len() < self.burst {
            self.sent.push_back(now);
            for window in &mut self.longer {
                window.sent.push_back(now);
            }
            if let Some(remaining) = self.daily_remaining.as_mut() {
                *remaining = remaining.saturating_sub(1);
            }
            return Ok(None);
        }
        let oldest = self.sent.front().copied().unwrap_or(now);
        Ok(Some((oldest + self.interval + self.margin()).saturating_duration_since(now)))
    }

    /// Learns from an answer (see [`RateBudget::observe`]).
    fn observe(&mut self, seen: &Observation, now: Instant) {
        self.learned = true;
        self.observed_at = Some(SystemTime::now());
        if let Some(limit) = seen.daily_limit.filter(|limit| *limit > 0) {
            self.daily_limit = Some(limit);
        }
        if let Some(shortest) = seen.windows.iter().min_by_key(|limit| limit.per) {
            self.burst = shortest.requests as usize;
            self.interval = shortest.per;
            let longer = seen.windows.iter().filter(|limit| limit.per > shortest.per);
            self.longer =
                longer.map(|limit| Longer { limit: *limit, sent: VecDeque::new() }).collect();
        }
        self.round_trip = seen.round_trip.max(self.round_trip * 7 / 8);
        if let Some(limit) = seen.limit.filter(|limit| *limit > 0) {
            self.burst = limit as usize;
        }
        if let Some(interval) = seen.interval.filter(|interval| !interval.is_zero()) {
            self.interval = interval;
        }
        self.forget_old(now);
        // Fewer left than we think: someone else spends this budget too. Count their
        // requests as if sent now.
        if let Some(remaining) = seen.remaining {
            let ours = self.burst.saturating_sub(self.sent.len());
            for _ in (remaining as usize)..ours {
                self.sent.push_back(now);
            }
        }
        if let Some(daily) = seen.daily_remaining {
            self.daily_remaining = Some(daily);
        }
        if let Some(resets_at) = seen.daily_resets_at {
            self.daily_resets_at = Some(resets_at);
        }
        if seen.status == 429 {
            let retry_after =
                seen.retry_after.map_or(self.interval, |wait| wait.remaining(SystemTime::now()));
            let until = now + retry_after;
            self.paused_until = Some(self.paused_until.map_or(until, |current| current.max(until)));
        }
    }
}

impl LocalBudget {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Runs `f` on the window of `key`, made on first use: the key is cloned then only, not
    /// for every request.
    fn with_window<T>(&self, key: &BudgetKey, f: impl FnOnce(&mut Window) -> T) -> T {
        let mut windows = self.windows.lock();
        if let Some(window) = windows.get_mut(key) {
            return f(window);
        }
        f(windows.entry(key.clone()).or_default())
    }
}

#[async_trait::async_trait]
impl RateBudget for LocalBudget {
    async fn acquire(&self, key: &BudgetKey) -> Result<()> {
        loop {
            let wait = self.with_window(key, |window| window.try_take(Instant::now()))?;
            match wait {
                None => return Ok(()),
                Some(wait) => tokio::time::sleep(wait).await,
            }
        }
    }

    async fn observe(&self, key: &BudgetKey, seen: &Observation) {
        let now = Instant::now();
        self.with_window(key, |window| window.observe(seen, now));
    }

    fn levels(&self) -> Vec<BudgetLevel> {
        let now = Instant::now();
        let mut windows = self.windows.lock();
        windows
            .iter_mut()
            .map(|(key, window)| {
                window.forget_old(now);
                BudgetLevel {
                    key: key.clone(),
                    available: window.burst.saturating_sub(window.sent.len()),
                    burst: window.burst,
                    daily_limit: window.daily_limit,
                    daily_remaining: window.daily_remaining,
                    observed_at: window.observed_at,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> BudgetKey {
        BudgetKey { app: "app".into(), location: "loc".into() }
    }

    fn ok(seen: Observation) -> Observation {
        Observation { status: 200, ..seen }
    }

    #[tokio::test(start_paused = true)]
    async fn levels_show_what_the_window_has_left() {
        let budget = LocalBudget::new();
        let seen = ok(Observation {
            limit: Some(3),
            daily_remaining: Some(500),
            daily_limit: Some(1000),
            ..Default::default()
        });
        budget.observe(&key(), &seen).await;
        budget.acquire(&key()).await.expect("room");
        let mut levels = budget.levels();
        assert!(levels.iter().all(|level| level.observed_at.is_some()), "{levels:?}");
        for level in &mut levels {
            level.observed_at = None;
        }
        assert_eq!(
            levels,
            [BudgetLevel {
                key: key(),
                available: 2,
                burst: 3,
                daily_limit: Some(1000),
                daily_remaining: Some(499),
                observed_at: None,
            }]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_window_waits_for_the_oldest_request_to_age_out() {
        let budget = LocalBudget::new();
        let interval = Some(Duration::from_secs(1));
        budget
            .observe(&key(), &ok(Observation { limit: Some(3), interval, ..Default::default() }))
            .await;
        let start = Instant::now();
        for _ in 0..3 {
            budget.acquire(&key()).await.expect("room");
        }
        assert_eq!(Instant::now(), start, "the burst goes at once");
        budget.acquire(&key()).await.expect("room later");
        assert_eq!(
            Instant::now() - start,
            Duration::from_millis(1020),
            "interval plus the 2 % margin"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn every_published_window_must_have_room() {
        let budget = LocalBudget::new();
        let windows = vec![
            Limit { requests: 5, per: Duration::from_secs(10) },
            Limit { requests: 3, per: Duration::from_secs(1) },
        ];
        budget.observe(&key(), &ok(Observation { windows, ..Default::default() })).await;
        let start = Instant::now();
        let mut sent_at = Vec::new();
        for _ in 0..6 {
            budget.acquire(&key()).await.expect("room");
            sent_at.push(Instant::now() - start);
        }
        let second = Duration::from_millis(1020);
        assert_eq!(
            sent_at,
            [
                Duration::ZERO,
                Duration::ZERO,
                Duration::ZERO,
                second,
                second,
                Duration::from_millis(10_200)
            ],
            "three a second, and the sixth waits for the first to leave the 10 s window"
        );
        let levels = budget.levels();
        assert_eq!(levels[0].burst, 3, "the shortest window is the one levels show");
    }

    #[tokio::test(start_paused = true)]
    async fn a_lower_remaining_count_from_the_server_is_believed() {
        let budget = LocalBudget::new();
        let seen = Observation {
            limit: Some(10),
            interval: Some(Duration::from_secs(1)),
            remaining: Some(1),
            ..Default::default()
        };
        budget.observe(&key(), &ok(seen)).await;
        let start = Instant::now();
        budget.acquire(&key()).await.expect("room");
        assert_eq!(Instant::now(), start);
        budget.acquire(&key()).await.expect("room later");
        assert!(Instant::now() - start >= Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn before_any_answer_one_request_goes_first() {
        let budget = LocalBudget::new();
        let start = Instant::now();
        budget.acquire(&key()).await.expect("the probe");
        assert_eq!(Instant::now(), start);
        budget.acquire(&key()).await.expect("after the wait");
        assert_eq!(Instant::now() - start, PROBE_WAIT, "no answer came: the defaults are trusted");
    }

    #[tokio::test(start_paused = true)]
    async fn a_429_pauses_the_budget_for_retry_after() {
        let budget = LocalBudget::new();
        let retry_after = Some(Wait::For(Duration::from_secs(3)));
        budget
            .observe(&key(), &Observation { status: 429, retry_after, ..Default::default() })
            .await;
        let start = Instant::now();
        budget.acquire(&key()).await.expect("room");
        assert_eq!(Instant::now() - start, Duration::from_secs(3));
    }

    #[tokio::test(start_paused = true)]
    async fn a_spent_daily_quota_is_an_error_that_says_when_it_resets() {
        let budget = LocalBudget::new();
        let resets_at = SystemTime::now() + Duration::from_secs(3_600);
        let seen = Observation {
            daily_remaining: Some(0),
            daily_resets_at: Some(resets_at),
            ..Default::default()
        };
        budget.observe(&key(), &ok(seen)).await;
        let error = budget.acquire(&key()).await.expect_err("quota spent");
        assert!(matches!(error, Error::DailyQuotaExhausted { resets_at: at } if at == resets_at));
        assert_eq!(error.wait(), Some(Wait::Until(resets_at)));
    }

    #[tokio::test(start_paused = true)]
    async fn a_quota_whose_reset_has_passed_lets_requests_go() {
        let budget = LocalBudget::new();
        let seen = Observation {
            daily_remaining: Some(0),
            daily_resets_at: Some(SystemTime::now() - Duration::from_secs(1)),
            ..Default::default()
        };
        budget.observe(&key(), &ok(seen)).await;
        budget.acquire(&key()).await.expect("a new day");
    }
}
