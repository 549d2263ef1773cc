//! `/api/projects/{id}/documents`.

use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::header;
use axum::http::StatusCode;
use axum::Json;
use sea_orm::DatabaseConnection;
use serde::Deserialize;
use serde_json::json;

use super::extract::{Body, Ids};
use super::projects::require;
use crate::auth::ApiCaller;
use crate::error::{AppError, ErrorCode};
use crate::ingest::{Ingestor, ReceivedFile};
use crate::protocol::payloads::Payload;
use crate::store;
use crate::views::DocumentView;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct TextDocument {
    pub filename: String,
    pub content: String,
}

impl Payload for TextDocument {
    fn validate(&self) -> Result<(), String> {
        crate::ingest::check_filename(&self.filename)?;
        if self.content.trim().is_empty() {
            return Err("`content` must not be empty".into());
        }
        Ok(())
    }
}

/// `multipart/form-data` with a `file` field, or JSON `{ filename, content }`. Answers
/// `202 { id, status: "queued" }`; ingestion goes on in the background.
#[utoipa::path(post, path = "/api/projects/{id}/documents", tag = "documents", params(("id" = i64, Path)), request_body(content = TextDocument, description = "JSON, or multipart/form-data with a `file` field"), responses((status = 202, description = "`{ id, status: \"queued\" }`"), (status = 413, description = "too large"), (status = 415, description = "unsupported type"), (status = 422, description = "not what it says"), (status = 503, description = "too many documents waiting to be indexed (`busy`)")))]
pub async fn upload(
    State(ingest): State<Ingestor>,
    State(db): State<DatabaseConnection>,
    ApiCaller(caller): ApiCaller,
    Ids([project_id]): Ids<1>,
    request: Request,
) -> Result<(StatusCode, Json<serde_json::Value>), AppError> {
    caller.require_project(project_id)?;
    require(&db, project_id).await?;
    // Before the body is read: a full queue refuses the upload without holding it in memory.
    let place = ingest.reserve()?;
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let file = if content_type.starts_with("multipart/form-data") {
        let multipart = Multipart::from_request(request, &())
            .await
            .map_err(|e| AppError::invalid(e.body_text()))?;
        file_field(multipart).await?
    } else if content_type.starts_with("application/json") {
        let Body(doc) = Body::<TextDocument>::from_request(request, &()).await?;
        ReceivedFile {
            filename: doc.filename,
            declared_type: Some("text/plain".into()),
            bytes: doc.content.into_bytes(),
        }
    } else {
        return Err(AppError::new(
            ErrorCode::UnsupportedMediaType,
            "send multipart/form-data with a `file` field, or JSON { filename, content }",
        ));
    };
    let created = ingest.accept(project_id, file, place).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "id": created.id, "status": "queued" })),
    ))
}

async fn file_field(mut multipart: Multipart) -> Result<ReceivedFile, AppError> {
    let too_large_or_invalid = |e: axum::extract::multipart::MultipartError| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            AppError::new(
                ErrorCode::PayloadTooLarge,
                "the upload is larger than the limit",
            )
        } else {
            AppError::invalid(format!("malformed multipart body: {}", e.body_text()))
        }
    };
    while let Some(field) = multipart.next_field().await.map_err(too_large_or_invalid)? {
        if field.name() != Some("file") {
            continue;
        }
        let filename = field
            .file_name()
            .map(str::to_owned)
            .ok_or_else(|| AppError::invalid("the `file` field has no filename"))?;
        let declared_type = field.content_type().map(str::to_owned);
        let bytes = field.bytes().await.map_err(too_large_or_invalid)?;
        return Ok(ReceivedFile {
            filename,
            declared_type,
            bytes: bytes.to_vec(),
        });
    }
    Err(AppError::invalid("the multipart body has no `file` field"))
}

#[utoipa::path(get, path = "/api/projects/{id}/documents", tag = "documents", params(("id" = i64, Path)), responses((status = 200, body = [DocumentView])))]
pub async fn list(
    State(db): State<DatabaseConnection>,
    ApiCaller(caller): ApiCaller,
    Ids([project_id]): Ids<1>,
) -> Result<Json<Vec<DocumentView>>, AppError> {
    caller.require_project(project_id)?;
    require(&db, project_id).await?;
    let docs = store::documents::list(&db, project_id).await?;
    Ok(Json(docs.into_iter().map(Into::into).collect()))
}

#[utoipa::path(delete, path = "/api/projects/{id}/documents/{doc_id}", tag = "documents", params(("id" = i64, Path), ("doc_id" = i64, Path)), responses((status = 204, description = "deleted; its chunks leave retrieval at once")))]
pub async fn remove(
    State(ingest): State<Ingestor>,
    ApiCaller(caller): ApiCaller,
    Ids([project_id, document_id]): Ids<2>,
) -> Result<StatusCode, AppError> {
    ingest.delete(&caller, project_id, document_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
