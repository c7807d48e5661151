//! The OAuth 2.0 server of a REST app whose manifest's auth is OAuth: the authorize endpoint
//! (a GET approves at once and redirects with a code and the `state`, as a user who clicks
//! "allow" would), the token endpoint (`authorization_code`, `refresh_token` and
//! `client_credentials` grants; the client in the body or, when the manifest says
//! `basic_header`, in a Basic header only; the PKCE verifier checked against the challenge
//! when it says `pkce`; the account's API address in the answer's `base_url_from` field;
//! refresh tokens single-use and rotated unless it says `reused`), and the bearer tokens the
//! API accepts. Answers are RFC 6749's (`invalid_client`, `invalid_grant`, ...).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use ghl_apps::auth::{Auth, ClientAuth, RefreshTokens};
use ghl_apps::place::UrlOrPath;
use ghl_apps::Manifest;
use ghl_sandbox_kit::ids;
use parking_lot::Mutex;
use rand::Rng;
use serde_json::{json, Value};
use sha2::Digest;

use crate::Shared;

/// A code lives this long (RFC 6749 §4.1.2 recommends at most ten minutes).
const CODE_LIFETIME: Duration = Duration::from_secs(600);

/// What the manifest asks of its OAuth server.
#[derive(Debug, Clone)]
struct Settings {
    /// `None` for client credentials, which has no authorize endpoint.
    authorize_path: Option<String>,
    token_path: String,
    client_auth: ClientAuth,
    pkce: bool,
    base_url_from: Option<String>,
    rotating: bool,
}

/// A code issued and not exchanged yet.
struct Code {
    redirect_uri: String,
    scope: String,
    challenge: Option<String>,
    issued: Instant,
}

/// An access token and until when the API accepts it.
struct Access {
    expires: Instant,
}

/// How many of each grant were answered with tokens, and refused.
#[derive(Default)]
pub struct Counts {
    pub authorizations: AtomicU64,
    pub codes_exchanged: AtomicU64,
    pub refreshes: AtomicU64,
    pub client_credentials: AtomicU64,
    pub refused: AtomicU64,
}

pub struct OAuthServer {
    pub client_id: String,
    pub client_secret: String,
    settings: Settings,
    lifetime: Duration,
    /// The account's API address the token answer gives (`base_url_from`), set once the
    /// sandbox knows its address.
    api_url: Mutex<String>,
    codes: Mutex<HashMap<String, Code>>,
    access: Mutex<HashMap<String, Access>>,
    /// Refresh tokens that may be used (once each, when they rotate).
    refresh: Mutex<HashMap<String, String>>,
    rng: Mutex<rand_chacha::ChaCha8Rng>,
    pub counts: Counts,
}

impl OAuthServer {
    /// The server of an OAuth manifest, `None` for another auth kind.
    pub fn of(manifest: &Manifest, lifetime: Duration, rng: &mut impl Rng) -> Option<Self> {
        let path = |at: &UrlOrPath| match at {
            UrlOrPath::Path(path) => path.clone(),
            UrlOrPath::Url(url) => url.as_url().path().to_owned(),
        };
        let settings = match &manifest.auth {
            Auth::Oauth2AuthorizationCode(code) => Settings {
                authorize_path: Some(path(&code.authorize_url)),
                token_path: path(&code.token_url),
                client_auth: code.client_auth,
                pkce: code.pkce,
                base_url_from: code.base_url_from.clone(),
                rotating: code.refresh_tokens == RefreshTokens::Rotating,
            },
            Auth::Oauth2ClientCredentials(client) => Settings {
                authorize_path: None,
                token_path: path(&client.token_url),
                client_auth: client.client_auth,
                pkce: false,
                base_url_from: None,
                rotating: true,
            },
            _ => return None,
        };
        let seed: u64 = rng.gen();
        Some(Self {
            client_id: ids::new_secret(rng, "client_", 16),
            client_secret: ids::new_secret(rng, "cs_", 32),
            settings,
            lifetime,
            api_url: Mutex::new(String::new()),
            codes: Mutex::new(HashMap::new()),
            access: Mutex::new(HashMap::new()),
            refresh: Mutex::new(HashMap::new()),
            rng: Mutex::new(rand::SeedableRng::seed_from_u64(seed)),
            counts: Counts::default(),
        })
    }

    /// Whether the token answer gives the API's address (the API is then served only there).
    pub fn gives_base_url(&self) -> bool {
        self.settings.base_url_from.is_some()
    }

    /// The API address the token answer gives.
    pub fn set_api_url(&self, url: String) {
        *self.api_url.lock() = url;
    }

