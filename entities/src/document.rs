use sea_orm::entity::prelude::*;

use crate::states::DocumentStatus;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "documents")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub project_id: i64,
    pub filename: String,
    /// `text/plain`, `text/markdown` or `application/pdf`, as detected from the content.
    pub content_type: String,
    /// Only `completed` documents are searched.
    pub status: DocumentStatus,
    /// 0..=100, never falling.
    pub progress: i32,
    pub error: Option<String>,
    pub size_bytes: i64,
    /// The node ingesting it (while `queued` or `processing`), so another can take it over.
    pub node_id: Option<String>,
    /// How many times ingestion started; a document that keeps stopping the server is failed.
    pub attempts: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::project::Entity",
        from = "Column::ProjectId",
        to = "super::project::Column::Id",
        on_delete = "Cascade"
    )]
    Project,
    #[sea_orm(has_many = "super::chunk::Entity")]
    Chunk,
    #[sea_orm(has_one = "super::document_upload::Entity")]
    Upload,
}

impl Related<super::project::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Project.def()
    }
}

impl Related<super::chunk::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Chunk.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
