use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

fn id<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col)
        .big_integer()
        .not_null()
        .auto_increment()
        .primary_key()
        .to_owned()
}

fn created_at<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col)
        .timestamp_with_time_zone()
        .not_null()
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Projects::Table)
                    .col(id(Projects::Id))
                    .col(ColumnDef::new(Projects::Name).string().not_null())
                    .col(created_at(Projects::CreatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Documents::Table)
                    .col(id(Documents::Id))
                    .col(
                        ColumnDef::new(Documents::ProjectId)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(Documents::Filename).string().not_null())
                    .col(ColumnDef::new(Documents::ContentType).string().not_null())
                    .col(ColumnDef::new(Documents::Status).string().not_null())
                    .col(ColumnDef::new(Documents::Progress).integer().not_null())
                    .col(ColumnDef::new(Documents::Error).text())
                    .col(
                        ColumnDef::new(Documents::SizeBytes)
                            .big_integer()
                            .not_null(),
                    )
                    .col(created_at(Documents::CreatedAt))
                    .col(created_at(Documents::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Documents::Table, Documents::ProjectId)
                            .to(Projects::Table, Projects::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Chunks::Table)
                    .col(id(Chunks::Id))
                    .col(ColumnDef::new(Chunks::ProjectId).big_integer().not_null())
                    .col(ColumnDef::new(Chunks::DocumentId).big_integer().not_null())
                    .col(ColumnDef::new(Chunks::ChunkIndex).integer().not_null())
                    .col(ColumnDef::new(Chunks::Page).integer())
                    .col(ColumnDef::new(Chunks::Content).text().not_null())
                    .foreign_key(
                        ForeignKey::create()
                            .from(Chunks::Table, Chunks::DocumentId)
                            .to(Documents::Table, Documents::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_chunks_project")
                    .table(Chunks::Table)
                    .col(Chunks::ProjectId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Chats::Table)
                    .col(id(Chats::Id))
                    .col(ColumnDef::new(Chats::ProjectId).big_integer().not_null())
                    .col(ColumnDef::new(Chats::Title).string().not_null())
                    .col(created_at(Chats::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Chats::Table, Chats::ProjectId)
                            .to(Projects::Table, Projects::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Messages::Table)
                    .col(id(Messages::Id))
                    .col(ColumnDef::new(Messages::ChatId).big_integer().not_null())
                    .col(ColumnDef::new(Messages::Role).string().not_null())
                    .col(ColumnDef::new(Messages::Content).text().not_null())
                    .col(ColumnDef::new(Messages::Status).string().not_null())
                    .col(ColumnDef::new(Messages::Model).string())
                    .col(ColumnDef::new(Messages::Sources).json_binary())
                    .col(ColumnDef::new(Messages::TokenLog).json_binary())
                    .col(ColumnDef::new(Messages::TokenCount).integer().not_null())
                    .col(ColumnDef::new(Messages::FinishReason).string())
                    .col(ColumnDef::new(Messages::FirstTokenMs).big_integer())
                    .col(ColumnDef::new(Messages::DurationMs).big_integer())
                    .col(ColumnDef::new(Messages::Usage).json_binary())
                    .col(ColumnDef::new(Messages::ClientMessageId).string_len(128))
                    .col(ColumnDef::new(Messages::TaskId).string_len(128))
                    .col(ColumnDef::new(Messages::UserId).string())
                    .col(created_at(Messages::CreatedAt))
                    .col(ColumnDef::new(Messages::CompletedAt).timestamp_with_time_zone())
                    .foreign_key(
                        ForeignKey::create()
                            .from(Messages::Table, Messages::ChatId)
                            .to(Chats::Table, Chats::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // Dedup of `client_message_id` is the database's job, so it holds across processes.
        // NULLs never collide, on SQLite and PostgreSQL alike.
        manager
            .create_index(
                Index::create()
                    .name("idx_messages_client_message_id")
                    .table(Messages::Table)
                    .col(Messages::ChatId)
                    .col(Messages::Role)
                    .col(Messages::ClientMessageId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_messages_status")
                    .table(Messages::Table)
                    .col(Messages::Status)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            Messages::Table.into_iden(),
            Chats::Table.into_iden(),
            Chunks::Table.into_iden(),
            Documents::Table.into_iden(),
            Projects::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
pub enum Projects {
    Table,
    Id,
    Name,
    CreatedAt,
}

#[derive(DeriveIden)]
pub enum Documents {
    Table,
    Id,
    ProjectId,
    Filename,
    ContentType,
    Status,
    Progress,
    Error,
    SizeBytes,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
pub enum Chunks {
    Table,
    Id,
    ProjectId,
    DocumentId,
    ChunkIndex,
    Page,
    Content,
}

#[derive(DeriveIden)]
pub enum Chats {
    Table,
    Id,
    ProjectId,
    Title,
    CreatedAt,
}

#[derive(DeriveIden)]
pub enum Messages {
    Table,
    Id,
    ChatId,
    Role,
    Content,
    Status,
    Model,
    Sources,
    TokenLog,
    TokenCount,
    FinishReason,
    FirstTokenMs,
    DurationMs,
    Usage,
    ClientMessageId,
    TaskId,
    UserId,
    CreatedAt,
    CompletedAt,
}
