//! Payloads the server emits (PROTOCOL §2–§6).

use serde::Serialize;

use crate::chat::FinishReason;
use crate::error::ErrorCode;
use crate::llm::Usage;
use crate::retrieval::Source;

#[derive(Debug, Serialize)]
pub struct ConnectionStatus<'a> {
    pub status: &'static str,
    pub sid: String,
    pub server_time: i64,
    pub user_id: Option<&'a str>,
}

#[derive(Debug, Serialize)]
pub struct ProjectRoom {
    pub project_id: i64,
}

#[derive(Debug, Serialize)]
pub struct Pong {
    pub timestamp: serde_json::Number,
    pub server_time: i64,
}

#[derive(Debug, Serialize)]
pub struct Typing<'a> {
    pub chat_id: i64,
    pub user_id: Option<&'a str>,
    pub sid: String,
    pub typing: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct ErrorEvent {
    pub code: ErrorCode,
    pub message: String,
    pub event: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chat_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct MessageReceived {
    pub chat_id: i64,
    pub message_id: i64,
    pub user_message_id: i64,
    pub client_message_id: Option<String>,
    pub created_at: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub duplicate: bool,
}

#[derive(Debug, Serialize)]
pub struct MessageSources<'a> {
    pub chat_id: i64,
    pub message_id: i64,
    pub sources: &'a [Source],
}

/// `message_token` and `message_reasoning` share this shape, each with its own index.
#[derive(Debug, Serialize)]
pub struct MessageToken<'a> {
    pub chat_id: i64,
    pub message_id: i64,
    pub token: &'a str,
    pub index: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct MessageComplete {
    pub chat_id: i64,
    pub message_id: i64,
    pub content: String,
    pub metadata: CompleteMetadata,
}

#[derive(Debug, Clone, Serialize)]
pub struct CompleteMetadata {
    pub model: String,
    pub sources_count: usize,
    pub tokens: usize,
    pub finish_reason: FinishReason,
    pub first_token_ms: Option<i64>,
    pub duration_ms: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
}

#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProgressKind {
    Reasoning,
    Text,
    Completion,
}

#[derive(Debug, Serialize)]
pub struct AiProgress<'a> {
    #[serde(rename = "type")]
    pub kind: ProgressKind,
    pub text: &'a str,
    pub partial: bool,
    pub task_id: &'a str,
    pub chat_id: i64,
    pub message_id: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<FinishReason>,
}
