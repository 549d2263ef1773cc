//! A Rust Socket.IO client (rust_socketio) through a whole stream.

use crate::helpers;

use std::time::Duration;

use helpers::scripted::{Scripted, Step};
use helpers::socket::{ask, client, joined, next, Events};
use ragcast::llm::{LlmError, LlmEvent};
use rust_socketio::asynchronous::Client;
use rust_socketio::TransportType;
use serde_json::json;

async fn whole_stream(transport: TransportType) {
    let app = helpers::spawn_app().await;
    let (project_id, chat_id) = app
        .seed("Water boils at 100 degrees Celsius. Cats sleep.")
        .await;
    let (socket, mut rx) = client(&app.url, transport).await;
    let status = next(&mut rx, "connection_status").await;
    assert_eq!(status["status"], "connected");

    socket
        .emit("join_project", json!({ "project_id": project_id }))
        .await
        .unwrap();
    assert_eq!(
        next(&mut rx, "project_joined").await["project_id"],
        project_id
    );

    socket
        .emit(
            "send_message",
            json!({ "chat_id": chat_id, "message": "water boils" }),
        )
        .await
        .unwrap();
    let received = next(&mut rx, "message_received").await;
    let message_id = received["message_id"].clone();
    let sources = next(&mut rx, "message_sources").await;
    assert_eq!(sources["message_id"], message_id);
    assert_eq!(sources["sources"].as_array().unwrap().len(), 1);

    let mut tokens = String::new();
    let mut expected_index = 0;
    let complete = loop {
        let (event, data) = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .unwrap()
            .unwrap();
        match event.as_str() {
            "message_token" => {
                assert_eq!(data["index"], expected_index);
                expected_index += 1;
                tokens.push_str(data["token"].as_str().unwrap());
            }
            "message_complete" => break data,
            "ai_progress" => {}
            other => panic!("unexpected {other}: {data}"),
        }
    };
    assert_eq!(complete["content"], tokens);
    assert_eq!(
        complete["content"],
        "Water boils at 100 degrees Celsius. [1]"
    );
    assert_eq!(complete["metadata"]["tokens"], expected_index);

    socket
        .emit("join_project", json!({ "project_id": "x" }))
        .await
        .unwrap();
    let error = next(&mut rx, "error").await;
    assert_eq!(error["code"], "invalid_payload");
    assert_eq!(error["event"], "join_project");

    // The socket stays usable.
    socket
        .emit("ping", json!({ "timestamp": 12345 }))
        .await
        .unwrap();
    let pong = next(&mut rx, "pong").await;
    assert_eq!(pong["timestamp"], 12345);

    socket.disconnect().await.unwrap();
    app.shutdown().await;
}

#[tokio::test]
async fn a_whole_stream_over_websocket() {
    whole_stream(TransportType::Websocket).await;
}

#[tokio::test]
async fn a_whole_stream_over_polling() {
    whole_stream(TransportType::Polling).await;
}

/// Two tokens, then a broken upstream.
fn breaks_mid_stream() -> Vec<Step> {
    vec![
        Step::Say(LlmEvent::Text("partial ".into())),
        Step::Say(LlmEvent::Text("reply".into())),
        Step::Fail(LlmError::Malformed("unexpected end of JSON".into())),
    ]
}

/// A bug: one token, then a panic.
fn panics_mid_stream() -> Vec<Step> {
    vec![Step::Say(LlmEvent::Text("partial".into())), Step::Panic]
}

/// A model that thinks out loud for ever (well, 10 000 pieces), then answers.
fn reasons_for_ever() -> Vec<Step> {
    (0..10_000)
        .map(|i| Step::Say(LlmEvent::Reasoning(format!("thought {i} "))))
        .chain([Step::Say(LlmEvent::Text("answer".into()))])
        .collect()
}

/// A client joined to a seeded project: `(socket, events, chat_id)`.
async fn asker(app: &helpers::TestApp) -> (Client, Events, i64) {
    let (project_id, chat_id) = app.seed("Water boils at 100 degrees.").await;
    let (socket, rx) = joined(&app.url, project_id).await;
    (socket, rx, chat_id)
}

