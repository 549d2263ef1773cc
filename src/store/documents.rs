use entities::{chunk, document};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    Set,
};

pub struct NewDocument<'a> {
    pub project_id: i64,
    pub filename: &'a str,
    pub content_type: &'a str,
    pub size_bytes: i64,
}

pub async fn create(
    db: &impl ConnectionTrait,
    new: NewDocument<'_>,
) -> Result<document::Model, DbErr> {
    let now = crate::time::now();
    document::ActiveModel {
        project_id: Set(new.project_id),
        filename: Set(new.filename.to_owned()),
        content_type: Set(new.content_type.to_owned()),
        status: Set("queued".to_owned()),
        progress: Set(0),
        error: Set(None),
        size_bytes: Set(new.size_bytes),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await
}

pub async fn find(db: &impl ConnectionTrait, id: i64) -> Result<Option<document::Model>, DbErr> {
    document::Entity::find_by_id(id).one(db).await
}

pub async fn list(
    db: &impl ConnectionTrait,
    project_id: i64,
) -> Result<Vec<document::Model>, DbErr> {
    document::Entity::find()
        .filter(document::Column::ProjectId.eq(project_id))
        .order_by_asc(document::Column::Id)
        .all(db)
        .await
}

pub async fn set_status(
    db: &impl ConnectionTrait,
    id: i64,
    status: &str,
    progress: i32,
    error: Option<&str>,
) -> Result<(), DbErr> {
    document::ActiveModel {
        id: Set(id),
        status: Set(status.to_owned()),
        progress: Set(progress),
        error: Set(error.map(str::to_owned)),
        updated_at: Set(crate::time::now()),
        ..Default::default()
    }
    .update(db)
    .await?;
    Ok(())
}

/// A chunk ready to be stored.
pub struct NewChunk {
    pub chunk_index: i32,
    pub page: Option<i32>,
    pub content: String,
}

/// Stores a batch of chunks. They are searchable only once the document is `completed`.
pub async fn insert_chunks(
    db: &impl ConnectionTrait,
    doc: &document::Model,
    chunks: &[NewChunk],
) -> Result<(), DbErr> {
    if chunks.is_empty() {
        return Ok(());
    }
    let rows = chunks.iter().map(|c| chunk::ActiveModel {
        project_id: Set(doc.project_id),
        document_id: Set(doc.id),
        chunk_index: Set(c.chunk_index),
        page: Set(c.page),
        content: Set(c.content.clone()),
        ..Default::default()
    });
    chunk::Entity::insert_many(rows).exec(db).await?;
    Ok(())
}

/// Removes what a failed ingestion stored, so nothing half-indexed remains.
pub async fn delete_chunks(db: &impl ConnectionTrait, document_id: i64) -> Result<(), DbErr> {
    chunk::Entity::delete_many()
        .filter(chunk::Column::DocumentId.eq(document_id))
        .exec(db)
        .await?;
    Ok(())
}

pub async fn delete(db: &impl ConnectionTrait, id: i64) -> Result<bool, DbErr> {
    let result = document::Entity::delete_by_id(id).exec(db).await?;
    Ok(result.rows_affected > 0)
}
