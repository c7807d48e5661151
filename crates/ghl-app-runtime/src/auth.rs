//! How each request of a connection is authorised, for every auth kind of a manifest:
//! credential templates rendered once into headers and query parameters (`api_key`), bearer,
//! basic and `login:secret_key` headers, OAuth 2.0 tokens (authorization code through
//! ghl-client's `OAuthConnection`; client credentials fetched, cached and refetched here,
//! single-flight), and the Standard Webhooks signature of a `signed_webhook` message.
//! Credentials are checked once, when the client is made: a missing one is a connection
//! error naming it, never a request sent without it.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ghl_apps::auth::{template_names, Auth, ClientAuth, OAuthClient};
use ghl_apps::place::UrlOrPath;
use ghl_apps::signatures::standard_webhooks;
use ghl_apps::signatures::SigningKey;
use ghl_client::{post_token_endpoint, Backoff, Secret, TokenEndpointError, TokenRetry};
use reqwest::header::{HeaderName, HeaderValue};
use reqwest::RequestBuilder;
use serde::Deserialize;
use url::Url;

use crate::connection::Credentials;
use crate::error::RuntimeError;

/// Attempts of one token request and the backoff between them; any `Retry-After` is waited for.
const TOKEN_RETRY: TokenRetry = TokenRetry {
    attempts: 3,
    backoff: Backoff::new(Duration::from_millis(200), Duration::from_secs(4)),
    max_wait: None,
};
/// A client-credentials token is fetched again this long before it expires.
const REFRESH_AHEAD: Duration = Duration::from_secs(30);

/// Credentials rendered once. The header values are marked sensitive (HTTP/2 never indexes
/// them); nothing here is printed.
#[derive(Default)]
struct Fixed {
    headers: Vec<(HeaderName, HeaderValue)>,
    query: Vec<(String, Secret<String>)>,
}

/// A client-credentials token and when to fetch the next one.
struct Cached {
    token: Secret<String>,
    renew_at: Option<Instant>,
}

/// The authorisation of one connection.
pub(crate) struct Authorizer {
    app: String,
    auth: Auth,
    credentials: Credentials,
    /// `signed_webhook`'s key, parsed once.
    webhook_key: Option<SigningKey>,
    /// The headers and query parameters made from the credentials once, when the client is
    /// made (`api_key`, `bearer`, `basic`, `login_secret_key`): a request copies them.
    fixed: Fixed,
    /// `oauth2_client_credentials`' token endpoint, resolved against the base URL.
    token_url: Option<Url>,
    /// The cached client-credentials token; holding the lock while fetching makes the fetch
    /// single-flight.
    cached: tokio::sync::Mutex<Option<Cached>>,
    fetches: std::sync::atomic::AtomicU64,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

impl Authorizer {
    /// Checks that the credentials are the ones the auth kind needs.
    pub fn new(
        app: &str,
        auth: &Auth,
        credentials: Credentials,
        base: &Url,
    ) -> Result<Self, RuntimeError> {
        let problem = |problem: String| RuntimeError::Connection { app: app.to_owned(), problem };
        let mut token_url = None;
        let mut webhook_key = None;
        match (auth, &credentials) {
            (Auth::Oauth2AuthorizationCode(_), Credentials::OAuth(_)) => {}
            (Auth::Oauth2ClientCredentials(client), Credentials::ClientCredentials { .. }) => {
                token_url = Some(resolve(&client.token_url, base));
            }
            (Auth::Oauth2AuthorizationCode(_) | Auth::Oauth2ClientCredentials(_), _)
            | (_, Credentials::OAuth(_) | Credentials::ClientCredentials { .. }) => {
                return Err(problem(format!(
                    "holds credentials of another kind than the app's `{}` auth",
                    auth.kind()
                )))
            }
            (_, Credentials::Values(values)) => {
                for credential in auth.credentials() {
                    if !values.contains_key(&credential.name) {
                        return Err(problem(format!("has no `{}`", credential.name)));
                    }
                }
                if let (Auth::SignedWebhook, Some(secret)) = (auth, values.get("secret")) {
                    let key = standard_webhooks::parse_secret(secret.expose())
                        .map_err(|err| problem(format!("has an unusable `secret`: {err}")))?;
                    webhook_key = Some(key);
                }
            }
        }
        let fixed = fixed(app, auth, &credentials)?;
        Ok(Self {
            app: app.to_owned(),
            auth: auth.clone(),
            credentials,
            webhook_key,
            fixed,
            token_url,
            cached: tokio::sync::Mutex::new(None),
            fetches: Default::default(),
        })
    }

