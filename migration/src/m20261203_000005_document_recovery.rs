//! Ingestion survives a crash: an upload's bytes are kept until its document is indexed (or
//! failed), the document records the node ingesting it and how many times ingestion started, so
//! a restarted server (or another node) can ingest it again, and a document that keeps stopping
//! the server is failed instead of tried for ever.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite takes one column per ALTER TABLE.
        manager
            .alter_table(
                Table::alter()
                    .table(Documents::Table)
                    .add_column(ColumnDef::new(Documents::NodeId).string())
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Documents::Table)
                    .add_column(
                        ColumnDef::new(Documents::Attempts)
                            .integer()
                            .not_null()
                            .default(0),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(DocumentUploads::Table)
                    .col(
                        ColumnDef::new(DocumentUploads::DocumentId)
                            .big_integer()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(DocumentUploads::Content).blob().not_null())
                    .foreign_key(
                        ForeignKey::create()
                            .from(DocumentUploads::Table, DocumentUploads::DocumentId)
                            .to(Documents::Table, Documents::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(DocumentUploads::Table).to_owned())
            .await?;
        for column in [Documents::Attempts, Documents::NodeId] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Documents::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Documents {
    Table,
    Id,
    NodeId,
    Attempts,
}

#[derive(DeriveIden)]
enum DocumentUploads {
    Table,
    DocumentId,
    Content,
}
