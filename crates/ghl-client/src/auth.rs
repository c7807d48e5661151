//! Credentials: a private integration token, or an OAuth connection whose tokens live in a
//! `TokenStore` and are refreshed ahead of expiry and once on a 401, single-flight: however
//! many requests need a fresh token at once, one refresh happens, and the rotated refresh
//! token is saved before anyone can use the old one again. The refresh holds a [`TokenLock`]:
//! in-process by default ([`LocalTokenLock`]), or one that spans processes (a PostgreSQL
//! advisory lock) given with [`OAuthConnection::with_lock`]. Beyond HighLevel's own flow an
//! app may ask for a PKCE challenge (S256), the client's id and secret in a Basic header, and
//! its API base URL read from the token answer ([`OAuthOptions`]).

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
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
    /// The account's API base URL, where the app's token answer gives it
    /// ([`OAuthOptions::base_url_from`]), without a trailing `/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
}

impl TokenSet {
    pub fn from_response(response: TokenResponse) -> Self {
        Self {
            base_url: None,
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
            base_url: None,
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
    /// What the app asks beyond HighLevel's flow (nothing, by default).
    pub options: OAuthOptions,
}

/// An app's variations on the authorization code flow.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OAuthOptions {
    /// How the client id and secret reach the token endpoint.
    pub client_auth: ClientAuth,
    /// The authorization carries a PKCE challenge (RFC 7636, `S256`) and the code exchange
    /// its verifier.
    pub pkce: bool,
    /// A field of the token answer holding the account's API base URL (BQE CORE's
    /// `endpoint`): read into [`TokenSet::base_url`].
    pub base_url_from: Option<String>,
}

/// How the client id and secret reach the token endpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ClientAuth {
    /// `client_id` and `client_secret` in the form body.
    #[default]
    Body,
    /// HTTP Basic with the client id and secret (RFC 6749 §2.3.1); neither is in the body.
    BasicHeader,
}

/// An authorization request in progress: send the user to `url`, keep `state` to check and
/// the PKCE verifier (when the app asks for PKCE) to send with the code.
#[derive(Debug, Clone)]
pub struct AuthorizationRequest {
    pub url: Url,
    pub state: Secret<String>,
    pub code_verifier: Option<Secret<String>>,
}

/// `len` random characters of `[A-Za-z0-9]` (a `state`, a PKCE verifier).
fn random_text(len: usize) -> String {
    rand::thread_rng()
        .sample_iter(&rand::distributions::Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

/// The `S256` PKCE challenge of a verifier: base64url (no padding) of its SHA-256.
pub fn pkce_challenge(verifier: &str) -> String {
    use sha2::Digest;
    URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()))
}

