//! The sandbox's errors, answered with HighLevel's status codes and bodies
//! (common-schemas.json and the reported messages in NOTES.md); `json_errors` gives the
//! framework's own refusals (unknown route, wrong method, unreadable query) the same shape.

use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use ghl_types::{ErrorBody, ErrorMessage};
use serde_json::Value;

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: ErrorMessage,
    pub meta: Option<Value>,
    pub retry_after_secs: Option<u64>,
}

impl ApiError {
    fn new(status: StatusCode, message: ErrorMessage) -> Self {
        Self { status, message, meta: None, retry_after_secs: None }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, ErrorMessage::One(message.into()))
    }

    /// HighLevel answers an unknown record id with 400, not 404.
    pub fn not_found(kind: &str, id: &str) -> Self {
        Self::bad_request(format!("{kind} with id {id} not found"))
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, ErrorMessage::One(message.into()))
    }

    pub fn invalid_token() -> Self {
        Self::unauthorized("Invalid token: access token is invalid")
    }

    pub fn missing_scope() -> Self {
        Self::unauthorized("The token is not authorized for this scope.")
    }

    pub fn other_location() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            ErrorMessage::One("The token does not have access to this location.".into()),
        )
    }

    pub fn unprocessable(messages: Vec<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, ErrorMessage::Many(messages))
    }

    pub fn too_many_requests(retry_after_secs: u64) -> Self {
        Self {
            retry_after_secs: Some(retry_after_secs),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                ErrorMessage::One("Too many requests, please try again later.".into()),
            )
        }
    }

    pub fn with_status(status: StatusCode, message: impl Into<String>) -> Self {
        Self::new(status, ErrorMessage::One(message.into()))
    }

    pub fn with_meta(mut self, meta: Value) -> Self {
        self.meta = Some(meta);
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let error = self.status.canonical_reason().map(str::to_owned);
        let body = ErrorBody {
            status_code: self.status.as_u16(),
            message: self.message,
            // HighLevel's 400s carry no `error` field; the others name the status.
            error: if self.status == StatusCode::BAD_REQUEST { None } else { error },
            meta: self.meta,
        };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(secs) = self.retry_after_secs {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// Longest refusal text of the framework kept as the message.
const MAX_REFUSAL_TEXT: usize = 16 * 1024;

/// Rewrites every error answer that is not already JSON into HighLevel's error body: an unknown
/// route or method is `Cannot GET /path` (NestJS's wording), anything else keeps its text as
/// the message. Untouched: JSON answers, the injected 502's HTML page and dropped connections.
pub async fn json_errors(request: Request, next: Next) -> Response {
    let cannot = format!("Cannot {} {}", request.method(), request.uri().path());
    let response = next.run(request).await;
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    if !(status.is_client_error() || status.is_server_error())
        || content_type.starts_with("application/json")
        || content_type.starts_with("text/html")
        || response.extensions().get::<crate::faults::DropConnection>().is_some()
    {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, MAX_REFUSAL_TEXT).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&text).trim().to_owned();
    let message = match status {
        StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED => cannot,
        _ if text.is_empty() => status.canonical_reason().unwrap_or("Error").to_owned(),
        _ => text,
    };
    let mut rewritten = ApiError::with_status(status, message).into_response();
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            rewritten.headers_mut().append(name.clone(), value.clone());
        }
    }
    rewritten
}
