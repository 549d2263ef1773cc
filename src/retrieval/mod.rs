//! Retrieval: the passages of a project's documents most relevant to a question.
//!
//! `Retriever` is the seam: the chat pipeline only sees the trait. `FullTextRetriever` uses the
//! database's own full-text index (SQLite FTS5 with BM25, PostgreSQL `tsvector`), so every server
//! process shares one index that changes in the same transaction as the chunks.

mod full_text;
mod terms;

pub use full_text::FullTextRetriever;
pub use terms::query_terms;

use serde::{Deserialize, Serialize};

/// One retrieved passage, exactly as `message_sources` carries it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Source {
    /// The chunk id.
    pub id: i64,
    pub content: String,
    pub metadata: SourceMetadata,
    /// Relevance in [0, 1]; higher is better.
    pub score: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceMetadata {
    pub document_id: i64,
    pub filename: String,
    pub page: Option<i32>,
    pub chunk_index: i32,
}

#[derive(Debug, thiserror::Error)]
pub enum RetrievalError {
    #[error("full-text search failed: {0}")]
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
