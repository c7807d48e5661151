//! The runtime's errors, by what the caller should do about them. Every variant names the
//! app and the operation (and the field, where one is at fault); the kinds an app's answer
//! can mean follow `ghl_apps::error_rules::ErrorMeaning`, with the app's own message kept.

use std::time::SystemTime;

use ghl_client::Wait;

/// What went wrong with a call of a manifest app.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The manifest has no such operation.
    #[error("{app}: no operation `{operation}` in its manifest")]
    UnknownOperation { app: String, operation: String },
    /// The step's input does not fit the operation; nothing was sent.
    #[error("{app}.{operation}: {field}: {problem}")]
    Input { app: String, operation: String, field: String, problem: String },
    /// The connection cannot be used as it is (a credential missing, a secret unreadable).
    #[error("{app}: the connection {problem}; connect the app again")]
    Connection { app: String, problem: String },
    /// The record is not there.
    #[error("{app}.{operation}: not found ({status}): {message}")]
    NotFound { app: String, operation: String, status: u16, message: String },
    /// The record already exists; `existing_id` is the one it collides with, if the app said.
    #[error("{app}.{operation}: already exists{} ({status}): {message}", existing_id.as_ref().map(|id| format!(" as {id}")).unwrap_or_default())]
    Duplicate {
        app: String,
        operation: String,
        status: u16,
        existing_id: Option<String>,
        message: String,
    },
    /// The app refused the request as invalid; sending it again as it is cannot help.
    #[error("{app}.{operation}: refused as invalid ({status}): {message}")]
    Invalid { app: String, operation: String, status: u16, message: String },
    /// The credentials are bad or expired: the connection must be made again.
    #[error("{app}.{operation}: the app refuses the connection's credentials: {message}; reconnect {app}")]
    Reconnect { app: String, operation: String, status: Option<u16>, message: String },
    /// The credentials are good but may not do this.
    #[error("{app}.{operation}: forbidden ({status}): {message}; give the connection the rights it needs")]
    Forbidden { app: String, operation: String, status: u16, message: String },
    /// The destination is gone for good (an archived channel, a removed webhook).
    #[error("{app}.{operation}: the destination is gone ({status}): {message}")]
    Gone { app: String, operation: String, status: u16, message: String },
    /// Still limited when the call's retries ran out: come back after `wait`.
    #[error("{app}.{operation}: rate limited; retry after {:?}", wait.remaining(SystemTime::now()))]
    RateLimited { app: String, operation: String, wait: Wait },
    /// Transient failures (5xx, timeouts, dropped connections) outlasted the retries.
    #[error("{app}.{operation}: failed after {attempts} attempts: {message}")]
    Transient {
        app: String,
        operation: String,
        status: Option<u16>,
        attempts: u32,
        message: String,
    },
    /// A `not_repeatable` write got no clear answer: it may or may not have happened, and
    /// it is not sent again (a twin is worse than a gap). A person must look.
    #[error("{app}.{operation}: outcome unknown ({cause}); not sent again because repeating it could make a twin — check {app} and resend by hand if it did not arrive")]
    OutcomeUnknown { app: String, operation: String, status: Option<u16>, cause: String },
    /// A success answer that cannot be read as the manifest says.
    #[error("{app}.{operation}: the answer ({status}) cannot be read: {problem}")]
    Unreadable { app: String, operation: String, status: u16, problem: String },
}

impl RuntimeError {
    /// Whether the same call may succeed later without any change.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::RateLimited { .. } | Self::Transient { .. })
    }

    /// When the same call may succeed, if the app said so.
    pub fn wait(&self) -> Option<Wait> {
        match self {
            Self::RateLimited { wait, .. } => Some(*wait),
            _ => None,
        }
    }

    /// The HTTP status behind the error, where there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::NotFound { status, .. }
            | Self::Duplicate { status, .. }
            | Self::Invalid { status, .. }
            | Self::Forbidden { status, .. }
            | Self::Gone { status, .. }
            | Self::Unreadable { status, .. } => Some(*status),
            Self::Reconnect { status, .. }
            | Self::Transient { status, .. }
            | Self::OutcomeUnknown { status, .. } => *status,
            Self::RateLimited { .. } => Some(429),
            Self::UnknownOperation { .. } | Self::Input { .. } | Self::Connection { .. } => None,
        }
    }

    /// `app.operation`, as flows name it (the app alone for a connection's problem).
    pub fn names(&self) -> String {
        match self {
            Self::Connection { app, .. } => app.clone(),
            Self::UnknownOperation { app, operation }
            | Self::Input { app, operation, .. }
            | Self::NotFound { app, operation, .. }
            | Self::Duplicate { app, operation, .. }
            | Self::Invalid { app, operation, .. }
            | Self::Reconnect { app, operation, .. }
            | Self::Forbidden { app, operation, .. }
            | Self::Gone { app, operation, .. }
            | Self::RateLimited { app, operation, .. }
            | Self::Transient { app, operation, .. }
            | Self::OutcomeUnknown { app, operation, .. }
            | Self::Unreadable { app, operation, .. } => format!("{app}.{operation}"),
        }
    }
}

