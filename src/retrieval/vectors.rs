//! Exact cosine search over a project's vectors, in memory. Each node caches a project's vectors
//! (one flat `f32` matrix) with the project's index version, and reloads them when the version in
//! the database has moved (a document indexed, deleted or re-embedded on any node).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sea_orm::{DatabaseConnection, DbErr};

use crate::embed::dot;
use crate::store;

/// Vectors kept in memory across all projects; past it the cache starts again from the project
/// being searched (384 dimensions: about 1.5 GB).
const MAX_CACHED_VECTORS: usize = 1_000_000;

struct ProjectVectors {
    version: i64,
    model: String,
    dimension: usize,
    ids: Vec<i64>,
    /// `ids.len() × dimension`, row-major, unit rows.
    matrix: Vec<f32>,
}

pub struct VectorIndex {
    db: DatabaseConnection,
    cache: Mutex<HashMap<i64, Arc<ProjectVectors>>>,
}

impl VectorIndex {
    pub fn new(db: DatabaseConnection) -> Self {
        Self {
            db,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// At most `limit` chunks of the project whose vector (made by `model`) has a cosine of at
    /// least `min_similarity` with `query`, most similar first.
    pub async fn search(
        &self,
        project_id: i64,
        model: &str,
        query: Vec<f32>,
        limit: usize,
        min_similarity: f32,
    ) -> Result<Vec<(i64, f32)>, DbErr> {
        let vectors = self.project(project_id, model, query.len()).await?;
        if vectors.ids.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        // Off the runtime: 100 000 vectors are ~40 M multiply-adds.
        let found = tokio::task::spawn_blocking(move || {
            nearest(
                &vectors.ids,
                &vectors.matrix,
                vectors.dimension,
                &query,
                limit,
                min_similarity,
            )
        })
        .await
        .map_err(|e| DbErr::Custom(format!("vector search stopped: {e}")))?;
        Ok(found)
    }

    async fn project(
        &self,
        project_id: i64,
        model: &str,
        dimension: usize,
    ) -> Result<Arc<ProjectVectors>, DbErr> {
        let version = store::vectors::version(&self.db, project_id)
            .await?
            .unwrap_or_default();
        if let Some(cached) = self.cached(project_id) {
            if cached.version == version && cached.model == model && cached.dimension == dimension {
                return Ok(cached);
            }
        }
        let rows = store::vectors::of_project(&self.db, project_id, model).await?;
        let mut ids = Vec::with_capacity(rows.len());
        let mut matrix = Vec::with_capacity(rows.len() * dimension);
        let mut other_dimension = 0;
        for (id, vector) in rows {
            // Never compared across dimensions (a model renamed in place, say).
            if vector.len() != dimension {
                other_dimension += 1;
                continue;
            }
            ids.push(id);
            matrix.extend_from_slice(&vector);
        }
        if other_dimension > 0 {
            tracing::warn!(
                project_id,
                other_dimension,
                "vectors of another dimension left out of search (they are re-embedded at the next start)"
            );
        }
        let loaded = Arc::new(ProjectVectors {
            version,
            model: model.to_owned(),
            dimension,
            ids,
            matrix,
        });
        if let Ok(mut cache) = self.cache.lock() {
            let cached: usize = cache.values().map(|p| p.ids.len()).sum();
            if cached + loaded.ids.len() > MAX_CACHED_VECTORS {
                cache.clear();
            }
            cache.insert(project_id, loaded.clone());
        }
        Ok(loaded)
    }

    fn cached(&self, project_id: i64) -> Option<Arc<ProjectVectors>> {
        self.cache.lock().ok()?.get(&project_id).cloned()
    }
}

/// The `limit` rows of `matrix` most similar to `query` (and at least `min_similarity`).
fn nearest(
    ids: &[i64],
    matrix: &[f32],
    dimension: usize,
    query: &[f32],
    limit: usize,
    min_similarity: f32,
) -> Vec<(i64, f32)> {
    // A small sorted list beats a heap for the few tens of candidates kept.
    let mut best: Vec<(i64, f32)> = Vec::with_capacity(limit + 1);
    for (id, row) in ids.iter().zip(matrix.chunks_exact(dimension)) {
        let similarity = dot(row, query);
        if similarity < min_similarity {
            continue;
        }
        if best.len() == limit && best.last().is_some_and(|(_, s)| *s >= similarity) {
            continue;
        }
        let at = best.partition_point(|(_, s)| *s >= similarity);
        best.insert(at, (*id, similarity));
        best.truncate(limit);
    }
    best
}

#[cfg(test)]
mod tests {
    use super::nearest;

    #[test]
    fn nearest_keeps_the_most_similar_above_the_threshold() {
        let ids = [1, 2, 3, 4];
        let matrix = [1.0, 0.0, 0.0, 1.0, 0.6, 0.8, -1.0, 0.0];
        let found = nearest(&ids, &matrix, 2, &[1.0, 0.0], 2, 0.1);
        assert_eq!(found, vec![(1, 1.0), (3, 0.6)]);
        let found = nearest(&ids, &matrix, 2, &[1.0, 0.0], 10, 0.7);
        assert_eq!(found, vec![(1, 1.0)]);
    }
}
