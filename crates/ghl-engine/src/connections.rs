//! Connections as the engine uses them: a stored connection's secret is keyed by app and auth
//! kind ([`ConnectionSecret`]); its app (from the registry) turns it into a client, one per
//! connection per process, so every run shares its rate budget and its single-flight token
//! refresh, with OAuth tokens kept in the store, where a rotated refresh token is saved before
//! use; and `http` connections: the base URL and credential headers of `http.request` steps.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use ghl_client::{BudgetLevel, OAuthApp, RateBudget, TokenSet, TokenStore};
use ghl_store::{AuthKind, ConnectionId, ConnectionStatus, ConnectionSummary, Store};
use ghl_types::remedy::{Listing, Remedy};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::apps::{AppClient, AppId, Apps, ClientContext, ClientError, HTTP};
use crate::mask::Masker;

pub use crate::apps::highlevel::{save_oauth, save_private_token};

/// The secret of an `http` connection, as stored (encrypted): headers added to every request
/// of the steps that name it, at send time, never recorded. An app whose API takes an API key
/// header uses the same (`AuthSecret::Headers`).
#[derive(Clone, Serialize, Deserialize)]
pub struct HttpSecret {
    /// Requests may only go under it (a relative `url` is resolved against it), so its
    /// credentials never reach another server.
    #[serde(default)]
    pub base_url: Option<String>,
    pub headers: BTreeMap<String, String>,
}

impl std::fmt::Debug for HttpSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpSecret")
            .field("base_url", &self.base_url)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Stores (or replaces) an `http` connection: a base URL and credential headers (a bearer
/// token is an `Authorization: Bearer` header).
pub async fn save_http(
    store: &Store,
    name: &str,
    secret: &HttpSecret,
) -> Result<(), ConnectionError> {
    let secret = ConnectionSecret { app: HTTP, auth: AuthSecret::Headers(secret.clone()) };
    save(store, name, &secret, "").await
}

/// How a connection authenticates, and the secrets it does it with, as stored (sealed by the
/// store). The JSON keeps the shape the first versions wrote (`kind`, `location_id`; an
/// `http` connection's secret without a `kind`), so every stored secret still loads.
#[derive(Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AuthSecret {
    /// A token the app issued for one account (HighLevel's private integration token).
    PrivateToken {
        token: String,
        base_url: String,
        /// The account it speaks for (HighLevel's location).
        #[serde(rename = "location_id", default)]
        account: String,
    },
    /// OAuth 2 authorization code: the app registration and the tokens.
    Oauth {
        base_url: String,
        #[serde(rename = "location_id", default)]
        account: String,
        client_id: String,
        client_secret: String,
        authorize_url: String,
        token_url: String,
        redirect_uri: String,
        tokens: Box<TokenSet>,
    },
    /// Credential headers (an API key, a bearer token) under a base URL.
    Headers(HttpSecret),
    /// A manifest app's credentials by the names its auth kind gives them (`api_key`,
    /// `login` and `secret_key`, `url`, `secret`, `webhook_secret`).
    Credentials {
        /// Where the app is instead of its manifest's `base_url` (a sandbox's).
        #[serde(default)]
        base_url: Option<String>,
        /// The account the connection speaks for, if the app has them.
        #[serde(default)]
        account: Option<String>,
        values: BTreeMap<String, String>,
    },
    /// A manifest app's OAuth 2.0 client credentials: a token is fetched with them.
    ClientCredentials {
        #[serde(default)]
        base_url: Option<String>,
        #[serde(default)]
        account: Option<String>,
        client_id: String,
        client_secret: String,
        /// Other named credentials the connection holds (a `webhook_secret`).
        #[serde(default)]
        values: BTreeMap<String, String>,
    },
}

impl std::fmt::Debug for AuthSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::PrivateToken { base_url, account, .. } => f
                .debug_struct("PrivateToken")
                .field("base_url", base_url)
                .field("account", account)
                .finish_non_exhaustive(),
            Self::Oauth { base_url, account, client_id, .. } => f
                .debug_struct("Oauth")
                .field("base_url", base_url)
                .field("account", account)
                .field("client_id", client_id)
                .finish_non_exhaustive(),
            Self::Headers(secret) => secret.fmt(f),
            // The credentials' names only.
            Self::Credentials { base_url, account, values } => f
                .debug_struct("Credentials")
                .field("base_url", base_url)
                .field("account", account)
                .field("values", &values.keys().collect::<Vec<_>>())
                .finish(),
            Self::ClientCredentials { base_url, account, client_id, values, .. } => f
                .debug_struct("ClientCredentials")
                .field("base_url", base_url)
                .field("account", account)
                .field("client_id", client_id)
                .field("values", &values.keys().collect::<Vec<_>>())
                .finish_non_exhaustive(),
        }
    }
}

