//! The full-text index over `chunks.content`. The database keeps it in step with the rows
//! (triggers on SQLite, an expression index on PostgreSQL), so every process sees the same index
//! and a deleted chunk leaves retrieval in the same statement that deletes it.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

const SQLITE_UP: &[&str] = &[
    "CREATE VIRTUAL TABLE chunks_fts USING fts5(content, content='chunks', content_rowid='id', tokenize='porter unicode61 remove_diacritics 2')",
    "CREATE TRIGGER chunks_fts_insert AFTER INSERT ON chunks BEGIN \
        INSERT INTO chunks_fts(rowid, content) VALUES (new.id, new.content); END",
    "CREATE TRIGGER chunks_fts_delete AFTER DELETE ON chunks BEGIN \
        INSERT INTO chunks_fts(chunks_fts, rowid, content) VALUES ('delete', old.id, old.content); END",
    "CREATE TRIGGER chunks_fts_update AFTER UPDATE ON chunks BEGIN \
        INSERT INTO chunks_fts(chunks_fts, rowid, content) VALUES ('delete', old.id, old.content); \
        INSERT INTO chunks_fts(rowid, content) VALUES (new.id, new.content); END",
];

const SQLITE_DOWN: &[&str] = &[
    "DROP TRIGGER IF EXISTS chunks_fts_update",
    "DROP TRIGGER IF EXISTS chunks_fts_delete",
    "DROP TRIGGER IF EXISTS chunks_fts_insert",
    "DROP TABLE IF EXISTS chunks_fts",
];

const POSTGRES_UP: &[&str] =
    &["CREATE INDEX idx_chunks_fts ON chunks USING GIN (to_tsvector('english', content))"];

const POSTGRES_DOWN: &[&str] = &["DROP INDEX IF EXISTS idx_chunks_fts"];

async fn run_all(manager: &SchemaManager<'_>, statements: &[&str]) -> Result<(), DbErr> {
    let db = manager.get_connection();
    for sql in statements {
        db.execute_unprepared(sql).await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        match manager.get_database_backend() {
            DatabaseBackend::Sqlite => run_all(manager, SQLITE_UP).await,
            DatabaseBackend::Postgres => run_all(manager, POSTGRES_UP).await,
            DatabaseBackend::MySql => Err(DbErr::Migration("MySQL is not supported".into())),
        }
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        match manager.get_database_backend() {
            DatabaseBackend::Sqlite => run_all(manager, SQLITE_DOWN).await,
            DatabaseBackend::Postgres => run_all(manager, POSTGRES_DOWN).await,
            DatabaseBackend::MySql => Ok(()),
        }
    }
}
