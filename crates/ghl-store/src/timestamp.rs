//! The one time type of the store and the engine: an instant to the millisecond, in UTC. The
//! database keeps it as milliseconds since the epoch (an integer column on both backends), and
//! so do the wire formats that show it (`created_at` in the REST API); everything else speaks
//! of instants, never of raw milliseconds.

use std::time::{Duration, SystemTime};

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::{Database, Decode, Encode, Type};

/// An instant, to the millisecond (the database's precision, so one read back is equal).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(DateTime<Utc>);

impl Timestamp {
    pub const EPOCH: Self = Self(DateTime::UNIX_EPOCH);

    pub fn now() -> Self {
        Self::truncated(Utc::now())
    }

    /// The instant `ms` milliseconds after the epoch (clamped to what a date can hold).
    pub fn from_millis(ms: i64) -> Self {
        match DateTime::from_timestamp_millis(ms) {
            Some(time) => Self(time),
            None if ms < 0 => Self::truncated(DateTime::<Utc>::MIN_UTC),
            None => Self::truncated(DateTime::<Utc>::MAX_UTC),
        }
    }

    /// `time` to the millisecond.
    fn truncated(time: DateTime<Utc>) -> Self {
        DateTime::from_timestamp_millis(time.timestamp_millis()).map_or(Self(time), Self)
    }

    /// Milliseconds since the epoch: how the database and the wire formats keep it.
    pub fn as_millis(self) -> i64 {
        self.0.timestamp_millis()
    }

    pub fn to_datetime(self) -> DateTime<Utc> {
        self.0
    }

    /// RFC 3339 with milliseconds, in UTC (`2026-12-01T10:00:00.000Z`).
    pub fn to_rfc3339(self) -> String {
        self.0.to_rfc3339_opts(SecondsFormat::Millis, true)
    }

    /// How long after `earlier` this is (zero if it is not after).
    pub fn since(self, earlier: Self) -> Duration {
        (self.0 - earlier.0).to_std().unwrap_or_default()
    }

    /// `duration` later, or the latest instant a date can hold.
    pub fn saturating_add(self, duration: Duration) -> Self {
        TimeDelta::from_std(duration)
            .ok()
            .and_then(|delta| self.0.checked_add_signed(delta))
            .map_or(Self::truncated(DateTime::<Utc>::MAX_UTC), Self::truncated)
    }

    /// `duration` earlier, or the earliest instant a date can hold.
    pub fn saturating_sub(self, duration: Duration) -> Self {
        TimeDelta::from_std(duration)
            .ok()
            .and_then(|delta| self.0.checked_sub_signed(delta))
            .map_or(Self::truncated(DateTime::<Utc>::MIN_UTC), Self::truncated)
    }
}

impl std::ops::Add<Duration> for Timestamp {
    type Output = Self;

    fn add(self, duration: Duration) -> Self {
        self.saturating_add(duration)
    }
}

impl std::ops::Sub<Duration> for Timestamp {
    type Output = Self;

    fn sub(self, duration: Duration) -> Self {
        self.saturating_sub(duration)
    }
}

impl From<DateTime<Utc>> for Timestamp {
    fn from(time: DateTime<Utc>) -> Self {
        Self::truncated(time)
    }
}

impl From<Timestamp> for DateTime<Utc> {
    fn from(time: Timestamp) -> Self {
        time.0
    }
}

impl From<SystemTime> for Timestamp {
    fn from(time: SystemTime) -> Self {
        Self::from(DateTime::<Utc>::from(time))
    }
}

impl From<Timestamp> for SystemTime {
    fn from(time: Timestamp) -> Self {
        time.0.into()
    }
}

impl std::fmt::Display for Timestamp {
    /// RFC 3339 with milliseconds, in UTC.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(&self.to_rfc3339())
    }
}

/// Milliseconds since the epoch, as the REST API and the CLI's JSON have always shown times.
impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_i64(self.as_millis())
    }
}

impl<'de> serde::Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        i64::deserialize(deserializer).map(Self::from_millis)
    }
}

/// Bound and read as the integer column of milliseconds both backends keep.
impl<DB: Database> Type<DB> for Timestamp
where
    i64: Type<DB>,
{
    fn type_info() -> DB::TypeInfo {
        <i64 as Type<DB>>::type_info()
    }

    fn compatible(ty: &DB::TypeInfo) -> bool {
        <i64 as Type<DB>>::compatible(ty)
    }
}

impl<'q, DB: Database> Encode<'q, DB> for Timestamp
where
    i64: Encode<'q, DB>,
{
    fn encode_by_ref(
        &self,
        buf: &mut <DB as Database>::ArgumentBuffer<'q>,
    ) -> Result<IsNull, BoxDynError> {
        <i64 as Encode<'q, DB>>::encode_by_ref(&self.as_millis(), buf)
    }
}

impl<'r, DB: Database> Decode<'r, DB> for Timestamp
where
    i64: Decode<'r, DB>,
{
    fn decode(value: <DB as Database>::ValueRef<'r>) -> Result<Self, BoxDynError> {
        <i64 as Decode<'r, DB>>::decode(value).map(Self::from_millis)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timestamp_is_milliseconds_to_the_database_and_rfc_3339_to_people() {
        let at = Timestamp::from_millis(1_637_930_462_193);
        assert_eq!(at.as_millis(), 1_637_930_462_193);
        assert_eq!(at.to_string(), "2021-11-26T12:41:02.193Z");
        assert_eq!(serde_json::to_value(at).ok(), Some(serde_json::json!(1_637_930_462_193_i64)));
        assert_eq!((at + Duration::from_millis(7)).as_millis(), 1_637_930_462_200);
        assert_eq!((at + Duration::from_millis(7)).since(at), Duration::from_millis(7));
        assert_eq!(at.since(at + Duration::from_secs(1)), Duration::ZERO);
        assert_eq!(Timestamp::from_millis(i64::MAX), Timestamp::from_millis(i64::MAX - 1));
        assert!(Timestamp::now() + Duration::MAX > Timestamp::now());
    }
}
