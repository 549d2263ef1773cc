//! Semantic retrieval: one embedding per chunk, stored with the model that made it and its
//! dimension (so a change of embedder is detected and vectors of two models are never compared),
//! and a per-project index version that every node reads to know when its cached vectors are
//! stale.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ChunkVectors::Table)
                    .col(
                        ColumnDef::new(ChunkVectors::ChunkId)
                            .big_integer()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(ChunkVectors::ProjectId)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(ChunkVectors::Model).string().not_null())
                    .col(ColumnDef::new(ChunkVectors::Dimension).integer().not_null())
                    .col(ColumnDef::new(ChunkVectors::Vector).blob().not_null())
                    .foreign_key(
                        ForeignKey::create()
                            .from(ChunkVectors::Table, ChunkVectors::ChunkId)
                            .to(Chunks::Table, Chunks::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_chunk_vectors_project_model")
                    .table(ChunkVectors::Table)
                    .col(ChunkVectors::ProjectId)
                    .col(ChunkVectors::Model)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Projects::Table)
                    .add_column(
                        ColumnDef::new(Projects::IndexVersion)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Projects::Table)
                    .drop_column(Projects::IndexVersion)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(ChunkVectors::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum ChunkVectors {
    Table,
    ChunkId,
    ProjectId,
    Model,
    Dimension,
    Vector,
}

#[derive(DeriveIden)]
enum Chunks {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Projects {
    Table,
    IndexVersion,
}
