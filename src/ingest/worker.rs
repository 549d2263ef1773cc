//! One document's ingestion: its upload's bytes → text (page by page) → chunks → stored in
//! batches → `completed`. Progress goes from 5 to 100 and never falls, also for a document
//! taken up again after a stop (it goes on from the progress it had).

use std::time::Instant;

use entities::document;

use super::chunker::{chunk_pages, PageText};
use super::detect::Kind;
use super::pdf::{Event, Extraction, Mode};
use super::{DocumentStatus, Ingestor};
use crate::store::{self, documents::NewChunk};

/// Chunks stored per statement; progress is reported after each batch.
const BATCH: usize = 50;

/// The progress told to the room so far; it only rises.
struct Progress(i32);

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
                self.announce_added(&doc);
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
                self.report(doc, progress, 20 + (75 * done / total) as i32)
                    .await;
            }
        }
        progress.raise(100);
        self.set(doc, DocumentStatus::Completed, 100, None).await;
        Ok(total)
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
    async fn report(&self, doc: &document::Model, progress: &mut Progress, to: i32) {
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
