//! Names of the rate-limit headers HighLevel sends on every response.

pub const HEADER_LIMIT_DAILY: &str = "x-ratelimit-limit-daily";
pub const HEADER_DAILY_REMAINING: &str = "x-ratelimit-daily-remaining";
pub const HEADER_INTERVAL_MILLISECONDS: &str = "x-ratelimit-interval-milliseconds";
pub const HEADER_MAX: &str = "x-ratelimit-max";
pub const HEADER_REMAINING: &str = "x-ratelimit-remaining";

/// HighLevel's defaults per app and location.
pub const DEFAULT_BURST: u32 = 100;
pub const DEFAULT_INTERVAL_MS: u64 = 10_000;
pub const DEFAULT_DAILY: u32 = 200_000;