/// The engine's `AppClient` answers `ghl_client::Error`: the retryability, the wait, the
/// status and a message naming the app, the operation and the field are kept.
impl From<RuntimeError> for ghl_client::Error {
    fn from(error: RuntimeError) -> Self {
        use ghl_client::Error;
        let operation = error.names();
        let message = error.to_string();
        match error {
            RuntimeError::UnknownOperation { .. } | RuntimeError::Input { .. } => {
                Error::InvalidCall(message)
            }
            RuntimeError::Connection { .. } | RuntimeError::Reconnect { .. } => {
                Error::ReconnectNeeded { reason: message }
            }
            RuntimeError::NotFound { .. } => Error::NotFound { operation, message },
            RuntimeError::Invalid { status, .. } => {
                Error::Validation { operation, status, messages: vec![message] }
            }
            RuntimeError::Forbidden { .. } => Error::Forbidden { operation, message },
            RuntimeError::Duplicate { status, .. }
            | RuntimeError::Gone { status, .. }
            | RuntimeError::Unreadable { status, .. } => {
                Error::Permanent { operation, status, message }
            }
            RuntimeError::RateLimited { wait, .. } => {
                Error::RateLimited { operation, retry_after: wait.remaining(SystemTime::now()) }
            }
            RuntimeError::Transient { status, .. } => {
                Error::Transient { operation, status, message }
            }
            RuntimeError::OutcomeUnknown { status, .. } => {
                Error::OutcomeUnknown { operation, status, message }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn names() -> (String, String) {
        ("your-app".into(), "create-contact".into())
    }

    #[test]
    fn the_engines_error_keeps_retryability_wait_status_and_names() {
        let (app, operation) = names();
        let wait = Wait::For(Duration::from_secs(30));
        let limited =
            RuntimeError::RateLimited { app: app.clone(), operation: operation.clone(), wait };
        assert!(limited.is_retryable() && limited.wait() == Some(wait));
        let engine: ghl_client::Error = limited.into();
        assert!(engine.is_retryable());
        assert!(engine
            .wait()
            .is_some_and(|w| w.remaining(SystemTime::now()) <= Duration::from_secs(30)));
        assert!(
            engine.to_string().starts_with("your-app.create-contact: rate limited"),
            "{engine}"
        );

        let transient = RuntimeError::Transient {
            app: app.clone(),
            operation: operation.clone(),
            status: Some(503),
            attempts: 8,
            message: "Service unavailable".into(),
        };
        let engine: ghl_client::Error = transient.into();
        assert!(engine.is_retryable() && engine.status() == Some(503), "{engine:?}");

        let unknown = RuntimeError::OutcomeUnknown {
            app: app.clone(),
            operation: operation.clone(),
            status: None,
            cause: "the connection dropped".into(),
        };
        assert!(!unknown.is_retryable());
        let engine: ghl_client::Error = unknown.into();
        assert!(
            !engine.is_retryable() && engine.to_string().contains("outcome unknown"),
            "{engine}"
        );

        let gone = RuntimeError::Gone {
            app: app.clone(),
            operation: operation.clone(),
            status: 410,
            message: "channel_is_archived".into(),
        };
        let engine: ghl_client::Error = gone.into();
        assert_eq!(engine.status(), Some(410));
        assert!(!engine.is_retryable());

        let reconnect = RuntimeError::Reconnect {
            app,
            operation,
            status: Some(401),
            message: "bad key".into(),
        };
        let engine: ghl_client::Error = reconnect.into();
        assert!(
            matches!(&engine, ghl_client::Error::ReconnectNeeded { reason } if reason.contains("your-app.create-contact")),
            "{engine:?}"
        );
    }
}
