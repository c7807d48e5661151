//! Connections as the engine uses them: a HighLevel client per stored connection (one per
//! process, so every run shares its rate budget and its single-flight token refresh), with
//! OAuth tokens kept in the store, where a rotated refresh token is saved before use; and
//! `http` connections: the base URL and credential headers of `http.request` steps.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use ghl_client::{
    BudgetLevel, Client, ClientConfig, Credentials, LocalBudget, OAuthApp, OAuthConnection,
    RateBudget, TokenSet, TokenStore,
};
use ghl_store::{ConnectionSummary, Store};
use ghl_types::remedy::{Listing, Remedy};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::mask::Masker;

/// The app of a connection that `http.request` steps use.
pub const HTTP: &str = "http";

/// The secret of an `http` connection, as stored (encrypted): headers added to every request
/// of the steps that name it, at send time, never recorded.
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
    let bearer_only = secret.headers.len() == 1
        && secret.headers.keys().all(|header| header.eq_ignore_ascii_case("authorization"));
    let summary = ConnectionSummary {
        id: String::new(),
        name: name.to_owned(),
        app: HTTP.into(),
        location_id: None,
        auth_kind: if bearer_only { "bearer" } else { "headers" }.into(),
        scopes: String::new(),
        status: "connected".into(),
        status_reason: None,
    };
    let secret = serde_json::to_value(secret)
        .map_err(|err| ConnectionError::Invalid { name: name.into(), reason: err.to_string() })?;
    store.put_connection(&summary, &secret).await?;
    Ok(())
}

/// The secret of a HighLevel connection, as stored (encrypted).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum HighLevelSecret {
    PrivateToken {
        token: String,
        base_url: String,
        location_id: String,
    },
    Oauth {
        base_url: String,
        location_id: String,
        client_id: String,
        client_secret: String,
        authorize_url: String,
        token_url: String,
        redirect_uri: String,
        tokens: Box<TokenSet>,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    #[error("no connection named `{0}`")]
    Missing(String),
    #[error("connection `{name}` needs reconnecting ({reason}); then replay its dead runs")]
    ReconnectNeeded { name: String, reason: String },
    #[error("connection `{name}` is unusable: {reason}")]
    Invalid { name: String, reason: String },
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
            Self::ReconnectNeeded { name, .. } => Some(Remedy::Reconnect {
                app: crate::catalog::HIGHLEVEL.into(),
                connection: name.clone(),
                scopes: Vec::new(),
                replay_dead_runs: true,
            }),
            Self::WrongApp { wanted, .. } => {
                Some(Remedy::Connect { app: Some(wanted.clone()), connection: None })
            }
            Self::Invalid { .. } | Self::Store(_) => None,
        }
    }
}

/// Stores (or replaces) a HighLevel connection that uses a location's private integration
/// token; its secret is sealed by the store.
pub async fn save_private_token(
    store: &Store,
    name: &str,
    base_url: &str,
    location_id: &str,
    token: &str,
) -> Result<(), ConnectionError> {
    let secret = HighLevelSecret::PrivateToken {
        token: token.to_owned(),
        base_url: base_url.to_owned(),
        location_id: location_id.to_owned(),
    };
    let summary = ConnectionSummary {
        id: String::new(),
        name: name.to_owned(),
        app: "highlevel".into(),
        location_id: Some(location_id.to_owned()),
        auth_kind: "private_token".into(),
        scopes: "contacts.readonly contacts.write".into(),
        status: "connected".into(),
        status_reason: None,
    };
    let secret = serde_json::to_value(secret)
        .map_err(|err| ConnectionError::Invalid { name: name.into(), reason: err.to_string() })?;
    store.put_connection(&summary, &secret).await?;
    Ok(())
}

/// Stores (or replaces) a HighLevel connection authorised by OAuth, with its tokens.
pub async fn save_oauth(
    store: &Store,
    name: &str,
    base_url: &str,
    app: &OAuthApp,
    tokens: TokenSet,
) -> Result<(), ConnectionError> {
    let location_id = tokens.location_id.clone().unwrap_or_default();
    let summary = ConnectionSummary {
        id: String::new(),
        name: name.to_owned(),
        app: "highlevel".into(),
        location_id: Some(location_id.clone()),
        auth_kind: "oauth".into(),
        scopes: tokens.scope.clone(),
        status: "connected".into(),
        status_reason: None,
    };
    let secret = HighLevelSecret::Oauth {
        base_url: base_url.to_owned(),
        location_id,
        client_id: app.client_id.clone(),
        client_secret: app.client_secret.expose().clone(),
        authorize_url: app.authorize_url.to_string(),
        token_url: app.token_url.to_string(),
        redirect_uri: app.redirect_uri.to_string(),
        tokens: Box::new(tokens),
    };
    let secret = serde_json::to_value(secret)
        .map_err(|err| ConnectionError::Invalid { name: name.into(), reason: err.to_string() })?;
    store.put_connection(&summary, &secret).await?;
    Ok(())
}

