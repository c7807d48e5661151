//! Credentials: a private integration token, or an OAuth connection whose tokens live in a
//! `TokenStore` and are refreshed ahead of expiry and once on a 401, single-flight: however
//! many requests need a fresh token at once, one refresh happens, and the rotated refresh
//! token is saved before anyone can use the old one again. The refresh holds a [`TokenLock`]:
//! in-process by default ([`LocalTokenLock`]), or one that spans processes (a PostgreSQL
//! advisory lock) given with [`OAuthConnection::with_lock`].

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ghl_types::oauth::TokenResponse;
use rand::Rng;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::error::{Error, Result};
use crate::retry::{classify, classify_transport, retry_after, Backoff, Verdict};
use crate::secret::Secret;

/// Attempts of one token request, the backoff between them, and the longest `Retry-After` of
/// the token endpoint waited for within one request.
const TOKEN_RETRY: TokenRetry = TokenRetry {
    attempts: 4,
    backoff: Backoff::new(Duration::from_millis(500), Duration::from_secs(8)),
    max_wait: Some(Duration::from_secs(30)),
};

/// How often a token endpoint is asked, and how long its `Retry-After` is waited for.
#[derive(Debug, Clone, Copy)]
pub struct TokenRetry {
    pub attempts: u32,
    pub backoff: Backoff,
    /// A longer `Retry-After` ends the request instead (`None`: any is waited for).
    pub max_wait: Option<Duration>,
}

/// Why a token endpoint gave no token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenEndpointError {
    /// It refused the request (or answered what a retry cannot change): reconnect.
    Refused { status: Option<u16>, problem: String },
    /// It kept failing until the attempts ran out, or asked to wait longer than `max_wait`.
    GaveUp { status: Option<u16>, asked: Option<Duration>, attempts: u32, problem: String },
}

/// Posts to a token endpoint (each attempt built by `request`), retried as the retry logic
/// classifies its answers; answers the successful answer's status and body. `problem_of`
/// reads what a failed answer's body says. The one token-endpoint loop of HighLevel's OAuth
/// and of the manifest runtime's client credentials.
pub async fn post_token_endpoint(
    request: impl Fn() -> reqwest::RequestBuilder,
    retry: TokenRetry,
    problem_of: impl Fn(&str) -> String,
) -> std::result::Result<(u16, String), TokenEndpointError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let (verdict, status, problem) = match request().send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                let after = retry_after(response.headers());
                let body = response.text().await.unwrap_or_default();
                let verdict = classify(status, after);
                if verdict == Verdict::Done {
                    return Ok((status, body));
                }
                (verdict, Some(status), problem_of(&body))
            }
            Err(err) => (classify_transport(&err), None, err.without_url().to_string()),
        };
        let after = match verdict {
            Verdict::Retry { after, .. } | Verdict::Throttled { after } => after,
            Verdict::Done | Verdict::Refresh | Verdict::Refused => {
                return Err(TokenEndpointError::Refused { status, problem })
            }
        };
        let asked = after.map(|wait| wait.remaining(SystemTime::now()));
        let too_long = asked.zip(retry.max_wait).is_some_and(|(asked, max)| asked > max);
        if attempt >= retry.attempts || too_long {
            return Err(TokenEndpointError::GaveUp { status, asked, attempts: attempt, problem });
        }
        tokio::time::sleep(retry.backoff.delay(attempt, asked)).await;
    }
}

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

    /// A token answer as any OAuth 2.0 server gives it (RFC 6749 §5.1): HighLevel's, with
    /// its `userType`, `companyId` and `locationId`, or the standard fields alone. A refresh
    /// answer without a `refresh_token` keeps `previous` (servers that reuse it); one without
    /// `expires_in` is taken to last an hour.
    pub fn from_answer(body: &str, previous: Option<&Secret<String>>) -> serde_json::Result<Self> {
        if let Ok(response) = serde_json::from_str::<TokenResponse>(body) {
            return Ok(Self::from_response(response));
        }
        #[derive(Deserialize)]
        struct Standard {
            access_token: String,
            #[serde(default)]
            refresh_token: Option<String>,
            #[serde(default)]
            expires_in: Option<u64>,
            #[serde(default)]
            scope: Option<String>,
        }
        let answer: Standard = serde_json::from_str(body)?;
        let lifetime = answer.expires_in.unwrap_or(3_600);
        let refresh_token = match (answer.refresh_token, previous) {
            (Some(token), _) => token.into(),
            (None, Some(previous)) => previous.clone(),
            (None, None) => Secret::new(String::new()),
        };
        Ok(Self {
            access_token: answer.access_token.into(),
            refresh_token,
            expires_at: unix_now() + lifetime,
            lifetime_secs: lifetime,
            scope: answer.scope.unwrap_or_default(),
            location_id: None,
            company_id: String::new(),
        })
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

/// Held while one refresh of a connection's tokens runs; dropped, it lets the next one in.
pub struct TokenLockGuard {
    _held: Box<dyn Send + Sync>,
}

impl TokenLockGuard {
    /// A guard that releases the lock when `held` is dropped.
    pub fn new(held: impl Send + Sync + 'static) -> Self {
        Self { _held: Box::new(held) }
    }
}

/// The lock that makes a refresh single-flight. The local one is an in-process mutex; a
/// store shared by several processes gives one that spans them.
#[async_trait::async_trait]
pub trait TokenLock: Send + Sync {
    async fn lock(&self) -> Result<TokenLockGuard>;
}

/// An in-process mutex: single-flight within one process.
#[derive(Default)]
pub struct LocalTokenLock(Arc<tokio::sync::Mutex<()>>);

impl LocalTokenLock {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }
}

