//! Cosine search over a project's vectors, in memory. Each node caches a project's vectors with
//! the project's index version, and reloads them when the version in the database has moved (a
//! document indexed, deleted or re-embedded on any node).
//!
//! The cache holds each vector as 8-bit integers with a scale (a quarter of the memory, and a
//! quarter of the bytes a scan reads: 100 000 vectors scan in a few milliseconds, where f32 took
//! 16 ms, bound by memory bandwidth). The scan keeps twice the candidates asked for; those are
//! scored again exactly with their stored f32 vectors, so the similarities returned, and the
//! threshold, are exact.

use std::sync::Arc;

use moka::sync::Cache;

use sea_orm::{DatabaseConnection, DbErr};

use crate::embed::dot;
use crate::store;

/// Bytes of vectors kept in memory across all projects (a million of 384 dimensions); past it
/// the projects used least recently leave the cache.
const MAX_CACHED_BYTES: u64 = 400 * 1024 * 1024;

struct ProjectVectors {
    version: i64,
    model: String,
    dimension: usize,
    ids: Vec<i64>,
    /// Each row's `max |x| / 127`.
    scales: Vec<f32>,
    /// `ids.len() × dimension`, row-major: `round(x / scale)`.
    codes: Vec<i8>,
}

impl ProjectVectors {
    /// What the cache holds for it, in bytes.
    fn bytes(&self) -> u32 {
        let bytes = self.codes.len()
            + self.scales.len() * std::mem::size_of::<f32>()
            + self.ids.len() * std::mem::size_of::<i64>();
        u32::try_from(bytes).unwrap_or(u32::MAX)
    }
}

pub struct VectorIndex {
    db: DatabaseConnection,
    /// Each project's vectors, weighed by their bytes.
    cache: Cache<i64, Arc<ProjectVectors>>,
}

impl VectorIndex {
    pub fn new(db: DatabaseConnection) -> Self {
        Self::with_capacity(db, MAX_CACHED_BYTES)
    }

    fn with_capacity(db: DatabaseConnection, bytes: u64) -> Self {
        Self {
            db,
            cache: Cache::builder()
                .max_capacity(bytes)
                .weigher(|_, vectors: &Arc<ProjectVectors>| vectors.bytes())
                .build(),
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
        let (scale, codes) = quantise(&query);
        let candidates =
            tokio::task::spawn_blocking(move || nearest(&vectors, scale, &codes, limit * 2))
                .await
                .map_err(|e| DbErr::Custom(format!("vector search stopped: {e}")))?;
        // Scored again exactly: the quantised scan only chose whom to score.
        let ids: Vec<i64> = candidates.iter().map(|(id, _)| *id).collect();
        let stored = store::vectors::by_ids(&self.db, &ids, model).await?;
        let mut scored: Vec<(i64, f32)> = stored
            .into_iter()
            .filter(|(_, v)| v.len() == query.len())
            .map(|(id, v)| (id, dot(&v, &query)))
            .filter(|(_, similarity)| *similarity >= min_similarity)
            .collect();
        scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        scored.truncate(limit);
        Ok(scored)
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
        if let Some(cached) = self.cache.get(&project_id) {
            if cached.version == version && cached.model == model && cached.dimension == dimension {
                return Ok(cached);
            }
        }
        let mut ids = Vec::new();
        let mut scales = Vec::new();
        let mut codes = Vec::new();
        let mut other_dimension = 0;
        store::vectors::each_of_project(&self.db, project_id, model, |id, vector| {
            // Never compared across dimensions (a model renamed in place, say).
            if vector.len() != dimension {
                other_dimension += 1;
                return;
            }
            let (scale, row) = quantise(&vector);
            ids.push(id);
            scales.push(scale);
            codes.extend_from_slice(&row);
        })
        .await?;
        ids.shrink_to_fit();
        scales.shrink_to_fit();
        codes.shrink_to_fit();
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
            scales,
            codes,
        });
        self.cache.insert(project_id, loaded.clone());
        Ok(loaded)
    }
}

/// `v` as 8-bit integers and the scale that maps them back (`x ≈ code × scale`).
fn quantise(v: &[f32]) -> (f32, Vec<i8>) {
    let max = v.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    if max == 0.0 {
        return (0.0, vec![0; v.len()]);
    }
    let scale = max / 127.0;
    (scale, v.iter().map(|x| (x / scale).round() as i8).collect())
}

/// The integer dot product of two code rows. Sixteen running sums, so the compiler can keep
/// them in SIMD registers; inlined into `nearest`'s dispatched loop, it uses the CPU's widest.
#[inline(always)]
fn dot_codes(a: &[i8], b: &[i8]) -> i32 {
    const LANES: usize = 16;
    let mut sums = [0i32; LANES];
    let body = a.len() - a.len() % LANES;
    for (x, y) in a[..body]
        .chunks_exact(LANES)
        .zip(b[..body].chunks_exact(LANES))
    {
        for i in 0..LANES {
            sums[i] += x[i] as i32 * y[i] as i32;
        }
    }
    let tail: i32 = a[body..]
        .iter()
        .zip(&b[body..])
        .map(|(x, y)| *x as i32 * *y as i32)
        .sum();
    sums.iter().sum::<i32>() + tail
}

