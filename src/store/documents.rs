use entities::{chunk, document, document_upload, DocumentStatus};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter, QueryOrder, Set, TransactionTrait,
};

pub struct NewDocument<'a> {
    pub project_id: i64,
    pub filename: &'a str,
    pub content_type: &'a str,
    pub size_bytes: i64,
}

/// Stores the document `queued` on node `node_id` with its upload's bytes, in one transaction:
/// once the upload is answered, a crash cannot lose it.
pub async fn create(
    db: &DatabaseConnection,
    new: NewDocument<'_>,
    content: Vec<u8>,
    node_id: &str,
) -> Result<document::Model, DbErr> {
    let now = crate::time::now();
    let txn = db.begin().await?;
    let doc = document::ActiveModel {
        project_id: Set(new.project_id),
        filename: Set(new.filename.to_owned()),
        content_type: Set(new.content_type.to_owned()),
        status: Set(DocumentStatus::Queued),
        progress: Set(0),
        error: Set(None),
        size_bytes: Set(new.size_bytes),
        node_id: Set(Some(node_id.to_owned())),
        attempts: Set(0),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    document_upload::ActiveModel {
        document_id: Set(doc.id),
        content: Set(content),
    }
    .insert(&txn)
    .await?;
    txn.commit().await?;
    Ok(doc)
}

/// The bytes of a document's upload, while its ingestion is not finished.
pub async fn upload(db: &impl ConnectionTrait, document_id: i64) -> Result<Option<Vec<u8>>, DbErr> {
    Ok(document_upload::Entity::find_by_id(document_id)
        .one(db)
        .await?
        .map(|upload| upload.content))
}

/// Drops an upload's bytes once its document is indexed or failed.
pub async fn forget_upload(db: &impl ConnectionTrait, document_id: i64) -> Result<(), DbErr> {
    document_upload::Entity::delete_by_id(document_id)
        .exec(db)
        .await?;
    Ok(())
}

/// Starts an ingestion attempt on node `node_id`: the document is `processing` and its attempts
/// count one more. `None` when it is no longer waiting (deleted, or finished meanwhile).
pub async fn start_attempt(
    db: &impl ConnectionTrait,
    id: i64,
    node_id: &str,
) -> Result<Option<document::Model>, DbErr> {
    let result = document::Entity::update_many()
        .col_expr(
            document::Column::Status,
            Expr::value(DocumentStatus::Processing),
        )
        .col_expr(
            document::Column::Attempts,
            Expr::col(document::Column::Attempts).add(1),
        )
        .col_expr(document::Column::NodeId, Expr::value(node_id))
        .col_expr(document::Column::UpdatedAt, Expr::value(crate::time::now()))
        .filter(document::Column::Id.eq(id))
        .filter(document::Column::Status.is_in(DocumentStatus::UNFINISHED))
        .exec(db)
        .await?;
    if result.rows_affected == 0 {
        return Ok(None);
    }
    find(db, id).await
}

/// Documents whose ingestion has not finished, oldest first.
pub async fn unfinished(db: &impl ConnectionTrait) -> Result<Vec<document::Model>, DbErr> {
    document::Entity::find()
        .filter(document::Column::Status.is_in(DocumentStatus::UNFINISHED))
        .order_by_asc(document::Column::Id)
        .all(db)
        .await
}

/// Unfinished documents on no node of `alive` (their node stopped), oldest first.
pub async fn unfinished_elsewhere(
    db: &impl ConnectionTrait,
    alive: Vec<String>,
) -> Result<Vec<document::Model>, DbErr> {
    document::Entity::find()
        .filter(document::Column::Status.is_in(DocumentStatus::UNFINISHED))
        .filter(
            document::Column::NodeId
                .is_null()
                .or(document::Column::NodeId.is_not_in(alive)),
        )
        .order_by_asc(document::Column::Id)
        .all(db)
        .await
}

/// Moves an unfinished document from the node that had it to `node_id`; `false` when another
/// node claimed it first (or it finished), so exactly one node ingests it again.
pub async fn claim(
    db: &impl ConnectionTrait,
    doc: &document::Model,
    node_id: &str,
) -> Result<bool, DbErr> {
    let owner = match &doc.node_id {
        Some(owner) => document::Column::NodeId.eq(owner.clone()),
        None => document::Column::NodeId.is_null(),
    };
    let result = document::Entity::update_many()
        .col_expr(document::Column::NodeId, Expr::value(node_id))
        .filter(document::Column::Id.eq(doc.id))
        .filter(document::Column::Status.is_in(DocumentStatus::UNFINISHED))
        .filter(owner)
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

pub async fn find(db: &impl ConnectionTrait, id: i64) -> Result<Option<document::Model>, DbErr> {
    document::Entity::find_by_id(id).one(db).await
}

/// The content types of documents `ids` (those that still exist), by id.
pub async fn content_types(
    db: &impl ConnectionTrait,
    ids: &[i64],
) -> Result<std::collections::HashMap<i64, String>, DbErr> {
    let rows = document::Entity::find()
        .filter(document::Column::Id.is_in(ids.iter().copied()))
        .all(db)
        .await?;
    Ok(rows.into_iter().map(|d| (d.id, d.content_type)).collect())
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
    status: DocumentStatus,
    progress: i32,
    error: Option<&str>,
) -> Result<(), DbErr> {
    document::ActiveModel {
        id: Set(id),
        status: Set(status),
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

/// Deletes the document; its chunks and their vectors go with it (cascade), and the project's
/// index version rises so every node drops its cached vectors.
pub async fn delete(db: &DatabaseConnection, doc: &document::Model) -> Result<bool, DbErr> {
    let txn = db.begin().await?;
    let result = document::Entity::delete_by_id(doc.id).exec(&txn).await?;
    super::vectors::bump_version(&txn, doc.project_id).await?;
    txn.commit().await?;
    Ok(result.rows_affected > 0)
}
