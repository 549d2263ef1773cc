use sea_orm::entity::prelude::*;

/// The embedding of one chunk: `dimension` little-endian f32s, made by `model`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "chunk_vectors")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub chunk_id: i64,
    /// Denormalised from the chunk so a project's vectors load without a join.
    pub project_id: i64,
    /// The embedder that made it (`builtin:all-MiniLM-L6-v2`, `openai:…`); only vectors of the
    /// configured one are searched.
    pub model: String,
    pub dimension: i32,
    pub vector: Vec<u8>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::chunk::Entity",
        from = "Column::ChunkId",
        to = "super::chunk::Column::Id",
        on_delete = "Cascade"
    )]
    Chunk,
}

impl Related<super::chunk::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Chunk.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
