//! Chat events: `send_message`, `cancel_message`, `resume_message`, `typing_*`. Thin: parse, call
//! the pipeline, answer.

use crate::socket::Socket;
use serde::Serialize;

use super::ack::EventError;
use super::client_event::Typing;
use crate::auth::Session;
use crate::broadcast::send_to_socket;
use crate::chat::{ChatService, Origin, Started};
use crate::error::AppError;
use crate::protocol::names;
use crate::protocol::payloads::{ChatRef, MessageRef, ResumeFrom, ResumeMessage, SendMessage};
use crate::room::RoomService;

#[derive(Serialize)]
pub struct Sent {
    chat_id: i64,
    /// The reply's id; `null` for a message no reply follows (PROTOCOL §9.1).
    message_id: Option<i64>,
    user_message_id: Option<i64>,
    duplicate: bool,
}

#[derive(Serialize)]
pub struct MessageAck {
    message_id: i64,
}

#[derive(Serialize)]
pub struct ChatAck {
    chat_id: i64,
}

pub async fn send(
    socket: &Socket,
    session: &Session,
    chat: &ChatService,
    payload: SendMessage,
) -> Result<Sent, EventError> {
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

pub async fn cancel(
    session: &Session,
    chat: &ChatService,
    MessageRef { message_id }: MessageRef,
) -> Result<MessageAck, EventError> {
    chat.cancel(message_id.0, &session.caller())
        .await
        .map_err(|e| EventError::message(e, message_id.0))?;
    Ok(MessageAck {
        message_id: message_id.0,
    })
}

pub async fn resume(
    socket: &Socket,
    session: &Session,
    chat: &ChatService,
    resume: ResumeMessage,
) -> Result<MessageAck, EventError> {
    let message_id = resume.message_id;
    chat.replay(socket, message_id.0, resume.from(), &session.caller())
        .await
        .map_err(|e| EventError::message(e, message_id.0))?;
    Ok(MessageAck {
        message_id: message_id.0,
    })
}

/// `typing_start` / `typing_stop`.
pub async fn typing(
    socket: &Socket,
    session: &Session,
    room: &RoomService,
    ChatRef { chat_id }: ChatRef,
    typing: Typing,
) -> Result<ChatAck, EventError> {
    let chat_id = chat_id.0;
    room.typing(
        &session.caller(),
        socket.id,
        session.public_id,
        chat_id,
        typing.is_typing(),
    )
    .await
    .map_err(|e| EventError::chat(e, chat_id))?;
    Ok(ChatAck { chat_id })
}