/// Rows per scanning thread at least: below it one thread is quicker than starting more.
const ROWS_PER_THREAD: usize = 25_000;

/// The `limit` rows most similar to the query (by their codes), best first. A large project is
/// scanned by one thread per CPU, each over its own share of the rows.
fn nearest(vectors: &ProjectVectors, scale: f32, query: &[i8], limit: usize) -> Vec<(i64, f32)> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(vectors.ids.len() / ROWS_PER_THREAD)
        .max(1);
    let share = vectors.ids.len().div_ceil(threads);
    let scan = |part: usize| {
        let rows = part * share..((part + 1) * share).min(vectors.ids.len());
        // Compiled for each instruction set (SSE2, AVX2, AVX-512); the CPU's widest is picked.
        pulp::Arch::new().dispatch(Scan {
            ids: &vectors.ids[rows.clone()],
            scales: &vectors.scales[rows.clone()],
            codes: &vectors.codes[rows.start * vectors.dimension..rows.end * vectors.dimension],
            dimension: vectors.dimension,
            scale,
            query,
            limit,
        })
    };
    if threads == 1 {
        return scan(0);
    }
    let mut best: Vec<(i64, f32)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|part| s.spawn(move || scan(part)))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    });
    best.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    best.truncate(limit);
    best
}

/// One thread's share of a scan.
struct Scan<'a> {
    ids: &'a [i64],
    scales: &'a [f32],
    codes: &'a [i8],
    dimension: usize,
    scale: f32,
    query: &'a [i8],
    limit: usize,
}

impl pulp::WithSimd for Scan<'_> {
    type Output = Vec<(i64, f32)>;

    // Inlined, with `dot_codes`, into pulp's function for each instruction set.
    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _: S) -> Self::Output {
        let Scan {
            ids,
            scales,
            codes,
            dimension,
            scale,
            query,
            limit,
        } = self;
        // A small sorted list beats a heap for the few tens of candidates kept.
        let mut best: Vec<(i64, f32)> = Vec::with_capacity(limit + 1);
        for ((id, row_scale), row) in ids.iter().zip(scales).zip(codes.chunks_exact(dimension)) {
            let similarity = dot_codes(row, query) as f32 * row_scale * scale;
            if best.len() == limit && best.last().is_some_and(|(_, s)| *s >= similarity) {
                continue;
            }
            let at = best.partition_point(|(_, s)| *s >= similarity);
            best.insert(at, (*id, similarity));
            best.truncate(limit);
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(rows: &[[f32; 2]]) -> ProjectVectors {
        let mut scales = Vec::new();
        let mut codes = Vec::new();
        for row in rows {
            let (scale, code) = quantise(row);
            scales.push(scale);
            codes.extend(code);
        }
        ProjectVectors {
            version: 0,
            model: "m".into(),
            dimension: 2,
            ids: (1..=rows.len() as i64).collect(),
            scales,
            codes,
        }
    }

    #[test]
    fn the_cache_keeps_projects_within_its_bytes() {
        let weight = u64::from(project(&[[1.0, 0.0]; 10]).bytes());
        let index = VectorIndex::with_capacity(DatabaseConnection::Disconnected, 2 * weight + 1);
        for id in 1..=3 {
            index.cache.insert(id, Arc::new(project(&[[1.0, 0.0]; 10])));
        }
        index.cache.run_pending_tasks();
        assert_eq!(index.cache.entry_count(), 2);
        assert!(index.cache.weighted_size() <= 2 * weight + 1);
    }

    #[test]
    fn quantised_similarities_are_close_to_exact_ones() {
        let v = [0.6f32, -0.8];
        let (scale, codes) = quantise(&v);
        let back: Vec<f32> = codes.iter().map(|c| *c as f32 * scale).collect();
        assert!(
            v.iter().zip(&back).all(|(a, b)| (a - b).abs() < 0.005),
            "{back:?}"
        );
        let long: Vec<i8> = (0..37).map(|i| (i % 7) as i8 - 3).collect();
        let plain: i32 = long.iter().map(|x| *x as i32 * *x as i32).sum();
        assert_eq!(
            dot_codes(&long, &long),
            plain,
            "the tail past the lanes counts"
        );
    }

    #[test]
    fn nearest_keeps_the_most_similar_first() {
        let vectors = project(&[[1.0, 0.0], [0.0, 1.0], [0.6, 0.8], [-1.0, 0.0]]);
        let (scale, query) = quantise(&[1.0, 0.0]);
        let found = nearest(&vectors, scale, &query, 2);
        assert_eq!(
            found.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
            vec![1, 3]
        );
        assert!((found[1].1 - 0.6).abs() < 0.01);
    }
}
