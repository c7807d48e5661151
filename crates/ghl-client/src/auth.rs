//! Credentials: a private integration token, or an OAuth connection whose tokens live in a
//! `TokenStore` and are refreshed ahead of expiry and once on a 401, single-flight: however
//! many requests need a fresh token at once, one refresh happens, and the rotated refresh
//! token is saved before anyone can use the old one again.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ghl_types::oauth::TokenResponse;
use rand::Rng;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::error::{Error, Result};
use crate::secret::Secret;

/// Refresh when a token expires within this (as HighLevel's SDK does), or within a quarter
/// of its lifetime for short-lived tokens.
pub const REFRESH_AHEAD: Duration = Duration::from_secs(30);

/// An OAuth token pair with what it is for.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenSet {
    pub access_token: Secret<String>,
    pub refresh_token: Secret<String>,
    /// Seconds since the Unix epoch.
    pub expires_at: u64,
    /// The lifetime the token was issued with, in seconds.
    pub lifetime_secs: u64,
    pub scope: String,
    pub location_id: Option<String>,
    pub company_id: String,
}

impl TokenSet {
    pub fn from_response(response: TokenResponse) -> Self {
        Self {
            expires_at: unix_now() + response.expires_in,
            lifetime_secs: response.expires_in,
            access_token: response.access_token.into(),
            refresh_token: response.refresh_token.into(),
            scope: response.scope,
            location_id: response.location_id,
            company_id: response.company_id,
        }
    }

    /// Whether it is time to refresh.
    fn is_due(&self) -> bool {
        let ahead = REFRESH_AHEAD.as_secs().min(self.lifetime_secs / 4);
        self.expires_at <= unix_now() + ahead
    }
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs()
}

/// Where a connection's tokens live. The engine implements it on its encrypted store; a
/// `save` must be durable before it returns.
#[async_trait::async_trait]
pub trait TokenStore: Send + Sync {
    async fn load(&self) -> Result<Option<TokenSet>>;
    async fn save(&self, tokens: &TokenSet) -> Result<()>;
}

/// Tokens in memory, for tests and one-off commands.
#[derive(Default)]
pub struct MemoryTokenStore(parking_lot::Mutex<Option<TokenSet>>);

impl MemoryTokenStore {
    pub fn new(tokens: Option<TokenSet>) -> Arc<Self> {
        Arc::new(Self(parking_lot::Mutex::new(tokens)))
    }
}

#[async_trait::async_trait]
impl TokenStore for MemoryTokenStore {
    async fn load(&self) -> Result<Option<TokenSet>> {
        Ok(self.0.lock().clone())
    }

    async fn save(&self, tokens: &TokenSet) -> Result<()> {
        *self.0.lock() = Some(tokens.clone());
        Ok(())
    }
}

/// A Marketplace app's OAuth settings.
#[derive(Debug, Clone)]
pub struct OAuthApp {
    pub client_id: String,
    pub client_secret: Secret<String>,
    /// `https://marketplace.gohighlevel.com/oauth/chooselocation` for the real HighLevel.
    pub authorize_url: Url,
    /// `https://services.leadconnectorhq.com/oauth/token` for the real HighLevel.
    pub token_url: Url,
    pub redirect_uri: Url,
}

/// An authorization request in progress: send the user to `url`, keep `state` to check.
#[derive(Debug, Clone)]
pub struct AuthorizationRequest {
    pub url: Url,
    pub state: Secret<String>,
}

