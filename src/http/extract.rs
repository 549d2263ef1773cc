//! Extractors that answer bad input in the API's error format, naming the field.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use serde_json::Value;

use crate::error::{AppError, ErrorCode};
use crate::protocol::payloads::{parse, Payload};

/// A JSON body parsed into a typed payload, with the same validation as the socket events.
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: Payload> FromRequest<S> for Body<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let axum::Json(value) = axum::Json::<Value>::from_request(req, state)
            .await
            .map_err(json_rejection)?;
        parse(value).map(Body)
    }
}

/// The raw JSON body, for routes that adjust it before parsing.
pub struct JsonValue(pub Value);

impl<S: Send + Sync> FromRequest<S> for JsonValue {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let axum::Json(value) = axum::Json::<Value>::from_request(req, state)
            .await
            .map_err(json_rejection)?;
        Ok(JsonValue(value))
    }
}

pub fn json_rejection(rejection: JsonRejection) -> AppError {
    match rejection {
        JsonRejection::MissingJsonContentType(_) => AppError::new(
            ErrorCode::UnsupportedMediaType,
            "expected `Content-Type: application/json`",
        ),
        JsonRejection::BytesRejection(e) if e.status().as_u16() == 413 => {
            AppError::new(ErrorCode::PayloadTooLarge, "the request body is too large")
        }
        other => AppError::invalid(format!("the body is not valid JSON: {}", other.body_text())),
    }
}

/// The ids of a path (`{id}`, `{doc_id}`), each a positive integer.
pub struct Ids<const N: usize>(pub [i64; N]);

impl<S: Send + Sync, const N: usize> FromRequestParts<S> for Ids<N> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(raw): Path<Vec<(String, String)>> =
            Path::from_request_parts(parts, state)
                .await
                .map_err(|e| AppError::invalid(e.body_text()))?;
        if raw.len() != N {
            return Err(AppError::internal("route and extractor disagree on ids"));
        }
        let mut ids = [0; N];
        for (slot, (name, value)) in ids.iter_mut().zip(raw) {
            *slot = value
                .parse::<i64>()
                .ok()
                .filter(|id| *id > 0)
                .ok_or_else(|| AppError::invalid(format!("`{name}` must be a positive integer")))?;
        }
        Ok(Ids(ids))
    }
}

/// A query string parsed into `T`; a bad one is `invalid_payload` in the API's error format.
pub struct QueryParams<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequestParts<S> for QueryParams<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Query(params) = axum::extract::Query::from_request_parts(parts, state)
            .await
            .map_err(|e| AppError::invalid(e.body_text()))?;
        Ok(QueryParams(params))
    }
}
