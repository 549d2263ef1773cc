//! The retriever the chat pipeline uses: keyword and vector candidates fetched side by side (the
//! question is embedded while the full-text index is searched), fused by reciprocal rank, and
//! returned as sources with a normalised score and how each was found.

use std::sync::Arc;

use sea_orm::DatabaseConnection;

use super::fusion::fuse;
use super::keyword::{self, Passage};
use super::vectors::VectorIndex;
use super::{
    Metadata, RetrievalError, RetrievalMode, RetrievalSettings, Retriever, Source, SourceMetadata,
};
use crate::embed::{Embedder, Purpose};

/// Candidates taken from each list, at least.
const MIN_DEPTH: usize = 20;

pub struct HybridRetriever {
    db: DatabaseConnection,
    embedder: Option<Arc<dyn Embedder>>,
    vectors: VectorIndex,
    settings: RetrievalSettings,
}

impl HybridRetriever {
    pub fn new(
        db: DatabaseConnection,
        embedder: Option<Arc<dyn Embedder>>,
        settings: RetrievalSettings,
    ) -> Self {
        Self {
            vectors: VectorIndex::new(db.clone()),
            db,
            embedder,
            settings,
        }
    }

    /// The mode that can actually run: without an embedder, keywords only.
    fn mode(&self) -> RetrievalMode {
        match self.embedder {
            Some(_) => self.settings.mode,
            None => RetrievalMode::Keyword,
        }
    }

    async fn keyword(
        &self,
        project_id: i64,
        question: &str,
        depth: usize,
    ) -> Result<Vec<Passage>, RetrievalError> {
        if self.mode() == RetrievalMode::Vector {
            return Ok(Vec::new());
        }
        Ok(keyword::search(&self.db, project_id, question, depth).await?)
    }

    /// Vector candidates; an embedder that fails leaves the answer to keywords, with a warning.
    async fn vector(
        &self,
        project_id: i64,
        question: &str,
        depth: usize,
    ) -> Result<Vec<i64>, RetrievalError> {
        let Some(embedder) = self
            .embedder
            .as_ref()
            .filter(|_| self.mode() != RetrievalMode::Keyword)
        else {
            return Ok(Vec::new());
        };
        let query = match embedder
            .embed(vec![question.to_owned()], Purpose::Query)
            .await
        {
            Ok(mut vectors) if vectors.len() == 1 => vectors.remove(0),
            Ok(_) => return Ok(Vec::new()),
            Err(e) => {
                tracing::warn!("the question could not be embedded; keyword search only: {e}");
                return Ok(Vec::new());
            }
        };
        let found = self
            .vectors
            .search(
                project_id,
                embedder.model(),
                query,
                depth,
                self.settings.min_similarity,
            )
            .await?;
        Ok(found.into_iter().map(|(id, _)| id).collect())
    }
}

#[async_trait::async_trait]
impl Retriever for HybridRetriever {
    async fn search(
        &self,
        project_id: i64,
        question: &str,
        top_k: usize,
    ) -> Result<Vec<Source>, RetrievalError> {
        if top_k == 0 {
            return Ok(Vec::new());
        }
        let depth = (top_k * 4).max(MIN_DEPTH);
        let (keyword, vector) = tokio::try_join!(
            self.keyword(project_id, question, depth),
            self.vector(project_id, question, depth)
        )?;
        let keyword_ids: Vec<i64> = keyword.iter().map(|p| p.id).collect();
        let lists = match self.mode() {
            RetrievalMode::Hybrid => 2,
            RetrievalMode::Keyword | RetrievalMode::Vector => 1,
        };
        let fused = fuse(&keyword_ids, &vector, self.settings.rrf_k, lists, top_k);

        // Vector-only hits are read now, with the same filter (a deleted document is gone).
        let missing: Vec<i64> = fused
            .iter()
            .map(|f| f.chunk_id)
            .filter(|id| !keyword_ids.contains(id))
            .collect();
        let mut passages = keyword;
        passages.extend(keyword::passages(&self.db, &missing).await?);
        Ok(fused
            .into_iter()
            .filter_map(|f| {
                let passage = passages.iter().find(|p| p.id == f.chunk_id)?.clone();
                Some(Source {
                    id: passage.id,
                    content: passage.content,
                    metadata: Metadata::Document(SourceMetadata {
                        document_id: passage.document_id,
                        filename: passage.filename,
                        page: passage.page,
                        chunk_index: passage.chunk_index,
                        retrieval: Some(f.found_by),
                    }),
                    score: f.score,
                })
            })
            .collect())
    }
}
