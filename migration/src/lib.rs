//! Schema migrations, run by the server at start. They work unchanged on SQLite and PostgreSQL;
//! only the full-text index differs (FTS5 on SQLite, a GIN `tsvector` index on PostgreSQL).

pub use sea_orm_migration::prelude::*;

mod m20261127_000001_create_tables;
mod m20261127_000002_fulltext_index;
mod m20261127_000003_nodes;
mod m20261128_000004_lookup_indexes;
mod m20261203_000005_document_recovery;
mod m20261203_000006_chunk_vectors;
mod m20261207_000007_people;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261127_000001_create_tables::Migration),
            Box::new(m20261127_000002_fulltext_index::Migration),
            Box::new(m20261127_000003_nodes::Migration),
            Box::new(m20261128_000004_lookup_indexes::Migration),
            Box::new(m20261203_000005_document_recovery::Migration),
            Box::new(m20261203_000006_chunk_vectors::Migration),
            Box::new(m20261207_000007_people::Migration),
        ]
    }
}
