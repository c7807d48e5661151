//! The HTTP side's one error and its one mapping to an answer: every 4xx and 5xx is JSON
//! `{"error": "..."}`. A client error names the problem; a server error is opaque to the caller
//! and logged in full. The middleware and the fallback here make the framework's own refusals
//! (extractor rejections, 404, 405) answer the same way.

use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use ghl_service::ServiceError;
use ghl_types::Remedy;
use serde::Serialize;

/// What went wrong with a request, by what the caller should do about it.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request is malformed; the message says where.
    #[error("{0}")]
    Invalid(String),
    /// 401: no or wrong credentials (admin token, webhook signature).
    #[error("{0}")]
    Unauthorized(String),
    /// 401: a webhook its app's verifier refused, and what to do about it where that is known.
    #[error("{reason}")]
    WebhookRefused { reason: String, remedy: Option<Remedy> },
    /// 404: no such run, flow, connection, app or route.
    #[error("{0}")]
    NotFound(String),
    /// 409: the thing is not in a state that allows this.
    #[error("{0}")]
    Conflict(String),
    /// 413: the body is over the limit named.
    #[error("{0}")]
    TooLarge(String),
    /// 415: the body is not of the media type asked for.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 422: well-formed, but it cannot be done (a flow that does not load, a missing
    /// connection), and what to do about it where that is known.
    #[error("{message}")]
    Unprocessable { message: String, remedy: Option<Remedy> },
    /// 429: busy; the same request later will do.
    #[error("{0}")]
    Busy(String),
    /// Another client error, with the status the framework chose (405, ...).
    #[error("{message}")]
    Refused { status: StatusCode, message: String },
    /// 500: this side failed; the caller is told only to look at the log.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// The body of every error answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// What is wrong, in words.
    pub error: String,
    /// What to do about it, as data (`{"action": "reconnect", ...}`), where it is known.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub remedy: Option<Remedy>,
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Invalid(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) | Self::WebhookRefused { .. } => StatusCode::UNAUTHORIZED,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Busy(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::Refused { status, .. } => *status,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// 422 for a request that cannot be done, with the remedy the error knows.
    pub fn unprocessable(message: impl ToString, remedy: Option<Remedy>) -> Self {
        Self::Unprocessable { message: message.to_string(), remedy }
    }

    pub fn internal(err: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Internal(Box::new(err))
    }
}

impl From<ghl_store::Error> for ApiError {
    fn from(err: ghl_store::Error) -> Self {
        Self::internal(err)
    }
}

/// The one mapping of a use case's error to an answer: what is not there is a 404, a run that
/// cannot be replayed or an app id taken a 409, a flow file or manifest refused a 400, what cannot be done a 422 with its
/// remedy, and a store failure a 500.
impl From<ServiceError> for ApiError {
    fn from(err: ServiceError) -> Self {
        match err {
            ServiceError::NoFlow(_)
            | ServiceError::NoConnection(_)
            | ServiceError::NoRun(_)
            | ServiceError::NoAddedApp(_)
            | ServiceError::NoTemplate { .. }
            | ServiceError::NoUser(_)
            | ServiceError::NoTrigger(_)
            | ServiceError::NoStep { .. } => Self::NotFound(err.to_string()),
            ServiceError::WrongSignIn | ServiceError::SignInHeld { .. } => {
                Self::Unauthorized(err.to_string())
            }
            ServiceError::NotReplayable(_)
            | ServiceError::UserExists(_)
            | ServiceError::AppIdTaken(_)
            | ServiceError::AppInUse { .. } => Self::Conflict(err.to_string()),
            ServiceError::InvalidFlow(_)
            | ServiceError::InvalidManifest(_)
            | ServiceError::BadUser(_) => Self::Invalid(err.to_string()),
            ServiceError::Store(err) => Self::internal(err),
            err @ ServiceError::PasswordHash(_) => Self::internal(err),
            err => {
                let remedy = err.remedy();
                Self::unprocessable(&err, remedy)
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = match &self {
            Self::Internal(source) => {
                tracing::error!(error = %source, "internal error");
                "internal error; see the server log".to_owned()
            }
            client => client.to_string(),
        };
        let remedy = match self {
            Self::Unprocessable { remedy, .. } | Self::WebhookRefused { remedy, .. } => remedy,
            _ => None,
        };
        (status, Json(ErrorBody { error: message, remedy })).into_response()
    }
}

/// The fallback: no route answers this method and path.
pub(crate) async fn no_route(request: Request) -> ApiError {
    ApiError::NotFound(format!(
        "no route {} {} (see /openapi.json)",
        request.method(),
        request.uri().path()
    ))
}

/// Whether an answer is a page (the UI's, whose errors are pages too).
fn is_html(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("text/html"))
}

/// Every client error is JSON naming the problem (the UI's pages aside), whoever produced it: a handler, an extractor
/// (a bad query string, a body that is not UTF-8) or the router (a wrong method).
pub(crate) async fn json_client_errors(request: Request, next: Next) -> Response {
    let (method, path) = (request.method().clone(), request.uri().path().to_owned());
    let response = next.run(request).await;
    let status = response.status();
    if !status.is_client_error()
        || crate::ingress::is_json(response.headers())
        || is_html(response.headers())
    {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 64 * 1024)
        .await
        .map(|bytes| String::from_utf8_lossy(&bytes).trim().to_owned())
        .unwrap_or_default();
    let message = match (status, text.is_empty()) {
        (StatusCode::METHOD_NOT_ALLOWED, _) => {
            let allowed = parts.headers.get(axum::http::header::ALLOW);
            let allowed = allowed.and_then(|value| value.to_str().ok()).unwrap_or("none");
            format!("{method} is not allowed on {path} (allowed: {allowed})")
        }
        (_, false) => text,
        (_, true) => {
            format!("{method} {path}: {}", status.canonical_reason().unwrap_or("refused"))
        }
    };
    let mut answer = ApiError::Refused { status, message }.into_response();
    for name in [axum::http::header::ALLOW, axum::http::header::RETRY_AFTER] {
        if let Some(value) = parts.headers.get(&name) {
            answer.headers_mut().insert(name, value.clone());
        }
    }
    answer
}
