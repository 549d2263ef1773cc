use entities::project;
use sea_orm::{ActiveModelTrait, ConnectionTrait, DbErr, EntityTrait, QueryOrder, Set};

pub async fn create(db: &impl ConnectionTrait, name: &str) -> Result<project::Model, DbErr> {
    project::ActiveModel {
        name: Set(name.to_owned()),
        created_at: Set(crate::time::now()),
        ..Default::default()
    }
    .insert(db)
    .await
}

pub async fn find(db: &impl ConnectionTrait, id: i64) -> Result<Option<project::Model>, DbErr> {
    project::Entity::find_by_id(id).one(db).await
}

pub async fn list(db: &impl ConnectionTrait) -> Result<Vec<project::Model>, DbErr> {
    project::Entity::find()
        .order_by_asc(project::Column::Id)
        .all(db)
        .await
}

/// Deletes the project; the database cascades to its chats, messages, documents and chunks.
pub async fn delete(db: &impl ConnectionTrait, id: i64) -> Result<bool, DbErr> {
    let result = project::Entity::delete_by_id(id).exec(db).await?;
    Ok(result.rows_affected > 0)
}