    /// Whether `authorization` (`Bearer <token>`) is a live access token: `Err` with the
    /// app's error code and message otherwise.
    pub fn check_bearer(&self, authorization: Option<&str>) -> Result<(), (&'static str, String)> {
        let Some(token) = authorization.and_then(|value| value.strip_prefix("Bearer ")) else {
            return Err(("unauthorized", "Missing credentials: send an OAuth bearer token".into()));
        };
        match self.access.lock().get(token) {
            Some(access) if access.expires > Instant::now() => Ok(()),
            Some(_) => Err(("invalid_token", "The access token expired".into())),
            None => Err(("invalid_token", "The access token is not valid".into())),
        }
    }

    /// Every access token expires now (a refresh is then needed).
    pub fn expire_access_tokens(&self) -> usize {
        let past = Instant::now();
        let mut access = self.access.lock();
        for token in access.values_mut() {
            token.expires = past;
        }
        access.len()
    }

    /// The user revokes the app: every token, access and refresh, stops working.
    pub fn revoke(&self) -> usize {
        let revoked = self.access.lock().drain().count() + self.refresh.lock().drain().count();
        self.codes.lock().clear();
        revoked
    }

    pub fn counts_json(&self) -> Value {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let counts = &self.counts;
        json!({
            "authorizations": load(&counts.authorizations),
            "codesExchanged": load(&counts.codes_exchanged),
            "refreshes": load(&counts.refreshes),
            "clientCredentials": load(&counts.client_credentials),
            "refused": load(&counts.refused),
            "liveAccessTokens": self.access.lock().values().filter(|a| a.expires > Instant::now()).count(),
            "liveRefreshTokens": self.refresh.lock().len(),
        })
    }

    fn secret(&self, prefix: &str) -> String {
        ids::new_secret(&mut *self.rng.lock(), prefix, 32)
    }

    /// New tokens for `scope`: an access token, and a refresh token unless `refresh` is
    /// false (client credentials).
    fn issue(&self, scope: &str, refresh: Option<String>) -> Value {
        let access = self.secret("at_");
        self.access
            .lock()
            .insert(access.clone(), Access { expires: Instant::now() + self.lifetime });
        let mut answer = json!({
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": self.lifetime.as_secs(),
            "scope": scope,
        });
        if let Some(refresh) = refresh {
            self.refresh.lock().insert(refresh.clone(), scope.to_owned());
            answer["refresh_token"] = Value::String(refresh);
        }
        if let Some(field) = &self.settings.base_url_from {
            answer[field] = Value::String(format!("{}/", self.api_url.lock()));
        }
        answer
    }
}

/// The authorize and token endpoints, at the paths of the manifest's URLs.
pub fn routes(server: &OAuthServer) -> Router<Arc<Shared>> {
    let mut router = Router::new().route(&server.settings.token_path, post(token));
    if let Some(path) = &server.settings.authorize_path {
        router = router.route(path, get(authorize));
    }
    router
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (status, Json(json!({ "error": error, "error_description": description }))).into_response()
}

fn server(shared: &Shared) -> Option<&OAuthServer> {
    shared.rest.as_ref().and_then(|rest| rest.oauth.as_ref())
}

/// A user who approves at once: the browser is sent back to `redirect_uri` with a code and
/// the `state`. A request the app would refuse is answered with the reason, to the user.
async fn authorize(State(shared): State<Arc<Shared>>, RawQuery(query): RawQuery) -> Response {
    let Some(server) = server(&shared) else { return StatusCode::NOT_FOUND.into_response() };
    let query: HashMap<String, String> =
        url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()).into_owned().collect();
    let get = |name: &str| query.get(name).map(String::as_str).unwrap_or_default();
    let refuse = |description: &str| {
        server.counts.refused.fetch_add(1, Ordering::Relaxed);
        oauth_error(StatusCode::BAD_REQUEST, "invalid_request", description)
    };
    if get("response_type") != "code" {
        return refuse("response_type must be code");
    }
    if get("client_id") != server.client_id {
        return refuse("unknown client_id");
    }
    let Ok(mut redirect) = url::Url::parse(get("redirect_uri")) else {
        return refuse("redirect_uri is not a URL");
    };
    let challenge = match (server.settings.pkce, get("code_challenge")) {
        (true, "") => return refuse("this app requires PKCE: send code_challenge"),
        (true, _) if get("code_challenge_method") != "S256" => {
            return refuse("code_challenge_method must be S256")
        }
        (true, challenge) => Some(challenge.to_owned()),
        (false, _) => None,
    };
    let code = server.secret("code_");
    server.codes.lock().insert(
        code.clone(),
        Code {
            redirect_uri: get("redirect_uri").to_owned(),
            scope: get("scope").to_owned(),
            challenge,
            issued: Instant::now(),
        },
    );
    server.counts.authorizations.fetch_add(1, Ordering::Relaxed);
    redirect.query_pairs_mut().append_pair("code", &code).append_pair("state", get("state"));
    Redirect::to(redirect.as_str()).into_response()
}

