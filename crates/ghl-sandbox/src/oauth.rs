//! The OAuth 2.0 server (docs/oauth): the choose-location page, authorization codes, and
//! `POST /oauth/token` with the `authorization_code` and single-use `refresh_token` grants.
//! Also the access-token table every API request is checked against.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::{Form, Json};
use ghl_types::oauth::{TokenRequest, TokenResponse, UserType};
use serde::Deserialize;

use crate::clock::new_secret;
use crate::error::{ApiError, ApiResult};
use crate::Shared;

/// Every scope the sandbox knows; OAuth requests naming others are refused.
pub const KNOWN_SCOPES: &[&str] = &[
    "contacts.readonly",
    "contacts.write",
    "calendars.readonly",
    "calendars.write",
    "calendars/events.readonly",
    "calendars/events.write",
    "locations.readonly",
];

/// The app id private integration tokens are rate-limited under.
pub const PRIVATE_INTEGRATION_APP: &str = "private-integration";
const CODE_LIFETIME: Duration = Duration::from_secs(600);

/// Who a bearer token speaks for and what it may do.
#[derive(Debug, Clone)]
pub struct AccessGrant {
    pub app_id: String,
    pub location_id: String,
    pub scopes: BTreeSet<String>,
    pub expires_at: Option<Instant>,
}

#[derive(Debug, Clone)]
struct RefreshGrant {
    client_id: String,
    location_id: String,
    scopes: BTreeSet<String>,
    used: bool,
}

#[derive(Debug, Clone)]
struct CodeGrant {
    client_id: String,
    redirect_uri: String,
    location_id: String,
    scopes: BTreeSet<String>,
    expires_at: Instant,
}

#[derive(Debug, Default)]
pub struct Grants {
    access: HashMap<String, AccessGrant>,
    refresh: HashMap<String, RefreshGrant>,
    codes: HashMap<String, CodeGrant>,
    /// Counts of token grants issued, for tests of refresh behaviour.
    pub issued: HashMap<&'static str, u64>,
}

/// Why a bearer token was refused.
pub enum TokenProblem {
    Unknown,
    Expired,
}

impl Grants {
    pub fn add_access(&mut self, token: String, grant: AccessGrant) {
        self.access.insert(token, grant);
    }

    pub fn check(&self, token: &str) -> Result<&AccessGrant, TokenProblem> {
        let grant = self.access.get(token).ok_or(TokenProblem::Unknown)?;
        match grant.expires_at {
            Some(expiry) if expiry <= Instant::now() => Err(TokenProblem::Expired),
            _ => Ok(grant),
        }
    }

    /// Revokes every OAuth token of a location (as an uninstall does); returns how many.
    pub fn revoke_location(&mut self, location_id: &str) -> usize {
        let before = self.access.len() + self.refresh.len();
        self.access.retain(|_, grant| {
            grant.location_id != location_id || grant.app_id == PRIVATE_INTEGRATION_APP
        });
        self.refresh.retain(|_, grant| grant.location_id != location_id);
        before - self.access.len() - self.refresh.len()
    }

    /// Makes every OAuth access token of a location expire now (refresh tokens stay valid).
    pub fn expire_location(&mut self, location_id: &str) -> usize {
        let now = Instant::now();
        let mut expired = 0;
        for grant in self.access.values_mut() {
            if grant.location_id == location_id && grant.app_id != PRIVATE_INTEGRATION_APP {
                grant.expires_at = Some(now);
                expired += 1;
            }
        }
        expired
    }
}

pub fn parse_scopes(text: &str) -> Result<BTreeSet<String>, String> {
    let scopes: BTreeSet<String> = text.split_whitespace().map(str::to_owned).collect();
    match scopes.iter().find(|scope| !KNOWN_SCOPES.contains(&scope.as_str())) {
        Some(unknown) => Err(format!("Unknown scope: {unknown}")),
        None if scopes.is_empty() => Err("scope should not be empty".into()),
        None => Ok(scopes),
    }
}

#[derive(Debug, Deserialize)]
pub struct AuthorizeQuery {
    response_type: Option<String>,
    client_id: Option<String>,
    redirect_uri: Option<String>,
    scope: Option<String>,
    state: Option<String>,
}

