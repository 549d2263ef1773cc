//! Fresh PostgreSQL databases for tests, next to the one `RAGCAST_TEST_DATABASE_URL` names
//! (CI sets it; a set URL that is unreachable fails the test).

use sea_orm::{ConnectionTrait, Database};

/// A fresh database next to the one `RAGCAST_TEST_DATABASE_URL` names, or `None` when unset.
pub async fn fresh_database() -> Option<(String, String, String)> {
    let Ok(base) = std::env::var("RAGCAST_TEST_DATABASE_URL") else {
        eprintln!("skipped: RAGCAST_TEST_DATABASE_URL is not set (CI sets it)");
        return None;
    };
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
    Some((base, url.to_string(), name))
}

pub async fn drop_database(base: &str, name: &str) {
    let admin = Database::connect(base).await.unwrap();
    admin
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await
        .unwrap();
}
