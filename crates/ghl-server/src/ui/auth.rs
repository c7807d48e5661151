//! Who is asking, for the UI: the session cookie (`ghl_session`: `HttpOnly; SameSite=Lax;
//! Path=/`, holding the token whose hash the store keeps) turned into a live session or a
//! redirect to sign-in (`SignedIn`); a posted form checked against the session's CSRF token
//! before it is read (`Posted`, 403 without it); and the same for the REST API, where the
//! token comes in the `x-csrf-token` header (`api_session`).

use std::sync::Arc;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use ghl_service::sessions::Session;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::{error_page, internal};
use crate::state::AppState;

/// The session cookie's name.
pub(crate) const SESSION_COOKIE: &str = "ghl_session";
/// The header the UI's scripts send the session's CSRF token in, on `/api` calls.
pub(crate) const CSRF_HEADER: &str = "x-csrf-token";
/// The largest form a UI page posts.
const FORM_LIMIT: usize = 64 * 1024;

/// The value of cookie `name` in the request's `Cookie` headers.
pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim().to_owned())
        .filter(|value| !value.is_empty())
}

/// A `Set-Cookie` value: HttpOnly, SameSite as given, for `path`, living `max_age` seconds
/// (0: removed).
pub(crate) fn set_cookie(
    name: &str,
    value: &str,
    path: &str,
    same_site: &str,
    max_age: u64,
) -> String {
    format!("{name}={value}; HttpOnly; SameSite={same_site}; Path={path}; Max-Age={max_age}")
}

/// A signed-in request's live session; without one, the browser is sent to sign-in.
pub(crate) struct SignedIn(pub(crate) Session);

impl FromRequestParts<Arc<AppState>> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let Some(token) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Err(Redirect::to("/ui/sign-in").into_response());
        };
        match state.service.sessions().find(&token).await {
            Ok(Some(session)) => Ok(Self(session)),
            Ok(None) => Err(Redirect::to("/ui/sign-in").into_response()),
            Err(err) => Err(internal(&err)),
        }
    }
}

/// The hidden field every UI form carries.
#[derive(Deserialize)]
struct CsrfField {
    csrf: Option<String>,
}

/// A form posted by a signed-in page, read only once its `csrf` field is the session's CSRF
/// token: 403 otherwise, and nothing is done.
pub(crate) struct Posted<T> {
    pub(crate) session: Session,
    pub(crate) form: T,
}

impl<T: DeserializeOwned> FromRequest<Arc<AppState>> for Posted<T> {
    type Rejection = Response;

    async fn from_request(request: Request, state: &Arc<AppState>) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let SignedIn(session) = SignedIn::from_request_parts(&mut parts, state).await?;
        let bytes = axum::body::to_bytes(body, FORM_LIMIT).await.map_err(|_| {
            let message = format!("The form is larger than {} KiB.", FORM_LIMIT / 1024);
            error_page(StatusCode::PAYLOAD_TOO_LARGE, "Form too large", &message)
        })?;
        let given = serde_urlencoded::from_bytes::<CsrfField>(&bytes).ok().and_then(|f| f.csrf);
        if !given.is_some_and(|given| session.csrf_matches(&given)) {
            return Err(csrf_refused());
        }
        let form = serde_urlencoded::from_bytes::<T>(&bytes).map_err(|err| {
            let message = format!("The form could not be read: {err}.");
            error_page(StatusCode::BAD_REQUEST, "Form not understood", &message)
        })?;
        Ok(Self { session, form })
    }
}

/// A form with nothing but its CSRF token (a button).
#[derive(Deserialize)]
pub(crate) struct NoFields {}

/// The answer to a form without the right CSRF token.
pub(crate) fn csrf_refused() -> Response {
    error_page(
        StatusCode::FORBIDDEN,
        "Form refused",
        "The form did not carry this session's security token (it may come from another \
         site, or from a page older than your sign-in). Nothing was changed: reload the page \
         and try again.",
    )
}

/// The session of an `/api` request from the UI's scripts: the session cookie, and for a
/// request that may change something (not GET or HEAD) the session's CSRF token in
/// `x-csrf-token`; `None` when either is missing or wrong. A read needs no token (the browser
/// lets no other site read the answer), so the live run stream works as an `EventSource`,
/// which cannot send headers.
pub(crate) async fn api_session(
    state: &AppState,
    method: &Method,
    headers: &HeaderMap,
) -> Option<Session> {
    let token = cookie(headers, SESSION_COOKIE)?;
    let session = match state.service.sessions().find(&token).await {
        Ok(session) => session?,
        Err(err) => {
            tracing::warn!(error = %err, "cannot read a UI session");
            return None;
        }
    };
    if method == Method::GET || method == Method::HEAD {
        return Some(session);
    }
    let given = headers.get(CSRF_HEADER).and_then(|value| value.to_str().ok())?;
    session.csrf_matches(given).then_some(session)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cookie_is_found_among_others_by_its_exact_name() {
        let mut headers = HeaderMap::new();
        let value = "a=1; ghl_session_x=2; ghl_session=tok-en";
        headers.insert(header::COOKIE, value.parse().expect("a header value"));
        assert_eq!(cookie(&headers, "ghl_session").as_deref(), Some("tok-en"));
        assert_eq!(cookie(&headers, "a").as_deref(), Some("1"));
        assert_eq!(cookie(&headers, "b"), None);
    }
}
