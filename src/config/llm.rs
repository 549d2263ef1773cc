//! Settings of the model provider. The provider and its settings are one value: the built-in
//! generator carries no upstream, an upstream cannot be half-set.

use std::time::Duration;

use clap::{Args, ValueEnum};

use super::parse;
use crate::llm::{ApiKey, BuiltinSettings, UpstreamSettings};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LlmKind {
    Builtin,
    Openai,
    Ollama,
}

/// The model provider the server runs with.
#[derive(Debug, Clone)]
pub enum LlmSettings {
    Builtin(BuiltinSettings),
    OpenAi(UpstreamSettings),
    Ollama(UpstreamSettings),
}

#[derive(Clone, Args)]
pub struct LlmArgs {
    /// Model provider.
    #[arg(long, env = "RAGCAST_LLM", value_enum, default_value = "builtin")]
    pub llm: LlmKind,

    /// Base URL of the model server (default: OpenAI's API, or Ollama on 127.0.0.1:11434).
    #[arg(long, env = "RAGCAST_LLM_BASE_URL", value_parser = parse::http_url)]
    pub llm_base_url: Option<String>,

    /// Model the server is asked for (default: gpt-4o-mini, or llama3.2 for Ollama).
    #[arg(long, env = "RAGCAST_LLM_MODEL")]
    pub llm_model: Option<String>,

    #[arg(long, env = "RAGCAST_LLM_API_KEY", hide_env_values = true)]
    pub llm_api_key: Option<String>,

    /// Seconds to establish the connection to the model server.
    #[arg(long, env = "RAGCAST_LLM_CONNECT_TIMEOUT_SECS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub llm_connect_timeout_secs: u64,

    /// Seconds from the request to the first token before the generation fails.
    #[arg(long, env = "RAGCAST_LLM_FIRST_TOKEN_TIMEOUT_SECS", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub llm_first_token_timeout_secs: u64,

    /// Seconds of silence between two tokens before the generation fails.
    #[arg(long, env = "RAGCAST_LLM_IDLE_TIMEOUT_SECS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub llm_idle_timeout_secs: u64,

    /// Generations talking to the model server at once; past it a message fails with
    /// `generation_failed`.
    #[arg(long, env = "RAGCAST_LLM_MAX_CONCURRENT", default_value_t = 16,
          value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub llm_max_concurrent: u64,

    /// Characters of earlier messages sent as history (`include_history`), newest kept first.
    #[arg(long, env = "RAGCAST_LLM_HISTORY_CHARS", default_value_t = 12_000)]
    pub llm_history_chars: usize,

    /// Delay between two tokens of the built-in generator, in milliseconds (0 = as fast as possible).
    #[arg(long, env = "RAGCAST_BUILTIN_TOKEN_DELAY_MS", default_value_t = 0)]
    pub builtin_token_delay_ms: u64,

    /// Longest answer of the built-in generator, in tokens.
    #[arg(long, env = "RAGCAST_BUILTIN_MAX_TOKENS", default_value_t = 1024,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub builtin_max_tokens: u64,
}

impl LlmArgs {
    pub fn settings(self) -> LlmSettings {
        let (default_url, default_model) = match self.llm {
            LlmKind::Builtin => {
                return LlmSettings::Builtin(BuiltinSettings {
                    token_delay: Duration::from_millis(self.builtin_token_delay_ms),
                    max_tokens: self.builtin_max_tokens as usize,
                })
            }
            LlmKind::Openai => ("https://api.openai.com/v1", "gpt-4o-mini"),
            LlmKind::Ollama => ("http://127.0.0.1:11434", "llama3.2"),
        };
        let upstream = UpstreamSettings {
            base_url: self.llm_base_url.unwrap_or_else(|| default_url.into()),
            model: self.llm_model.unwrap_or_else(|| default_model.into()),
            api_key: self.llm_api_key.filter(|k| !k.is_empty()).map(ApiKey),
            connect_timeout: Duration::from_secs(self.llm_connect_timeout_secs),
            first_token_timeout: Duration::from_secs(self.llm_first_token_timeout_secs),
            idle_timeout: Duration::from_secs(self.llm_idle_timeout_secs),
            max_concurrent: self.llm_max_concurrent as usize,
            history_budget_chars: self.llm_history_chars,
            retry_backoff: Duration::from_millis(300),
        };
        match self.llm {
            LlmKind::Openai => LlmSettings::OpenAi(upstream),
            _ => LlmSettings::Ollama(upstream),
        }
    }
}
