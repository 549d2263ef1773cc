//! Documents indexed without the configured embedder's vectors (indexed before semantic
//! retrieval was on, or by another embedder) are embedded again in the background, one at a time
//! on an ingestion worker. Their rows stay `completed` and searchable meanwhile (keywords, and
//! the vectors already made); the room sees `document_status` `processing` with the pass's
//! progress, then `completed`. Vectors of two models are never searched together: a search only
//! reads vectors of the configured model.

use super::worker::{Pass, Progress};
use super::{DocumentStatus, Ingestor};
use crate::store;

impl Ingestor {
    /// Starts the background pass when an embedder is configured.
    pub fn reembed_stale(&self) {
        let Some(embedder) = self.inner.embedder.clone() else {
            return;
        };
        let this = self.clone();
        tokio::spawn(async move {
            let model = embedder.model().to_owned();
            let stale = match store::vectors::stale_documents(&this.inner.db, &model).await {
                Ok(stale) => stale,
                Err(e) => {
                    tracing::error!("cannot look for documents to embed again: {e}");
                    return;
                }
            };
            if stale.is_empty() {
                return;
            }
            tracing::info!(
                documents = stale.len(),
                model,
                "embedding documents again for this embedder"
            );
            let mut done = 0;
            for doc in stale {
                let Ok(_worker) = this.inner.workers.clone().acquire_owned().await else {
                    return;
                };
                let mut progress = Progress(0);
                this.announce(&doc, DocumentStatus::Processing, 0, None);
                match this
                    .embed_chunks(&doc, &mut progress, (0, 99), Pass::Reembed)
                    .await
                {
                    Ok(()) => {
                        done += 1;
                        if let Err(e) =
                            store::vectors::bump_version(&this.inner.db, doc.project_id).await
                        {
                            tracing::warn!("cannot mark the project's vectors as changed: {e}");
                        }
                    }
                    Err(reason) => tracing::warn!(
                        document_id = doc.id,
                        "embedding again failed (keyword search still finds it): {reason}"
                    ),
                }
                this.announce(&doc, DocumentStatus::Completed, 100, None);
            }
            tracing::info!(documents = done, "documents embedded again");
        });
    }
}
