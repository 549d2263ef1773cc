//! Document ingestion: a document is stored `queued` with its upload's bytes, then a background
//! worker extracts its text, chunks it and indexes it, emitting `document_status` into the
//! project room at each step. A bounded number of workers run at once, so a burst of uploads
//! never starves socket traffic; PDFs are read in a child process with bounded memory and time.
//!
//! An ingestion cut off by a stopped server starts again: alone, at the next start; with other
//! nodes, on the node that takes over once the stopped node's lease runs out. A document cut off
//! `MAX_ATTEMPTS` times is failed, so a poison document cannot keep a server crashing.
//!
//! With an embedder, embedding the chunks is a step of ingestion; documents whose vectors are
//! missing or of another model are embedded again in the background (`reembed`).

pub mod chunker;
pub mod detect;
pub mod pdf;
mod queue;
mod reembed;
mod worker;

pub use queue::{QueuePlace, UploadQueue};

use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use entities::document;
use sea_orm::{DatabaseConnection, DbErr};
use tokio::sync::Semaphore;

use crate::auth::Caller;
use crate::broadcast::{Audience, Broadcaster, Fold};
use crate::embed::Embedder;
use crate::error::{AppError, ErrorCode};
use crate::protocol::names;
use crate::rooms;
use crate::store::{self, documents::NewDocument};
use chunker::ChunkSettings;
use detect::{detect, Kind};
use pdf::{PdfError, PdfLimits};

/// Ingestion attempts a document gets before it is failed (each start of the server that finds
/// it unfinished is one).
pub const MAX_ATTEMPTS: i32 = 3;

pub use crate::store::DocumentStatus;

use crate::protocol::outgoing::{DocumentChange, DocumentStatusEvent, ProjectUpdate, UpdateKind};

/// A file as it arrived: the name and type the client gave, and its bytes.
pub struct ReceivedFile {
    pub filename: String,
    pub declared_type: Option<String>,
    pub bytes: Vec<u8>,
}

/// An upload whose kind is known, ready to be stored.
struct Upload {
    project_id: i64,
    filename: String,
    kind: Kind,
    bytes: Vec<u8>,
}

/// How ingestion runs.
#[derive(Debug, Clone)]
pub struct IngestSettings {
    /// Documents ingested at once.
    pub workers: usize,
    /// Uploads waiting for (or in) ingestion at most.
    pub queue: usize,
    pub chunking: ChunkSettings,
    pub pdf: PdfLimits,
    /// The binary started as the PDF extraction child (`ragcast extract-pdf`).
    pub pdf_extractor: PathBuf,
}

#[derive(Clone)]
pub struct Ingestor {
    inner: Arc<Inner>,
}

struct Inner {
    db: DatabaseConnection,
    broadcaster: Broadcaster,
    /// Embeds chunks as a step of ingestion; `None`: keyword search only.
    embedder: Option<Arc<dyn Embedder>>,
    node_id: String,
    workers: Arc<Semaphore>,
    queue: UploadQueue,
    settings: IngestSettings,
}

impl Ingestor {
    pub fn new(
        db: DatabaseConnection,
        broadcaster: Broadcaster,
        embedder: Option<Arc<dyn Embedder>>,
        node_id: &str,
        settings: IngestSettings,
    ) -> Self {
        let workers = settings.workers.max(1);
        Self {
            inner: Arc::new(Inner {
                db,
                broadcaster,
                embedder,
                node_id: node_id.to_owned(),
                workers: Arc::new(Semaphore::new(workers)),
                queue: UploadQueue::new(settings.queue.max(workers)),
                settings,
            }),
        }
    }

    /// A place for one more upload, refused (`busy`) while the queue is full.
    pub fn reserve(&self) -> Result<QueuePlace, AppError> {
        self.inner.queue.reserve()
    }

    /// Checks a received file (its name, its kind from its bytes, a PDF that opens) and
    /// submits it into `place`: the upload, as HTTP and any other entry point hand it over.
    pub async fn accept(
        &self,
        project_id: i64,
        file: ReceivedFile,
        place: QueuePlace,
    ) -> Result<document::Model, AppError> {
        check_filename(&file.filename).map_err(AppError::invalid)?;
        let kind = detect(&file.filename, file.declared_type.as_deref(), &file.bytes)?;
        if kind == Kind::Pdf {
            self.check_pdf(&file.bytes).await?;
        }
        let upload = Upload {
            project_id,
            filename: file.filename.trim().to_owned(),
            kind,
            bytes: file.bytes,
        };
        self.submit(upload, place).await
    }

    /// Loads a PDF (in the extraction child) so a file that is no usable PDF is refused at once
    /// (422). A PDF over a limit is accepted: its ingestion then fails naming the limit.
    async fn check_pdf(&self, bytes: &[u8]) -> Result<(), AppError> {
        let settings = &self.inner.settings;
        match pdf::check(&settings.pdf_extractor, bytes.to_vec(), settings.pdf).await {
            Ok(_) | Err(PdfError::OverLimit(_)) => Ok(()),
            Err(PdfError::Unreadable(reason)) => {
                Err(AppError::new(ErrorCode::Unprocessable, reason))
            }
            Err(e @ PdfError::Failed(_)) => Err(AppError::internal(e)),
        }
    }

