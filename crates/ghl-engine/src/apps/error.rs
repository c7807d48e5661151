//! Why an app cannot give a client of a connection, or the webhook keys of a test double:
//! what [`App::client`](super::App::client) and [`App::webhook_keys`](super::App::webhook_keys)
//! answer instead, each saying what to do. A message never shows a secret (a URL may be one:
//! Slack's webhook address), so addresses are named by what they are, not printed.

use ghl_store::AuthKind;

use super::{AppId, UnknownApp};

/// Why a connection's secret does not make a client of its app.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The secret is of a kind the app does not take.
    #[error("{app} connections use {supported}, not {given}; connect it again with one of those")]
    UnsupportedAuth { app: AppId, given: AuthKind, supported: String },
    /// An address in the secret is not a URL.
    #[error("the connection's {what} is not a URL ({source}); connect it again with a full address (https://...)")]
    InvalidUrl {
        what: &'static str,
        #[source]
        source: url::ParseError,
    },
    /// The app's client could not be built from it.
    #[error("{app}: the client cannot be built ({source}); connect it again")]
    Build {
        app: AppId,
        #[source]
        source: ghl_client::Error,
    },
    /// An app of its own refuses the secret (its own reason, in its own words).
    #[error("{app}: {source}")]
    App {
        app: AppId,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// Why a client of credentials that are not stored (`api --token`) cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum UnstoredClientError {
    #[error(transparent)]
    UnknownApp(#[from] UnknownApp),
    #[error(transparent)]
    Client(#[from] ClientError),
}

/// Why a test double's webhook keys could not be read.
#[derive(Debug, thiserror::Error)]
pub enum WebhookKeysError {
    /// The address the keys are read from cannot be made from the base URL.
    #[error("the keys' address cannot be made from the base URL ({source}); give a base URL like http://127.0.0.1:4010/")]
    Address {
        #[source]
        source: url::ParseError,
    },
    /// The test double did not answer with its keys.
    #[error(
        "{url} did not answer with its webhook keys ({source}); is the sandbox running there?"
    )]
    Unanswered {
        url: url::Url,
        #[source]
        source: reqwest::Error,
    },
}
