use entities::{chat, AssistantMode};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    Set,
};

pub async fn create(
    db: &impl ConnectionTrait,
    project_id: i64,
    title: &str,
) -> Result<chat::Model, DbErr> {
    chat::ActiveModel {
        project_id: Set(project_id),
        title: Set(title.to_owned()),
        assistant: Set(AssistantMode::On),
        created_at: Set(crate::time::now()),
        ..Default::default()
    }
    .insert(db)
    .await
}

pub async fn find(db: &impl ConnectionTrait, id: i64) -> Result<Option<chat::Model>, DbErr> {
    chat::Entity::find_by_id(id).one(db).await
}

pub async fn list(db: &impl ConnectionTrait, project_id: i64) -> Result<Vec<chat::Model>, DbErr> {
    chat::Entity::find()
        .filter(chat::Column::ProjectId.eq(project_id))
        .order_by_asc(chat::Column::Id)
        .all(db)
        .await
}

/// Sets what is given of a chat's assistant switch and title; `None` when there is no such chat.
pub async fn update(
    db: &impl ConnectionTrait,
    id: i64,
    assistant: Option<AssistantMode>,
    title: Option<&str>,
) -> Result<Option<chat::Model>, DbErr> {
    let Some(found) = find(db, id).await? else {
        return Ok(None);
    };
    let mut row: chat::ActiveModel = found.into();
    if let Some(assistant) = assistant {
        row.assistant = Set(assistant);
    }
    if let Some(title) = title {
        row.title = Set(title.to_owned());
    }
    row.update(db).await.map(Some)
}
