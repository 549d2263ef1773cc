use sea_orm::entity::prelude::*;
use sea_orm::FromJsonQueryResult;
use serde::{Deserialize, Serialize};

use crate::actions::Action;
use crate::states::{FinishReason, MessageStatus, Role};

/// The streamed pieces of a reply, stored so a replay resends the very same `(index, token)`
/// pairs: boundaries, not only the joined text. A JSON column read and written as this type.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, FromJsonQueryResult)]
pub struct TokenLog {
    pub tokens: Vec<String>,
    pub reasoning: Vec<String>,
    /// Steps, tool calls and their results (a back end's stream), in their index order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<Action>,
}

/// Token counts of one generation, as providers report them and `metadata.usage` sends them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, FromJsonQueryResult)]
pub struct Usage {
    /// Servers leave counts out (or null) at times; a missing one is 0, not a failed stream.
    #[serde(default, deserialize_with = "count_or_zero")]
    pub prompt_tokens: u64,
    #[serde(default, deserialize_with = "count_or_zero")]
    pub completion_tokens: u64,
}

fn count_or_zero<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    Ok(Option::<u64>::deserialize(deserializer)?.unwrap_or(0))
}

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "messages")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub chat_id: i64,
    pub role: Role,
    #[sea_orm(column_type = "Text")]
    pub content: String,
    pub status: MessageStatus,
    pub model: Option<String>,
    /// The `message_sources` list as sent, so a replay sends the very same sources.
    pub sources: Option<Json>,
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub token_log: Option<TokenLog>,
    pub token_count: i32,
    pub finish_reason: Option<FinishReason>,
    pub first_token_ms: Option<i64>,
    pub duration_ms: Option<i64>,
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub usage: Option<Usage>,
    pub client_message_id: Option<String>,
    pub task_id: Option<String>,
    /// Who wrote it (`sender.user_id`); for a reply, who asked.
    pub user_id: Option<String>,
    /// The writer's name as shown (`sender.name`: the token's `name` claim, or what a back end
    /// posting it said).
    pub sender_name: Option<String>,
    /// The node running the stream while it is `streaming`.
    pub node_id: Option<String>,
    pub created_at: DateTimeUtc,
    pub completed_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::chat::Entity",
        from = "Column::ChatId",
        to = "super::chat::Column::Id",
        on_delete = "Cascade"
    )]
    Chat,
}

impl Related<super::chat::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Chat.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