    /// How many client-credentials tokens were fetched (for tests and metrics).
    pub fn token_fetches(&self) -> u64 {
        self.fetches.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// A named credential's value (checked present at `new`).
    fn value(&self, name: &str) -> &str {
        self.credentials.value(name).map_or("", |secret| secret.expose().as_str())
    }

    /// The connection's URL, for kinds whose URL is a credential.
    pub fn credential_url(&self) -> Result<Option<Url>, RuntimeError> {
        if !self.auth.url_is_credential() {
            return Ok(None);
        }
        Url::parse(self.value("url")).map(Some).map_err(|err| RuntimeError::Connection {
            app: self.app.clone(),
            // The URL is a secret: only the reason is said.
            problem: format!("has a `url` that is not a URL ({err})"),
        })
    }

    /// The bearer token of an OAuth kind (fetched or refreshed as needed); `None` otherwise.
    pub async fn token(
        &self,
        http: &reqwest::Client,
        operation: &str,
    ) -> Result<Option<Secret<String>>, RuntimeError> {
        match (&self.auth, &self.credentials) {
            (Auth::Oauth2AuthorizationCode(_), Credentials::OAuth(connection)) => connection
                .access_token(http)
                .await
                .map(Some)
                .map_err(|err| self.client_error(operation, err)),
            (Auth::Oauth2ClientCredentials(client), Credentials::ClientCredentials { .. }) => {
                let mut cached = self.cached.lock().await;
                if let Some(current) = cached.as_ref() {
                    if current.renew_at.is_none_or(|at| at > Instant::now()) {
                        return Ok(Some(current.token.clone()));
                    }
                }
                let fresh = self.fetch(http, client, operation).await?;
                let token = fresh.token.clone();
                *cached = Some(fresh);
                Ok(Some(token))
            }
            _ => Ok(None),
        }
    }

    /// After a 401 with `rejected`: a fresh token, unless another task already replaced it.
    /// `false` when the kind has nothing to refresh.
    pub async fn after_unauthorized(
        &self,
        http: &reqwest::Client,
        operation: &str,
        rejected: Option<&Secret<String>>,
    ) -> Result<bool, RuntimeError> {
        let Some(rejected) = rejected else { return Ok(false) };
        match (&self.auth, &self.credentials) {
            (Auth::Oauth2AuthorizationCode(_), Credentials::OAuth(connection)) => {
                connection
                    .after_unauthorized(http, rejected)
                    .await
                    .map_err(|err| self.client_error(operation, err))?;
                Ok(true)
            }
            (Auth::Oauth2ClientCredentials(client), Credentials::ClientCredentials { .. }) => {
                let mut cached = self.cached.lock().await;
                if cached.as_ref().is_some_and(|current| current.token != *rejected) {
                    return Ok(true);
                }
                *cached = Some(self.fetch(http, client, operation).await?);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    fn client_error(&self, operation: &str, error: ghl_client::Error) -> RuntimeError {
        let (app, operation) = (self.app.clone(), operation.to_owned());
        if error.is_retryable() {
            return match error.wait() {
                Some(wait) => RuntimeError::RateLimited { app, operation, wait },
                None => RuntimeError::Transient {
                    app,
                    operation,
                    status: error.status(),
                    attempts: TOKEN_RETRY.attempts,
                    message: error.to_string(),
                },
            };
        }
        RuntimeError::Reconnect {
            app,
            operation,
            status: error.status(),
            message: error.to_string(),
        }
    }

    /// The client-credentials grant, retried as ghl-client's retry logic says; a refusal
    /// means the connection's client id or secret is wrong.
    async fn fetch(
        &self,
        http: &reqwest::Client,
        client: &OAuthClient,
        operation: &str,
    ) -> Result<Cached, RuntimeError> {
        let Credentials::ClientCredentials { client_id, client_secret } = &self.credentials else {
            return Err(RuntimeError::Connection {
                app: self.app.clone(),
                problem: "holds no client id and secret".into(),
            });
        };
        let Some(url) = &self.token_url else {
            return Err(RuntimeError::Connection {
                app: self.app.clone(),
                problem: "has no token endpoint".into(),
            });
        };
        let scope = client.scopes.join(" ");
        let mut form = vec![("grant_type", "client_credentials")];
        if !scope.is_empty() {
            form.push(("scope", &scope));
        }
        if client.client_auth == ClientAuth::Body {
            form.push(("client_id", client_id));
            form.push(("client_secret", client_secret.expose()));
        }
        let request = || {
            let request = http.post(url.clone()).form(&form).timeout(Duration::from_secs(30));
            match client.client_auth {
                ClientAuth::BasicHeader => {
                    request.basic_auth(client_id, Some(client_secret.expose()))
                }
                ClientAuth::Body => request,
            }
        };
        let shown = |body: &str| body.chars().take(200).collect::<String>();
        let (status, body) = match post_token_endpoint(request, TOKEN_RETRY, shown).await {
            Ok(answer) => answer,
            Err(TokenEndpointError::Refused { status, problem }) => {
                return Err(RuntimeError::Reconnect {
                    app: self.app.clone(),
                    operation: operation.to_owned(),
                    status,
                    message: format!(
                        "the token endpoint refused the client id and secret: {problem}"
                    ),
                })
            }
            Err(TokenEndpointError::GaveUp { status, attempts, problem, .. }) => {
                return Err(RuntimeError::Transient {
                    app: self.app.clone(),
                    operation: operation.to_owned(),
                    status,
                    attempts,
                    message: format!("the token endpoint: {problem}"),
                })
            }
        };
        let answer: TokenAnswer =
            serde_json::from_str(&body).map_err(|err| RuntimeError::Reconnect {
                app: self.app.clone(),
                operation: operation.to_owned(),
                status: Some(status),
                message: format!("the token endpoint's answer is unreadable: {err}"),
            })?;
        self.fetches.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let renew_at = answer.expires_in.map(|secs| {
            let lifetime = Duration::from_secs(secs);
            Instant::now() + lifetime.saturating_sub(REFRESH_AHEAD.min(lifetime / 4))
        });
        Ok(Cached { token: answer.access_token.into(), renew_at })
    }

    /// Puts the credentials on one attempt. `message_id` and `body` are what a signed
    /// webhook signs (the id the same on every attempt, the timestamp this attempt's).
    pub fn apply(
        &self,
        mut request: RequestBuilder,
        token: Option<&Secret<String>>,
        message_id: &str,
        body: &[u8],
    ) -> RequestBuilder {
        if let Some(token) = token {
            return request.bearer_auth(token.expose());
        }
        match &self.auth {
            Auth::ApiKey { .. } | Auth::Bearer | Auth::Basic | Auth::LoginSecretKey { .. } => {
                for (name, value) in &self.fixed.headers {
                    request = request.header(name.clone(), value.clone());
                }
                if !self.fixed.query.is_empty() {
                    let pairs: Vec<(&str, &str)> = self
                        .fixed
                        .query
                        .iter()
                        .map(|(name, value)| (name.as_str(), value.expose().as_str()))
                        .collect();
                    request = request.query(&pairs);
                }
                request
            }
            Auth::SignedWebhook => {
                let Some(key) = &self.webhook_key else { return request };
                let now =
                    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
                let timestamp = i64::try_from(now).unwrap_or(i64::MAX);
                for (name, value) in standard_webhooks::headers(key, message_id, timestamp, body) {
                    request = request.header(name, value);
                }
                request
            }
            Auth::SecretUrl
            | Auth::Oauth2AuthorizationCode(_)
            | Auth::Oauth2ClientCredentials(_) => request,
        }
    }
}

/// The headers and query parameters `auth` makes from `credentials`, rendered once; a value
/// that cannot be a header is refused here (naming the header, never the value).
fn fixed(app: &str, auth: &Auth, credentials: &Credentials) -> Result<Fixed, RuntimeError> {
    let problem = |problem: String| RuntimeError::Connection { app: app.to_owned(), problem };
    let Credentials::Values(_) = credentials else { return Ok(Fixed::default()) };
    let value = |name: &str| credentials.value(name).map_or("", |secret| secret.expose().as_str());
    let render = |template: &str| {
        let mut text = template.to_owned();
        for name in template_names(template) {
            text = text.replace(&format!("{{{name}}}"), value(name));
        }
        text
    };
    let mut headers: Vec<(String, String)> = Vec::new();
    let mut query = Vec::new();
    match auth {
        Auth::ApiKey { headers: templates, query: params } => {
            headers
                .extend(templates.iter().map(|(name, template)| (name.clone(), render(template))));
            query.extend(
                params.iter().map(|(name, template)| (name.clone(), Secret::new(render(template)))),
            );
        }
        Auth::Bearer => {
            headers.push(("authorization".into(), format!("Bearer {}", value("token"))))
        }
        Auth::Basic => headers.push((
            "authorization".into(),
            format!(
                "Basic {}",
                STANDARD.encode(format!("{}:{}", value("username"), value("password")))
            ),
        )),
        Auth::LoginSecretKey { header } => {
            headers.push((header.clone(), format!("{}:{}", value("login"), value("secret_key"))))
        }
        _ => {}
    }
    let headers = headers
        .into_iter()
        .map(|(name, text)| {
            let header = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| problem(format!("has an auth header `{name}` that is not an HTTP header name")))?;
            // The value is a secret: only the header is named.
            let mut value = HeaderValue::from_str(&text).map_err(|_| {
                problem(format!("has credentials that cannot be sent in the `{name}` header (a line break or a control character?)"))
            })?;
            value.set_sensitive(true);
            Ok((header, value))
        })
        .collect::<Result<_, RuntimeError>>()?;
    Ok(Fixed { headers, query })
}

/// The OAuth 2.0 authorization-code settings of a manifest's app, for ghl-client's
/// `OAuthApp` (authorization URL with `state` and, with `pkce: true`, an S256 challenge; code
/// exchange; refresh; the client in the body or a Basic header; the API base URL read from
/// the token answer's `base_url_from` field): the authorize and token URLs resolved against
/// the connection's base URL (`None`: the manifest's).
pub fn oauth_app(
    manifest: &ghl_apps::Manifest,
    base_url: Option<&Url>,
    client_id: &str,
    client_secret: Secret<String>,
    redirect_uri: Url,
) -> Result<ghl_client::OAuthApp, RuntimeError> {
    let code = authorization_code(manifest)?;
    let base = base_url.unwrap_or_else(|| manifest.base_url.as_url());
    Ok(ghl_client::OAuthApp {
        client_id: client_id.to_owned(),
        client_secret,
        authorize_url: resolve(&code.authorize_url, base),
        token_url: resolve(&code.token_url, base),
        redirect_uri,
        extra_form: Vec::new(),
        options: options(code),
    })
}

/// What a manifest's authorization code flow asks beyond the plain one.
pub fn oauth_options(
    manifest: &ghl_apps::Manifest,
) -> Result<ghl_client::OAuthOptions, RuntimeError> {
    authorization_code(manifest).map(options)
}

fn authorization_code(
    manifest: &ghl_apps::Manifest,
) -> Result<&ghl_apps::auth::OAuthCode, RuntimeError> {
    match &manifest.auth {
        Auth::Oauth2AuthorizationCode(code) => Ok(code),
        other => Err(RuntimeError::Connection {
            app: manifest.app.clone(),
            problem: format!(
                "is for an app whose auth is `{}`, not `oauth2_authorization_code`",
                other.kind()
            ),
        }),
    }
}

fn options(code: &ghl_apps::auth::OAuthCode) -> ghl_client::OAuthOptions {
    ghl_client::OAuthOptions {
        client_auth: match code.client_auth {
            ClientAuth::Body => ghl_client::ClientAuth::Body,
            ClientAuth::BasicHeader => ghl_client::ClientAuth::BasicHeader,
        },
        pkce: code.pkce,
        base_url_from: code.base_url_from.clone(),
    }
}

/// A token endpoint: an absolute URL, or a path under the connection's base URL (so a
/// sandbox's is found too).
fn resolve(at: &UrlOrPath, base: &Url) -> Url {
    match at {
        UrlOrPath::Url(url) => url.as_url().clone(),
        UrlOrPath::Path(path) => {
            let mut url = base.clone();
            url.set_path(path);
            url
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn api_key() -> Auth {
        Auth::ApiKey {
            headers: BTreeMap::from([("X-Api-Key".into(), "key {api_key}".into())]),
            query: BTreeMap::from([("user".into(), "{user}".into())]),
        }
    }

    fn base() -> Url {
        Url::parse("http://127.0.0.1:1/v1").expect("a URL")
    }

    #[test]
    fn credentials_are_rendered_once_into_sensitive_headers_and_query_values() {
        let credentials = Credentials::values([("api_key", "sk_1"), ("user", "u 1")]);
        let authorizer = Authorizer::new("app", &api_key(), credentials, &base()).expect("usable");
        let (name, value) = &authorizer.fixed.headers[0];
        assert_eq!((name.as_str(), value.to_str().ok()), ("x-api-key", Some("key sk_1")));
        assert!(value.is_sensitive(), "never indexed by HTTP/2");
        let request = authorizer
            .apply(reqwest::Client::new().get(base()), None, "id", b"")
            .build()
            .expect("a request");
        assert_eq!(request.headers()["x-api-key"], "key sk_1");
        assert_eq!(request.url().query(), Some("user=u+1"));
    }

    #[test]
    fn a_credential_that_cannot_be_a_header_is_refused_when_the_client_is_made() {
        let credentials = Credentials::values([("api_key", "sk_1\nInjected: yes"), ("user", "u")]);
        let error =
            Authorizer::new("app", &api_key(), credentials, &base()).err().expect("refused");
        let text = error.to_string();
        assert!(text.contains("`X-Api-Key` header"), "{text}");
        assert!(!text.contains("sk_1"), "the secret is not said: {text}");
    }

    #[test]
    fn bearer_basic_and_login_secret_key_headers() {
        let header = |auth: Auth, pairs: &[(&str, &str)], name: &str| {
            let credentials = Credentials::values(pairs.iter().copied());
            let authorizer = Authorizer::new("app", &auth, credentials, &base()).expect("usable");
            let request = authorizer
                .apply(reqwest::Client::new().get(base()), None, "id", b"")
                .build()
                .expect("a request");
            assert!(request.headers()[name].is_sensitive());
            request.headers()[name].to_str().expect("text").to_owned()
        };
        assert_eq!(header(Auth::Bearer, &[("token", "t1")], "authorization"), "Bearer t1");
        assert_eq!(
            header(Auth::Basic, &[("username", "u"), ("password", "p")], "authorization"),
            format!("Basic {}", STANDARD.encode("u:p"))
        );
        let login = Auth::LoginSecretKey { header: "X-Auth".into() };
        assert_eq!(header(login, &[("login", "l"), ("secret_key", "k")], "x-auth"), "l:k");
    }
}
