//! Settings of semantic retrieval: which embedder, and how the rankings are fused.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};

use super::parse;
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
    #[arg(long, env = "RAGCAST_EMBEDDER_BASE_URL", value_parser = parse::http_url)]
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
    #[arg(long, env = "RAGCAST_RRF_K", default_value_t = 60.0, value_parser = parse::rrf_k)]
    pub rrf_k: f64,

    /// Cosine similarity a chunk needs to be a vector candidate.
    #[arg(long, env = "RAGCAST_VECTOR_MIN_SIMILARITY", default_value_t = 0.2,
          value_parser = parse::similarity)]
    pub vector_min_similarity: f32,
}

/// Where `scripts/fetch-model` puts the model by default.
pub fn default_model_dir() -> PathBuf {
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
    home.join(".cache/ragcast/models/all-MiniLM-L6-v2")
}

impl EmbedArgs {
    pub fn embedder(&self) -> EmbedderSettings {
        let dir = self
            .embedder_model_dir
            .clone()
            .unwrap_or_else(default_model_dir);
        let threads = self.embedder_threads;
        let (wire, default_url, default_model) = match self.embedder {
            EmbedderKind::Auto => return EmbedderSettings::Auto { dir, threads },
            EmbedderKind::Builtin => return EmbedderSettings::Builtin { dir, threads },
            EmbedderKind::None => return EmbedderSettings::None,
            EmbedderKind::Openai => (
                Wire::OpenAi,
                "https://api.openai.com/v1",
                "text-embedding-3-small",
            ),
            EmbedderKind::Ollama => (Wire::Ollama, "http://127.0.0.1:11434", "nomic-embed-text"),
        };
        EmbedderSettings::Remote(RemoteSettings {
            wire,
            base_url: self
                .embedder_base_url
                .clone()
                .unwrap_or_else(|| default_url.to_owned()),
            model: self
                .embedder_model
                .clone()
                .unwrap_or_else(|| default_model.to_owned()),
            api_key: self.embedder_api_key.clone().filter(|k| !k.is_empty()),
            dimension: self.embedder_dimension.map(|d| d as usize),
            timeout: Duration::from_secs(60),
        })
    }

    pub fn retrieval(&self) -> RetrievalSettings {
        RetrievalSettings {
            mode: match self.retrieval {
                RetrievalKind::Hybrid => RetrievalMode::Hybrid,
                RetrievalKind::Keyword => RetrievalMode::Keyword,
                RetrievalKind::Vector => RetrievalMode::Vector,
            },
            rrf_k: self.rrf_k,
            min_similarity: self.vector_min_similarity,
        }
    }
}
