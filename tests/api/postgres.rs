//! The same code on PostgreSQL: migrations, the full-text index and the whole pipeline.
//! Needs `RAGCAST_TEST_DATABASE_URL` (CI sets it); each run gets a fresh database.

use crate::helpers;

use helpers::postgres::{drop_database, fresh_database};
use sea_orm::{ConnectionTrait, Database};
use serde_json::json;

#[tokio::test]
#[cfg_attr(
    not(ragcast_test_postgres),
    ignore = "needs PostgreSQL: set RAGCAST_TEST_DATABASE_URL (CI does)"
)]
async fn the_pipeline_runs_on_postgresql() {
    let (base, url, name) = fresh_database().await;
    let app = helpers::spawn_app().on(&url).await;
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

#[tokio::test]
#[cfg_attr(
    not(ragcast_test_postgres),
    ignore = "needs PostgreSQL: set RAGCAST_TEST_DATABASE_URL (CI does)"
)]
async fn a_database_outage_gives_errors_then_the_server_recovers_by_itself() {
    let (base, url, name) = fresh_database().await;
    let app = helpers::spawn_app().on(&url).await;
    let (project_id, chat_id) = app.seed("Water boils at 100 degrees Celsius.").await;
    let (socket, mut rx) = helpers::socket::joined(&app.url, project_id).await;

    // The outage: no new connections, and the open ones killed.
    let admin = Database::connect(&base).await.unwrap();
    admin
        .execute_unprepared(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false"))
        .await
        .unwrap();
    admin
        .execute_unprepared(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
        ))
        .await
        .unwrap();

    let (status, _) = app.get("/ready").await;
    assert_eq!(status, 503);
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let (status, body) = app
            .post(
                &format!("/api/chats/{chat_id}/messages"),
                json!({ "message": "water" }),
            )
            .await;
        statuses.push((status, body["error"]["code"].clone()));
    }
    assert!(
        statuses.iter().all(|(s, _)| *s == 503),
        "errors while the database is away: {statuses:?}"
    );
    // Nothing is stored, so no `message_received`: the answer is an `error` event.
    socket
        .emit(
            "send_message",
            json!({ "chat_id": chat_id, "message": "water" }),
        )
        .await
        .unwrap();
    let error = helpers::socket::next(&mut rx, "error").await;
    assert_eq!(error["code"], "internal");
    assert!(
        error["message"].as_str().unwrap().contains("unavailable"),
        "{error}"
    );

    // The database comes back: the server recovers without a restart.
    admin
        .execute_unprepared(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true"))
        .await
        .unwrap();
    let mut ready = false;
    for _ in 0..100 {
        if app.get("/ready").await.0 == 200 {
            ready = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(ready, "ready again");
    let (status, reply) = app
        .post(
            &format!("/api/chats/{chat_id}/messages"),
            json!({ "message": "water boils" }),
        )
        .await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["status"], "complete");

    socket.disconnect().await.unwrap();
    app.shutdown().await;
    drop_database(&base, &name).await;
}