impl AuthSecret {
    /// A stored secret: tagged by `kind`, or (as `http` connections were first written) the
    /// headers alone.
    pub fn from_stored(value: Value) -> Result<Self, serde_json::Error> {
        if value.get("kind").is_none() {
            return serde_json::from_value(value).map(Self::Headers);
        }
        serde_json::from_value(value)
    }

    /// The kind as the store's `auth_kind` column shows it.
    pub fn kind(&self) -> AuthKind {
        match self {
            Self::PrivateToken { .. } => AuthKind::PrivateToken,
            Self::Oauth { .. } => AuthKind::Oauth,
            Self::Headers(secret) => {
                let bearer_only = secret.headers.len() == 1
                    && secret
                        .headers
                        .keys()
                        .all(|header| header.eq_ignore_ascii_case("authorization"));
                if bearer_only {
                    AuthKind::Bearer
                } else {
                    AuthKind::Headers
                }
            }
            Self::Credentials { .. } => AuthKind::Credentials,
            Self::ClientCredentials { .. } => AuthKind::ClientCredentials,
        }
    }

    /// The account the connection speaks for, if the app has them.
    pub fn account(&self) -> Option<&str> {
        match self {
            // A manifest app's OAuth connection may have none (stored as "").
            Self::PrivateToken { account, .. } | Self::Oauth { account, .. } => {
                Some(account.as_str()).filter(|account| !account.is_empty())
            }
            Self::Credentials { account, .. } | Self::ClientCredentials { account, .. } => {
                account.as_deref()
            }
            Self::Headers(_) => None,
        }
    }

    /// The secret values it holds that are not addresses: what the masker must hide
    /// wherever they would be recorded.
    pub fn secret_values(&self) -> Vec<&str> {
        match self {
            Self::PrivateToken { token, .. } => vec![token],
            Self::Oauth { client_secret, tokens, .. } => {
                vec![client_secret, tokens.access_token.expose(), tokens.refresh_token.expose()]
            }
            Self::Headers(secret) => secret.headers.values().map(String::as_str).collect(),
            Self::Credentials { values, .. } => values.values().map(String::as_str).collect(),
            Self::ClientCredentials { client_secret, values, .. } => {
                let mut secrets: Vec<&str> = values.values().map(String::as_str).collect();
                secrets.push(client_secret);
                secrets
            }
        }
    }

    /// The OAuth secret of a connection made with `app`'s registration and `tokens`.
    pub fn oauth(base_url: &str, app: &OAuthApp, tokens: TokenSet) -> Self {
        Self::Oauth {
            base_url: base_url.to_owned(),
            account: tokens.location_id.clone().unwrap_or_default(),
            client_id: app.client_id.clone(),
            client_secret: app.client_secret.expose().clone(),
            authorize_url: app.authorize_url.to_string(),
            token_url: app.token_url.to_string(),
            redirect_uri: app.redirect_uri.to_string(),
            tokens: Box::new(tokens),
        }
    }
}

/// A connection's secret: the app it is for and how it authenticates.
#[derive(Debug, Clone)]
pub struct ConnectionSecret {
    pub app: AppId,
    pub auth: AuthSecret,
}

