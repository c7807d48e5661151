//! Guessing passwords is slowed per name: after `MAX_FAILURES` wrong sign-ins for one name
//! within `WINDOW`, that name is refused, without its password being checked, until the
//! oldest of those failures is `WINDOW` old. The failures are kept in memory, for at most
//! `MAX_NAMES` names (the name whose last failure is oldest is forgotten first), so names
//! made up by a caller cannot grow it without bound. A right password forgets its name's
//! failures.
//!
//! Written here rather than taken from a rate-limiting crate: what is counted is failures,
//! not requests, and a success resets them, which a token bucket does not model.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How many wrong sign-ins a name may have within `WINDOW`.
pub const MAX_FAILURES: usize = 5;
/// How long a wrong sign-in counts.
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
/// How many names' failures are kept.
const MAX_NAMES: usize = 10_000;

#[derive(Debug, Default)]
pub(crate) struct SignInGuard {
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl SignInGuard {
    /// How long `name` must wait before it may try again; `None` when it may now.
    pub(crate) fn wait(&self, name: &str, now: Instant) -> Option<Duration> {
        let failures = self.failures.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let recent = failures.get(name)?;
        let counted: Vec<&Instant> =
            recent.iter().filter(|at| now.saturating_duration_since(**at) < WINDOW).collect();
        if counted.len() < MAX_FAILURES {
            return None;
        }
        let oldest = counted.first()?;
        Some(WINDOW.saturating_sub(now.saturating_duration_since(**oldest)))
    }

    /// Counts a wrong sign-in for `name`.
    pub(crate) fn failed(&self, name: &str, now: Instant) {
        let mut failures = self.failures.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if !failures.contains_key(name) && failures.len() >= MAX_NAMES {
            let stalest = failures
                .iter()
                .min_by_key(|(_, times)| times.back().copied())
                .map(|(name, _)| name.clone());
            if let Some(stalest) = stalest {
                failures.remove(&stalest);
            }
        }
        let times = failures.entry(name.to_owned()).or_default();
        times.retain(|at| now.saturating_duration_since(*at) < WINDOW);
        times.push_back(now);
        while times.len() > MAX_FAILURES {
            times.pop_front();
        }
    }

    /// Forgets `name`'s failures (its password was right).
    pub(crate) fn succeeded(&self, name: &str) {
        let mut failures = self.failures.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        failures.remove(name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_held_after_its_failures_until_the_oldest_is_a_window_old() {
        let guard = SignInGuard::default();
        let start = Instant::now();
        for minute in 0..MAX_FAILURES as u64 {
            assert_eq!(guard.wait("ada", start), None, "may try");
            guard.failed("ada", start + Duration::from_secs(60 * minute));
        }
        let now = start + Duration::from_secs(60 * 5);
        assert_eq!(guard.wait("ada", now), Some(WINDOW - Duration::from_secs(60 * 5)));
        assert_eq!(guard.wait("grace", now), None, "another name is not held");
        assert_eq!(guard.wait("ada", start + WINDOW), None, "the oldest failure no longer counts");
        guard.succeeded("ada");
        assert_eq!(guard.wait("ada", now), None, "a success forgets the failures");
    }

    #[test]
    fn made_up_names_cannot_grow_it_past_its_bound() {
        let guard = SignInGuard::default();
        let now = Instant::now();
        for index in 0..MAX_NAMES + 10 {
            guard.failed(&format!("name-{index}"), now + Duration::from_millis(index as u64));
        }
        let kept = guard.failures.lock().map(|failures| failures.len()).unwrap_or_default();
        assert_eq!(kept, MAX_NAMES);
    }
}
