//! `task_subscribe` / `task_unsubscribe`: follow a generation's `ai_progress` by task id.

use crate::cluster::{Ack, Socket};
use serde::Serialize;
use serde_json::Value;
use socketioxide::extract::{State, TryData};

use super::ack::{payload_or_null, respond, EventError};
use super::names;
use super::payloads::{parse, TaskRef};
use super::session::admit;
use crate::chat::ChatService;
use crate::error::{AppError, ErrorCode};
use crate::rooms;

#[derive(Serialize)]
struct Subscription {
    task_id: String,
}

pub async fn on_subscribe(
    socket: Socket,
    TryData(data): TryData<Value>,
    ack: Ack,
    State(chat): State<ChatService>,
) {
    let result = subscribe(&socket, &chat, payload_or_null(data)).await;
    respond(&socket, ack, names::TASK_SUBSCRIBE, result);
}

async fn subscribe(
    socket: &Socket,
    chat: &ChatService,
    data: Value,
) -> Result<Subscription, EventError> {
    let session = admit(socket, names::TASK_SUBSCRIBE)?;
    let TaskRef { task_id } = parse(data)?;
    let owners = chat.task_owners(&task_id).await?;
    if !session.caller.may_follow_task_of(&owners) {
        return Err(
            AppError::new(ErrorCode::Forbidden, "this task belongs to another user").into(),
        );
    }
    let room = rooms::task(&task_id, session.user_id());
    let rooms = socket.rooms();
    let followed = rooms.iter().filter(|r| rooms::is_task(r)).count();
    if followed >= MAX_TASKS_PER_SOCKET && !rooms.iter().any(|r| *r == room) {
        return Err(AppError::new(
            ErrorCode::Busy,
            format!("this socket follows {followed} tasks already; unsubscribe from one first"),
        )
        .into());
    }
    socket.join(room);
    Ok(Subscription { task_id })
}

/// Tasks one socket may follow at once: each is a room held until the socket leaves.
const MAX_TASKS_PER_SOCKET: usize = 64;

pub async fn on_unsubscribe(socket: Socket, TryData(data): TryData<Value>, ack: Ack) {
    let result = admit(&socket, names::TASK_UNSUBSCRIBE).and_then(|session| {
        let TaskRef { task_id } = parse(payload_or_null(data))?;
        socket.leave(rooms::task(&task_id, session.user_id()));
        Ok(Subscription { task_id })
    });
    respond(&socket, ack, names::TASK_UNSUBSCRIBE, result);
}
