//! A Rust Socket.IO client (rust_socketio) through a whole stream.

mod common;

use std::time::Duration;

use futures::FutureExt;
use rust_socketio::asynchronous::ClientBuilder;
use rust_socketio::{Event, Payload, TransportType};
use serde_json::{json, Value};
use tokio::sync::mpsc;

async fn client(
    url: &str,
    transport: TransportType,
) -> (
    rust_socketio::asynchronous::Client,
    mpsc::UnboundedReceiver<(String, Value)>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let client = ClientBuilder::new(url)
        .transport_type(transport)
        .on_any(move |event: Event, payload: Payload, _| {
            let tx = tx.clone();
            async move {
                if let Payload::Text(mut values) = payload {
                    let first = if values.is_empty() {
                        Value::Null
                    } else {
                        values.remove(0)
                    };
                    let _ = tx.send((String::from(event), first));
                }
            }
            .boxed()
        })
        .connect()
        .await
        .expect("connects");
    (client, rx)
}

async fn next(rx: &mut mpsc::UnboundedReceiver<(String, Value)>, name: &str) -> Value {
    loop {
        let (event, data) = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .unwrap_or_else(|_| panic!("no {name}"))
            .expect("client open");
        if event == name {
            return data;
        }
    }
}

async fn whole_stream(transport: TransportType) {
    let app = common::spawn_app().await;
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

    // rust_socketio keeps the event name `error` for its own errors, so check the socket
    // stays usable with a ping instead (the JS suite covers `error` events).
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
