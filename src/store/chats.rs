use entities::chat;
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
