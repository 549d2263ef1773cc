//! Several server processes share one database: each one (a node) keeps a heartbeat row, and a
//! streaming reply records the node that runs it, so another node can tell when that one died.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Nodes::Table)
                    .col(ColumnDef::new(Nodes::Id).string().not_null().primary_key())
                    .col(ColumnDef::new(Nodes::Name).string().not_null())
                    .col(
                        ColumnDef::new(Nodes::HeartbeatAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Messages::Table)
                    .add_column(ColumnDef::new(Messages::NodeId).string())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Messages::Table)
                    .drop_column(Messages::NodeId)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(Nodes::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Nodes {
    Table,
    Id,
    Name,
    HeartbeatAt,
}

#[derive(DeriveIden)]
enum Messages {
    Table,
    NodeId,
}
