//! Indexes for lookups on hot paths: a chat's messages in order (history, paging), a task's
//! rows (`task_subscribe` in jwt mode), and a document's chunks (deleting a document or project,
//! cleaning up after a failed ingestion).

use sea_orm_migration::prelude::*;

use crate::m20261127_000001_create_tables::{Chunks, Messages};

#[derive(DeriveMigrationName)]
pub struct Migration;

const INDEXES: [&str; 3] = [
    "idx_messages_chat_id_id",
    "idx_messages_task_id",
    "idx_chunks_document",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let [chat_order, task, document_chunks] = INDEXES;
        manager
            .create_index(
                Index::create()
                    .name(chat_order)
                    .table(Messages::Table)
                    .col(Messages::ChatId)
                    .col(Messages::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(task)
                    .table(Messages::Table)
                    .col(Messages::TaskId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(document_chunks)
                    .table(Chunks::Table)
                    .col(Chunks::DocumentId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let tables = [
            Messages::Table.into_iden(),
            Messages::Table.into_iden(),
            Chunks::Table.into_iden(),
        ];
        for (name, table) in INDEXES.into_iter().zip(tables) {
            manager
                .drop_index(Index::drop().name(name).table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
