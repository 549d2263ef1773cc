//! Model providers behind one trait: a request in, a stream of text / reasoning deltas and a
//! finish reason out. The chat pipeline never knows which provider it talks to.

mod builtin;
mod ollama;
mod openai;
pub mod prompt;
mod think;
pub mod upstream;

pub use builtin::{BuiltinGenerator, BuiltinSettings};
pub use ollama::Ollama;
pub use openai::OpenAi;
pub use upstream::{ApiKey, HttpProvider, UpstreamSettings};

use futures::stream::BoxStream;

pub use crate::protocol::outgoing::Usage;
use crate::retrieval::Source;
use crate::store::FinishReason;

/// One earlier turn of the chat, for providers that take history.
#[derive(Debug, Clone)]
pub struct HistoryTurn {
    pub role: crate::store::Role,
    pub content: String,
}

#[derive(Debug, Clone)]
pub struct GenerationRequest {
    pub model: String,
    pub temperature: Option<f64>,
    pub question: String,
    pub sources: Vec<Source>,
    pub history: Vec<HistoryTurn>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum LlmEvent {
    Text(String),
    Reasoning(String),
    Usage(Usage),
    /// The provider's own end; a stream that just ends means `Stop`.
    Finish(FinishReason),
}

/// What broke a model request: kept whole (and shared, errors are cloned into retries) for the
/// log, shown to clients as its text without URLs.
pub type Cause = std::sync::Arc<dyn std::error::Error + Send + Sync>;

/// An error and its sources, one sentence.
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum LlmError {
    #[error("the model server answered {status}: {message}")]
    Upstream { status: u16, message: String },
    #[error("the model server could not be reached: {}", chain(.0.as_ref()))]
    Connect(#[source] Cause),
    #[error("the model server sent nothing for too long")]
    Timeout,
    #[error("the model server sent a malformed chunk: {0}")]
    Malformed(String),
    #[error("the connection to the model server broke: {}", chain(.0.as_ref()))]
    Interrupted(#[source] Cause),
    #[error("the model server closed the stream before it finished")]
    CutShort,
    #[error("too many generations are running; try again in a moment")]
    Busy,
}

impl LlmError {
    /// Worth one more try, if no token has been emitted yet.
    pub fn retryable(&self) -> bool {
        match self {
            LlmError::Upstream { status, .. } => *status >= 500 || *status == 429,
            LlmError::Connect(_)
            | LlmError::Timeout
            | LlmError::Interrupted(_)
            | LlmError::CutShort => true,
            LlmError::Malformed(_) | LlmError::Busy => false,
        }
    }
}

pub type LlmStream = BoxStream<'static, Result<LlmEvent, LlmError>>;

pub trait LlmProvider: Send + Sync {
    /// The model named in `message_complete` when a message does not ask for one.
    fn default_model(&self) -> &str;

    /// Starts a generation. Dropping the stream aborts it (and any upstream request).
    fn generate(&self, request: GenerationRequest) -> LlmStream;

    /// Whether `GenerationRequest::history` is used; when not, the pipeline skips reading it.
    fn uses_history(&self) -> bool {
        true
    }
}