#[tokio::test]
async fn a_failed_generation_emits_generation_failed_then_one_message_complete() {
    let app = helpers::spawn_app()
        .llm(Scripted::new("breaks", breaks_mid_stream).provider())
        .await;
    let (socket, mut rx, chat_id) = asker(&app).await;
    let (message_id, events) = ask(&socket, &mut rx, chat_id).await;
    let order: Vec<&str> = events.iter().map(|(e, _)| e.as_str()).collect();
    let (_, error) = events.iter().find(|(e, _)| e == "error").unwrap();
    assert_eq!(error["code"], "generation_failed");
    assert_eq!(error["message_id"], message_id);
    assert_eq!(error["chat_id"], chat_id);
    assert!(
        error["message"].as_str().unwrap().contains("malformed"),
        "{error}"
    );
    let (_, complete) = events.last().unwrap();
    assert_eq!(
        order,
        [
            "message_sources",
            "message_token",
            "message_token",
            "error",
            "message_complete"
        ]
    );
    assert_eq!(complete["metadata"]["finish_reason"], "error");
    assert_eq!(complete["content"], "partial reply");

    let (_, messages) = app.get(&format!("/api/chats/{chat_id}/messages")).await;
    let reply = &messages[1];
    assert_eq!(reply["status"], "failed");
    assert_eq!(reply["finish_reason"], "error");
    assert_eq!(reply["content"], "partial reply");
    assert_eq!(reply["model"], "breaks");
    socket.disconnect().await.unwrap();
    app.shutdown().await;
}

#[tokio::test]
async fn a_stream_task_that_panics_still_ends_and_frees_its_slot() {
    let app = helpers::spawn_app()
        .llm(Scripted::new("panics", panics_mid_stream).provider())
        .await;
    let (socket, mut rx, chat_id) = asker(&app).await;
    // One more than the streams a socket may run at once (4): a leaked slot refuses the last.
    for _ in 0..5 {
        let (message_id, events) = ask(&socket, &mut rx, chat_id).await;
        let (_, error) = events.iter().find(|(e, _)| e == "error").unwrap();
        assert_eq!(error["code"], "generation_failed");
        assert_eq!(error["message_id"], message_id);
        let (_, complete) = events.last().unwrap();
        assert_eq!(complete["metadata"]["finish_reason"], "error");
        assert_eq!(complete["content"], "partial", "what was streamed is kept");
    }
    // A sender outside the project room hears the end too.
    let (outside, mut outside_rx) = client(&app.url, TransportType::Websocket).await;
    next(&mut outside_rx, "connection_status").await;
    let (_, events) = ask(&outside, &mut outside_rx, chat_id).await;
    assert_eq!(
        events.last().unwrap().1["metadata"]["finish_reason"],
        "error"
    );
    outside.disconnect().await.unwrap();
    let (_, messages) = app.get(&format!("/api/chats/{chat_id}/messages")).await;
    let replies: Vec<_> = messages
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "assistant")
        .collect();
    assert_eq!(replies.len(), 6);
    for reply in replies {
        assert_eq!(reply["status"], "interrupted");
        assert_eq!(reply["content"], "partial");
    }
    socket.disconnect().await.unwrap();
    app.shutdown().await;
}

#[tokio::test]
async fn reasoning_counts_towards_the_longest_reply() {
    let app = helpers::spawn_app()
        .llm(Scripted::new("reasons", reasons_for_ever).provider())
        .configure(|config| {
            config.streams.max_reply_tokens = 50;
        })
        .await;
    let (socket, mut rx, chat_id) = asker(&app).await;
    let (_, events) = ask(&socket, &mut rx, chat_id).await;
    let reasoning = events
        .iter()
        .filter(|(e, _)| e == "message_reasoning")
        .count();
    assert_eq!(reasoning, 50, "the reasoning is cut at the limit");
    let (_, complete) = events.last().unwrap();
    assert_eq!(complete["metadata"]["finish_reason"], "length");
    socket.disconnect().await.unwrap();
    app.shutdown().await;
}