/// Stores (or replaces) a connection; its secret is sealed by the store. `scopes` are those a
/// private token or headers were given (an OAuth connection's are its tokens').
pub async fn save(
    store: &Store,
    name: &str,
    secret: &ConnectionSecret,
    scopes: &str,
) -> Result<(), ConnectionError> {
    let scopes = match &secret.auth {
        AuthSecret::Oauth { tokens, .. } => tokens.scope.clone(),
        _ => scopes.to_owned(),
    };
    let summary = ConnectionSummary {
        // The store keeps the id of a connection of that name, or gives a new one.
        id: ConnectionId::new(),
        name: name.to_owned(),
        app: secret.app.to_string(),
        location_id: secret.auth.account().map(str::to_owned),
        auth_kind: secret.auth.kind(),
        scopes,
        status: ConnectionStatus::Connected,
        status_reason: None,
    };
    let value = serde_json::to_value(&secret.auth)
        .map_err(|err| ConnectionError::Invalid { name: name.into(), reason: err.to_string() })?;
    store.put_connection(&summary, &value).await?;
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    #[error("no connection named `{0}`")]
    Missing(String),
    #[error("connection `{name}` needs reconnecting ({reason}); then replay its dead runs")]
    ReconnectNeeded { name: String, app: AppId, reason: String },
    #[error("connection `{name}` is unusable: {reason}")]
    Invalid { name: String, reason: String },
    /// Its app cannot make a client of its secret.
    #[error("connection `{name}` is unusable: {source}")]
    Client {
        name: String,
        app: AppId,
        #[source]
        source: Box<ClientError>,
    },
    #[error("connection `{name}` is a `{app}` connection; {wanted} steps need a `{wanted}` one")]
    WrongApp { name: String, app: String, wanted: String },
    #[error(transparent)]
    Store(#[from] ghl_store::Error),
}

impl ConnectionError {
    /// What to do about it, for each front end to say its own way.
    pub fn remedy(&self) -> Option<Remedy> {
        match self {
            Self::Missing(_) => Some(Remedy::Choose { from: Listing::Connections }),
            Self::ReconnectNeeded { name, app, .. } => Some(Remedy::Reconnect {
                app: app.to_string(),
                connection: name.clone(),
                scopes: Vec::new(),
                replay_dead_runs: true,
            }),
            Self::WrongApp { wanted, .. } => {
                Some(Remedy::Connect { app: Some(wanted.clone()), connection: None })
            }
            Self::Client { name, app, .. } => Some(Remedy::Reconnect {
                app: app.to_string(),
                connection: name.clone(),
                scopes: Vec::new(),
                replay_dead_runs: false,
            }),
            Self::Invalid { .. } | Self::Store(_) => None,
        }
    }
}

/// Clients by connection name. They share one rate budget, so connections to the same
/// account (and app) spend one budget, as the app counts it.
pub struct Connections {
    store: Store,
    apps: Apps,
    clients: Mutex<HashMap<String, Arc<dyn AppClient>>>,
    budget: Arc<dyn RateBudget>,
    masker: Masker,
}

impl Connections {
    /// Connections to `apps` whose clients spend `budget` (a `LocalBudget` in one process;
    /// one shared by several processes when they call the same accounts).
    pub fn new(store: Store, apps: Apps, budget: Arc<dyn RateBudget>) -> Self {
        Self { store, apps, clients: Mutex::new(HashMap::new()), budget, masker: Masker::default() }
    }

    /// Masks what is recorded or shown; knows the secrets of the connections loaded.
    pub fn masker(&self) -> &Masker {
        &self.masker
    }

    /// The registered apps.
    pub fn apps(&self) -> &Apps {
        &self.apps
    }

    /// An `http` connection's base URL and headers (its values are masked wherever they
    /// would be recorded from now on).
    pub async fn http(&self, name: &str) -> Result<HttpSecret, ConnectionError> {
        let connection = self
            .store
            .connection(name)
            .await?
            .ok_or_else(|| ConnectionError::Missing(name.into()))?;
        let invalid = |reason: String| ConnectionError::Invalid { name: name.into(), reason };
        if connection.summary.app != HTTP.as_str() {
            return Err(ConnectionError::WrongApp {
                name: name.into(),
                app: connection.summary.app,
                wanted: HTTP.to_string(),
            });
        }
        let secret = match AuthSecret::from_stored(connection.secret) {
            Ok(AuthSecret::Headers(secret)) => secret,
            Ok(other) => {
                return Err(invalid(format!("an `http` connection with a {} secret", other.kind())))
            }
            Err(err) => return Err(invalid(err.to_string())),
        };
        self.learn(&secret);
        Ok(secret)
    }

    /// Teaches the masker a header secret's values.
    fn learn(&self, secret: &HttpSecret) {
        for value in secret.headers.values() {
            self.masker.learn(value);
            if let Some((_, credential)) = value.split_once(' ') {
                self.masker.learn(credential);
            }
        }
    }

    /// What is left of each location's rate budget.
    pub fn budget_levels(&self) -> Vec<BudgetLevel> {
        self.budget.levels()
    }

    /// The client of a stored connection of a registered app (one per process).
    pub async fn client(&self, name: &str) -> Result<Arc<dyn AppClient>, ConnectionError> {
        if let Some(client) = self.clients.lock().get(name) {
            return Ok(client.clone());
        }
        let connection = self
            .store
            .connection(name)
            .await?
            .ok_or_else(|| ConnectionError::Missing(name.into()))?;
        let invalid = |reason: String| ConnectionError::Invalid { name: name.into(), reason };
        let app = self.apps.get(&connection.summary.app).ok_or_else(|| {
            invalid(format!(
                "it is a `{}` connection, which app steps cannot use (the apps are {})",
                connection.summary.app,
                self.apps.names().join(", ")
            ))
        })?;
        if connection.summary.status == ConnectionStatus::ReconnectNeeded {
            let reason = connection.summary.status_reason.unwrap_or_default();
            return Err(ConnectionError::ReconnectNeeded {
                name: name.into(),
                app: app.id(),
                reason,
            });
        }
        let auth =
            AuthSecret::from_stored(connection.secret).map_err(|err| invalid(err.to_string()))?;
        match &auth {
            AuthSecret::Headers(secret) => self.learn(secret),
            AuthSecret::Credentials { .. }
            | AuthSecret::ClientCredentials { .. }
            | AuthSecret::Oauth { .. } => {
                for value in auth.secret_values() {
                    self.masker.learn(value);
                }
            }
            _ => {}
        }
        let tokens = Arc::new(StoredTokens { store: self.store.clone(), name: name.into() });
        let context = ClientContext { name, auth, budget: self.budget.clone(), tokens };
        let client = app.client(context).map_err(|source| ConnectionError::Client {
            name: name.into(),
            app: app.id(),
            source: Box::new(source),
        })?;
        Ok(self.clients.lock().entry(name.to_owned()).or_insert(client).clone())
    }

    /// Forgets this process's client of a connection whose secret changed (reconnected, or
    /// put back): its next use builds one from the store.
    pub fn forget_client(&self, name: &str) {
        self.clients.lock().remove(name);
    }

    /// Removes a connection, its secrets and this process's client of it; answers whether
    /// there was one.
    pub async fn remove(&self, name: &str) -> Result<bool, ConnectionError> {
        self.clients.lock().remove(name);
        Ok(self.store.remove_connection(name).await?)
    }

    /// A harmless read through a connection, to tell whether it works. A connection whose
    /// authorisation is gone is marked so.
    pub async fn check(&self, name: &str) -> Result<(), ConnectionError> {
        let summary = self
            .store
            .connection_summary(name)
            .await?
            .ok_or_else(|| ConnectionError::Missing(name.into()))?;
        if summary.app == HTTP.as_str() {
            return self.check_http(name).await;
        }
        let client = self.client(name).await?;
        match client.check().await {
            Ok(()) => Ok(()),
            Err(ghl_client::Error::ReconnectNeeded { reason }) => {
                self.mark_reconnect_needed(name, &reason).await?;
                let app = AppId::parse(&summary.app).unwrap_or(HTTP);
                Err(ConnectionError::ReconnectNeeded { name: name.into(), app, reason })
            }
            Err(err) => {
                Err(ConnectionError::Invalid { name: name.into(), reason: err.to_string() })
            }
        }
    }

    /// An `http` connection works when its base URL answers a GET with its headers without
    /// refusing them (401 or 403); one without a base URL has nothing to check.
    async fn check_http(&self, name: &str) -> Result<(), ConnectionError> {
        let secret = self.http(name).await?;
        let Some(base_url) = secret.base_url else { return Ok(()) };
        let invalid = |reason: String| ConnectionError::Invalid { name: name.into(), reason };
        let base_url: url::Url =
            base_url.parse().map_err(|err| invalid(format!("base URL `{base_url}`: {err}")))?;
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(15))
            .build()
            .map_err(|err| invalid(err.to_string()))?;
        let mut request = http.get(base_url.clone());
        for (header, value) in &secret.headers {
            request = request.header(header, value);
        }
        let status = request
            .send()
            .await
            .map_err(|err| invalid(self.masker.text(&format!("GET {base_url}: {err}"))))?
            .status();
        if matches!(status.as_u16(), 401 | 403) {
            return Err(invalid(format!("GET {base_url} refused the credentials ({status})")));
        }
        Ok(())
    }

    /// Marks a connection as needing re-authorisation, everywhere it is shown.
    pub async fn mark_reconnect_needed(
        &self,
        name: &str,
        reason: &str,
    ) -> Result<(), ConnectionError> {
        self.clients.lock().remove(name);
        self.store
            .set_connection_status(name, ConnectionStatus::ReconnectNeeded, Some(reason))
            .await?;
        Ok(())
    }
}

