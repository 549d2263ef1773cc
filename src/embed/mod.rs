//! Embedders: text → unit vectors, for semantic retrieval. One trait, chosen by `--embedder`:
//!
//! - `builtin`: all-MiniLM-L6-v2 in this process (candle, CPU), from a model directory that
//!   `scripts/fetch-model` fills; never downloaded at run time.
//! - `remote`: an OpenAI-compatible `POST {base}/embeddings` or Ollama's `POST /api/embed`.
//! - `pool`: the low-priority threads that embed documents, so ingestion never slows sockets.
//!
//! Every vector is normalised to length 1, so cosine similarity is a dot product.

mod builtin;
mod pool;
mod remote;

pub use builtin::{Builtin, BUILTIN_FILES};
pub use remote::{Remote, Wire};

use std::path::PathBuf;
use std::sync::Arc;

/// What a text is embedded for: a question is waited on by a user, a document's chunks are
/// background work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Query,
    Document,
}

#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    #[error("the embedding model failed: {0}")]
    Model(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("the embedding thread stopped")]
    ThreadGone,
    #[error("the embedding server could not be used: {0}")]
    Request(#[source] reqwest::Error),
    #[error("the embedding server answered {status}: {body}")]
    Status {
        status: reqwest::StatusCode,
        body: String,
    },
    #[error("the embedder answered {got} vectors of dimension {dimension} for {asked} texts")]
    Shape {
        asked: usize,
        got: usize,
        dimension: usize,
    },
}

#[async_trait::async_trait]
pub trait Embedder: Send + Sync {
    /// Who made a vector, stored with it (`builtin:all-MiniLM-L6-v2`, `openai:<model>`): vectors
    /// of another model are never compared with this one's.
    fn model(&self) -> &str;
    fn dimension(&self) -> usize;
    /// One unit vector per text, in order.
    async fn embed(
        &self,
        texts: Vec<String>,
        purpose: Purpose,
    ) -> Result<Vec<Vec<f32>>, EmbedError>;
}

/// Which embedder to start, as the settings say.
#[derive(Debug, Clone)]
pub enum EmbedderSettings {
    /// `builtin` when `dir` holds the model, else none.
    Auto {
        dir: PathBuf,
        threads: usize,
    },
    Builtin {
        dir: PathBuf,
        threads: usize,
    },
    Remote(remote::RemoteSettings),
    None,
}

pub use remote::RemoteSettings;

/// Why an embedder could not start; the caller names the setting.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    ModelDir(String),
    #[error("cannot start the embedding threads: {0}")]
    Threads(#[source] rayon::ThreadPoolBuildError),
    #[error("{0}")]
    Server(String),
    #[error("{0}")]
    Dimension(String),
}

/// Starts the configured embedder (`None`: keyword search only). A remote one is asked once, so
/// an unreachable server or a wrong dimension stops the start.
pub async fn start(settings: &EmbedderSettings) -> Result<Option<Arc<dyn Embedder>>, StartError> {
    match settings {
        EmbedderSettings::None => Ok(None),
        EmbedderSettings::Auto { dir, threads } => {
            if !Builtin::present(dir) {
                tracing::info!(
                    "semantic retrieval is off (keyword search only): no model in {}; run scripts/fetch-model to fetch all-MiniLM-L6-v2 there, or set --embedder",
                    dir.display()
                );
                return Ok(None);
            }
            Ok(Some(Arc::new(Builtin::load(dir, *threads)?)))
        }
        EmbedderSettings::Builtin { dir, threads } => {
            Ok(Some(Arc::new(Builtin::load(dir, *threads)?)))
        }
        EmbedderSettings::Remote(settings) => Ok(Some(Arc::new(Remote::connect(settings).await?))),
    }
}

/// Scales `v` to length 1 (a zero vector stays zero).
pub fn normalise(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}

/// The dot product of two vectors of the same length: their cosine when both are unit vectors.
/// Eight running sums, so the compiler can keep them in one SIMD register (a single running sum
/// must be added in order and stays scalar).
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    const LANES: usize = 8;
    let mut sums = [0.0f32; LANES];
    let (a_body, a_tail) = a.split_at(a.len() - a.len() % LANES);
    let (b_body, b_tail) = b.split_at(a_body.len().min(b.len()));
    for (x, y) in a_body.chunks_exact(LANES).zip(b_body.chunks_exact(LANES)) {
        for i in 0..LANES {
            sums[i] += x[i] * y[i];
        }
    }
    let tail: f32 = a_tail.iter().zip(b_tail).map(|(x, y)| x * y).sum();
    sums.iter().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalised_vectors_have_length_one_and_keep_direction() {
        let mut v = vec![3.0, 4.0];
        normalise(&mut v);
        assert!((dot(&v, &v) - 1.0).abs() < 1e-6);
        assert!((v[0] - 0.6).abs() < 1e-6);
        let a: Vec<f32> = (0..19).map(|i| i as f32).collect();
        let plain: f32 = a.iter().map(|x| x * x).sum();
        assert!(
            (dot(&a, &a) - plain).abs() < 1e-3,
            "the tail past the lanes counts"
        );
        let mut zero = vec![0.0; 3];
        normalise(&mut zero);
        assert_eq!(zero, vec![0.0; 3]);
    }
}
