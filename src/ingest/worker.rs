//! One document's ingestion: its upload's bytes → text (page by page) → chunks → stored in
//! batches → `completed`. Progress goes from 5 to 100 and never falls, also for a document
//! taken up again after a stop (it goes on from the progress it had).

use std::time::Instant;

use entities::document;

use super::chunker::{chunk_pages, PageText};
use super::detect::Kind;
use super::pdf::{Event, Extraction, Mode};
use super::{DocumentStatus, Ingestor};
use crate::embed::Purpose;
use crate::store::{self, documents::NewChunk, vectors::NewVector};

/// Chunks stored per statement; progress is reported after each batch.
const BATCH: usize = 50;
/// Chunks embedded (and their vectors stored) per step; progress is reported after each.
const EMBED_BATCH: usize = 32;

/// Which pass embeds: an ingestion stores its progress on the row; a re-embedding of a
/// `completed` document only announces it (the row stays `completed`, so it stays searchable).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Pass {
    Ingestion,
    Reembed,
}

/// The progress told to the room so far; it only rises.
pub(super) struct Progress(pub(super) i32);

impl Progress {
    /// Raises it to `to`; `false` when it was there already.
    fn raise(&mut self, to: i32) -> bool {
        let raised = to > self.0;
        self.0 = self.0.max(to);
        raised
    }
}

impl Ingestor {
    #[tracing::instrument(skip_all, fields(document_id = doc.id, filename = %doc.filename))]
    pub(super) async fn ingest(&self, doc: document::Model) {
        let db = &self.inner.db;
        let doc = match store::documents::start_attempt(db, doc.id, &self.inner.node_id).await {
            Ok(Some(doc)) => doc,
            // Deleted (or finished elsewhere) while it waited.
            Ok(None) => return,
            Err(e) => {
                tracing::error!(
                    "cannot start the ingestion (it is taken up again at the next start): {e}"
                );
                return;
            }
        };
        let started = Instant::now();
        let mut progress = Progress(doc.progress);
        match self.index(&doc, &mut progress).await {
            Ok(chunks) => {
                metrics::histogram!("ragcast_ingestion_seconds")
                    .record(started.elapsed().as_secs_f64());
                tracing::info!(
                    chunks,
                    ms = started.elapsed().as_millis() as u64,
                    "document indexed"
                );
                if let Err(e) = store::documents::forget_upload(db, doc.id).await {
                    tracing::warn!("cannot drop the upload of an indexed document: {e}");
                }
                self.announce_change(&doc, crate::protocol::outgoing::UpdateKind::DocumentAdded);
            }
            Err(reason) => {
                metrics::counter!("ragcast_ingestion_failures_total").increment(1);
                tracing::warn!("ingestion failed: {reason}");
                // Deleted while it was indexed: its deletion was announced, nothing more.
                if let Ok(None) = store::documents::find(db, doc.id).await {
                    return;
                }
                self.fail(&doc, progress.0, reason).await;
            }
        }
    }

