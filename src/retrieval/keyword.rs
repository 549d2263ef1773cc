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

// The best ids are chosen first, carrying only a score, and only they are read whole: sorting
// thousands of matches with their content was most of the query's time (26 ms at 100 000 chunks).
const SQLITE_SEARCH: &str = "\
SELECT c.id, c.content, c.chunk_index, c.page, c.document_id, d.filename \
FROM (SELECT chunks_fts.rowid AS id, bm25(chunks_fts) AS rank \
      FROM chunks_fts \
      JOIN chunks m ON m.id = chunks_fts.rowid \
      JOIN documents md ON md.id = m.document_id \
      WHERE chunks_fts MATCH ? AND m.project_id = ? AND md.status = 'completed' \
      ORDER BY rank, chunks_fts.rowid LIMIT ?) best \
JOIN chunks c ON c.id = best.id \
JOIN documents d ON d.id = c.document_id \
ORDER BY best.rank, best.id";

const POSTGRES_SEARCH: &str = "\
SELECT c.id, c.content, c.chunk_index, c.page, c.document_id, d.filename \
FROM (SELECT m.id, ts_rank_cd(to_tsvector('english', m.content), q) AS rank \
      FROM chunks m \
      JOIN documents md ON md.id = m.document_id, \
           to_tsquery('english', $1) q \
      WHERE m.project_id = $2 AND md.status = 'completed' \
        AND to_tsvector('english', m.content) @@ q \
      ORDER BY rank DESC, m.id LIMIT $3) best \
JOIN chunks c ON c.id = best.id \
JOIN documents d ON d.id = c.document_id \
ORDER BY best.rank DESC, best.id";

/// A term in more than this share of the chunks (and in at least `COMMON_CHUNKS`) says almost
/// nothing of relevance (BM25 weighs it little), yet scoring its matches was most of a search's
/// time on a large index (a term in 30 % of 100 000 chunks: 41 ms with it, 9 ms without).
const COMMON_SHARE: f64 = 0.1;
const COMMON_CHUNKS: i64 = 2_000;

/// `terms` without those common enough to cost more than they tell; the rarest term is always
/// kept. Small indexes are left alone: there every term is cheap.
async fn informative(db: &impl ConnectionTrait, terms: Vec<String>) -> Result<Vec<String>, DbErr> {
    let count = |sql: String, values: Vec<Value>| {
        let statement = Statement::from_sql_and_values(DatabaseBackend::Sqlite, sql, values);
        async move {
            let row = db.query_one(statement).await?;
            Ok::<i64, DbErr>(
                row.map(|r| r.try_get_by_index::<i64>(0))
                    .transpose()?
                    .unwrap_or(0),
            )
        }
    };
    let total = count("SELECT count(*) FROM chunks".into(), Vec::new()).await?;
    let limit = (total as f64 * COMMON_SHARE) as i64;
    if limit < COMMON_CHUNKS || terms.len() < 2 {
        return Ok(terms);
    }
    let mut frequencies = Vec::with_capacity(terms.len());
    for term in terms {
        let n = count(
            "SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH ?".into(),
            vec![format!("\"{term}\"").into()],
        )
        .await?;
        frequencies.push((term, n));
    }
    let rarest = frequencies.iter().map(|(_, n)| *n).min().unwrap_or(0);
    Ok(frequencies
        .into_iter()
        .filter(|(_, n)| *n <= limit || *n == rarest)
        .map(|(term, _)| term)
        .collect())
}

/// At most `limit` passages of the project sharing a term with `question`, best first.
pub async fn search(
    db: &impl ConnectionTrait,
    project_id: i64,
    question: &str,
    limit: usize,
) -> Result<Vec<Passage>, DbErr> {
    let mut terms = query_terms(question);
    if terms.is_empty() || limit == 0 {
        return Ok(Vec::new());
    }
    let backend = db.get_database_backend();
    if backend == DatabaseBackend::Sqlite {
        terms = informative(db, terms).await?;
    }
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
