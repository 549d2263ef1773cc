//! The caller of an HTTP request, from `Authorization: Bearer …`.

use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::{AuthError, Authenticator, Caller};
use crate::error::{AppError, ErrorCode};

/// Extracts the `Caller`; in `jwt` mode a missing or bad token is `401`.
pub struct ApiCaller(pub Caller);

impl<S> FromRequestParts<S> for ApiCaller
where
    Arc<Authenticator>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let auth = Arc::<Authenticator>::from_ref(state);
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let token = header.and_then(|h| {
            h.strip_prefix("Bearer ")
                .or_else(|| h.strip_prefix("bearer "))
        });
        auth.caller(token).map(ApiCaller).map_err(|e| {
            let message = match e {
                AuthError::Missing => "send `Authorization: Bearer <token>`",
                AuthError::Invalid(_) => "the token is invalid or expired",
            };
            AppError::new(ErrorCode::Unauthorized, message)
        })
    }
}
