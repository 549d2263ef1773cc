//! `task_subscribe` / `task_unsubscribe`: follow a generation's `ai_progress` by task id.

use serde::Serialize;
use serde_json::Value;
use socketioxide::extract::{AckSender, SocketRef, TryData};

use super::ack::{payload_or_null, respond, EventError};
use super::names;
use super::payloads::{parse, TaskRef};
use crate::rooms;

#[derive(Serialize)]
struct Subscription {
    task_id: String,
}

pub async fn on_subscribe(socket: SocketRef, TryData(data): TryData<Value>, ack: AckSender) {
    let result = parse::<TaskRef>(payload_or_null(data))
        .map(|TaskRef { task_id }| {
            socket.join(rooms::task(&task_id));
            Subscription { task_id }
        })
        .map_err(EventError::from);
    respond(&socket, ack, names::TASK_SUBSCRIBE, result);
}

pub async fn on_unsubscribe(socket: SocketRef, TryData(data): TryData<Value>, ack: AckSender) {
    let result = parse::<TaskRef>(payload_or_null(data))
        .map(|TaskRef { task_id }| {
            socket.leave(rooms::task(&task_id));
            Subscription { task_id }
        })
        .map_err(EventError::from);
    respond(&socket, ack, names::TASK_UNSUBSCRIBE, result);
}