impl OAuthApp {
    /// The authorization URL with a fresh random `state`.
    pub fn authorization_request(&self, scopes: &[&str]) -> AuthorizationRequest {
        let state: String = rand::thread_rng()
            .sample_iter(&rand::distributions::Alphanumeric)
            .take(32)
            .map(char::from)
            .collect();
        let mut url = self.authorize_url.clone();
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.client_id)
            .append_pair("redirect_uri", self.redirect_uri.as_str())
            .append_pair("scope", &scopes.join(" "))
            .append_pair("state", &state);
        AuthorizationRequest { url, state: state.into() }
    }

    /// Checks the `state` that came back and exchanges the code for tokens.
    pub async fn exchange_code(
        &self,
        http: &reqwest::Client,
        request: &AuthorizationRequest,
        returned_state: &str,
        code: &str,
    ) -> Result<TokenSet> {
        if !constant_time_eq(request.state.expose().as_bytes(), returned_state.as_bytes()) {
            return Err(Error::StateMismatch);
        }
        self.token_request(
            http,
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", self.redirect_uri.as_str()),
            ],
        )
        .await
    }

    async fn refresh(
        &self,
        http: &reqwest::Client,
        refresh_token: &Secret<String>,
    ) -> Result<TokenSet> {
        self.token_request(
            http,
            &[("grant_type", "refresh_token"), ("refresh_token", refresh_token.expose())],
        )
        .await
    }

    /// `POST /oauth/token`, retried on transient failures; a refusal means reconnect.
    async fn token_request(
        &self,
        http: &reqwest::Client,
        grant: &[(&str, &str)],
    ) -> Result<TokenSet> {
        let mut form: Vec<(&str, &str)> = vec![
            ("client_id", &self.client_id),
            ("client_secret", self.client_secret.expose()),
            ("user_type", "Location"),
        ];
        form.extend_from_slice(grant);
        let mut last_problem = String::new();
        for attempt in 0..4u32 {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(250 * 2u64.pow(attempt))).await;
            }
            let response = match http
                .post(self.token_url.clone())
                .form(&form)
                .timeout(Duration::from_secs(30))
                .send()
                .await
            {
                Ok(response) => response,
                Err(err) => {
                    last_problem = err.to_string();
                    continue;
                }
            };
            let status = response.status().as_u16();
            let body = response.text().await.unwrap_or_default();
            match status {
                200..=299 => {
                    let tokens: TokenResponse =
                        serde_json::from_str(&body).map_err(|err| Error::Permanent {
                            operation: "oauth-token".into(),
                            status,
                            message: format!("unreadable token response: {err}"),
                        })?;
                    return Ok(TokenSet::from_response(tokens));
                }
                429 | 500..=599 => last_problem = format!("HTTP {status}"),
                _ => {
                    return Err(Error::ReconnectNeeded {
                        reason: format!("token endpoint answered {status}: {}", message_of(&body)),
                    })
                }
            }
        }
        Err(Error::Transient {
            operation: "oauth-token".into(),
            status: None,
            message: last_problem,
        })
    }
}

fn message_of(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|value| {
            value.get("message").map(|m| m.as_str().map_or_else(|| m.to_string(), str::to_owned))
        })
        .unwrap_or_else(|| body.chars().take(200).collect())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// How requests are authorised.
#[derive(Clone)]
pub enum Credentials {
    PrivateToken(Secret<String>),
    OAuth(Arc<OAuthConnection>),
}

/// An OAuth connection: the app, its token store, and the lock that makes refresh single-flight.
pub struct OAuthConnection {
    app: OAuthApp,
    store: Arc<dyn TokenStore>,
    refresh_lock: tokio::sync::Mutex<()>,
    refreshes: std::sync::atomic::AtomicU64,
}

impl OAuthConnection {
    pub fn new(app: OAuthApp, store: Arc<dyn TokenStore>) -> Arc<Self> {
        Arc::new(Self {
            app,
            store,
            refresh_lock: tokio::sync::Mutex::new(()),
            refreshes: Default::default(),
        })
    }

    pub fn client_id(&self) -> &str {
        &self.app.client_id
    }

    /// How many refreshes this connection made (for tests and metrics).
    pub fn refresh_count(&self) -> u64 {
        self.refreshes.load(std::sync::atomic::Ordering::Relaxed)
    }

    async fn current(&self) -> Result<TokenSet> {
        self.store
            .load()
            .await?
            .ok_or_else(|| Error::ReconnectNeeded { reason: "no tokens stored".into() })
    }

    /// A token valid for at least `REFRESH_AHEAD`, refreshing first if needed.
    pub async fn access_token(&self, http: &reqwest::Client) -> Result<Secret<String>> {
        let tokens = self.current().await?;
        if !tokens.is_due() {
            return Ok(tokens.access_token);
        }
        self.refresh_unless(http, |current| !current.is_due()).await
    }

    /// After a 401 with `rejected`: refresh, unless someone already replaced that token.
    pub async fn after_unauthorized(
        &self,
        http: &reqwest::Client,
        rejected: &Secret<String>,
    ) -> Result<Secret<String>> {
        self.refresh_unless(http, |current| current.access_token != *rejected).await
    }

    /// Under the lock, re-reads the store: if `fresh_enough` says another task already
    /// refreshed, that token is used; otherwise this task refreshes and saves the rotated
    /// pair before releasing the lock.
    async fn refresh_unless(
        &self,
        http: &reqwest::Client,
        fresh_enough: impl Fn(&TokenSet) -> bool,
    ) -> Result<Secret<String>> {
        let _guard = self.refresh_lock.lock().await;
        let current = self.current().await?;
        if fresh_enough(&current) {
            return Ok(current.access_token);
        }
        let refreshed = self.app.refresh(http, &current.refresh_token).await?;
        self.store.save(&refreshed).await?;
        self.refreshes.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tracing::info!(
            location = refreshed.location_id.as_deref().unwrap_or(""),
            "OAuth tokens refreshed"
        );
        Ok(refreshed.access_token)
    }
}
