//! The states stored in string columns, as enums: the stored values (and the wire's, where a
//! state is sent) are the snake_case names.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// Who wrote a message.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    EnumIter,
    DeriveActiveEnum,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[sea_orm(rs_type = "String", db_type = "Text")]
#[serde(rename_all = "snake_case")]
pub enum Role {
    #[sea_orm(string_value = "user")]
    User,
    #[sea_orm(string_value = "assistant")]
    Assistant,
    /// A notice posted by a back end (PROTOCOL §9.1).
    #[sea_orm(string_value = "system")]
    System,
}

impl Role {
    /// The role's name as model servers (OpenAI, Ollama) take it.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::System => "system",
        }
    }
}

/// Whether ragcast's model answers in a chat: `off` while a person has taken it over.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    EnumIter,
    DeriveActiveEnum,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[sea_orm(rs_type = "String", db_type = "Text")]
#[serde(rename_all = "snake_case")]
pub enum AssistantMode {
    #[default]
    #[sea_orm(string_value = "on")]
    On,
    #[sea_orm(string_value = "off")]
    Off,
}

/// Where a message is in its life: a user message is `complete` at once; a reply is
/// `streaming` until it ends one of the other ways.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    EnumIter,
    DeriveActiveEnum,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[sea_orm(rs_type = "String", db_type = "Text")]
#[serde(rename_all = "snake_case")]
pub enum MessageStatus {
    #[sea_orm(string_value = "streaming")]
    Streaming,
    #[sea_orm(string_value = "complete")]
    Complete,
    #[sea_orm(string_value = "cancelled")]
    Cancelled,
    #[sea_orm(string_value = "failed")]
    Failed,
    #[sea_orm(string_value = "interrupted")]
    Interrupted,
}

/// Why a reply ended (`message_complete.metadata.finish_reason`, PROTOCOL §5).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    EnumIter,
    DeriveActiveEnum,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[sea_orm(rs_type = "String", db_type = "Text")]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    #[sea_orm(string_value = "stop")]
    Stop,
    #[sea_orm(string_value = "length")]
    Length,
    #[sea_orm(string_value = "cancelled")]
    Cancelled,
    #[sea_orm(string_value = "error")]
    Error,
}

/// A document's ingestion (`document_status.status`, PROTOCOL §6).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    EnumIter,
    DeriveActiveEnum,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[sea_orm(rs_type = "String", db_type = "Text")]
#[serde(rename_all = "snake_case")]
pub enum DocumentStatus {
    #[sea_orm(string_value = "queued")]
    Queued,
    #[sea_orm(string_value = "processing")]
    Processing,
    #[sea_orm(string_value = "completed")]
    Completed,
    #[sea_orm(string_value = "failed")]
    Failed,
}

impl DocumentStatus {
    /// Still to be ingested: queued, or cut off while processing.
    pub const UNFINISHED: [DocumentStatus; 2] =
        [DocumentStatus::Queued, DocumentStatus::Processing];
}

impl MessageStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageStatus::Streaming => "streaming",
            MessageStatus::Complete => "complete",
            MessageStatus::Cancelled => "cancelled",
            MessageStatus::Failed => "failed",
            MessageStatus::Interrupted => "interrupted",
        }
    }
}

impl FinishReason {
    pub fn as_str(self) -> &'static str {
        match self {
            FinishReason::Stop => "stop",
            FinishReason::Length => "length",
            FinishReason::Cancelled => "cancelled",
            FinishReason::Error => "error",
        }
    }
}

impl DocumentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DocumentStatus::Queued => "queued",
            DocumentStatus::Processing => "processing",
            DocumentStatus::Completed => "completed",
            DocumentStatus::Failed => "failed",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::{ActiveEnum, Iterable};

    /// The stored value, the wire value and `as_str` are one and the same name.
    #[test]
    fn stored_wire_and_display_names_agree() {
        fn check<T: ActiveEnum<Value = String> + Iterable + Serialize + Copy>(
            name: fn(T) -> &'static str,
        ) {
            for state in T::iter() {
                let wire = serde_json::to_value(state).unwrap();
                assert_eq!(wire, serde_json::Value::String(state.to_value()));
                assert_eq!(name(state), state.to_value());
            }
        }
        check::<Role>(Role::as_str);
        check::<MessageStatus>(MessageStatus::as_str);
        check::<FinishReason>(FinishReason::as_str);
        check::<DocumentStatus>(DocumentStatus::as_str);
    }
}

/// Who wrote a message (PROTOCOL §9.1): the token's `sub` and `name` claim, or what a back end
/// posting it said. Stored as the message's `user_id` and `sender_name`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Sender {
    pub user_id: Option<String>,
    pub name: Option<String>,
}