/// OAuth tokens inside the connection's encrypted secret.
struct StoredTokens {
    store: Store,
    name: String,
}

fn store_error(err: ghl_store::Error) -> ghl_client::Error {
    ghl_client::Error::ReconnectNeeded { reason: format!("token store: {err}") }
}

#[async_trait::async_trait]
impl TokenStore for StoredTokens {
    async fn load(&self) -> ghl_client::Result<Option<TokenSet>> {
        let Some(connection) = self.store.connection(&self.name).await.map_err(store_error)? else {
            return Ok(None);
        };
        Ok(serde_json::from_value(connection.secret["tokens"].clone()).ok())
    }

    async fn save(&self, tokens: &TokenSet) -> ghl_client::Result<()> {
        let Some(connection) = self.store.connection(&self.name).await.map_err(store_error)? else {
            return Err(ghl_client::Error::ReconnectNeeded {
                reason: "the connection was removed".into(),
            });
        };
        let mut secret = connection.secret;
        secret["tokens"] = serde_json::to_value(tokens).unwrap_or_default();
        self.store.replace_secret(&self.name, &secret).await.map_err(store_error)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// Secrets as the versions before the app registry wrote them (HighLevel's tagged by
    /// `kind` with `location_id`; `http`'s without a `kind`) load, and a loaded HighLevel
    /// secret is written back as it was.
    #[test]
    fn secrets_written_by_earlier_versions_still_load() {
        let private = json!({
            "kind": "private_token",
            "token": "pit-secret",
            "base_url": "http://127.0.0.1:4010/",
            "location_id": "loc-1",
        });
        let loaded = AuthSecret::from_stored(private.clone()).expect("private token");
        assert!(
            matches!(&loaded, AuthSecret::PrivateToken { token, account, .. }
                if token == "pit-secret" && account == "loc-1"),
            "{loaded:?}"
        );
        assert_eq!(loaded.kind(), AuthKind::PrivateToken);
        assert_eq!(serde_json::to_value(&loaded).expect("json"), private);

        let oauth = json!({
            "kind": "oauth",
            "base_url": "http://127.0.0.1:4010/",
            "location_id": "loc-2",
            "client_id": "client-1",
            "client_secret": "client-secret",
            "authorize_url": "http://127.0.0.1:4010/oauth/chooselocation",
            "token_url": "http://127.0.0.1:4010/oauth/token",
            "redirect_uri": "http://127.0.0.1:5000/callback",
            "tokens": {
                "access_token": "access", "refresh_token": "refresh", "expires_at": 1,
                "lifetime_secs": 86399, "scope": "contacts.readonly", "location_id": "loc-2",
                "company_id": "company-1",
            },
        });
        let loaded = AuthSecret::from_stored(oauth.clone()).expect("oauth");
        assert!(
            matches!(&loaded, AuthSecret::Oauth { account, tokens, .. }
                if account == "loc-2" && tokens.scope == "contacts.readonly"),
            "{loaded:?}"
        );
        assert_eq!(serde_json::to_value(&loaded).expect("json"), oauth);

        for (http, kind) in [
            (
                json!({ "base_url": "https://api.example.com", "headers": { "X-Api-Key": "k" } }),
                "headers",
            ),
            (json!({ "headers": { "Authorization": "Bearer t" } }), "bearer"),
        ] {
            let loaded = AuthSecret::from_stored(http.clone()).expect("http");
            assert!(matches!(&loaded, AuthSecret::Headers(_)), "{loaded:?}");
            assert_eq!(loaded.kind().as_str(), kind);
            // Written tagged from now on, and read back the same.
            let written = serde_json::to_value(&loaded).expect("json");
            assert_eq!(written["kind"], "headers");
            let again = AuthSecret::from_stored(written).expect("tagged headers");
            assert_eq!(serde_json::to_value(&again).expect("json")["headers"], http["headers"]);
        }
    }

    #[test]
    fn a_secret_never_shows_in_debug() {
        let secrets = [
            AuthSecret::PrivateToken {
                token: "tok-9f3".into(),
                base_url: "http://x".into(),
                account: "loc".into(),
            },
            AuthSecret::Headers(HttpSecret {
                base_url: None,
                headers: [("X-Api-Key".to_owned(), "key-7a1".to_owned())].into(),
            }),
        ];
        for secret in secrets {
            let shown = format!("{secret:?}");
            assert!(!shown.contains("tok-9f3") && !shown.contains("key-7a1"), "{shown}");
        }
    }
}
