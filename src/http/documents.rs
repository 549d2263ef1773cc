//! `/api/projects/{id}/documents`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use sea_orm::DatabaseConnection;
use serde::Deserialize;
use serde_json::json;

use super::extract::{Body, Ids};
use super::projects::require;
use crate::broadcast::Audience;
use crate::chat::ChatService;
use crate::error::AppError;
use crate::events::names;
use crate::events::payloads::Payload;
use crate::ingest::chunker::PageText;
use crate::ingest::{Ingestor, ProjectUpdate, Upload};
use crate::views::DocumentView;
use crate::{rooms, store};

#[derive(Debug, Deserialize)]
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

pub async fn upload(
    State(ingest): State<Ingestor>,
    State(db): State<DatabaseConnection>,
    Ids([project_id]): Ids<1>,
    Body(doc): Body<TextDocument>,
) -> Result<(StatusCode, Json<serde_json::Value>), AppError> {
    require(&db, project_id).await?;
    let content_type = if doc.filename.to_lowercase().ends_with(".md")
        || doc.filename.to_lowercase().ends_with(".markdown")
    {
        "text/markdown"
    } else {
        "text/plain"
    };
    let created = ingest
        .submit(Upload {
            project_id,
            filename: doc.filename.trim().to_owned(),
            content_type,
            size_bytes: doc.content.len() as i64,
            pages: vec![PageText {
                page: None,
                text: doc.content,
            }],
        })
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "id": created.id, "status": "queued" })),
    ))
}

pub async fn list(
    State(db): State<DatabaseConnection>,
    Ids([project_id]): Ids<1>,
) -> Result<Json<Vec<DocumentView>>, AppError> {
    require(&db, project_id).await?;
    let docs = store::documents::list(&db, project_id).await?;
    Ok(Json(docs.into_iter().map(Into::into).collect()))
}

pub async fn remove(
    State(chat): State<ChatService>,
    Ids([project_id, document_id]): Ids<2>,
) -> Result<StatusCode, AppError> {
    let doc = store::documents::find(chat.db(), document_id)
        .await?
        .filter(|d| d.project_id == project_id)
        .ok_or_else(|| AppError::not_found("document"))?;
    // Its chunks leave the index in the same statement (cascade + index triggers).
    store::documents::delete(chat.db(), doc.id).await?;
    chat.broadcaster().send(
        &Audience::room(rooms::project(project_id)),
        names::PROJECT_UPDATE,
        &ProjectUpdate {
            project_id,
            kind: "document_deleted".into(),
            data: json!({ "document_id": doc.id, "filename": doc.filename }),
        },
    );
    Ok(StatusCode::NO_CONTENT)
}
