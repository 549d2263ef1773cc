use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, FromQueryResult, Statement};

use super::{query_terms, RetrievalError, Retriever, Source, SourceMetadata};

/// BM25 over SQLite FTS5, or `ts_rank_cd` over PostgreSQL's `tsvector`; only completed documents
/// of the asked project are searched.
#[derive(Clone)]
pub struct FullTextRetriever {
    db: DatabaseConnection,
}

impl FullTextRetriever {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

#[derive(FromQueryResult)]
struct Hit {
    id: i64,
    content: String,
    chunk_index: i32,
    page: Option<i32>,
    document_id: i64,
    filename: String,
    /// Bigger is better on both backends (SQLite's negative bm25 is negated in SQL).
    relevance: f64,
}

const SQLITE_SEARCH: &str = "\
SELECT c.id, c.content, c.chunk_index, c.page, c.document_id, d.filename, \
       -bm25(chunks_fts) AS relevance \
FROM chunks_fts \
JOIN chunks c ON c.id = chunks_fts.rowid \
JOIN documents d ON d.id = c.document_id \
WHERE chunks_fts MATCH ? AND c.project_id = ? AND d.status = 'completed' \
ORDER BY bm25(chunks_fts), c.id LIMIT ?";

const POSTGRES_SEARCH: &str = "\
SELECT c.id, c.content, c.chunk_index, c.page, c.document_id, d.filename, \
       ts_rank_cd(to_tsvector('english', c.content), q)::float8 AS relevance \
FROM chunks c \
JOIN documents d ON d.id = c.document_id, \
     to_tsquery('english', $1) q \
WHERE c.project_id = $2 AND d.status = 'completed' \
  AND to_tsvector('english', c.content) @@ q \
ORDER BY relevance DESC, c.id LIMIT $3";

/// Maps a raw relevance in [0, ∞) onto [0, 1), keeping the order.
fn normalise(relevance: f64) -> f64 {
    let r = relevance.max(0.0);
    r / (r + 1.0)
}

#[async_trait::async_trait]
impl Retriever for FullTextRetriever {
    async fn search(
        &self,
        project_id: i64,
        question: &str,
        top_k: usize,
    ) -> Result<Vec<Source>, RetrievalError> {
        let terms = query_terms(question);
        if terms.is_empty() || top_k == 0 {
            return Ok(Vec::new());
        }
        let backend = self.db.get_database_backend();
        let (sql, query) = match backend {
            DatabaseBackend::Postgres => (POSTGRES_SEARCH, terms.join(" | ")),
            _ => (
                SQLITE_SEARCH,
                terms
                    .iter()
                    .map(|t| format!("\"{t}\""))
                    .collect::<Vec<_>>()
                    .join(" OR "),
            ),
        };
        let statement = Statement::from_sql_and_values(
            backend,
            sql,
            [query.into(), project_id.into(), (top_k as i64).into()],
        );
        let hits = Hit::find_by_statement(statement).all(&self.db).await?;
        Ok(hits
            .into_iter()
            .map(|hit| Source {
                id: hit.id,
                content: hit.content,
                metadata: SourceMetadata {
                    document_id: hit.document_id,
                    filename: hit.filename,
                    page: hit.page,
                    chunk_index: hit.chunk_index,
                },
                score: normalise(hit.relevance),
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn normalise_keeps_order_within_unit_interval() {
        let scores: Vec<f64> = [0.0, 0.5, 3.0, 40.0]
            .into_iter()
            .map(super::normalise)
            .collect();
        assert!(scores.windows(2).all(|w| w[0] < w[1]));
        assert!(scores.iter().all(|s| (0.0..=1.0).contains(s)));
    }
}
