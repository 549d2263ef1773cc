//! Document ingestion: a document is stored `queued`, then a background worker extracts its
//! text, chunks it and indexes it, emitting `document_status` into the project room at each step.
//! A bounded number of workers run at once, so a burst of uploads never starves socket traffic.

pub mod chunker;
pub mod detect;
pub mod pdf;
mod queue;

pub use queue::{QueuePlace, UploadQueue};

use std::sync::Arc;

use entities::document;
use sea_orm::DatabaseConnection;
use serde::Serialize;
use tokio::sync::Semaphore;

use crate::broadcast::{Audience, Broadcaster};
use crate::error::AppError;
use crate::events::names;
use crate::rooms;
use crate::store::documents::{self, NewChunk, NewDocument};
use chunker::{chunk_pages, ChunkSettings, PageText};

/// Chunks stored per statement; progress is reported after each batch.
const BATCH: usize = 50;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DocumentStatus {
    Queued,
    Processing,
    Completed,
    Failed,
}

impl DocumentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DocumentStatus::Queued => "queued",
            DocumentStatus::Processing => "processing",
            DocumentStatus::Completed => "completed",
            DocumentStatus::Failed => "failed",
        }
    }
}

/// The `document_status` event.
#[derive(Debug, Clone, Serialize)]
pub struct DocumentStatusEvent {
    pub project_id: i64,
    pub document_id: i64,
    pub filename: String,
    pub status: DocumentStatus,
    pub progress: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The `project_update` event.
#[derive(Debug, Clone, Serialize)]
pub struct ProjectUpdate {
    pub project_id: i64,
    #[serde(rename = "type")]
    pub kind: String,
    pub data: serde_json::Value,
}

/// A document's content, already told apart by kind.
pub enum Content {
    Text(String),
    /// Parsed at upload (so a broken file is refused at once); text is extracted by the worker.
    Pdf(Box<lopdf::Document>),
}

pub struct Upload {
    pub project_id: i64,
    pub filename: String,
    pub content_type: &'static str,
    pub size_bytes: i64,
    pub content: Content,
}

#[derive(Clone)]
pub struct Ingestor {
    db: DatabaseConnection,
    broadcaster: Broadcaster,
    workers: Arc<Semaphore>,
    queue: UploadQueue,
    chunking: ChunkSettings,
}

impl Ingestor {
    pub fn new(
        db: DatabaseConnection,
        broadcaster: Broadcaster,
        workers: usize,
        queue: usize,
        chunking: ChunkSettings,
    ) -> Self {
        Self {
            db,
            broadcaster,
            workers: Arc::new(Semaphore::new(workers.max(1))),
            queue: UploadQueue::new(queue.max(workers).max(1)),
            chunking,
        }
    }

    /// A place for one more upload, refused (`busy`) while the queue is full.
    pub fn reserve(&self) -> Result<QueuePlace, AppError> {
        self.queue.reserve()
    }

    /// Stores the document as `queued` and ingests it in the background; its queue place is
    /// given back once it is indexed (or failed).
    pub async fn submit(
        &self,
        upload: Upload,
        place: QueuePlace,
    ) -> Result<document::Model, AppError> {
        let doc = documents::create(
            &self.db,
            NewDocument {
                project_id: upload.project_id,
                filename: &upload.filename,
                content_type: upload.content_type,
                size_bytes: upload.size_bytes,
            },
        )
        .await?;
        self.announce(&doc, DocumentStatus::Queued, 0, None);
        let this = self.clone();
        let queued = doc.clone();
        tokio::spawn(async move {
            let _place = place;
            let Ok(_worker) = this.workers.clone().acquire_owned().await else {
                return;
            };
            this.ingest(queued, upload.content).await;
        });
        Ok(doc)
    }

    #[tracing::instrument(skip_all, fields(document_id = doc.id, filename = %doc.filename))]
    async fn ingest(&self, doc: document::Model, content: Content) {
        let started = std::time::Instant::now();
        match self.index(&doc, content).await {
            Ok(chunks) => {
                metrics::histogram!("ragcast_ingestion_seconds")
                    .record(started.elapsed().as_secs_f64());
                tracing::info!(
                    chunks,
                    ms = started.elapsed().as_millis() as u64,
                    "document indexed"
                );
                self.broadcaster.send(
                    &Audience::room(rooms::project(doc.project_id)),
                    names::PROJECT_UPDATE,
                    &ProjectUpdate {
                        project_id: doc.project_id,
                        kind: "document_added".into(),
                        data: serde_json::json!({ "document_id": doc.id, "filename": doc.filename }),
                    },
                );
            }
            Err(reason) => {
                metrics::counter!("ragcast_ingestion_failures_total").increment(1);
                tracing::warn!("ingestion failed: {reason}");
                if let Err(e) = documents::delete_chunks(&self.db, doc.id).await {
                    tracing::error!("cannot remove the chunks of a failed document: {e}");
                }
                let progress = match documents::find(&self.db, doc.id).await {
                    Ok(Some(stored)) => stored.progress,
                    // Deleted while it was indexed: its deletion was announced, nothing more.
                    Ok(None) => return,
                    Err(_) => 0,
                };
                self.set(&doc, DocumentStatus::Failed, progress, Some(reason))
                    .await;
            }
        }
    }