impl OAuthApp {
    /// The authorization URL with a fresh random `state` (and PKCE challenge, when asked).
    pub fn authorization_request(&self, scopes: &[&str]) -> AuthorizationRequest {
        let state = random_text(32);
        // RFC 7636 §4.1: 43 to 128 unreserved characters.
        let code_verifier = self.options.pkce.then(|| random_text(64));
        let mut url = self.authorize_url.clone();
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("response_type", "code")
                .append_pair("client_id", &self.client_id)
                .append_pair("redirect_uri", self.redirect_uri.as_str())
                .append_pair("scope", &scopes.join(" "))
                .append_pair("state", &state);
            if let Some(verifier) = &code_verifier {
                query
                    .append_pair("code_challenge", &pkce_challenge(verifier))
                    .append_pair("code_challenge_method", "S256");
            }
        }
        AuthorizationRequest {
            url,
            state: state.into(),
            code_verifier: code_verifier.map(Into::into),
        }
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
        let mut grant = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", self.redirect_uri.as_str()),
        ];
        if let Some(verifier) = &request.code_verifier {
            grant.push(("code_verifier", verifier.expose()));
        }
        let tokens = self.token_request(http, None, &grant).await?;
        match (&self.options.base_url_from, &tokens.base_url) {
            (Some(field), None) => Err(Error::Permanent {
                operation: "oauth-token".into(),
                status: 200,
                message: format!(
                    "the token answer has no `{field}` (the account's API address) or it is not a URL"
                ),
            }),
            _ => Ok(tokens),
        }
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
        let mut form: Vec<(&str, &str)> = Vec::new();
        if self.options.client_auth == ClientAuth::Body {
            form.push(("client_id", &self.client_id));
            form.push(("client_secret", self.client_secret.expose()));
        }
        form.extend(self.extra_form.iter().copied());
        form.extend_from_slice(grant);
        let basic = match self.options.client_auth {
            ClientAuth::BasicHeader => Some(basic_header(&self.client_id, &self.client_secret)?),
            ClientAuth::Body => None,
        };
        let request = || {
            let request =
                http.post(self.token_url.clone()).form(&form).timeout(Duration::from_secs(30));
            match &basic {
                Some(value) => request.header(reqwest::header::AUTHORIZATION, value.clone()),
                None => request,
            }
        };
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
        let mut tokens =
            TokenSet::from_answer(&body, refresh_token).map_err(|err| Error::Permanent {
                operation: "oauth-token".into(),
                status,
                message: format!("unreadable token response: {err}"),
            })?;
        if let Some(field) = &self.options.base_url_from {
            tokens.base_url = base_url_in(&body, field);
        }
        Ok(tokens)
    }
}

/// `Authorization: Basic base64(id:secret)`, marked sensitive; a client id or secret that
/// cannot be sent in a header is refused (without showing it).
fn basic_header(
    client_id: &str,
    client_secret: &Secret<String>,
) -> Result<reqwest::header::HeaderValue> {
    let pair = format!("{client_id}:{}", client_secret.expose());
    let mut value =
        reqwest::header::HeaderValue::from_str(&format!("Basic {}", STANDARD.encode(pair)))
            .map_err(|_| Error::InvalidCall("the client id cannot be sent in a header".into()))?;
    value.set_sensitive(true);
    Ok(value)
}

/// The API base URL a token answer gives in `field`, if it is a URL (a trailing `/` dropped).
fn base_url_in(body: &str, field: &str) -> Option<String> {
    let answer: serde_json::Value = serde_json::from_str(body).ok()?;
    let text = answer.get(field)?.as_str()?.trim().trim_end_matches('/');
    let url = Url::parse(text).ok()?;
    matches!(url.scheme(), "http" | "https").then(|| text.to_owned())
}

/// What a token endpoint's refusal says: HighLevel's `message`, or RFC 6749's `error` and
/// `error_description` (§5.2), or the start of the body.
fn message_of(body: &str) -> String {
    let text =
        |value: &serde_json::Value| value.as_str().map_or_else(|| value.to_string(), str::to_owned);
    let Ok(value) = serde_json::from_str::<serde_json::Value>(body) else {
        return body.chars().take(200).collect();
    };
    if let Some(message) = value.get("message") {
        return text(message);
    }
    match (value.get("error"), value.get("error_description")) {
        (Some(error), Some(description)) => format!("{}: {}", text(error), text(description)),
        (Some(error), None) => text(error),
        _ => body.chars().take(200).collect(),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7636 appendix B.
    #[test]
    fn the_pkce_challenge_is_the_rfc_example() {
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn the_base_url_of_a_token_answer_is_a_url_without_its_trailing_slash() {
        let answer = r#"{"access_token": "a", "endpoint": "https://api.bqecore.com/api/"}"#;
        assert_eq!(base_url_in(answer, "endpoint").as_deref(), Some("https://api.bqecore.com/api"));
        assert_eq!(base_url_in(r#"{"endpoint": "not a url"}"#, "endpoint"), None);
        assert_eq!(base_url_in(r#"{"endpoint": "file:///etc"}"#, "endpoint"), None);
        assert_eq!(base_url_in(r#"{"access_token": "a"}"#, "endpoint"), None);
    }
}
