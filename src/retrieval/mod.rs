//! Retrieval: the passages of a project's documents most relevant to a question.
//!
//! `Retriever` is the seam: the chat pipeline only sees the trait. `HybridRetriever` fuses two
//! rankings: the database's own full-text index (`keyword`: SQLite FTS5 with BM25, PostgreSQL
//! `tsvector`), which changes in the same transaction as the chunks, and exact cosine search over
//! the chunks' embeddings (`vectors`), cached per project on each node; `fusion` merges them by
//! reciprocal rank.

mod fusion;
mod hybrid;
mod keyword;
mod terms;
mod vectors;

pub use hybrid::HybridRetriever;
pub use terms::query_terms;

pub use crate::protocol::sources::{Metadata, Retrieval, Source, SourceMetadata};

/// Which rankings a search uses (`--retrieval`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetrievalMode {
    Hybrid,
    Keyword,
    Vector,
}

#[derive(Debug, Clone, Copy)]
pub struct RetrievalSettings {
    pub mode: RetrievalMode,
    /// Reciprocal rank fusion's `k`.
    pub rrf_k: f64,
    /// Vector candidates below this cosine similarity are not candidates at all.
    pub min_similarity: f32,
}

impl Default for RetrievalSettings {
    fn default() -> Self {
        Self {
            mode: RetrievalMode::Hybrid,
            rrf_k: 60.0,
            min_similarity: 0.2,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RetrievalError {
    #[error("search failed: {0}")]
    Db(#[from] sea_orm::DbErr),
}

#[async_trait::async_trait]
pub trait Retriever: Send + Sync {
    /// At most `top_k` passages of `project_id`, sorted by `score` descending.
    async fn search(
        &self,
        project_id: i64,
        question: &str,
        top_k: usize,
    ) -> Result<Vec<Source>, RetrievalError>;
}