/// Clients by connection name. They share one rate budget, so connections to the same
/// location (and app) spend one budget, as HighLevel counts it.
pub struct Connections {
    store: Store,
    clients: Mutex<HashMap<String, Client>>,
    budget: Arc<LocalBudget>,
    masker: Masker,
}

impl Connections {
    pub fn new(store: Store) -> Self {
        Self {
            store,
            clients: Mutex::new(HashMap::new()),
            budget: LocalBudget::new(),
            masker: Masker::default(),
        }
    }

    /// Masks what is recorded or shown; knows the secrets of the connections loaded.
    pub fn masker(&self) -> &Masker {
        &self.masker
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
        if connection.summary.app != HTTP {
            return Err(ConnectionError::WrongApp {
                name: name.into(),
                app: connection.summary.app,
                wanted: HTTP.into(),
            });
        }
        let secret: HttpSecret =
            serde_json::from_value(connection.secret).map_err(|err| invalid(err.to_string()))?;
        for value in secret.headers.values() {
            self.masker.learn(value);
            if let Some((_, credential)) = value.split_once(' ') {
                self.masker.learn(credential);
            }
        }
        Ok(secret)
    }

    /// What is left of each location's rate budget.
    pub fn budget_levels(&self) -> Vec<BudgetLevel> {
        self.budget.levels()
    }

    pub async fn client(&self, name: &str) -> Result<Client, ConnectionError> {
        if let Some(client) = self.clients.lock().get(name) {
            return Ok(client.clone());
        }
        let connection = self
            .store
            .connection(name)
            .await?
            .ok_or_else(|| ConnectionError::Missing(name.into()))?;
        if connection.summary.app != crate::catalog::HIGHLEVEL {
            return Err(ConnectionError::WrongApp {
                name: name.into(),
                app: connection.summary.app,
                wanted: crate::catalog::HIGHLEVEL.into(),
            });
        }
        if connection.summary.status == "reconnect_needed" {
            let reason = connection.summary.status_reason.unwrap_or_default();
            return Err(ConnectionError::ReconnectNeeded { name: name.into(), reason });
        }
        let invalid = |reason: String| ConnectionError::Invalid { name: name.into(), reason };
        let secret: HighLevelSecret =
            serde_json::from_value(connection.secret).map_err(|err| invalid(err.to_string()))?;
        let url =
            |text: &str| text.parse::<url::Url>().map_err(|err| invalid(format!("{text}: {err}")));
        let config = match secret {
            HighLevelSecret::PrivateToken { token, base_url, location_id } => ClientConfig::new(
                url(&base_url)?,
                Credentials::PrivateToken(token.into()),
                location_id,
            ),
            HighLevelSecret::Oauth {
                base_url,
                location_id,
                client_id,
                client_secret,
                authorize_url,
                token_url,
                redirect_uri,
                ..
            } => {
                let app = OAuthApp {
                    client_id,
                    client_secret: client_secret.into(),
                    authorize_url: url(&authorize_url)?,
                    token_url: url(&token_url)?,
                    redirect_uri: url(&redirect_uri)?,
                };
                let tokens =
                    Arc::new(StoredTokens { store: self.store.clone(), name: name.into() });
                ClientConfig::new(
                    url(&base_url)?,
                    Credentials::OAuth(OAuthConnection::new(app, tokens)),
                    location_id,
                )
            }
        };
        let config = ClientConfig { budget: Some(self.budget.clone()), ..config };
        let client = Client::new(config).map_err(|err| invalid(err.to_string()))?;
        Ok(self.clients.lock().entry(name.to_owned()).or_insert(client).clone())
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
        if summary.app == HTTP {
            return self.check_http(name).await;
        }
        let client = self.client(name).await?;
        match client.list_contacts(&[("limit", "1")]).await {
            Ok(_) => Ok(()),
            Err(ghl_client::Error::ReconnectNeeded { reason }) => {
                self.mark_reconnect_needed(name, &reason).await?;
                Err(ConnectionError::ReconnectNeeded { name: name.into(), reason })
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
        self.store.set_connection_status(name, "reconnect_needed", Some(reason)).await?;
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
