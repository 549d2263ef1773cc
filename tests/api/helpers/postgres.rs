//! Fresh PostgreSQL databases for tests, next to the one `RAGCAST_TEST_DATABASE_URL` names
//! (CI sets it; a set URL that is unreachable fails the test). The tests that use them carry
//! `#[cfg_attr(not(ragcast_test_postgres), ignore = …)]` (see `build.rs`): without the URL they
//! are listed as ignored, not passed.

use sea_orm::{ConnectionTrait, Database};

/// A fresh database next to the one `RAGCAST_TEST_DATABASE_URL` names: `(base, url, name)`.
pub async fn fresh_database() -> (String, String, String) {
    let base = std::env::var("RAGCAST_TEST_DATABASE_URL")
        .expect("RAGCAST_TEST_DATABASE_URL was set when the tests were built, and is not now");
    let admin = Database::connect(&base)
        .await
        .expect("RAGCAST_TEST_DATABASE_URL is set but unreachable");
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    // Tests of this file run in parallel: the clock alone can give two of them the same name.
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let name = format!("ragcast_test_{}_{nanos}_{n}", std::process::id());
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    let mut url = url::Url::parse(&base).unwrap();
    url.set_path(&name);
    (base, url.to_string(), name)
}

pub async fn drop_database(base: &str, name: &str) {
    let admin = Database::connect(base).await.unwrap();
    admin
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await
        .unwrap();
}