    /// Stores the document as `queued` with its bytes and ingests it in the background; its
    /// queue place is given back once it is indexed (or failed).
    async fn submit(&self, upload: Upload, place: QueuePlace) -> Result<document::Model, AppError> {
        let doc = store::documents::create(
            &self.inner.db,
            NewDocument {
                project_id: upload.project_id,
                filename: &upload.filename,
                content_type: upload.kind.content_type(),
                size_bytes: upload.bytes.len() as i64,
            },
            upload.bytes,
            &self.inner.node_id,
        )
        .await?;
        self.announce(&doc, DocumentStatus::Queued, 0, None);
        self.spawn(doc.clone(), Some(place));
        Ok(doc)
    }

    /// Alone, at start: every unfinished document was cut off by an earlier stop.
    pub async fn recover_unfinished(&self) -> Result<usize, DbErr> {
        let docs = store::documents::unfinished(&self.inner.db).await?;
        self.resume_claimed(docs).await
    }

    /// With other nodes: the unfinished documents of nodes silent since `alive_since`.
    pub async fn take_over_orphans(&self, alive_since: DateTime<Utc>) -> Result<usize, DbErr> {
        let mut alive = store::nodes::alive(&self.inner.db, alive_since).await?;
        // This node's own documents are in its workers already.
        alive.push(self.inner.node_id.clone());
        let docs = store::documents::unfinished_elsewhere(&self.inner.db, alive).await?;
        self.resume_claimed(docs).await
    }

    /// Claims each document for this node and ingests it again, or fails it when it has had
    /// its attempts. Returns how many this node claimed.
    async fn resume_claimed(&self, docs: Vec<document::Model>) -> Result<usize, DbErr> {
        let mut claimed = 0;
        for doc in docs {
            if !store::documents::claim(&self.inner.db, &doc, &self.inner.node_id).await? {
                continue;
            }
            claimed += 1;
            if doc.attempts >= MAX_ATTEMPTS {
                tracing::warn!(
                    document_id = doc.id,
                    attempts = doc.attempts,
                    "ingestion was cut off too often: the document is failed"
                );
                let reason = format!(
                    "ingestion was cut off {} times by a stopping server; upload the document again",
                    doc.attempts
                );
                self.fail(&doc, doc.progress, reason).await;
                continue;
            }
            tracing::warn!(
                document_id = doc.id,
                filename = %doc.filename,
                "ingestion cut off by a stopped server: starting it again"
            );
            self.spawn(doc, None);
        }
        Ok(claimed)
    }

    fn spawn(&self, doc: document::Model, place: Option<QueuePlace>) {
        let this = self.clone();
        tokio::spawn(async move {
            let _place = place;
            let Ok(_worker) = this.inner.workers.clone().acquire_owned().await else {
                return;
            };
            this.ingest(doc).await;
        });
    }

    /// Stores the failure, drops what was half-stored, and tells the room.
    async fn fail(&self, doc: &document::Model, progress: i32, reason: String) {
        let db = &self.inner.db;
        if let Err(e) = store::documents::delete_chunks(db, doc.id).await {
            tracing::error!("cannot remove the chunks of a failed document: {e}");
        }
        self.set(doc, DocumentStatus::Failed, progress, Some(reason))
            .await;
        if let Err(e) = store::documents::forget_upload(db, doc.id).await {
            tracing::warn!("cannot drop the upload of a failed document: {e}");
        }
    }

    /// Stores the state on the row, then tells the room, so `GET` and the events agree.
    async fn set(
        &self,
        doc: &document::Model,
        status: DocumentStatus,
        progress: i32,
        error: Option<String>,
    ) {
        if let Err(e) =
            store::documents::set_status(&self.inner.db, doc.id, status, progress, error.as_deref())
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
        // A socket that is behind needs only a document's latest status.
        self.inner.broadcaster.send_folded(
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
            Fold::Latest(doc.id),
        );
    }

    /// Deletes a document of the project (its chunks leave the index in the same statement),
    /// announced as `project_update` `document_deleted`. Back ends only.
    pub async fn delete(
        &self,
        caller: &Caller,
        project_id: i64,
        document_id: i64,
    ) -> Result<(), AppError> {
        caller.require_backend()?;
        let doc = store::documents::find(&self.inner.db, document_id)
            .await?
            .filter(|d| d.project_id == project_id)
            .ok_or_else(|| AppError::not_found("document"))?;
        store::documents::delete(&self.inner.db, &doc).await?;
        self.announce_change(&doc, UpdateKind::DocumentDeleted);
        Ok(())
    }

    /// `project_update` `document_added` / `document_deleted` to the document's project room.
    fn announce_change(&self, doc: &document::Model, kind: UpdateKind) {
        self.inner.broadcaster.send(
            &Audience::room(rooms::project(doc.project_id)),
            names::PROJECT_UPDATE,
            &ProjectUpdate {
                project_id: doc.project_id,
                kind,
                data: DocumentChange {
                    document_id: doc.id,
                    filename: &doc.filename,
                },
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

#[async_trait::async_trait]
impl crate::cluster::Orphans for Ingestor {
    fn what(&self) -> &'static str {
        "documents"
    }

    async fn take_over(&self, alive_since: DateTime<Utc>) -> Result<usize, DbErr> {
        self.take_over_orphans(alive_since).await
    }
}
