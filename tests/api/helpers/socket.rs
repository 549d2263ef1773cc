//! A Rust Socket.IO client (rust_socketio) that forwards every event into a channel.

use std::time::Duration;

use futures::FutureExt;
use rust_socketio::asynchronous::{Client, ClientBuilder};
use rust_socketio::{Event, Payload, TransportType};
use serde_json::{json, Value};
use tokio::sync::mpsc;

pub type Events = mpsc::UnboundedReceiver<(String, Value)>;

pub async fn client(url: &str, transport: TransportType) -> (Client, Events) {
    let (tx, rx) = mpsc::unbounded_channel();
    let errors = tx.clone();
    let client = ClientBuilder::new(url)
        .transport_type(transport)
        .on_any(move |event: Event, payload: Payload, _| {
            let tx = tx.clone();
            async move {
                let _ = tx.send((String::from(event), first_value(payload)));
            }
            .boxed()
        })
        // rust_socketio routes the event name `error` here rather than to `on_any`.
        .on(Event::Error, move |payload: Payload, _| {
            let tx = errors.clone();
            async move {
                let _ = tx.send(("error".to_owned(), first_value(payload)));
            }
            .boxed()
        })
        .connect()
        .await
        .expect("connects");
    (client, rx)
}

pub fn first_value(payload: Payload) -> Value {
    match payload {
        Payload::Text(mut values) if !values.is_empty() => values.remove(0),
        _ => Value::Null,
    }
}

pub async fn next(rx: &mut Events, name: &str) -> Value {
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

/// A websocket client joined to `project_id`, its `connection_status` and `project_joined` consumed.
pub async fn joined(url: &str, project_id: i64) -> (Client, Events) {
    let (socket, mut rx) = client(url, TransportType::Websocket).await;
    next(&mut rx, "connection_status").await;
    socket
        .emit("join_project", json!({ "project_id": project_id }))
        .await
        .unwrap();
    next(&mut rx, "project_joined").await;
    (socket, rx)
}

/// Events until `message_complete` of `message_id` (inclusive), `ai_progress` left out.
pub async fn until_complete(rx: &mut Events, message_id: &Value) -> Vec<(String, Value)> {
    let mut seen = Vec::new();
    loop {
        let (event, data) = tokio::time::timeout(Duration::from_secs(15), rx.recv())
            .await
            .expect("stream ends")
            .expect("client open");
        if event == "ai_progress" || &data["message_id"] != message_id {
            continue;
        }
        let done = event == "message_complete";
        seen.push((event, data));
        if done {
            return seen;
        }
    }
}

/// Emits `send_message` and returns the reply's `message_id`, from `message_received`.
pub async fn start_message(socket: &Client, rx: &mut Events, payload: Value) -> Value {
    socket.emit("send_message", payload).await.unwrap();
    next(rx, "message_received").await["message_id"].clone()
}

/// A whole stream: `(message_id, its events until message_complete)`.
pub async fn send_message(
    socket: &Client,
    rx: &mut Events,
    payload: Value,
) -> (Value, Vec<(String, Value)>) {
    let id = start_message(socket, rx, payload).await;
    let events = until_complete(rx, &id).await;
    (id, events)
}

/// Asks "water" in `chat_id`: the reply's id and its events until `message_complete`.
pub async fn ask(socket: &Client, rx: &mut Events, chat_id: i64) -> (Value, Vec<(String, Value)>) {
    send_message(
        socket,
        rx,
        json!({ "chat_id": chat_id, "message": "water" }),
    )
    .await
}
