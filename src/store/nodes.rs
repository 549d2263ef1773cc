//! Node heartbeats, and the streams of nodes that stopped beating.

use chrono::{DateTime, Utc};
use entities::{message, node};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect, Set};

use super::{MessageStatus, Role};

/// Records that node `id` is alive now.
pub async fn heartbeat(db: &impl ConnectionTrait, id: &str, name: &str) -> Result<(), DbErr> {
    node::Entity::insert(node::ActiveModel {
        id: Set(id.to_owned()),
        name: Set(name.to_owned()),
        heartbeat_at: Set(crate::time::now()),
    })
    .on_conflict(
        OnConflict::column(node::Column::Id)
            .update_column(node::Column::HeartbeatAt)
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// A node that stops on purpose leaves at once instead of waiting for its lease to run out.
pub async fn remove(db: &impl ConnectionTrait, id: &str) -> Result<(), DbErr> {
    node::Entity::delete_by_id(id.to_owned()).exec(db).await?;
    Ok(())
}

/// The nodes that have beaten since `alive_since`.
pub async fn alive(
    db: &impl ConnectionTrait,
    alive_since: DateTime<Utc>,
) -> Result<Vec<String>, DbErr> {
    node::Entity::find()
        .select_only()
        .column(node::Column::Id)
        .filter(node::Column::HeartbeatAt.gt(alive_since))
        .into_tuple()
        .all(db)
        .await
}

/// Assistant rows still `streaming` whose node has not beaten since `alive_since` (or is gone).
pub async fn orphaned_streams(
    db: &impl ConnectionTrait,
    alive_since: DateTime<Utc>,
) -> Result<Vec<message::Model>, DbErr> {
    let alive = alive(db, alive_since).await?;
    message::Entity::find()
        .filter(message::Column::Status.eq(MessageStatus::Streaming))
        .filter(message::Column::Role.eq(Role::Assistant))
        .filter(
            message::Column::NodeId
                .is_null()
                .or(message::Column::NodeId.is_not_in(alive)),
        )
        .all(db)
        .await
}

/// Marks one orphaned stream `interrupted`; `false` when it was no longer streaming (another
/// node took it first, or it ended), so exactly one node announces it.
pub async fn interrupt_orphan(db: &impl ConnectionTrait, message_id: i64) -> Result<bool, DbErr> {
    let result = super::messages::interrupt_streaming_rows()
        .filter(message::Column::Id.eq(message_id))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Forgets nodes that have been silent for long (their streams were taken over already).
pub async fn remove_silent(
    db: &impl ConnectionTrait,
    silent_since: DateTime<Utc>,
) -> Result<u64, DbErr> {
    let result = node::Entity::delete_many()
        .filter(node::Column::HeartbeatAt.lt(silent_since))
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}