    /// Extract → chunk → store in batches → `completed`. The error is a sentence for a person.
    async fn index(&self, doc: &document::Model, content: Content) -> Result<usize, String> {
        self.set(doc, DocumentStatus::Processing, 5, None).await;
        let pages = match content {
            Content::Text(text) => vec![PageText { page: None, text }],
            Content::Pdf(pdf) => self.extract_pdf(doc, pdf).await?,
        };
        let chunking = self.chunking;
        let chunks = tokio::task::spawn_blocking(move || chunk_pages(&pages, chunking))
            .await
            .map_err(|e| format!("chunking failed: {e}"))?;
        if chunks.is_empty() {
            return Err("the document holds no text".into());
        }
        self.set(doc, DocumentStatus::Processing, 20, None).await;

        let total = chunks.len();
        let rows: Vec<NewChunk> = chunks
            .into_iter()
            .map(|c| NewChunk {
                chunk_index: c.chunk_index,
                page: c.page,
                content: c.content,
            })
            .collect();
        for (i, batch) in rows.chunks(BATCH).enumerate() {
            documents::insert_chunks(&self.db, doc, batch)
                .await
                .map_err(|e| format!("cannot store the chunks: {e}"))?;
            let done = ((i + 1) * BATCH).min(total);
            let progress = 20 + (75 * done / total) as i32;
            if done < total {
                self.set(doc, DocumentStatus::Processing, progress, None)
                    .await;
            }
        }
        self.set(doc, DocumentStatus::Completed, 100, None).await;
        Ok(total)
    }

    /// Page by page, reporting progress from 5 to 20.
    async fn extract_pdf(
        &self,
        doc: &document::Model,
        pdf: Box<lopdf::Document>,
    ) -> Result<Vec<PageText>, String> {
        let pdf: Arc<lopdf::Document> = Arc::from(pdf);
        let total = pdf::page_count(&pdf);
        if total == 0 {
            return Err("the PDF has no pages".into());
        }
        let mut pages = Vec::with_capacity(total);
        let mut reported = 5;
        for number in 1..=total as u32 {
            let pdf = pdf.clone();
            let page = tokio::task::spawn_blocking(move || pdf::page_text(&pdf, number))
                .await
                .map_err(|e| format!("text extraction failed: {e}"))?;
            pages.push(page);
            let progress = 5 + (15 * number as usize / total) as i32;
            if progress > reported && (number as usize) < total {
                reported = progress;
                self.set(doc, DocumentStatus::Processing, progress, None)
                    .await;
            }
        }
        if pages.iter().all(|p| p.text.trim().is_empty()) {
            return Err(
                "the PDF has no extractable text (it may be scanned or image-only); upload a text PDF"
                    .into(),
            );
        }
        Ok(pages)
    }

    /// Stores the state on the row, then tells the room, so `GET` and the events agree.
    async fn set(
        &self,
        doc: &document::Model,
        status: DocumentStatus,
        progress: i32,
        error: Option<String>,
    ) {
        if let Err(e) = documents::set_status(
            &self.db,
            doc.id,
            status.as_str(),
            progress,
            error.as_deref(),
        )
        .await
        {
            tracing::error!(
                document_id = doc.id,
                "cannot store the document status: {e}"
            );
        }
        self.announce(doc, status, progress, error);
    }

    fn announce(
        &self,
        doc: &document::Model,
        status: DocumentStatus,
        progress: i32,
        error: Option<String>,
    ) {
        self.broadcaster.send(
            &Audience::room(rooms::project(doc.project_id)),
            names::DOCUMENT_STATUS,
            &DocumentStatusEvent {
                project_id: doc.project_id,
                document_id: doc.id,
                filename: doc.filename.clone(),
                status,
                progress,
                error,
            },
        );
    }
}

/// A filename is stored and shown as given, so it must be a plain name: no path, no control
/// characters.
pub fn check_filename(name: &str) -> Result<(), String> {
    let trimmed = name.trim();
    if trimmed.is_empty() || trimmed.chars().count() > 255 {
        return Err("`filename` must be 1 to 255 characters".into());
    }
    if trimmed.contains(['/', '\\']) || trimmed == "." || trimmed == ".." {
        return Err("`filename` must be a plain name, without a path".into());
    }
    if trimmed.chars().any(char::is_control) {
        return Err("`filename` must not contain control characters".into());
    }
    Ok(())
}
