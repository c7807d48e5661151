//! Sign-in and sign-out. Before there is a session the form is protected by a double-submit
//! token: the GET sets it in a cookie (`ghl_sign_in`, `SameSite=Strict`, only for this path)
//! and in a hidden field, and the POST is refused (403) unless both are there and equal. A
//! wrong name or password answers 401 with the form again and stores nothing. A one-time
//! sign-in link (`demo` prints one) signs in once, with no form.

use std::sync::Arc;

use axum::extract::{Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{AppendHeaders, IntoResponse, Redirect, Response};
use ghl_client::Secret;
use ghl_service::sessions::{new_token, same_secret, SignedIn, ABSOLUTE};
use ghl_service::ServiceError;
use maud::html;
use serde::Deserialize;

use super::auth::{cookie, csrf_refused, set_cookie, NoFields, Posted, SESSION_COOKIE};
use super::{error_page, internal, page, Nav};
use crate::state::AppState;

/// The cookie holding the sign-in form's double-submit token.
const SIGN_IN_COOKIE: &str = "ghl_sign_in";
const SIGN_IN_PATH: &str = "/ui/sign-in";
/// How long a sign-in form may wait before it is posted.
const FORM_LIFETIME_SECS: u64 = 3600;

/// `GET /ui/sign-in`: the form (or the dashboard, for a browser that is signed in).
pub(crate) async fn form(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Some(token) = cookie(&headers, SESSION_COOKIE) {
        if let Ok(Some(_)) = state.service.sessions().find(&token).await {
            return Redirect::to("/ui").into_response();
        }
    }
    fresh_form(StatusCode::OK, None)
}

/// The sign-in form with a new double-submit token (in its cookie and its field).
fn fresh_form(status: StatusCode, refused: Option<&str>) -> Response {
    let token = new_token();
    let set = set_cookie(SIGN_IN_COOKIE, &token, SIGN_IN_PATH, "Strict", FORM_LIFETIME_SECS);
    (status, [(header::SET_COOKIE, set)], sign_in_page(&token, "", refused)).into_response()
}

/// The session's cookie, and the dashboard.
fn signed_in(signed_in: &SignedIn) -> Response {
    let token = signed_in.token.expose();
    let session = set_cookie(SESSION_COOKIE, token, "/", "Lax", ABSOLUTE.as_secs());
    let spent = set_cookie(SIGN_IN_COOKIE, "", SIGN_IN_PATH, "Strict", 0);
    // Appended: an array of headers would keep only the last `Set-Cookie`.
    let headers = AppendHeaders([(header::SET_COOKIE, session), (header::SET_COOKIE, spent)]);
    (headers, Redirect::to("/ui")).into_response()
}

#[derive(Deserialize)]
pub(crate) struct LinkQuery {
    #[serde(default)]
    token: String,
}

/// `GET /ui/sign-in/link?token=`: a one-time sign-in link. It signs in once; used again, or
/// late, it answers the form saying so (401).
pub(crate) async fn link(
    State(state): State<Arc<AppState>>,
    Query(query): Query<LinkQuery>,
) -> Response {
    match state.service.sessions().redeem_link(&query.token).await {
        Ok(session) => signed_in(&session),
        Err(ServiceError::WrongSignIn) => {
            let refused = "This sign-in link was used already or has expired: sign in with \
                           your name and password.";
            fresh_form(StatusCode::UNAUTHORIZED, Some(refused))
        }
        Err(err) => internal(&err),
    }
}

fn sign_in_page(token: &str, name: &str, refused: Option<&str>) -> maud::Markup {
    let body = html! {
        section.narrow {
            h1 { "Sign in" }
            @if let Some(refused) = refused {
                p.notice.failed role="alert" #sign-in-error { (refused) }
            }
            form method="post" action=(SIGN_IN_PATH) {
                input type="hidden" name="csrf" value=(token);
                label for="name" { "Name" }
                input #name type="text" name="name" value=(name) autocomplete="username"
                    required autofocus;
                label for="password" { "Password" }
                input #password type="password" name="password"
                    autocomplete="current-password" required;
                button type="submit" { "Sign in" }
            }
            p.hint { "Users are added with " code { "ghl-connector users add NAME" } "." }
        }
    };
    page("Sign in", None, Nav::None, body)
}

#[derive(Deserialize)]
pub(crate) struct SignInForm {
    csrf: Option<String>,
    name: String,
    password: String,
}

/// `POST /ui/sign-in`: the double-submit token first (403), then the name and password
/// (401, nothing stored); a session cookie and the dashboard when they are right.
pub(crate) async fn submit(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 16 * 1024).await else {
        return error_page(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Form too large",
            "The form is too large.",
        );
    };
    let expected = cookie(&parts.headers, SIGN_IN_COOKIE);
    let form = serde_urlencoded::from_bytes::<SignInForm>(&bytes);
    let given = form.as_ref().ok().and_then(|form| form.csrf.clone());
    let (Some(expected), Some(given)) = (expected, given) else {
        return csrf_refused();
    };
    if !same_secret(&expected, &given) {
        return csrf_refused();
    }
    let Ok(form) = form else {
        let message = "The form needs a name and a password.";
        return error_page(StatusCode::BAD_REQUEST, "Form not understood", message);
    };
    let password = Secret::new(form.password);
    match state.service.sessions().sign_in(&form.name, &password).await {
        Ok(session) => signed_in(&session),
        Err(ServiceError::WrongSignIn) => {
            tracing::info!(user = %form.name, "a sign-in was refused");
            let refused = "Wrong name or password.";
            let page = sign_in_page(&expected, &form.name, Some(refused));
            (StatusCode::UNAUTHORIZED, page).into_response()
        }
        Err(err @ ServiceError::SignInHeld { .. }) => {
            tracing::warn!(user = %form.name, "a sign-in was held after too many wrong ones");
            let page = sign_in_page(&expected, &form.name, Some(&err.to_string()));
            (StatusCode::TOO_MANY_REQUESTS, page).into_response()
        }
        Err(err) => internal(&err),
    }
}

/// `POST /ui/sign-out`: ends the session (its CSRF token required) and forgets the cookie.
pub(crate) async fn sign_out(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    _: Posted<NoFields>,
) -> Response {
    if let Some(token) = cookie(&headers, SESSION_COOKIE) {
        if let Err(err) = state.service.sessions().sign_out(&token).await {
            return internal(&err);
        }
    }
    let forget = set_cookie(SESSION_COOKIE, "", "/", "Lax", 0);
    ([(header::SET_COOKIE, forget)], Redirect::to(SIGN_IN_PATH)).into_response()
}
