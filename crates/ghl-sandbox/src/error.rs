//! The sandbox's errors, answered with HighLevel's status codes and bodies
//! (common-schemas.json and the reported messages in NOTES.md).

use axum::http::{header, HeaderValue, StatusCode};
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
