//! The words the store keeps for a run's place in the queue, a step's outcome, a connection's state and how a connection
//! authenticates, as types: each is written and read as its word (`as_str`, `FromStr`), and
//! a word the store does not know is corrupt data, not a new state.

use serde::{Deserialize, Serialize};

macro_rules! words {
    ($(#[$doc:meta])* $name:ident, $what:literal, { $($(#[$vdoc:meta])* $variant:ident = $word:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vdoc])* #[serde(rename = $word)] $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$(Self::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $word),+
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.pad(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = UnknownWord;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                Self::ALL.iter().copied().find(|known| known.as_str() == text).ok_or_else(|| {
                    UnknownWord {
                        what: $what,
                        word: text.to_owned(),
                        known: Self::ALL.iter().map(|known| known.as_str()).collect(),
                    }
                })
            }
        }

        impl<DB: sqlx::Database> sqlx::Type<DB> for $name
        where
            String: sqlx::Type<DB>,
        {
            fn type_info() -> DB::TypeInfo {
                <String as sqlx::Type<DB>>::type_info()
            }

            fn compatible(ty: &DB::TypeInfo) -> bool {
                <String as sqlx::Type<DB>>::compatible(ty)
            }
        }

        impl<'q, DB: sqlx::Database> sqlx::Encode<'q, DB> for $name
        where
            String: sqlx::Encode<'q, DB>,
        {
            fn encode_by_ref(
                &self,
                buf: &mut <DB as sqlx::Database>::ArgumentBuffer<'q>,
            ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
                <String as sqlx::Encode<'q, DB>>::encode(self.as_str().to_owned(), buf)
            }
        }

        impl<'r, DB: sqlx::Database> sqlx::Decode<'r, DB> for $name
        where
            String: sqlx::Decode<'r, DB>,
        {
            fn decode(
                value: <DB as sqlx::Database>::ValueRef<'r>,
            ) -> Result<Self, sqlx::error::BoxDynError> {
                Ok(<String as sqlx::Decode<'r, DB>>::decode(value)?.parse()?)
            }
        }
    };
}

/// A word that is not one of a kind's, and the ones that are.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("`{word}` is not a {what} (one of: {})", known.join(", "))]
pub struct UnknownWord {
    pub what: &'static str,
    pub word: String,
    pub known: Vec<&'static str>,
}

words!(
    /// Where a run is: in the queue (`queued`, `running`, `waiting` on a delay, a rate limit
    /// or a spent quota) or finished.
    RunStatus, "run status", {
        Queued = "queued",
        Running = "running",
        Waiting = "waiting",
        Done = "done",
        /// A filter ended it before it did anything more.
        Skipped = "skipped",
        /// Dead-lettered: a replay queues it again.
        Dead = "dead",
    }
);

impl RunStatus {
    /// Whether a run in this status has ended (done, skipped or dead-lettered).
    pub fn has_ended(self) -> bool {
        matches!(self, Self::Done | Self::Skipped | Self::Dead)
    }
}

words!(
    /// What one attempt of one step did, as its step log records it.
    StepStatus, "step status", {
        /// It ran (or its recorded effect was the answer).
        Done = "done",
        /// Its filter did not hold: it did nothing.
        Skipped = "skipped",
        /// A filter step whose condition does not hold: the flow ends here.
        Stopped = "stopped",
        /// A delay, a rate limit or a spent quota: the run waits.
        Waiting = "waiting",
        /// Its request is about to be sent (recorded first, so a retry repeats it).
        Sending = "sending",
        /// A create whose answer was lost, found again instead of repeated.
        Recovered = "recovered",
        /// An earlier attempt applied it; its recorded answer is used.
        AlreadyApplied = "already_applied",
        /// It failed; the run may retry it.
        Failed = "failed",
        /// The other side definitively refused it (a 4xx that changed nothing): a replay
        /// evaluates it afresh.
        Refused = "refused",
        /// A write whose outcome is unknown (sent, and the answer lost to a crash or a dropped
        /// connection) that its app can neither deduplicate nor find again: not repeated on a
        /// guess; the run is held for a person to check, and a replay sends it again.
        Unknown = "unknown",
    }
);

words!(
    /// Whether a connection can be used.
    ConnectionStatus, "connection status", {
        Connected = "connected",
        /// Its grant was refused (a revoked refresh token): connect it again.
        ReconnectNeeded = "reconnect_needed",
    }
);

words!(
    /// How a connection authenticates, as its `auth_kind` column shows it.
    AuthKind, "kind of authentication", {
        /// An app's private integration token.
        PrivateToken = "private_token",
        /// OAuth tokens, refreshed by the connector.
        Oauth = "oauth",
        /// An `http` connection whose one credential header is `Authorization`.
        Bearer = "bearer",
        /// An `http` connection with other credential headers.
        Headers = "headers",
        /// A manifest app's named credentials (an API key, a login and secret key, a
        /// secret URL, a webhook secret).
        Credentials = "credentials",
        /// A manifest app's OAuth client credentials (no user in the loop).
        ClientCredentials = "client_credentials",
    }
);
