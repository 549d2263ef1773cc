//! Chat events: `send_message`, `cancel_message`, `resume_message`, `typing_*`. Thin: parse, call
//! the pipeline, answer.

use crate::socket::{Ack, Socket};
use serde::Serialize;
use serde_json::Value;

use super::ack::{respond, EventError};
use super::session::admit;
use crate::broadcast::send_to_socket;
use crate::chat::{ChatService, Origin, Started};
use crate::error::AppError;
use crate::protocol::names;
use crate::protocol::payloads::{
    parse, ChatRef, MessageRef, ResumeFrom, ResumeMessage, SendMessage,
};
use crate::room::RoomService;

#[derive(Serialize)]
struct Sent {
    chat_id: i64,
    /// The reply's id; `null` for a message no reply follows (PROTOCOL §9.1).
    message_id: Option<i64>,
    user_message_id: Option<i64>,
    duplicate: bool,
}

#[derive(Serialize)]
struct MessageAck {
    message_id: i64,
}

#[derive(Serialize)]
struct ChatAck {
    chat_id: i64,
}

pub async fn on_send(socket: &Socket, data: Value, ack: Ack, chat: &ChatService) {
    let result = send(socket, chat, data).await;
    respond(socket, ack, names::SEND_MESSAGE, result);
}

async fn send(socket: &Socket, chat: &ChatService, data: Value) -> Result<Sent, EventError> {
    let session = admit(socket, names::SEND_MESSAGE)?;
    let payload: SendMessage = parse(data)?;
    if let Some(field) = payload.backend_only_field() {
        return Err(AppError::invalid(format!(
            "`{field}` may only be given over HTTP, with the API key"
        ))
        .into());
    }
    let chat_id = payload.chat_id.0;
    let compact = payload.compact;
    let origin = Origin {
        sid: Some(socket.id),
        caller: session.caller(),
    };
    let started = chat
        .send(payload.into(), origin)
        .await
        .map_err(|e| EventError::chat(e, chat_id))?;
    let received = match started {
        Started::Posted { message, duplicate } => {
            return Ok(Sent {
                chat_id,
                message_id: None,
                user_message_id: Some(message.id),
                duplicate,
            })
        }
        Started::New { received, .. } => received,
        Started::Duplicate { received } => {
            // To the sender alone: the first message's ids, then what a resume would send.
            send_to_socket(socket, names::MESSAGE_RECEIVED, &received);
            chat.replay(
                socket,
                received.message_id,
                ResumeFrom::whole(compact),
                &session.caller(),
            )
            .await
            .map_err(|e| EventError::chat(e, chat_id))?;
            received
        }
    };
    Ok(Sent {
        chat_id,
        message_id: Some(received.message_id),
        user_message_id: received.user_message_id,
        duplicate: received.duplicate,
    })
}

pub async fn on_cancel(socket: &Socket, data: Value, ack: Ack, chat: &ChatService) {
    let result = cancel(socket, chat, data).await;
    respond(socket, ack, names::CANCEL_MESSAGE, result);
}

async fn cancel(
    socket: &Socket,
    chat: &ChatService,
    data: Value,
) -> Result<MessageAck, EventError> {
    let session = admit(socket, names::CANCEL_MESSAGE)?;
    let MessageRef { message_id } = parse(data)?;
    chat.cancel(message_id.0, &session.caller())
        .await
        .map_err(|e| EventError::message(e, message_id.0))?;
    Ok(MessageAck {
        message_id: message_id.0,
    })
}

pub async fn on_resume(socket: &Socket, data: Value, ack: Ack, chat: &ChatService) {
    let result = resume(socket, chat, data).await;
    respond(socket, ack, names::RESUME_MESSAGE, result);
}

async fn resume(
    socket: &Socket,
    chat: &ChatService,
    data: Value,
) -> Result<MessageAck, EventError> {
    let session = admit(socket, names::RESUME_MESSAGE)?;
    let resume: ResumeMessage = parse(data)?;
    let message_id = resume.message_id;
    chat.replay(socket, message_id.0, resume.from(), &session.caller())
        .await
        .map_err(|e| EventError::message(e, message_id.0))?;
    Ok(MessageAck {
        message_id: message_id.0,
    })
}

pub async fn on_typing(socket: &Socket, data: Value, ack: Ack, room: &RoomService, typing: bool) {
    let event = if typing {
        names::TYPING_START
    } else {
        names::TYPING_STOP
    };
    let result = self::typing(socket, room, data, typing, event).await;
    respond(socket, ack, event, result);
}

async fn typing(
    socket: &Socket,
    room: &RoomService,
    data: Value,
    typing: bool,
    event: &'static str,
) -> Result<ChatAck, EventError> {
    let session = admit(socket, event)?;
    let ChatRef { chat_id } = parse(data)?;
    let chat_id = chat_id.0;
    room.typing(
        &session.caller(),
        socket.id,
        session.public_id,
        chat_id,
        typing,
    )
    .await
    .map_err(|e| EventError::chat(e, chat_id))?;
    Ok(ChatAck { chat_id })
}
