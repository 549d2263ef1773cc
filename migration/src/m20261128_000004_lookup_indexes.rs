//! Indexes for lookups on hot paths: a chat's messages in order (history, paging), a task's
//! rows (`task_subscribe` in jwt mode), and a document's chunks (deleting a document or project,
//! cleaning up after a failed ingestion).

use sea_orm_migration::prelude::*;

use crate::m20261127_000001_create_tables::{Chunks, Messages};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Each index: its name, its table, its columns.
fn indexes() -> [(&'static str, DynIden, Vec<DynIden>); 3] {
    [
        (
            "idx_messages_chat_id_id",
            Messages::Table.into_iden(),
            vec![Messages::ChatId.into_iden(), Messages::Id.into_iden()],
        ),
        (
            "idx_messages_task_id",
            Messages::Table.into_iden(),
            vec![Messages::TaskId.into_iden()],
        ),
        (
            "idx_chunks_document",
            Chunks::Table.into_iden(),
            vec![Chunks::DocumentId.into_iden()],
        ),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, table, columns) in indexes() {
            let mut index = Index::create().name(name).table(table).to_owned();
            for column in columns {
                index.col(column);
            }
            manager.create_index(index).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, table, _) in indexes() {
            manager
                .drop_index(Index::drop().name(name).table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