/// `GET /oauth/chooselocation`: the page where a user picks a location and approves the app.
pub async fn choose_location_page(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<AuthorizeQuery>,
) -> Response {
    let checked = check_authorize(&shared, &query);
    let (client_id, redirect_uri, scopes) = match checked {
        Ok(checked) => checked,
        Err(message) => {
            return (StatusCode::BAD_REQUEST, Html(error_page(&message))).into_response()
        }
    };
    let world = shared.world.lock();
    let mut locations: Vec<_> = world.locations.values().map(|l| (&l.name, &l.id)).collect();
    locations.sort();
    let forms: String = locations
        .iter()
        .map(|(name, id)| {
            format!(
                r#"<form method="post" action="/oauth/chooselocation">
<input type="hidden" name="client_id" value="{client_id}">
<input type="hidden" name="redirect_uri" value="{redirect_uri}">
<input type="hidden" name="scope" value="{scope}">
<input type="hidden" name="state" value="{state}">
<input type="hidden" name="location_id" value="{id}">
<button type="submit">{name} ({id})</button></form>"#,
                client_id = escape(&client_id),
                redirect_uri = escape(&redirect_uri),
                scope = escape(&scopes.iter().cloned().collect::<Vec<_>>().join(" ")),
                state = escape(query.state.as_deref().unwrap_or("")),
                id = escape(id),
                name = escape(name),
            )
        })
        .collect();
    Html(format!(
        "<!doctype html><html><head><title>Choose a location - HighLevel sandbox</title></head>\
         <body><h1>Choose the location to connect</h1><p>The app asks for: {}</p>{forms}</body></html>",
        escape(&scopes.iter().cloned().collect::<Vec<_>>().join(", "))
    ))
    .into_response()
}

#[derive(Debug, Deserialize)]
pub struct ApproveForm {
    client_id: Option<String>,
    redirect_uri: Option<String>,
    scope: Option<String>,
    state: Option<String>,
    location_id: Option<String>,
}

/// `POST /oauth/chooselocation`: the user approved; redirect back with a code and the state.
pub async fn approve(State(shared): State<Arc<Shared>>, Form(form): Form<ApproveForm>) -> Response {
    let query = AuthorizeQuery {
        response_type: Some("code".into()),
        client_id: form.client_id,
        redirect_uri: form.redirect_uri,
        scope: form.scope,
        state: form.state.clone(),
    };
    let (client_id, redirect_uri, scopes) = match check_authorize(&shared, &query) {
        Ok(checked) => checked,
        Err(message) => {
            return (StatusCode::BAD_REQUEST, Html(error_page(&message))).into_response()
        }
    };
    let mut world = shared.world.lock();
    let Some(location_id) = form.location_id.filter(|id| world.locations.contains_key(id)) else {
        return (StatusCode::BAD_REQUEST, Html(error_page("Unknown location"))).into_response();
    };
    let code = new_secret(&mut world.rng, "", 40);
    world.grants.codes.insert(
        code.clone(),
        CodeGrant {
            client_id,
            redirect_uri: redirect_uri.clone(),
            location_id,
            scopes,
            expires_at: Instant::now() + CODE_LIFETIME,
        },
    );
    let mut target = match url::Url::parse(&redirect_uri) {
        Ok(url) => url,
        Err(_) => {
            return (StatusCode::BAD_REQUEST, Html(error_page("Invalid redirect_uri")))
                .into_response()
        }
    };
    target.query_pairs_mut().append_pair("code", &code);
    if let Some(state) = form.state {
        target.query_pairs_mut().append_pair("state", &state);
    }
    Redirect::to(target.as_str()).into_response()
}

fn check_authorize(
    shared: &Shared,
    query: &AuthorizeQuery,
) -> Result<(String, String, BTreeSet<String>), String> {
    if query.response_type.as_deref() != Some("code") {
        return Err("response_type must be code".into());
    }
    let client_id = query.client_id.clone().unwrap_or_default();
    if client_id != shared.oauth_client.client_id {
        return Err(format!("Unknown client_id: {client_id}"));
    }
    let redirect_uri = query.redirect_uri.clone().unwrap_or_default();
    if url::Url::parse(&redirect_uri).is_err() {
        return Err("redirect_uri must be an absolute URL".into());
    }
    let scopes = parse_scopes(query.scope.as_deref().unwrap_or(""))?;
    Ok((client_id, redirect_uri, scopes))
}

