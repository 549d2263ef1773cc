//! Embedding servers: any OpenAI-compatible `POST {base}/embeddings` (OpenAI, vLLM, llama.cpp's
//! server, Hugging Face TEI, LiteLLM) or Ollama's `POST {base}/api/embed`. Texts go in batches;
//! the server is asked once at start, which gives the dimension and proves it answers.

use std::time::Duration;

use serde::Deserialize;
use serde_json::json;

use super::{normalise, EmbedError, Embedder, Purpose, StartError};

/// Texts per request.
const BATCH: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    OpenAi,
    Ollama,
}

impl Wire {
    fn name(self) -> &'static str {
        match self {
            Wire::OpenAi => "openai",
            Wire::Ollama => "ollama",
        }
    }
}

#[derive(Clone)]
pub struct RemoteSettings {
    pub wire: Wire,
    pub base_url: String,
    pub model: String,
    pub api_key: Option<String>,
    /// The dimension the vectors must have, when the operator knows it.
    pub dimension: Option<usize>,
    pub timeout: Duration,
}

impl std::fmt::Debug for RemoteSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteSettings")
            .field("wire", &self.wire)
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "***"))
            .field("dimension", &self.dimension)
            .finish()
    }
}

pub struct Remote {
    settings: RemoteSettings,
    http: reqwest::Client,
    model: String,
    dimension: usize,
}

#[derive(Deserialize)]
struct OpenAiAnswer {
    data: Vec<OpenAiVector>,
}

#[derive(Deserialize)]
struct OpenAiVector {
    index: usize,
    embedding: Vec<f32>,
}

#[derive(Deserialize)]
struct OllamaAnswer {
    embeddings: Vec<Vec<f32>>,
}

impl Remote {
    pub async fn connect(settings: &RemoteSettings) -> Result<Self, StartError> {
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| StartError::Server(e.to_string()))?;
        let probe = request(&http, settings, &["ragcast".to_owned()])
            .await
            .map_err(|e| StartError::Server(format!("{}: {e}", settings.base_url)))?;
        let dimension = probe.first().map(Vec::len).unwrap_or_default();
        if dimension == 0 {
            return Err(StartError::Server(format!(
                "{} answered an empty vector",
                settings.base_url
            )));
        }
        if let Some(expected) = settings.dimension.filter(|d| *d != dimension) {
            return Err(StartError::Dimension(format!(
                "{} `{}` answers {dimension}-dimension vectors, not {expected}",
                settings.base_url, settings.model
            )));
        }
        let model = format!("{}:{}", settings.wire.name(), settings.model);
        tracing::info!(
            model,
            dimension,
            "semantic retrieval on: embedding server {}",
            settings.base_url
        );
        Ok(Self {
            settings: settings.clone(),
            http,
            model,
            dimension,
        })
    }
}

#[async_trait::async_trait]
impl Embedder for Remote {
    fn model(&self) -> &str {
        &self.model
    }

    fn dimension(&self) -> usize {
        self.dimension
    }

    async fn embed(&self, texts: Vec<String>, _: Purpose) -> Result<Vec<Vec<f32>>, EmbedError> {
        let mut vectors = Vec::with_capacity(texts.len());
        for batch in texts.chunks(BATCH) {
            let answered = request(&self.http, &self.settings, batch).await?;
            if answered.len() != batch.len() || answered.iter().any(|v| v.len() != self.dimension) {
                return Err(EmbedError::Shape {
                    asked: batch.len(),
                    got: answered.len(),
                    dimension: answered.first().map(Vec::len).unwrap_or_default(),
                });
            }
            vectors.extend(answered);
        }
        Ok(vectors)
    }
}

/// One request for `texts`, in the server's wire format; the vectors come back normalised.
async fn request(
    http: &reqwest::Client,
    settings: &RemoteSettings,
    texts: &[String],
) -> Result<Vec<Vec<f32>>, EmbedError> {
    let base = settings.base_url.trim_end_matches('/');
    let url = match settings.wire {
        Wire::OpenAi => format!("{base}/embeddings"),
        Wire::Ollama => format!("{base}/api/embed"),
    };
    let mut req = http
        .post(&url)
        .json(&json!({ "model": settings.model, "input": texts }));
    if let Some(key) = &settings.api_key {
        req = req.bearer_auth(key);
    }
    let failed = |e: reqwest::Error| EmbedError::Request(e.without_url());
    let res = req.send().await.map_err(failed)?;
    let status = res.status();
    if !status.is_success() {
        let body = res.text().await.unwrap_or_default();
        let body: String = body.chars().take(200).collect();
        return Err(EmbedError::Status { status, body });
    }
    let mut vectors = match settings.wire {
        Wire::OpenAi => {
            let mut answer: OpenAiAnswer = res.json().await.map_err(failed)?;
            answer.data.sort_by_key(|v| v.index);
            answer.data.into_iter().map(|v| v.embedding).collect()
        }
        Wire::Ollama => {
            let answer: OllamaAnswer = res.json().await.map_err(failed)?;
            answer.embeddings
        }
    };
    vectors.iter_mut().for_each(|v| normalise(v));
    Ok(vectors)
}
