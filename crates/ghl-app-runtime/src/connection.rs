//! A connection to a manifest app: where it is reached, the account it speaks for, and the
//! credentials of the manifest's auth kind. Every secret is a `ghl_client::Secret`, so no
//! Debug output, log or error shows one.

use std::collections::BTreeMap;
use std::sync::Arc;

use ghl_client::{OAuthConnection, Secret};
use url::Url;

/// One account of one app, as a connection gives it.
#[derive(Debug, Clone)]
pub struct Connection {
    /// Where the API is instead of the manifest's `base_url` (a sandbox's); `None` for the
    /// manifest's. An app whose URL is a credential (`secret_url`, `signed_webhook`) takes
    /// its `url` credential instead.
    pub base_url: Option<Url>,
    /// The account the connection speaks for (filled where an operation takes `account:`);
    /// the rate budget is per (app, account).
    pub account: Option<String>,
    /// The credentials of the manifest's auth kind.
    pub credentials: Credentials,
}

/// The credentials of a connection, by the manifest's auth kind.
#[derive(Clone)]
pub enum Credentials {
    /// Named values (`api_key` templates, `bearer`'s `token`, `basic`'s `username` and
    /// `password`, `login_secret_key`'s `login` and `secret_key`, `secret_url`'s `url`,
    /// `signed_webhook`'s `url` and `secret`): the names `Auth::credentials` lists.
    Values(BTreeMap<String, Secret<String>>),
    /// OAuth 2.0 authorization code: tokens in a store, rotated refresh tokens saved before
    /// use, refresh single-flight (ghl-client's `OAuthConnection`).
    OAuth(Arc<OAuthConnection>),
    /// OAuth 2.0 client credentials: a token fetched with these, cached until it expires or
    /// is refused, refetched single-flight.
    ClientCredentials {
        /// Not a secret: shown in Debug output.
        client_id: String,
        client_secret: Secret<String>,
    },
}

impl Credentials {
    /// Named values from `(name, value)` pairs.
    pub fn values<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Self::Values(
            pairs.into_iter().map(|(name, value)| (name.to_owned(), Secret::from(value))).collect(),
        )
    }

    /// A named value, if the credentials hold it.
    pub fn value(&self, name: &str) -> Option<&Secret<String>> {
        match self {
            Self::Values(values) => values.get(name),
            Self::OAuth(_) | Self::ClientCredentials { .. } => None,
        }
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            // The names only: `Secret` prints `[redacted]` for every value.
            Self::Values(values) => f.debug_tuple("Values").field(values).finish(),
            Self::OAuth(connection) => {
                f.debug_struct("OAuth").field("client_id", &connection.client_id()).finish()
            }
            Self::ClientCredentials { client_id, client_secret } => f
                .debug_struct("ClientCredentials")
                .field("client_id", client_id)
                .field("client_secret", client_secret)
                .finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_prints_a_secret() {
        let connection = Connection {
            base_url: None,
            account: Some("acct".into()),
            credentials: Credentials::values([
                ("api_key", "sk_live_secret"),
                ("url", "https://x/secret"),
            ]),
        };
        let printed = format!("{connection:?}");
        assert!(!printed.contains("sk_live_secret") && !printed.contains("x/secret"), "{printed}");
        assert!(printed.contains("api_key"), "{printed}");
        let client = Credentials::ClientCredentials {
            client_id: "id".into(),
            client_secret: "cs_secret".into(),
        };
        assert!(!format!("{client:?}").contains("cs_secret"));
    }
}