/// The client as the request proves it: in a Basic header (`basic_header`, and then not in
/// the body) or in the body.
fn client_proved(
    server: &OAuthServer,
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> Result<(), Box<Response>> {
    let refused = |description: &str| {
        server.counts.refused.fetch_add(1, Ordering::Relaxed);
        Err(Box::new(oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", description)))
    };
    let (id, secret) = match server.settings.client_auth {
        ClientAuth::BasicHeader => {
            if form.contains_key("client_secret") {
                return refused("send the client secret in the Authorization header, not the body");
            }
            let basic = headers
                .get(header::AUTHORIZATION)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.strip_prefix("Basic "))
                .and_then(|encoded| STANDARD.decode(encoded).ok())
                .and_then(|decoded| String::from_utf8(decoded).ok());
            let Some((id, secret)) = basic.as_deref().and_then(|pair| pair.split_once(':')) else {
                return refused(
                    "this app takes the client id and secret in a Basic Authorization header",
                );
            };
            (id.to_owned(), secret.to_owned())
        }
        ClientAuth::Body => (
            form.get("client_id").cloned().unwrap_or_default(),
            form.get("client_secret").cloned().unwrap_or_default(),
        ),
    };
    if id != server.client_id || secret != server.client_secret {
        return refused("client authentication failed: the client id or secret is wrong");
    }
    Ok(())
}

async fn token(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let Some(server) = server(&shared) else { return StatusCode::NOT_FOUND.into_response() };
    crate::gate::guarded(&shared, "oauth-token", async {
        if let Err(refused) = client_proved(server, &headers, &form) {
            return *refused;
        }
        let get = |name: &str| form.get(name).map(String::as_str).unwrap_or_default();
        let invalid_grant = |description: &str| {
            server.counts.refused.fetch_add(1, Ordering::Relaxed);
            oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", description)
        };
        let answer = match (get("grant_type"), &server.settings.authorize_path) {
            ("authorization_code", Some(_)) => {
                let Some(code) = server.codes.lock().remove(get("code")) else {
                    return invalid_grant("the code is not valid (or was used already)");
                };
                if code.issued.elapsed() > CODE_LIFETIME {
                    return invalid_grant("the code expired");
                }
                if code.redirect_uri != get("redirect_uri") {
                    return invalid_grant("redirect_uri is not the one the code was issued to");
                }
                if let Some(challenge) = &code.challenge {
                    let verifier = get("code_verifier");
                    let computed =
                        URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()));
                    if verifier.is_empty() || computed != *challenge {
                        return invalid_grant(
                            "the PKCE code_verifier does not match the code_challenge",
                        );
                    }
                }
                server.counts.codes_exchanged.fetch_add(1, Ordering::Relaxed);
                let refresh = server.secret("rt_");
                server.issue(&code.scope, Some(refresh))
            }
            ("refresh_token", Some(_)) => {
                let presented = get("refresh_token").to_owned();
                let scope = if server.settings.rotating {
                    server.refresh.lock().remove(&presented)
                } else {
                    server.refresh.lock().get(&presented).cloned()
                };
                let Some(scope) = scope else {
                    return invalid_grant(
                        "the refresh token is not valid (expired, revoked or used already)",
                    );
                };
                server.counts.refreshes.fetch_add(1, Ordering::Relaxed);
                let next = if server.settings.rotating { server.secret("rt_") } else { presented };
                server.issue(&scope, Some(next))
            }
            ("client_credentials", None) => {
                server.counts.client_credentials.fetch_add(1, Ordering::Relaxed);
                server.issue(get("scope"), None)
            }
            (other, _) => {
                server.counts.refused.fetch_add(1, Ordering::Relaxed);
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "unsupported_grant_type",
                    &format!("this app does not take grant_type `{other}`"),
                );
            }
        };
        shared.stats.lock().effect("oauth-token");
        (StatusCode::OK, [(header::CACHE_CONTROL, "no-store")], Json(answer)).into_response()
    })
    .await
}