fn error_page(message: &str) -> String {
    format!(
        "<!doctype html><html><body><h1>Cannot authorize</h1><p>{}</p></body></html>",
        escape(message)
    )
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// `POST /oauth/token` (form-encoded).
pub async fn token(
    State(shared): State<Arc<Shared>>,
    body: axum::body::Bytes,
) -> ApiResult<Json<TokenResponse>> {
    let request: TokenRequest = serde_urlencoded::from_bytes(&body)
        .map_err(|err| ApiError::unprocessable(vec![format!("invalid form body: {err}")]))?;
    let client = &shared.oauth_client;
    if request.client_id != client.client_id || request.client_secret != client.client_secret {
        return Err(ApiError::unauthorized("Invalid client credentials"));
    }
    if let Some(user_type) = request.user_type.as_deref() {
        if user_type != "Location" {
            return Err(ApiError::bad_request("The sandbox issues Location tokens only"));
        }
    }
    let mut world = shared.world.lock();
    let (location_id, scopes, grant_type) = match request.grant_type.as_str() {
        "authorization_code" => {
            let code = request.code.as_deref().unwrap_or_default();
            let grant = world
                .grants
                .codes
                .remove(code)
                .filter(|grant| grant.expires_at > Instant::now() && grant.client_id == request.client_id)
                .ok_or_else(|| ApiError::unauthorized("Invalid grant: authorization code is invalid"))?;
            if let Some(redirect_uri) = request.redirect_uri.as_deref() {
                if redirect_uri != grant.redirect_uri {
                    return Err(ApiError::bad_request("redirect_uri does not match the authorization request"));
                }
            }
            (grant.location_id, grant.scopes, "authorization_code")
        }
        "refresh_token" => {
            let refresh = request.refresh_token.as_deref().unwrap_or_default();
            let grant = world
                .grants
                .refresh
                .get_mut(refresh)
                .filter(|grant| grant.client_id == request.client_id)
                .ok_or_else(|| ApiError::unauthorized("Invalid grant: refresh token is invalid"))?;
            if grant.used {
                return Err(ApiError::unauthorized("Invalid grant: refresh token has already been used"));
            }
            grant.used = true;
            let (location_id, scopes) = (grant.location_id.clone(), grant.scopes.clone());
            (location_id, scopes, "refresh_token")
        }
        other => {
            return Err(ApiError::unprocessable(vec![format!(
                "grant_type must be one of the following values: authorization_code, refresh_token (got {other})"
            )]))
        }
    };
    if !world.locations.contains_key(&location_id) {
        return Err(ApiError::bad_request("Location is not active"));
    }
    let access_token = new_secret(&mut world.rng, "sbx-at-", 40);
    let refresh_token = new_secret(&mut world.rng, "sbx-rt-", 40);
    let user_id = world.new_id();
    world.grants.add_access(
        access_token.clone(),
        AccessGrant {
            app_id: request.client_id.clone(),
            location_id: location_id.clone(),
            scopes: scopes.clone(),
            expires_at: Some(Instant::now() + shared.token_lifetime),
        },
    );
    world.grants.refresh.insert(
        refresh_token.clone(),
        RefreshGrant {
            client_id: request.client_id,
            location_id: location_id.clone(),
            scopes: scopes.clone(),
            used: false,
        },
    );
    *world.grants.issued.entry(grant_type).or_default() += 1;
    Ok(Json(TokenResponse {
        access_token,
        token_type: "Bearer".into(),
        expires_in: shared.token_lifetime.as_secs(),
        refresh_token,
        scope: scopes.into_iter().collect::<Vec<_>>().join(" "),
        user_type: UserType::Location,
        location_id: Some(location_id),
        company_id: world.company_id.clone(),
        user_id,
        is_bulk_installation: Some(false),
    }))
}
