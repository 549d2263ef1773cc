//! Settings of semantic retrieval: which embedder, and how the rankings are fused.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};

use super::SettingError;
use crate::embed::{EmbedderSettings, RemoteSettings, Wire};
use crate::retrieval::{RetrievalMode, RetrievalSettings};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EmbedderKind {
    /// `builtin` when the model directory holds the model, else `none`.
    Auto,
    Builtin,
    Openai,
    Ollama,
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RetrievalKind {
    Hybrid,
    Keyword,
    Vector,
}

#[derive(Clone, Args)]
pub struct EmbedArgs {
    /// Embedder for semantic retrieval.
    #[arg(long, env = "RAGCAST_EMBEDDER", value_enum, default_value = "auto")]
    pub embedder: EmbedderKind,

    /// Folder of the built-in model (all-MiniLM-L6-v2), filled by scripts/fetch-model
    /// (default: ~/.cache/ragcast/models/all-MiniLM-L6-v2).
    #[arg(long, env = "RAGCAST_EMBEDDER_MODEL_DIR")]
    pub embedder_model_dir: Option<PathBuf>,

    /// Threads that embed documents with the built-in model (0: one per CPU).
    #[arg(long, env = "RAGCAST_EMBEDDER_THREADS", default_value_t = 0)]
    pub embedder_threads: usize,

    /// Base URL of `--embedder openai` (with /v1) or `ollama`.
    #[arg(long, env = "RAGCAST_EMBEDDER_BASE_URL")]
    pub embedder_base_url: Option<String>,

    /// Embedding model the server is asked for.
    #[arg(long, env = "RAGCAST_EMBEDDER_MODEL")]
    pub embedder_model: Option<String>,

    #[arg(long, env = "RAGCAST_EMBEDDER_API_KEY", hide_env_values = true)]
    pub embedder_api_key: Option<String>,

    /// Dimension the server's vectors must have (checked at start).
    #[arg(long, env = "RAGCAST_EMBEDDER_DIMENSION",
          value_parser = clap::value_parser!(u32).range(1..=65536))]
    pub embedder_dimension: Option<u32>,

    /// Rankings a search fuses.
    #[arg(long, env = "RAGCAST_RETRIEVAL", value_enum, default_value = "hybrid")]
    pub retrieval: RetrievalKind,

    /// Reciprocal rank fusion's k.
    #[arg(long, env = "RAGCAST_RRF_K", default_value_t = 60.0)]
    pub rrf_k: f64,

    /// Cosine similarity a chunk needs to be a vector candidate.
    #[arg(long, env = "RAGCAST_VECTOR_MIN_SIMILARITY", default_value_t = 0.2)]
    pub vector_min_similarity: f32,
}

/// Where `scripts/fetch-model` puts the model by default.
pub fn default_model_dir() -> PathBuf {
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
    home.join(".cache/ragcast/models/all-MiniLM-L6-v2")
}

impl EmbedArgs {
    pub fn embedder(&self) -> Result<EmbedderSettings, SettingError> {
        let dir = self
            .embedder_model_dir
            .clone()
            .unwrap_or_else(default_model_dir);
        let threads = self.embedder_threads;
        let (wire, default_url, default_model) = match self.embedder {
            EmbedderKind::Auto => return Ok(EmbedderSettings::Auto { dir, threads }),
            EmbedderKind::Builtin => return Ok(EmbedderSettings::Builtin { dir, threads }),
            EmbedderKind::None => return Ok(EmbedderSettings::None),
            EmbedderKind::Openai => (
                Wire::OpenAi,
                "https://api.openai.com/v1",
                "text-embedding-3-small",
            ),
            EmbedderKind::Ollama => (Wire::Ollama, "http://127.0.0.1:11434", "nomic-embed-text"),
        };
        let base_url = self
            .embedder_base_url
            .clone()
            .unwrap_or_else(|| default_url.to_owned());
        match url::Url::parse(&base_url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => {}
            _ => {
                return Err(SettingError::new(
                    "--embedder-base-url",
                    "RAGCAST_EMBEDDER_BASE_URL",
                    format!("`{base_url}` is not an http(s) URL"),
                ))
            }
        }
        Ok(EmbedderSettings::Remote(RemoteSettings {
            wire,
            base_url,
            model: self
                .embedder_model
                .clone()
                .unwrap_or_else(|| default_model.to_owned()),
            api_key: self.embedder_api_key.clone().filter(|k| !k.is_empty()),
            dimension: self.embedder_dimension.map(|d| d as usize),
            timeout: Duration::from_secs(60),
        }))
    }

    pub fn retrieval(&self) -> Result<RetrievalSettings, SettingError> {
        if !(self.rrf_k.is_finite() && self.rrf_k >= 0.0) {
            return Err(SettingError::new(
                "--rrf-k",
                "RAGCAST_RRF_K",
                "must be a number ≥ 0",
            ));
        }
        if !(-1.0..=1.0).contains(&self.vector_min_similarity) {
            return Err(SettingError::new(
                "--vector-min-similarity",
                "RAGCAST_VECTOR_MIN_SIMILARITY",
                "must be between -1 and 1",
            ));
        }
        Ok(RetrievalSettings {
            mode: match self.retrieval {
                RetrievalKind::Hybrid => RetrievalMode::Hybrid,
                RetrievalKind::Keyword => RetrievalMode::Keyword,
                RetrievalKind::Vector => RetrievalMode::Vector,
            },
            rrf_k: self.rrf_k,
            min_similarity: self.vector_min_similarity,
        })
    }
}
