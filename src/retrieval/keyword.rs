//! Keyword candidates: BM25 over SQLite FTS5, or `ts_rank_cd` over PostgreSQL's `tsvector`; only
//! completed documents of the asked project are searched. Also the passages of chunks found by
//! vector search, read with the same filter (so a deleted document is never returned).

use sea_orm::{ConnectionTrait, DatabaseBackend, DbErr, FromQueryResult, Statement, Value};

use super::query_terms;

/// A chunk with what `message_sources` shows of it.
#[derive(Debug, Clone, FromQueryResult)]
pub struct Passage {
    pub id: i64,
    pub content: String,
    pub chunk_index: i32,
    pub page: Option<i32>,
    pub document_id: i64,
    pub filename: String,
}

const SQLITE_SEARCH: &str = "\
SELECT c.id, c.content, c.chunk_index, c.page, c.document_id, d.filename \
FROM chunks_fts \
JOIN chunks c ON c.id = chunks_fts.rowid \
JOIN documents d ON d.id = c.document_id \
WHERE chunks_fts MATCH ? AND c.project_id = ? AND d.status = 'completed' \
ORDER BY bm25(chunks_fts), c.id LIMIT ?";

const POSTGRES_SEARCH: &str = "\
SELECT c.id, c.content, c.chunk_index, c.page, c.document_id, d.filename \
FROM chunks c \
JOIN documents d ON d.id = c.document_id, \
     to_tsquery('english', $1) q \
WHERE c.project_id = $2 AND d.status = 'completed' \
  AND to_tsvector('english', c.content) @@ q \
ORDER BY ts_rank_cd(to_tsvector('english', c.content), q) DESC, c.id LIMIT $3";

/// At most `limit` passages of the project sharing a term with `question`, best first.
pub async fn search(
    db: &impl ConnectionTrait,
    project_id: i64,
    question: &str,
    limit: usize,
) -> Result<Vec<Passage>, DbErr> {
    let terms = query_terms(question);
    if terms.is_empty() || limit == 0 {
        return Ok(Vec::new());
    }
    let backend = db.get_database_backend();
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
        [query.into(), project_id.into(), (limit as i64).into()],
    );
    Passage::find_by_statement(statement).all(db).await
}

/// The passages of chunks `ids` that are still searchable (their document completed).
pub async fn passages(db: &impl ConnectionTrait, ids: &[i64]) -> Result<Vec<Passage>, DbErr> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let backend = db.get_database_backend();
    let placeholders: Vec<String> = match backend {
        DatabaseBackend::Postgres => (1..=ids.len()).map(|i| format!("${i}")).collect(),
        _ => ids.iter().map(|_| "?".to_owned()).collect(),
    };
    let sql = format!(
        "SELECT c.id, c.content, c.chunk_index, c.page, c.document_id, d.filename \
         FROM chunks c JOIN documents d ON d.id = c.document_id \
         WHERE d.status = 'completed' AND c.id IN ({})",
        placeholders.join(", ")
    );
    let values: Vec<Value> = ids.iter().map(|id| (*id).into()).collect();
    Passage::find_by_statement(Statement::from_sql_and_values(backend, sql, values))
        .all(db)
        .await
}