    /// Extract → chunk → store in batches → `completed`. The error is a sentence for a person.
    async fn index(&self, doc: &document::Model, progress: &mut Progress) -> Result<usize, String> {
        progress.raise(5);
        self.set(doc, DocumentStatus::Processing, progress.0, None)
            .await;
        let db = &self.inner.db;
        let bytes = store::documents::upload(db, doc.id)
            .await
            .map_err(|e| format!("cannot read the upload: {e}"))?
            .ok_or("the upload's content is no longer stored; upload the document again")?;
        let pages = if doc.content_type == Kind::Pdf.content_type() {
            self.extract_pdf(doc, bytes, progress).await?
        } else {
            let text = String::from_utf8(bytes).map_err(|_| "the document is not UTF-8 text")?;
            vec![PageText { page: None, text }]
        };
        let chunking = self.inner.settings.chunking;
        let chunks = tokio::task::spawn_blocking(move || chunk_pages(&pages, chunking))
            .await
            .map_err(|e| format!("chunking failed: {e}"))?;
        if chunks.is_empty() {
            return Err("the document holds no text".into());
        }
        // An attempt cut off by a stop may have stored some already.
        store::documents::delete_chunks(db, doc.id)
            .await
            .map_err(|e| format!("cannot store the chunks: {e}"))?;
        self.report(doc, progress, 20).await;

        // Storing the chunks takes the progress to 95, or to 50 when embedding follows.
        let stored_at = if self.inner.embedder.is_some() {
            50
        } else {
            95
        };
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
            store::documents::insert_chunks(db, doc, batch)
                .await
                .map_err(|e| format!("cannot store the chunks: {e}"))?;
            let done = ((i + 1) * BATCH).min(total);
            if done < total {
                let to = 20 + ((stored_at - 20) as usize * done / total) as i32;
                self.report(doc, progress, to).await;
            }
        }
        self.embed_chunks(doc, progress, (stored_at, 95), Pass::Ingestion)
            .await?;
        progress.raise(100);
        self.set(doc, DocumentStatus::Completed, 100, None).await;
        if let Err(e) = store::vectors::bump_version(db, doc.project_id).await {
            tracing::warn!("cannot mark the project's vectors as changed: {e}");
        }
        Ok(total)
    }

    /// Embeds the document's chunks in batches and stores their vectors, reporting progress
    /// across `(from, to)`. Nothing to do without an embedder.
    pub(super) async fn embed_chunks(
        &self,
        doc: &document::Model,
        progress: &mut Progress,
        (from, to): (i32, i32),
        pass: Pass,
    ) -> Result<(), String> {
        let Some(embedder) = &self.inner.embedder else {
            return Ok(());
        };
        let db = &self.inner.db;
        let chunks = store::vectors::chunk_texts(db, doc.id)
            .await
            .map_err(|e| format!("cannot read the chunks: {e}"))?;
        let total = chunks.len().max(1);
        let mut done = 0;
        for batch in chunks.chunks(EMBED_BATCH) {
            let texts = batch.iter().map(|(_, text)| text.clone()).collect();
            let vectors = embedder
                .embed(texts, Purpose::Document)
                .await
                .map_err(|e| format!("embedding failed: {e}"))?;
            let rows: Vec<NewVector> = batch
                .iter()
                .zip(vectors)
                .map(|((chunk_id, _), vector)| NewVector {
                    chunk_id: *chunk_id,
                    vector,
                })
                .collect();
            store::vectors::upsert(db, doc.project_id, embedder.model(), &rows)
                .await
                .map_err(|e| format!("cannot store the vectors: {e}"))?;
            done += batch.len();
            let at = from + ((to - from) as usize * done / total) as i32;
            match pass {
                Pass::Ingestion => self.report(doc, progress, at).await,
                Pass::Reembed if progress.raise(at) => {
                    self.announce(doc, DocumentStatus::Processing, at, None)
                }
                Pass::Reembed => {}
            }
        }
        Ok(())
    }

    /// Page by page in the extraction child, reporting progress from 5 to 20.
    async fn extract_pdf(
        &self,
        doc: &document::Model,
        bytes: Vec<u8>,
        progress: &mut Progress,
    ) -> Result<Vec<PageText>, String> {
        let settings = &self.inner.settings;
        let mut extraction =
            Extraction::start(&settings.pdf_extractor, Mode::Extract, bytes, settings.pdf)
                .map_err(|e| e.to_string())?;
        let mut total = 0;
        let mut pages = Vec::new();
        while let Some(event) = extraction.next().await.map_err(|e| e.to_string())? {
            match event {
                Event::Pages(count) => total = count,
                Event::Page(page) => {
                    pages.push(page);
                    if pages.len() < total {
                        self.report(doc, progress, 5 + (15 * pages.len() / total) as i32)
                            .await;
                    }
                }
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

    /// Tells the room the progress when it rose.
    pub(super) async fn report(&self, doc: &document::Model, progress: &mut Progress, to: i32) {
        if progress.raise(to) {
            self.set(doc, DocumentStatus::Processing, progress.0, None)
                .await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Progress;

    #[test]
    fn progress_never_falls() {
        let mut progress = Progress(40);
        assert!(!progress.raise(5));
        assert_eq!(progress.0, 40);
        assert!(progress.raise(60));
        assert_eq!(progress.0, 60);
    }
}
