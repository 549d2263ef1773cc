//! JSON shapes of stored rows, as the HTTP API returns them (PROTOCOL §5–§6).

use entities::{
    chat, document, message, project, steps_and_calls, AssistantMode, DocumentStatus, FinishReason,
    MessageStatus, Role, Sender, Step, ToolCallOutcome,
};
use serde::Serialize;

use crate::time::serde_iso;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProjectView {
    pub id: i64,
    pub name: String,
    #[serde(with = "serde_iso")]
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl From<project::Model> for ProjectView {
    fn from(m: project::Model) -> Self {
        Self {
            id: m.id,
            name: m.name,
            created_at: m.created_at,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ChatView {
    pub id: i64,
    pub project_id: i64,
    pub title: String,
    pub assistant: AssistantMode,
    #[serde(with = "serde_iso")]
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl From<chat::Model> for ChatView {
    fn from(m: chat::Model) -> Self {
        Self {
            id: m.id,
            project_id: m.project_id,
            title: m.title,
            assistant: m.assistant,
            created_at: m.created_at,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MessageView {
    pub id: i64,
    pub chat_id: i64,
    pub role: Role,
    /// `null` for a reply.
    pub sender: Option<Sender>,
    pub content: String,
    pub status: MessageStatus,
    pub sources: serde_json::Value,
    pub model: Option<String>,
    pub finish_reason: Option<FinishReason>,
    pub client_message_id: Option<String>,
    pub token_count: i32,
    pub first_token_ms: Option<i64>,
    pub duration_ms: Option<i64>,
    #[schema(value_type = Option<Object>)]
    pub usage: Option<entities::message::Usage>,
    /// A back end's steps, each as last reported (PROTOCOL §9.3); left out when none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<Object>)]
    pub steps: Vec<Step>,
    /// Its tool calls, each with its result or error once reported; left out when none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<Object>)]
    pub tool_calls: Vec<ToolCallOutcome>,
    #[serde(with = "serde_iso")]
    pub created_at: chrono::DateTime<chrono::Utc>,
    #[serde(with = "serde_iso::option")]
    pub completed_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl From<message::Model> for MessageView {
    fn from(m: message::Model) -> Self {
        let actions = m.token_log.as_ref().map_or(&[][..], |log| &log.actions[..]);
        let (steps, tool_calls) = steps_and_calls(actions);
        Self {
            id: m.id,
            chat_id: m.chat_id,
            role: m.role,
            sender: (m.role != Role::Assistant).then(|| Sender {
                user_id: m.user_id.clone(),
                name: m.sender_name.clone(),
            }),
            content: m.content,
            status: m.status,
            sources: m.sources.unwrap_or_else(|| serde_json::json!([])),
            model: m.model,
            finish_reason: m.finish_reason,
            client_message_id: m.client_message_id,
            token_count: m.token_count,
            first_token_ms: m.first_token_ms,
            duration_ms: m.duration_ms,
            usage: m.usage,
            steps,
            tool_calls,
            created_at: m.created_at,
            completed_at: m.completed_at,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DocumentView {
    pub id: i64,
    pub project_id: i64,
    pub filename: String,
    pub content_type: String,
    pub status: DocumentStatus,
    pub progress: i32,
    pub error: Option<String>,
    pub size_bytes: i64,
    #[serde(with = "serde_iso")]
    pub created_at: chrono::DateTime<chrono::Utc>,
    #[serde(with = "serde_iso")]
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

impl From<document::Model> for DocumentView {
    fn from(m: document::Model) -> Self {
        Self {
            id: m.id,
            project_id: m.project_id,
            filename: m.filename,
            content_type: m.content_type,
            status: m.status,
            progress: m.progress,
            error: m.error,
            size_bytes: m.size_bytes,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}
