//! The chat pipeline and its storage, driven over HTTP and through the library.

use crate::helpers;

use helpers::{spawn_app, sqlite_url};
use ragcast::app::App;
use ragcast::config::Config;
use ragcast::store;
use ragcast::store::messages::NewExchange;
use ragcast::store::{FinishReason, MessageStatus};
use serde_json::json;

const DOC: &str = "Water boils at 100 degrees Celsius at sea level.\n\nIce melts at 0 degrees.";

#[tokio::test]
async fn a_message_over_http_is_answered_from_the_sources_and_stored() {
    let app = spawn_app().await;
    let (_, chat_id) = app.seed(DOC).await;
    let (status, reply) = app
        .post(
            &format!("/api/chats/{chat_id}/messages"),
            json!({ "message": "When does water boil?" }),
        )
        .await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["role"], "assistant");
    assert_eq!(reply["status"], "complete");
    assert_eq!(reply["finish_reason"], "stop");
    assert_eq!(
        reply["content"],
        "Water boils at 100 degrees Celsius at sea level. [1]"
    );
    assert_eq!(reply["sources"][0]["metadata"]["filename"], "doc.txt");

    let (_, messages) = app.get(&format!("/api/chats/{chat_id}/messages")).await;
    let messages = messages.as_array().unwrap();
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0]["role"], "user");
    assert_eq!(messages[0]["content"], "When does water boil?");
    let (_, after) = app
        .get(&format!(
            "/api/chats/{chat_id}/messages?after_id={}",
            messages[0]["id"]
        ))
        .await;
    assert_eq!(after.as_array().unwrap().len(), 1);
    app.shutdown().await;
}

#[tokio::test]
async fn nothing_relevant_is_said_plainly() {
    let app = spawn_app().await;
    let (_, chat_id) = app.seed(DOC).await;
    let (_, reply) = app
        .post(
            &format!("/api/chats/{chat_id}/messages"),
            json!({ "message": "quantum chromodynamics" }),
        )
        .await;
    assert_eq!(
        reply["content"],
        "The project's documents hold nothing relevant to this question."
    );
    assert_eq!(reply["sources"], json!([]));
    app.shutdown().await;
}

#[tokio::test]
async fn retrieval_searches_only_the_chats_project() {
    let app = spawn_app().await;
    let (_, chat_a) = app.seed("Penguins live in Antarctica.").await;
    let (_, _chat_b) = app.seed("Water boils at 100 degrees.").await;
    let (_, reply) = app
        .post(
            &format!("/api/chats/{chat_a}/messages"),
            json!({ "message": "water boils" }),
        )
        .await;
    assert_eq!(reply["sources"], json!([]));
    app.shutdown().await;
}

#[tokio::test]
async fn http_errors_use_the_error_body() {
    let app = spawn_app().await;
    let (status, body) = app
        .post("/api/chats/999/messages", json!({ "message": "hi" }))
        .await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "not_found");
    let (status, body) = app.post("/api/projects", json!({ "name": 5 })).await;
    assert_eq!(status, 400);
    assert!(body["error"]["message"].as_str().unwrap().contains("name"));
    let (status, _) = app.get("/api/projects/abc").await;
    assert_eq!(status, 400);
    let (status, body) = app.get("/api/projects/424242").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
    app.shutdown().await;
}

#[tokio::test]
async fn a_reply_left_streaming_by_a_crash_is_interrupted_at_start() {
    helpers::init_logs();
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir);
    let (chat_id, assistant_id) = {
        let db = store::connect(&url).await.unwrap();
        store::migrate(&db).await.unwrap();
        let project = store::projects::create(&db, "p").await.unwrap();
        let chat = store::chats::create(&db, project.id, "c").await.unwrap();
        let exchange = store::messages::insert_exchange(
            &db,
            NewExchange {
                chat_id: chat.id,
                content: "question",
                model: "builtin",
                client_message_id: None,
                task_id: None,
                user_id: None,
                sender_name: None,
                node_id: "a-stopped-node",
            },
        )
        .await
        .unwrap();
        assert_eq!(exchange.assistant.status, MessageStatus::Streaming);
        db.close().await.unwrap();
        (chat.id, exchange.assistant.id)
    };

    let mut config = Config::for_database(&url);
    config.bind = "127.0.0.1:0".parse().unwrap();
    let app = App::build(config).await.unwrap();
    let db = app.db().clone();
    let row = store::messages::find(&db, assistant_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.status, MessageStatus::Interrupted);
    assert_eq!(row.chat_id, chat_id);
}

#[tokio::test]
async fn a_repeated_client_message_id_is_refused_by_the_database() {
    helpers::init_logs();
    let dir = tempfile::tempdir().unwrap();
    let db = store::connect(&sqlite_url(&dir)).await.unwrap();
    store::migrate(&db).await.unwrap();
    let project = store::projects::create(&db, "p").await.unwrap();
    let chat = store::chats::create(&db, project.id, "c").await.unwrap();
    let new = || NewExchange {
        chat_id: chat.id,
        content: "q",
        model: "builtin",
        client_message_id: Some("same"),
        task_id: None,
        user_id: None,
        sender_name: None,
        node_id: "node",
    };
    store::messages::insert_exchange(&db, new()).await.unwrap();
    let second = store::messages::insert_exchange(&db, new()).await;
    assert!(matches!(
        second,
        Err(store::messages::InsertExchangeError::Duplicate)
    ));
    let found = store::messages::find_exchange_by_client_id(&db, chat.id, "same")
        .await
        .unwrap();
    assert!(found.is_some());
}

#[tokio::test]
async fn streams_of_a_silent_node_are_taken_over_once_and_a_beating_node_keeps_its_own() {
    helpers::init_logs();
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::for_database(&sqlite_url(&dir));
    config.bind = "127.0.0.1:0".parse().unwrap();
    let app = App::build(config).await.unwrap();
    let db = app.db().clone();
    let project = store::projects::create(&db, "p").await.unwrap();
    let chat = store::chats::create(&db, project.id, "c").await.unwrap();
    let exchange_on = |node_id: &'static str| NewExchange {
        chat_id: chat.id,
        content: "q",
        model: "builtin",
        client_message_id: None,
        task_id: None,
        user_id: None,
        sender_name: None,
        node_id,
    };
    store::nodes::heartbeat(&db, "alive", "alive")
        .await
        .unwrap();
    store::nodes::heartbeat(&db, "silent", "silent")
        .await
        .unwrap();
    let silent = store::messages::insert_exchange(&db, exchange_on("silent"))
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let alive_since = ragcast::time::now();
    // Timestamps are stored to the millisecond: beat in a later one.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    store::nodes::heartbeat(&db, "alive", "alive")
        .await
        .unwrap();
    let alive = store::messages::insert_exchange(&db, exchange_on("alive"))
        .await
        .unwrap();

    let taken = app.chat().take_over_orphans(alive_since).await.unwrap();
    assert_eq!(taken, 1, "only the silent node's stream is taken over");
    let again = app.chat().take_over_orphans(alive_since).await.unwrap();
    assert_eq!(again, 0, "a stream is taken over once");

    let row = |id| {
        let db = db.clone();
        async move { store::messages::find(&db, id).await.unwrap().unwrap() }
    };
    let silent_row = row(silent.assistant.id).await;
    assert_eq!(silent_row.status, MessageStatus::Interrupted);
    assert_eq!(silent_row.finish_reason, Some(FinishReason::Error));
    assert_eq!(
        row(alive.assistant.id).await.status,
        MessageStatus::Streaming
    );
}
