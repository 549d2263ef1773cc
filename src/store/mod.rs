//! Database access: plain functions over a `ConnectionTrait`, one file per table.

pub mod chats;
pub mod documents;
pub mod messages;
pub mod nodes;
pub mod projects;
pub mod vectors;

pub use entities::{DocumentStatus, FinishReason, MessageStatus, Role};

use migration::MigratorTrait;
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr, Statement,
    TransactionTrait,
};

pub async fn connect(url: &str) -> Result<DatabaseConnection, DbErr> {
    connect_with(url, None).await
}

/// `max_connections` overrides the pool size (SQLite 4, PostgreSQL 10 by default).
pub async fn connect_with(
    url: &str,
    max_connections: Option<u32>,
) -> Result<DatabaseConnection, DbErr> {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .sqlx_logging(false)
        .connect_timeout(std::time::Duration::from_secs(5))
        .acquire_timeout(std::time::Duration::from_secs(5));
    if url.starts_with("sqlite:") {
        // One writer at a time is SQLite's rule; a small pool avoids `database is locked` storms.
        options
            .max_connections(max_connections.unwrap_or(4))
            .min_connections(1)
            // Every pooled connection gets them. WAL + NORMAL: a commit survives a process
            // crash without an fsync each; only a power loss can take the last commits back.
            .map_sqlx_sqlite_opts(|opts| {
                opts.journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(std::time::Duration::from_secs(5))
            });
        if url.contains(":memory:") {
            // Each connection to `:memory:` is its own database: keep exactly one.
            options.max_connections(1);
        }
    } else {
        options.max_connections(max_connections.unwrap_or(10));
    }
    Database::connect(options).await
}

/// Key of the PostgreSQL advisory lock held while migrating ("ragcast" in ASCII).
const MIGRATION_LOCK: i64 = 0x0072_6167_6361_7374;

/// Brings the schema up to date. On PostgreSQL, inside one transaction that first takes an
/// advisory lock, so nodes started at once on an empty database migrate one after the other
/// (the second finds the work done) instead of racing to create the same types.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    match db.get_database_backend() {
        DbBackend::Postgres => {
            let txn = db.begin().await?;
            txn.execute(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT pg_advisory_xact_lock($1)",
                [MIGRATION_LOCK.into()],
            ))
            .await?;
            migration::Migrator::up(&txn, None).await?;
            txn.commit().await
        }
        _ => migration::Migrator::up(db, None).await,
    }
}
