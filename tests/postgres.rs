//! The same code on PostgreSQL: migrations, the full-text index and the whole pipeline.
//! Needs `RAGCAST_TEST_DATABASE_URL` (CI sets it); each run gets a fresh database.

mod common;

use sea_orm::{ConnectionTrait, Database};
use serde_json::json;

/// A fresh database next to the one `RAGCAST_TEST_DATABASE_URL` names, or `None` when unset.
async fn fresh_database() -> Option<(String, String, String)> {
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
    let name = format!("ragcast_test_{}_{nanos}", std::process::id());
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    let mut url = url::Url::parse(&base).unwrap();
    url.set_path(&name);
    Some((base, url.to_string(), name))
}

async fn drop_database(base: &str, name: &str) {
    let admin = Database::connect(base).await.unwrap();
    admin
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await
        .unwrap();
}

#[tokio::test]
async fn the_pipeline_runs_on_postgresql() {
    let Some((base, url, name)) = fresh_database().await else {
        return;
    };
    let app = common::spawn_on(&url, None, tempfile::tempdir().unwrap()).await;
    let (project_id, chat_id) = app
        .seed("Water boils at 100 degrees Celsius at sea level.\n\nPenguins live in Antarctica.")
        .await;
    let (status, reply) = app
        .post(
            &format!("/api/chats/{chat_id}/messages"),
            json!({ "message": "When does water boil?", "client_message_id": "pg-1" }),
        )
        .await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["status"], "complete");
    assert_eq!(
        reply["content"],
        "Water boils at 100 degrees Celsius at sea level. [1]"
    );
    let score = reply["sources"][0]["score"].as_f64().unwrap();
    assert!(score > 0.0 && score <= 1.0);

    // The dedup constraint holds on PostgreSQL too.
    let (_, again) = app
        .post(
            &format!("/api/chats/{chat_id}/messages"),
            json!({ "message": "When does water boil?", "client_message_id": "pg-1" }),
        )
        .await;
    assert_eq!(again["id"], reply["id"]);
    let (_, messages) = app.get(&format!("/api/chats/{chat_id}/messages")).await;
    assert_eq!(messages.as_array().unwrap().len(), 2);

    // Another project's documents are not searched.
    let (_, other_chat) = app.seed("Water is wet.").await;
    let (_, unrelated) = app
        .post(
            &format!("/api/chats/{other_chat}/messages"),
            json!({ "message": "penguins" }),
        )
        .await;
    assert_eq!(unrelated["sources"], json!([]));
    assert!(project_id > 0);

    app.shutdown().await;
    drop_database(&base, &name).await;
}