#[async_trait::async_trait]
impl TokenLock for LocalTokenLock {
    async fn lock(&self) -> Result<TokenLockGuard> {
        Ok(TokenLockGuard::new(self.0.clone().lock_owned().await))
    }
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
    /// Form fields the app's token endpoint wants besides OAuth's own (HighLevel's
    /// `user_type`: see [`crate::AppProfile::token_form`]).
    pub extra_form: Vec<(&'static str, &'static str)>,
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
            None,
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
            Some(refresh_token),
            &[("grant_type", "refresh_token"), ("refresh_token", refresh_token.expose())],
        )
        .await
    }

    /// `POST /oauth/token`, retried as the retry logic says; a refusal means reconnect.
    async fn token_request(
        &self,
        http: &reqwest::Client,
        refresh_token: Option<&Secret<String>>,
        grant: &[(&str, &str)],
    ) -> Result<TokenSet> {
        let mut form: Vec<(&str, &str)> =
            vec![("client_id", &self.client_id), ("client_secret", self.client_secret.expose())];
        form.extend(self.extra_form.iter().copied());
        form.extend_from_slice(grant);
        let request =
            || http.post(self.token_url.clone()).form(&form).timeout(Duration::from_secs(30));
        let (status, body) = match post_token_endpoint(request, TOKEN_RETRY, message_of).await {
            Ok(answer) => answer,
            Err(TokenEndpointError::Refused { status, problem }) => {
                return Err(Error::ReconnectNeeded {
                    reason: format!(
                        "token endpoint answered {}: {problem}",
                        status.unwrap_or_default()
                    ),
                })
            }
            Err(TokenEndpointError::GaveUp { status, asked, problem, .. }) => {
                let operation = "oauth-token".to_owned();
                return Err(match (status, asked) {
                    (Some(429), Some(retry_after)) => Error::RateLimited { operation, retry_after },
                    _ => Error::Transient { operation, status, message: problem },
                });
            }
        };
        TokenSet::from_answer(&body, refresh_token).map_err(|err| Error::Permanent {
            operation: "oauth-token".into(),
            status,
            message: format!("unreadable token response: {err}"),
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
    refresh_lock: Arc<dyn TokenLock>,
    refreshes: std::sync::atomic::AtomicU64,
}

impl OAuthConnection {
    /// A connection refreshed single-flight within this process.
    pub fn new(app: OAuthApp, store: Arc<dyn TokenStore>) -> Arc<Self> {
        Self::with_lock(app, store, LocalTokenLock::new())
    }

    /// A connection whose refreshes hold `lock` (one that spans processes, when several
    /// share the token store).
    pub fn with_lock(
        app: OAuthApp,
        store: Arc<dyn TokenStore>,
        lock: Arc<dyn TokenLock>,
    ) -> Arc<Self> {
        Arc::new(Self { app, store, refresh_lock: lock, refreshes: Default::default() })
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
        let _guard = self.refresh_lock.lock().await?;
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
