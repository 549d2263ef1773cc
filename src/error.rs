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

/// An error fit to show a client: a code and a sentence. Internals are logged, never sent.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{code:?}: {message}")]
pub struct AppError {
    pub code: ErrorCode,
    pub message: String,
}

impl AppError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidPayload, message)
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(ErrorCode::NotFound, format!("{what} not found"))
    }

    /// Logs the cause and answers a generic message.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!("internal error: {cause}");
        Self::new(ErrorCode::Internal, "internal server error")
    }
}

impl From<sea_orm::DbErr> for AppError {
    fn from(err: sea_orm::DbErr) -> Self {
        if is_unavailable(&err) {
            tracing::error!("database unavailable: {err}");
            Self::new(
                ErrorCode::Unavailable,
                "the database is unavailable; try again in a moment",
            )
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
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: &self.message,
            },
        };
        (self.code.status(), Json(body)).into_response()
    }
}
