//! Payloads the server emits (PROTOCOL §2–§6).

use serde::Serialize;

use super::sources::Source;
use super::PublicId;
use crate::error::ErrorCode;
use entities::{DocumentStatus, FinishReason};

#[derive(Debug, Serialize)]
pub struct ConnectionStatus<'a> {
    pub status: &'static str,
    /// The socket's own session id, sent to that socket alone.
    pub sid: String,
    pub public_id: PublicId,
    pub server_time: i64,
    pub user_id: Option<&'a str>,
}

#[derive(Debug, Serialize)]
pub struct ProjectRoom {
    pub project_id: i64,
}

/// `presence { project_id, members }` to a socket that joined a project (PROTOCOL §9.2).
#[derive(Debug, Serialize)]
pub struct PresenceList<'a, M: Serialize> {
    pub project_id: i64,
    pub members: &'a [M],
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
    /// The typing socket's public id (PROTOCOL §4), never its session id.
    pub sid: PublicId,
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

/// A stored message that does not stream, announced before anything refers to it (§9.1).
/// `message` is the stored message as the HTTP API shows it.
#[derive(Debug, Serialize)]
pub struct MessageCreated<'a, M: Serialize> {
    pub chat_id: i64,
    pub message: &'a M,
}

#[derive(Debug, Clone, Serialize)]
pub struct MessageReceived {
    pub chat_id: i64,
    pub message_id: i64,
    /// `null` for a back end's stream started without a question.
    pub user_message_id: Option<i64>,
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

/// The `document_status` event.
#[derive(Debug, Clone, Serialize)]
pub struct DocumentStatusEvent {
    pub project_id: i64,
    pub document_id: i64,
    pub filename: String,
    pub status: DocumentStatus,
    pub progress: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The `project_update` event; `data` is typed by its kind: `DocumentChange`, `ChatChange`, the
/// chat's view for `chat_created`, a back end's own JSON for its own kinds.
#[derive(Debug, Clone, Serialize)]
pub struct ProjectUpdate<T> {
    pub project_id: i64,
    #[serde(rename = "type")]
    pub kind: UpdateKind,
    pub data: T,
}

/// `data` of `document_added` and `document_deleted`.
#[derive(Debug, Clone, Serialize)]
pub struct DocumentChange<'a> {
    pub document_id: i64,
    pub filename: &'a str,
}

/// `data` of `chat_updated` (PROTOCOL §9.1).
#[derive(Debug, Clone, Serialize)]
pub struct ChatChange<'a> {
    pub chat_id: i64,
    pub assistant: entities::AssistantMode,
    pub title: &'a str,
}

/// A `project_update`'s `type`: the server's own, or one a back end sent
/// (`POST /api/projects/{id}/updates`), passed on as it came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpdateKind {
    DocumentAdded,
    DocumentDeleted,
    ChatCreated,
    /// A chat's assistant switch or title changed (PROTOCOL §9.1).
    ChatUpdated,
    Custom(String),
}

impl UpdateKind {
    pub fn as_str(&self) -> &str {
        match self {
            UpdateKind::DocumentAdded => "document_added",
            UpdateKind::DocumentDeleted => "document_deleted",
            UpdateKind::ChatCreated => "chat_created",
            UpdateKind::ChatUpdated => "chat_updated",
            UpdateKind::Custom(kind) => kind,
        }
    }
}

impl Serialize for UpdateKind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// A `message_token` / `message_reasoning` as a socket that fell behind gets it: the pieces
/// `from_index..=index` joined (PROTOCOL §8). `from_index` is left out when it is one piece.
#[derive(Debug, Serialize)]
pub struct MergedPiece<'a> {
    pub chat_id: i64,
    pub message_id: i64,
    pub token: &'a str,
    pub index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_index: Option<usize>,
}

/// `message_snapshot`: everything a stream sent after `after_index` so far, in one event
/// (PROTOCOL §8), then the live tail or `message_complete`.
#[derive(Debug, Serialize)]
pub struct MessageSnapshot<'a> {
    pub chat_id: i64,
    pub message_id: i64,
    pub content: String,
    pub reasoning: String,
    /// The last token's index; `None` before the first token.
    pub last_index: Option<usize>,
    pub last_reasoning_index: Option<usize>,
    pub sources: &'a [Source],
    pub status: entities::MessageStatus,
    /// A back end's steps as last reported, and its tool calls with their results (§9.3).
    pub steps: Vec<entities::Step>,
    pub tool_calls: Vec<entities::ToolCallOutcome>,
    pub last_action_index: Option<usize>,
}

/// Token counts of one generation, as providers report them and `metadata.usage` sends them;
/// stored with the reply as this type.
pub use entities::message::Usage;
