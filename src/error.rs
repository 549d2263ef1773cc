//! Errors as the two entry points show them: `error` events / acks on the socket side,
//! `{ "error": { code, message } }` with a status on the HTTP side. Both come from `ErrorCode`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    InvalidPayload,
    NotFound,
    Forbidden,
    Unauthorized,
    RateLimited,
    Busy,
    GenerationFailed,
    PayloadTooLarge,
    UnsupportedMediaType,
    Unprocessable,
    /// The request does not fit the resource's state (a chat whose assistant is off, a piece
    /// out of order).
    Conflict,
    Unavailable,
    Internal,
}

impl ErrorCode {
    /// The codes PROTOCOL §4 allows in `error` events: HTTP-only ones fold into `internal`
    /// (a database outage) or `invalid_payload`.
    pub fn for_events(self) -> ErrorCode {
        match self {
            // `unauthorized` is an event code since v1.1 (PROTOCOL §8: session expiry).
            ErrorCode::Unavailable => ErrorCode::Internal,
            ErrorCode::PayloadTooLarge
            | ErrorCode::UnsupportedMediaType
            | ErrorCode::Unprocessable
            | ErrorCode::Conflict => ErrorCode::InvalidPayload,
            other => other,
        }
    }

    pub fn status(self) -> StatusCode {
        match self {
            ErrorCode::InvalidPayload => StatusCode::BAD_REQUEST,
            ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::Forbidden => StatusCode::FORBIDDEN,
            ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::Busy => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::GenerationFailed => StatusCode::BAD_GATEWAY,
            ErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::Unprocessable => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::Conflict => StatusCode::CONFLICT,
            ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// What caused an error, kept for the one log line (never sent to a client).
pub type Cause = std::sync::Arc<dyn std::error::Error + Send + Sync>;

/// An error fit to show a client: a code and a sentence, and what caused it. It is logged once,
/// where it is answered (`IntoResponse` here for HTTP, the ack responder for sockets), never
/// where it is built.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{code:?}: {message}{}", self.cause.as_ref().map(|c| format!(" ({c})")).unwrap_or_default())]
pub struct AppError {
    pub code: ErrorCode,
    pub message: String,
    #[source]
    pub cause: Option<Cause>,
}

impl AppError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            cause: None,
        }
    }

    /// Whether the same request may succeed later (the database or a model is back, a slot is
    /// free); the others need another request.
    pub fn retryable(&self) -> bool {
        matches!(
            self.code,
            ErrorCode::Unavailable | ErrorCode::Busy | ErrorCode::RateLimited
        )
    }

    /// The one log line of an answered error: the server's faults as errors with their cause
    /// chain, the client's at debug.
    pub fn log(&self, answered: &str) {
        match self.code {
            ErrorCode::Internal | ErrorCode::Unavailable => {
                let mut chain = String::new();
                let mut cause: Option<&(dyn std::error::Error + 'static)> = self
                    .cause
                    .as_deref()
                    .map(|c| c as &(dyn std::error::Error + 'static));
                while let Some(c) = cause {
                    chain.push_str(": ");
                    chain.push_str(&c.to_string());
                    cause = c.source();
                }
                tracing::error!(code = ?self.code, retryable = self.retryable(), "{answered}: {}{chain}", self.message);
            }
            _ => tracing::debug!(code = ?self.code, "{answered}: {}", self.message),
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidPayload, message)
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(ErrorCode::NotFound, format!("{what} not found"))
    }

    /// A fault of the server: a generic message for the client, the cause kept for the log.
    pub fn internal(cause: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::new(ErrorCode::Internal, "internal server error").caused_by(cause)
    }

    pub fn caused_by(mut self, cause: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        self.cause = Some(Cause::from(cause.into()));
        self
    }
}

impl From<sea_orm::DbErr> for AppError {
    fn from(err: sea_orm::DbErr) -> Self {
        if is_unavailable(&err) {
            Self::new(
                ErrorCode::Unavailable,
                "the database is unavailable; try again in a moment",
            )
            .caused_by(err)
        } else {
            Self::internal(err)
        }
    }
}

/// A lost or refused database connection (retrying later helps), as opposed to a bad query.
pub fn is_unavailable(err: &sea_orm::DbErr) -> bool {
    use sea_orm::sqlx::Error as SqlxError;
    use sea_orm::{DbErr, RuntimeErr};
    match err {
        DbErr::Conn(_) | DbErr::ConnectionAcquire(_) => true,
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
            matches!(
                e,
                SqlxError::Io(_)
                    | SqlxError::PoolTimedOut
                    | SqlxError::PoolClosed
                    | SqlxError::Protocol(_)
                    | SqlxError::WorkerCrashed
            ) || e
                .as_database_error()
                .and_then(|d| d.code())
                // PostgreSQL: 08xxx connection exceptions, 57Pxx shutdown/terminated.
                .is_some_and(|code| code.starts_with("08") || code.starts_with("57P"))
        }
        _ => false,
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

#[derive(Serialize)]
pub struct ErrorDetail<'a> {
    pub code: ErrorCode,
    pub message: &'a str,
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        self.log("HTTP request answered");
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: &self.message,
            },
        };
        (self.code.status(), Json(body)).into_response()
    }
}
