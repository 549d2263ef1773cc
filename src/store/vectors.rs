//! Chunk embeddings and the per-project index version that tells nodes their cache is stale.

use entities::{chunk, chunk_vector, document, project, DocumentStatus};
use futures::TryStreamExt;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, JoinType, QueryFilter,
    QueryOrder, QuerySelect, QueryTrait, RelationTrait, Set,
};

/// One embedding ready to be stored.
pub struct NewVector {
    pub chunk_id: i64,
    pub vector: Vec<f32>,
}

/// Stores (or replaces) the embeddings of chunks of project `project_id`, made by `model`.
pub async fn upsert(
    db: &impl ConnectionTrait,
    project_id: i64,
    model: &str,
    vectors: &[NewVector],
) -> Result<(), DbErr> {
    if vectors.is_empty() {
        return Ok(());
    }
    let rows = vectors.iter().map(|v| chunk_vector::ActiveModel {
        chunk_id: Set(v.chunk_id),
        project_id: Set(project_id),
        model: Set(model.to_owned()),
        dimension: Set(v.vector.len() as i32),
        vector: Set(to_bytes(&v.vector)),
    });
    chunk_vector::Entity::insert_many(rows)
        .on_conflict(
            OnConflict::column(chunk_vector::Column::ChunkId)
                .update_columns([
                    chunk_vector::Column::Model,
                    chunk_vector::Column::Dimension,
                    chunk_vector::Column::Vector,
                ])
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Hands each searchable embedding of a project made by `model` (completed documents only) to
/// `each`, as `(chunk_id, vector)` in chunk order. Streamed: 100 000 vectors are never all held
/// as rows at once.
pub async fn each_of_project(
    db: &DatabaseConnection,
    project_id: i64,
    model: &str,
    mut each: impl FnMut(i64, Vec<f32>),
) -> Result<(), DbErr> {
    let mut rows = chunk_vector::Entity::find()
        .select_only()
        .column(chunk_vector::Column::ChunkId)
        .column(chunk_vector::Column::Vector)
        .join(JoinType::InnerJoin, chunk_vector::Relation::Chunk.def())
        .join(JoinType::InnerJoin, chunk::Relation::Document.def())
        .filter(chunk_vector::Column::ProjectId.eq(project_id))
        .filter(chunk_vector::Column::Model.eq(model))
        .filter(document::Column::Status.eq(DocumentStatus::Completed))
        .order_by_asc(chunk_vector::Column::ChunkId)
        .into_tuple::<(i64, Vec<u8>)>()
        .stream(db)
        .await?;
    while let Some((id, bytes)) = rows.try_next().await? {
        each(id, from_bytes(&bytes));
    }
    Ok(())
}

/// The stored embeddings (made by `model`) of chunks `ids`, as `(chunk_id, vector)`.
pub async fn by_ids(
    db: &impl ConnectionTrait,
    ids: &[i64],
    model: &str,
) -> Result<Vec<(i64, Vec<f32>)>, DbErr> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<(i64, Vec<u8>)> = chunk_vector::Entity::find()
        .select_only()
        .column(chunk_vector::Column::ChunkId)
        .column(chunk_vector::Column::Vector)
        .filter(chunk_vector::Column::ChunkId.is_in(ids.iter().copied()))
        .filter(chunk_vector::Column::Model.eq(model))
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(id, bytes)| (id, from_bytes(&bytes)))
        .collect())
}

/// Completed documents with a chunk that has no embedding of `model` (never embedded, or by
/// another embedder), oldest first.
pub async fn stale_documents(
    db: &impl ConnectionTrait,
    model: &str,
) -> Result<Vec<document::Model>, DbErr> {
    let current = chunk_vector::Entity::find()
        .select_only()
        .column(chunk_vector::Column::ChunkId)
        .filter(chunk_vector::Column::Model.eq(model))
        .into_query();
    let stale_chunks = chunk::Entity::find()
        .select_only()
        .column(chunk::Column::DocumentId)
        .filter(chunk::Column::Id.not_in_subquery(current))
        .into_query();
    document::Entity::find()
        .filter(document::Column::Status.eq(DocumentStatus::Completed))
        .filter(document::Column::Id.in_subquery(stale_chunks))
        .order_by_asc(document::Column::Id)
        .all(db)
        .await
}

/// The `(id, content)` of a document's chunks, in order.
pub async fn chunk_texts(
    db: &impl ConnectionTrait,
    document_id: i64,
) -> Result<Vec<(i64, String)>, DbErr> {
    chunk::Entity::find()
        .select_only()
        .column(chunk::Column::Id)
        .column(chunk::Column::Content)
        .filter(chunk::Column::DocumentId.eq(document_id))
        .order_by_asc(chunk::Column::ChunkIndex)
        .into_tuple()
        .all(db)
        .await
}

/// The project's index version (`None`: no such project).
pub async fn version(db: &impl ConnectionTrait, project_id: i64) -> Result<Option<i64>, DbErr> {
    project::Entity::find_by_id(project_id)
        .select_only()
        .column(project::Column::IndexVersion)
        .into_tuple()
        .one(db)
        .await
}

/// Marks the project's searchable chunks as changed.
pub async fn bump_version(db: &impl ConnectionTrait, project_id: i64) -> Result<(), DbErr> {
    project::Entity::update_many()
        .col_expr(
            project::Column::IndexVersion,
            Expr::col(project::Column::IndexVersion).add(1),
        )
        .filter(project::Column::Id.eq(project_id))
        .exec(db)
        .await?;
    Ok(())
}

fn to_bytes(vector: &[f32]) -> Vec<u8> {
    vector.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn from_bytes(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn vectors_round_trip_through_bytes() {
        let v = vec![0.25, -1.5, f32::MIN_POSITIVE, 3.0e7];
        assert_eq!(super::from_bytes(&super::to_bytes(&v)), v);
    }
}
